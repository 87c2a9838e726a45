//! A Matrix user's push rules as the do-not-disturb suites read them: a bounded wait for a
//! condition, a room's rule, and the account-wide "everything off" (`.m.rule.master`).

use std::time::Duration;

use serde_json::{json, Value};

use super::bridge::tail;
use super::bridge_rig::BridgeRig;

/// Waits (bounded, 30 s) until mx1's push rules satisfy `what`; returns them.
pub async fn wait_rules(rig: &BridgeRig, what: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = rig.mx.push_rules().await;
        if what(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "the push rules never got there: {last}\n{}",
        tail(&rig.log, 40)
    );
}

/// Whether `rules` hold a `kind` rule (`override`, `room` …) with id `id`.
pub fn has_rule(rules: &Value, kind: &str, id: &str) -> bool {
    rules[kind]
        .as_array()
        .is_some_and(|a| a.iter().any(|r| r["rule_id"] == id))
}

/// The actions of `kind` rule `id` (`Null` when there is none).
pub fn rule_actions(rules: &Value, kind: &str, id: &str) -> Value {
    rules[kind]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["rule_id"] == id))
        .map(|r| r["actions"].clone())
        .unwrap_or(Value::Null)
}

/// Whether `.m.rule.master` ("every notification off") is enabled.
pub fn master_on(rules: &Value) -> bool {
    rules["override"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["rule_id"] == ".m.rule.master"))
        .is_some_and(|r| r["enabled"] == json!(true))
}

/// Turns mx1's `.m.rule.master` ("every notification off") on or off, as Element's
/// notification settings do.
pub async fn set_master(rig: &BridgeRig, enabled: bool) {
    rig.mx
        .call_put(
            "/pushrules/global/override/.m.rule.master/enabled",
            json!({ "enabled": enabled }),
        )
        .await;
}

/// Asserts that mx1's `room` still has its "mentions and keywords" room rule, and no mute
/// rule, after four seconds of comparisons (`settings_sync_secs: 1`): the bridge left the
/// user's choice alone where the network has no such level.
pub async fn assert_stays_mentions_only(rig: &BridgeRig, room: &str) {
    tokio::time::sleep(Duration::from_secs(4)).await;
    let rules = rig.mx.push_rules().await;
    assert!(
        has_rule(&rules, "room", room) && !has_rule(&rules, "override", room),
        "{room} did not stay at mentions only: {rules}\n{}",
        tail(&rig.log, 40)
    );
}

/// The override rule Element puts on a room it mutes.
pub fn mute_rule(room: &str) -> Value {
    json!({ "actions": [],
        "conditions": [{ "kind": "event_match", "key": "room_id", "pattern": room }] })
}
