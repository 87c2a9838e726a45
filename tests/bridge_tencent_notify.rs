//! Tencent do-not-disturb ↔ Matrix room notifications on the bridge, end to end: real
//! Synapse, the bridge binary with double puppeting (the appservice method) and
//! `bridge.settings_sync_secs: 1`, the Tencent sandbox in this process. alice's phone (our
//! Rust client) is where she changes the message receive options on the Tencent side: a DM
//! muted there mutes the DM room, a group set to @-mentions only gets Matrix's "mentions and
//! keywords" room rule, the account-wide option is `.m.rule.master`; and each of them back
//! from Matrix. A DM muted on the phone also arrives without polling, from the service's
//! push to the account's other instances. The same core suite runs for JMessage
//! (`bridge_jmessage/notify.rs`).

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::bridge::{tail, TencentTarget};
use common::bridge_rig::{BridgeRig, HostOptions};
use common::push_rules::{
    assert_stays_mentions_only, has_rule, master_on, mute_rule, rule_actions, set_master,
    wait_rules,
};
use common::tencent_rig::{TestSandbox, APP};
use imbridge::network::tencent::client::Client;
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::notify as wire;
use serde_json::json;

const BOB_GHOST: &str = "@tencent_bob:localhost";

/// Waits (bounded, 30 s) until `what` holds of the sandbox.
async fn wait_im(rig: &BridgeRig, what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pred() {
        assert!(
            Instant::now() < deadline,
            "alice's Tencent setting never {what}\n{}",
            tail(&rig.log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The bridge with double puppeting and `bridge_lines`, alice logged in, and the DM bob
/// opened with "hello".
struct DmBridged {
    sb: TestSandbox,
    rig: BridgeRig,
    mgmt: String,
    dm: String,
    bob: Client,
    /// Kept: bob's client runs while its events are read or held.
    _bob_events: tokio::sync::mpsc::Receiver<imbridge::network::tencent::session::SessionEvent>,
}

async fn dm_bridged(name: &str, bridge_lines: &[&str]) -> DmBridged {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob"] {
        sb.sandbox.import(u);
    }
    let server = sb.server();
    let target = TencentTarget {
        websocket_url: &server,
        sdk_app_id: APP,
    };
    let options = HostOptions {
        bridge_lines,
        double_puppet: true,
        ..HostOptions::default()
    };
    let mut rig = BridgeRig::start_with(name, &target, &options).await;
    rig.command(&format!("login usersig alice {}", sb.sig("alice")))
        .await;
    let mgmt = rig.mgmt.clone();
    rig.mx
        .wait_body(&mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    let (bob, bob_events) = sb.client("bob").await;
    bob.send_c2c_text("alice", "hello")
        .await
        .expect("bob sends");
    let dm = rig.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    rig.mx
        .wait_bodies_steady(&dm, BOB_GHOST, &["hello"], &rig.log)
        .await;
    DmBridged {
        sb,
        rig,
        mgmt,
        dm,
        bob,
        _bob_events: bob_events,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_do_not_disturb_both_ways() {
    let t0 = Instant::now();
    let DmBridged {
        sb,
        mut rig,
        mgmt,
        dm,
        bob,
        _bob_events,
    } = dm_bridged("tencent-notify", &["settings_sync_secs: 1"]).await;
    let gid = sb.work_group("team", &["alice", "bob"]).await;
    bob.send_group(&gid, vec![Elem::text("hi team")], vec![])
        .await
        .expect("bob sends to the group");
    let group_room = rig.mx.accept_new_invite(&[mgmt.clone(), dm.clone()]).await;
    rig.mx.wait_body(&group_room, |b| b == "hi team").await;
    let (phone, _phone_events) = sb.client("alice").await;
    say!(
        t0,
        "DM {dm} and group {group_room} bridged; alice's phone logged in"
    );

    // Tencent → Matrix: the phone mutes bob's DM and sets the group to @-mentions only.
    phone
        .call(
            wire::SET_C2C,
            wire::set_c2c_body(&["bob".to_owned()], wire::C2C_NO_NOTIFY),
        )
        .await
        .expect("the phone mutes bob");
    phone
        .call(
            wire::SET_GROUP,
            wire::set_group_body(&gid, "alice", wire::GROUP_MENTIONS_ONLY),
        )
        .await
        .expect("the phone sets the group to mentions only");
    let rules = wait_rules(&rig, |r| {
        has_rule(r, "override", &dm) && has_rule(r, "room", &group_room)
    })
    .await;
    assert_eq!(rule_actions(&rules, "override", &dm), json!([]), "{rules}");
    assert!(!has_rule(&rules, "override", &group_room), "{rules}");
    say!(
        t0,
        "the phone's settings muted the DM and made the group mentions-only"
    );

    // Matrix → Tencent: "all messages" in the DM, muting the group.
    rig.mx.delete_push_rule("override", &dm).await;
    rig.mx.delete_push_rule("room", &group_room).await;
    rig.mx
        .put_push_rule("override", &group_room, mute_rule(&group_room))
        .await;
    let sandbox = sb.sandbox.clone();
    wait_im(&rig, "notified of bob again", || {
        sandbox.c2c_mute_flag("alice", "bob") == wire::C2C_NOTIFY
    })
    .await;
    let info = sb
        .rest(
            "group_open_http_svc/get_group_member_info",
            json!({"GroupId": gid}),
        )
        .await;
    let flag_of_alice = |info: &serde_json::Value| {
        info["MemberList"]
            .as_array()
            .and_then(|l| l.iter().find(|m| m["Member_Account"] == "alice"))
            .map(|m| m["MsgFlag"].clone())
    };
    let mut flag = flag_of_alice(&info);
    let deadline = Instant::now() + Duration::from_secs(30);
    while flag != Some(json!(wire::GROUP_NO_NOTIFY)) {
        assert!(
            Instant::now() < deadline,
            "the group was not muted on Tencent: {flag:?}\n{}",
            tail(&rig.log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let info = sb
            .rest(
                "group_open_http_svc/get_group_member_info",
                json!({"GroupId": gid}),
            )
            .await;
        flag = flag_of_alice(&info);
    }
    say!(t0, "the rooms' settings reached Tencent");

    // A DM has no "mentions only" on Tencent: Matrix's is set as no-notify, and the room
    // keeps the user's choice through the comparisons that follow (one a second).
    rig.mx
        .put_push_rule("room", &dm, json!({ "actions": [] }))
        .await;
    wait_im(&rig, "took the DM's mentions-only as no-notify", || {
        sandbox.c2c_mute_flag("alice", "bob") == wire::C2C_NO_NOTIFY
    })
    .await;
    assert_stays_mentions_only(&rig, &dm).await;
    say!(t0, "the DM set to mentions only in Matrix stays so");

    // Account-wide: the phone's do-not-disturb all day is `.m.rule.master`, and back.
    let midnight = imbridge::network::tencent::client::unix_now() / 86_400 * 86_400;
    phone
        .call(
            "im_msg_db_logic.ws_set_do_not_disturb",
            json!({"Level": 2, "StartTime": midnight, "EndTime": midnight + 86_400, "IsRepeated": 1}),
        )
        .await
        .expect("the phone turns notifications off");
    wait_rules(&rig, master_on).await;
    set_master(&rig, false).await;
    let mut global = serde_json::Value::Null;
    let deadline = Instant::now() + Duration::from_secs(30);
    while global["Level"] != 0 {
        assert!(
            Instant::now() < deadline,
            "the account-wide option stayed on: {global}\n{}",
            tail(&rig.log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        global = phone
            .call(
                "im_msg_db_logic.ws_get_do_not_disturb",
                json!({"To_Account": "alice"}),
            )
            .await
            .expect("read");
    }
    say!(t0, "the account-wide setting follows both ways");
    rig.bridge.stop();
}

/// A DM muted on the phone reaches Matrix at once, from the service's push to alice's other
/// instances (`MuteNotificationsSync`), not by polling: the comparisons are an hour apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_dm_muted_on_the_phone_reaches_matrix_without_polling() {
    let t0 = Instant::now();
    let DmBridged {
        sb, mut rig, dm, ..
    } = dm_bridged("tencent-notify-push", &["settings_sync_secs: 3600"]).await;
    let (phone, _phone_events) = sb.client("alice").await;
    phone
        .call(
            wire::SET_C2C,
            wire::set_c2c_body(&["bob".to_owned()], wire::C2C_NO_NOTIFY),
        )
        .await
        .expect("the phone mutes bob");
    let rules = wait_rules(&rig, |r| has_rule(r, "override", &dm)).await;
    assert_eq!(rule_actions(&rules, "override", &dm), json!([]), "{rules}");
    say!(t0, "the phone's mute reached the DM room from the push");
    rig.bridge.stop();
}
