//! No-disturb, proven by the unmodified official JMessage Web SDK 2.5.0 (run by
//! tests/sdk/jmessage-agent.js against our sandbox) and our Rust client logged in as the same
//! user on a second device: what the SDK switches on (`addSingleNoDisturb`,
//! `addGroupNoDisturb`, `addGlobalNoDisturb`) our client reads (`no_disturb`), what our
//! client switches off the SDK reads (`getNoDisturb`), and refusals carry the service's codes.
//! Skipped (saying so) when the bundle is absent.

#![cfg(feature = "jmessage")]

mod common;

use common::jmessage_sdk::{bundle, sdk_login, JmSandbox};
use imbridge::network::jmessage::session::{NoDisturb, SendError};
use imbridge::network::jmessage::wire;
use serde_json::json;

#[tokio::test]
async fn no_disturb_both_ways_between_the_sdk_and_our_client() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob"]).await;
    let (bob, _bob_events) = sb.client("bob").await;
    let gid = bob.create_group("quiet", "").await.unwrap();
    bob.add_group_members(gid, &["alice"]).await.unwrap();
    let mut sdk = sdk_login(&bundle, &sb, "alice").await;
    let (alice, _alice_events) = sb.client("alice").await;

    sdk.ok("addSingleNoDisturb", json!({"target_name": "bob"}))
        .await;
    sdk.ok("addGroupNoDisturb", json!({ "gid": gid })).await;
    sdk.ok("addGlobalNoDisturb", json!({})).await;
    assert_eq!(
        alice.no_disturb().await.unwrap(),
        NoDisturb {
            global: true,
            users: vec!["bob".into()],
            groups: vec![gid],
        }
    );

    alice.set_single_no_disturb("bob", false).await.unwrap();
    alice.set_global_no_disturb(false).await.unwrap();
    let got = sdk.ok("getNoDisturb", json!({})).await;
    let nd = &got["no_disturb"];
    assert_eq!(nd["global"], 0, "{got}");
    assert_eq!(nd["users"], json!([]), "{got}");
    assert_eq!(nd["groups"][0]["gid"], gid, "{got}");
    assert_eq!(nd["groups"][0]["name"], "quiet", "{got}");

    // Refusals: an unknown user, a group one is not in.
    let err = alice
        .set_single_no_disturb("nobody", true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SendError::Rejected { code, .. } if code == wire::code::USER_NOT_EXIST),
        "{err:?}"
    );
    let other = bob.create_group("not alice's", "").await.unwrap();
    let err = sdk
        .request("addGroupNoDisturb", json!({ "gid": other }))
        .await
        .expect_err("not a member");
    assert_eq!(err["code"], wire::code::USER_NOT_IN_GROUP, "{err}");

    sdk.assert_no_crash();
    sdk.exit().await;
    alice.logout().await;
    bob.logout().await;
}
