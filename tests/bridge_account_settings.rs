//! A user's own settings both ways (issue 13, items 5 and 8), end to end on a real Synapse
//! with the bridge binary (double puppeting by the appservice method,
//! `bridge.settings_sync_secs: 1`), the in-process Easemob sandbox and alice's phone as a
//! second IM device.
//!
//! * **IM → Matrix**: alice's phone sets the DM with bob to `NONE` (mute): mx1's push rules
//!   get Element's Mute override rule for the DM room;
//! * **Matrix → IM**: mx1 switches the room to "Mentions & keywords" (the override rule
//!   deleted, a room rule without notify added): the IM setting becomes `AT`; mx1 deletes that
//!   rule too ("All messages"): the IM setting is back to the default;
//! * **block list, IM → Matrix**: alice's phone blocks bob: bob's ghost is in mx1's ignored
//!   users (next to a Matrix user mx1 ignored, who stays);
//! * **block list, Matrix → IM**: mx1 stops ignoring bob's ghost: bob is unblocked on the IM
//!   side; mx1 ignores him again: he is blocked again;
//! * **account-wide**: the phone turns every notification off: mx1's `.m.rule.master` is
//!   enabled; mx1 disables it: the IM account-wide setting is back to the default.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::matrix_user::MatrixUser;
use common::service_env::{Env, IM_PASSWORD};
use imbridge::network::easemob::jid::ChatType;
use imbridge::network::easemob::rest::RestClient;
use serde_json::{json, Value};

/// Waits (bounded, 30 s) until alice's IM setting of the chat with `peer` (herself: the
/// account-wide setting) is `want`.
async fn wait_im(rest: &RestClient, peer: &str, want: &str) {
    let mut last = String::new();
    for _ in 0..150 {
        match rest.silent_modes(&[peer], &[]).await {
            Ok((users, _)) => {
                last = users
                    .get(peer)
                    .map(|m| m.remind_type.clone())
                    .unwrap_or_default();
                if last == want {
                    return;
                }
            }
            Err(e) => eprintln!("silent modes: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the IM setting never became {want}: {last}");
}

/// Waits (bounded, 30 s) until bob is (`blocked`) or is not in alice's IM block list.
async fn wait_blocked(rest: &RestClient, blocked: bool) {
    let mut last = Vec::new();
    for _ in 0..150 {
        if let Ok(list) = rest.blocked_users().await {
            if list.iter().any(|u| u == "bob") == blocked {
                return;
            }
            last = list;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("bob never got blocked = {blocked}: {last:?}");
}

/// Waits (bounded, 30 s) until mx1's push rules satisfy `what`.
async fn wait_rules(mx: &MatrixUser, what: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = mx.push_rules().await;
        if what(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the push rules never got there: {last}");
}

fn has_rule(rules: &Value, kind: &str, id: &str) -> bool {
    rules[kind]
        .as_array()
        .is_some_and(|a| a.iter().any(|r| r["rule_id"] == id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_disturb_and_block_list_both_ways() {
    let mut env = Env::start_with_double_puppet("notify", "").await;
    env.set_bridge_settings(&["settings_sync_secs: 1"], true);
    env.login().await;
    env.open_dm().await;
    let dm = env.dm.clone();
    let (phone, _phone_events) = env
        .sandbox
        .phone_client("alice", IM_PASSWORD, "alice_phone")
        .await;
    let rest = phone.rest();

    // IM → Matrix: muted on the phone.
    rest.set_remind_type(ChatType::Single, "bob", "NONE")
        .await
        .expect("the phone mutes bob");
    let rules = wait_rules(&env.mx, |r| has_rule(r, "override", &dm)).await;
    let rule = rules["override"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["rule_id"] == dm.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(rule["actions"], json!([]), "{rule}");
    assert_eq!(
        rule["conditions"],
        json!([{ "kind": "event_match", "key": "room_id", "pattern": dm }]),
        "{rule}"
    );
    say!(env.t0, "muting on the phone mutes the Matrix room");

    // Matrix → IM: "Mentions & keywords".
    env.mx.delete_push_rule("override", &dm).await;
    env.mx
        .put_push_rule("room", &dm, json!({ "actions": [] }))
        .await;
    wait_im(&rest, "bob", "AT").await;
    say!(env.t0, "mentions-only in Matrix is AT on the IM side");

    // "All messages" again.
    env.mx.delete_push_rule("room", &dm).await;
    wait_im(&rest, "bob", "DEFAULT").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rules = env.mx.push_rules().await;
    assert!(
        !has_rule(&rules, "override", &dm) && !has_rule(&rules, "room", &dm),
        "nothing came back to Matrix: {rules}"
    );
    say!(
        env.t0,
        "all messages in Matrix is the default on the IM side"
    );

    // Block list, IM → Matrix, next to a Matrix-only ignore that stays.
    const BOB_GHOST: &str = "@easemob_bob:localhost";
    const STRANGER: &str = "@stranger:localhost";
    env.mx.set_ignored_users(&[STRANGER]).await;
    rest.block_users(&["bob"])
        .await
        .expect("the phone blocks bob");
    let mut ignored = Vec::new();
    for _ in 0..150 {
        ignored = env.mx.ignored_users().await;
        if ignored.iter().any(|u| u == BOB_GHOST) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ignored.sort();
    assert_eq!(ignored, vec![BOB_GHOST, STRANGER], "bob's ghost is ignored");
    say!(env.t0, "blocking on the phone ignores the ghost in Matrix");

    // Matrix → IM: unignored, then ignored again.
    env.mx.set_ignored_users(&[STRANGER]).await;
    wait_blocked(&rest, false).await;
    env.mx.set_ignored_users(&[STRANGER, BOB_GHOST]).await;
    wait_blocked(&rest, true).await;
    say!(env.t0, "ignoring in Matrix blocks on the IM side, and back");

    // The account-wide setting: everything off on the phone is `.m.rule.master` in Matrix.
    rest.set_remind_type(ChatType::Single, "alice", "NONE")
        .await
        .expect("the phone turns everything off");
    let master = |r: &Value| {
        r["override"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["rule_id"] == ".m.rule.master"))
            .map(|r| r["enabled"] == json!(true))
            .unwrap_or(false)
    };
    wait_rules(&env.mx, master).await;
    env.mx
        .call_put(
            "/pushrules/global/override/.m.rule.master/enabled",
            json!({ "enabled": false }),
        )
        .await;
    wait_im(&rest, "alice", "DEFAULT").await;
    say!(env.t0, "the account-wide setting follows both ways");

    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}
