//! Do-not-disturb both ways (issue 13, item 8), end to end on a real Synapse with the bridge
//! binary (double puppeting by the appservice method, `bridge.notify_sync_secs: 1`), the
//! in-process Easemob sandbox and alice's phone as a second IM device.
//!
//! * **IM → Matrix**: alice's phone sets the DM with bob to `NONE` (mute): mx1's push rules
//!   get Element's Mute override rule for the DM room;
//! * **Matrix → IM**: mx1 switches the room to "Mentions & keywords" (the override rule
//!   deleted, a room rule without notify added): the IM setting becomes `AT`; mx1 deletes that
//!   rule too ("All messages"): the IM setting is back to the default.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#[macro_use]
mod common;

use std::time::Duration;

use common::matrix_user::MatrixUser;
use common::service_env::{Env, IM_PASSWORD};
use imbridge::network::easemob::jid::ChatType;
use imbridge::network::easemob::rest::RestClient;
use serde_json::{json, Value};

/// Waits (bounded, 30 s) until alice's IM setting of the chat with bob is `want`.
async fn wait_im(rest: &RestClient, want: &str) {
    let mut last = String::new();
    for _ in 0..150 {
        match rest.silent_modes(&["bob"], &[]).await {
            Ok((users, _)) => {
                last = users
                    .get("bob")
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
async fn do_not_disturb_both_ways() {
    let mut env = Env::start_with_double_puppet("notify", "").await;
    env.set_bridge_settings(&["notify_sync_secs: 1"], true);
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
    wait_im(&rest, "AT").await;
    say!(env.t0, "mentions-only in Matrix is AT on the IM side");

    // "All messages" again.
    env.mx.delete_push_rule("room", &dm).await;
    wait_im(&rest, "DEFAULT").await;
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

    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}
