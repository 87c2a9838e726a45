//! The no-disturb suite of `bridge_jmessage` (see the crate's doc): JMessage no-disturb ↔ the
//! Matrix room's notification setting, through double puppeting (the appservice method) with
//! `bridge.settings_sync_secs: 1`; alice's second JMessage device (our Rust client) is where
//! she changes it on the JMessage side.

use std::time::{Duration, Instant};

use serde_json::json;

use super::common::bridge::tail;
use super::common::bridge_rig::{BridgeRig, HostOptions};
use super::common::jmessage::{JmPeer, JmSandbox, JmTarget};
use super::common::push_rules::{
    assert_stays_mentions_only, has_rule, master_on, mute_rule, set_master, wait_rules,
};
use super::{ALICE_PW, BOB_PW};

/// [`BridgeRig::start`] with double puppeting by the appservice method and settings compared
/// every second.
pub(super) async fn rig_with_double_puppet(name: &str, network: &JmTarget<'_>) -> BridgeRig {
    let options = HostOptions {
        bridge_lines: &["settings_sync_secs: 1"],
        double_puppet: true,
        ..HostOptions::default()
    };
    BridgeRig::start_with(name, network, &options).await
}

/// Waits (bounded, 30 s) until alice's JMessage settings satisfy `what`.
async fn wait_jm(
    sb: &JmSandbox,
    rig: &BridgeRig,
    what: &str,
    pred: impl Fn(&imbridge::network::jmessage::sandbox::nodisturb::NoDisturbSet) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = sb.state.no_disturb_of("alice");
    while Instant::now() < deadline {
        last = sb.state.no_disturb_of("alice");
        if pred(&last) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "alice's no-disturb never {what}: {last:?}\n{}",
        tail(&rig.log, 40)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_no_disturb_both_ways() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = rig_with_double_puppet("jmessage-notify", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    bob.send("alice", "hello").await;
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    rig.mx.wait_body(&dm, |b| b == "hello").await;
    let phone = JmPeer::login(&sb.url, "alice", ALICE_PW).await;
    say!(t0, "DM portal {dm}; alice's second device logged in");

    // JMessage → Matrix: no-disturb on the phone mutes the room.
    phone
        .client
        .set_single_no_disturb("bob", true)
        .await
        .expect("the phone mutes bob");
    let rules = wait_rules(&rig, |r| has_rule(r, "override", &dm)).await;
    let actions = super::common::push_rules::rule_actions(&rules, "override", &dm);
    assert_eq!(actions, json!([]), "{rules}");
    say!(t0, "no-disturb on the phone muted the Matrix room");

    // Matrix → JMessage: "All messages" takes it off; muting puts it back.
    rig.mx.delete_push_rule("override", &dm).await;
    wait_jm(&sb, &rig, "lost bob", |nd| !nd.users.contains("bob")).await;
    rig.mx.put_push_rule("override", &dm, mute_rule(&dm)).await;
    wait_jm(&sb, &rig, "got bob back", |nd| nd.users.contains("bob")).await;
    say!(
        t0,
        "the Matrix room's mute is JMessage no-disturb, both ways"
    );

    // Matrix's "mentions and keywords" has no JMessage counterpart: it is set as no-disturb,
    // and the room keeps the user's choice (it is not turned to muted by the comparisons that
    // follow, which run every second).
    rig.mx.delete_push_rule("override", &dm).await;
    wait_jm(&sb, &rig, "lost bob again", |nd| !nd.users.contains("bob")).await;
    rig.mx
        .put_push_rule("room", &dm, json!({ "actions": [] }))
        .await;
    wait_jm(&sb, &rig, "took mentions-only as no-disturb", |nd| {
        nd.users.contains("bob")
    })
    .await;
    assert_stays_mentions_only(&rig, &dm).await;
    rig.mx.delete_push_rule("room", &dm).await;
    wait_jm(&sb, &rig, "lost bob after mentions-only", |nd| {
        !nd.users.contains("bob")
    })
    .await;
    say!(t0, "mentions-only in Matrix is no-disturb and stays as set");

    // Account-wide: the phone's global no-disturb is `.m.rule.master`, and back.
    phone
        .client
        .set_global_no_disturb(true)
        .await
        .expect("the phone turns everything off");
    wait_rules(&rig, master_on).await;
    set_master(&rig, false).await;
    wait_jm(&sb, &rig, "turned global off", |nd| !nd.global).await;
    say!(t0, "the account-wide setting follows both ways");
    rig.bridge.stop();
}
