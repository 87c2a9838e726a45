//! What a JMessage user misses while offline besides messages — group events, retractions and
//! read receipts — handed over at the next login in `sync_event` / `sync_receipt`, proven by
//! the unmodified official JMessage Web SDK 2.5.0 (its `onSyncEvent` / `onSyncMsgReceipt`
//! callbacks, run by tests/sdk/jmessage-agent.js against our sandbox) and by our Rust client
//! (typed events, acked only once the owner stored them); and a custom message from the SDK
//! becoming a notice in words through the connector. Skipped (saying so) when the bundle is
//! absent.

#![cfg(feature = "jmessage")]

mod common;

use std::time::{Duration, Instant};

use common::jmessage_sdk::{bundle, message, next, sdk_login, JmSandbox, APP_KEY, SECRET};
use imbridge::core::connector::MessageContent;
use imbridge::network::jmessage::client::{Client, ClientConfig, LinkState};
use imbridge::network::jmessage::connector::translate_message;
use imbridge::network::jmessage::session::{GroupEventKind, SessionConfig, SessionEvent};
use serde_json::{json, Value};

/// Waits (bounded, 10 s) until `user` has no socket in the sandbox.
async fn wait_offline(sb: &JmSandbox, user: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sb.sandbox.sessions_of(user) > 0 {
        assert!(Instant::now() < deadline, "{user} is still online");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded, 10 s) until nothing is kept for `user` any more.
async fn wait_handed_over(sb: &JmSandbox, user: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = sb.sandbox.pending_events(user).1.len();
        let receipts = sb.sandbox.pending_receipts(user).1.len();
        if events == 0 && receipts == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{events} events and {receipts} receipts still kept for {user}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn offline_events_and_receipts_reach_the_sdk_at_login() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob", "carol"]).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let gid = bob.create_group("away", "").await.unwrap();
    bob.add_group_members(gid, &["alice"]).await.unwrap();
    let mut alice = sdk_login(&bundle, &sb, "alice").await;
    let sent = alice
        .ok(
            "sendSingleMsg",
            json!({"target_username": "bob", "content": "read me later"}),
        )
        .await;
    let read_id = sent["msg_id"].as_i64().unwrap();
    assert_eq!(message(&mut bob_events).await.msg_id, read_id);
    let doomed = bob.send_group_text(gid, "soon gone", None).await.unwrap();
    alice
        .event("msgReceive", |p| {
            p["messages"][0]["msg_id"] == doomed.msg_id
        })
        .await;
    alice.assert_no_crash();
    alice.exit().await;
    wait_offline(&sb, "alice").await;

    // Meanwhile: carol joins, bob retracts his text, bob reads alice's.
    bob.add_group_members(gid, &["carol"]).await.unwrap();
    bob.retract(doomed.msg_id).await.unwrap();
    bob.report_read_single("alice", &[read_id]).await.unwrap();
    assert_eq!(sb.sandbox.pending_events("alice").1.len(), 2);
    assert_eq!(sb.sandbox.pending_receipts("alice").1.len(), 1);

    let mut alice = sdk_login(&bundle, &sb, "alice").await;
    let events = alice.event("syncEvent", |_| true).await;
    let events = events.as_array().cloned().unwrap_or_default();
    let types: Vec<Value> = events.iter().map(|e| e["event_type"].clone()).collect();
    assert_eq!(types, [json!(10), json!(55)], "{events:?}");
    assert_eq!(events[0]["gid"], gid);
    assert_eq!(events[0]["from_username"], "bob");
    assert_eq!(events[0]["to_usernames"][0]["username"], "carol");
    assert_eq!(events[1]["msg_ids"], json!([doomed.msg_id]));
    assert_eq!(events[1]["type"], 1, "the SDK marks a group retraction");
    let receipts = alice.event("syncMsgReceipt", |_| true).await;
    assert_eq!(receipts[0]["type"], 3, "{receipts}");
    assert_eq!(receipts[0]["username"], "bob");
    assert_eq!(receipts[0]["receipt_msgs"][0]["msg_id"], read_id);
    assert_eq!(receipts[0]["receipt_msgs"][0]["unread_count"], 0);
    // Acked by the SDK: nothing is kept any more.
    wait_handed_over(&sb, "alice").await;

    // A custom message from the SDK is a notice from its sender, its keys shown.
    alice
        .ok(
            "sendSingleCustom",
            json!({"target_username": "bob", "custom": {"action": "wave", "times": 2}}),
        )
        .await;
    let m = message(&mut bob_events).await;
    assert_eq!(m.msg_type, "custom");
    let r = translate_message("bob", &m).expect("bridged");
    assert_eq!(r.sender, "alice");
    let MessageContent::Notice { body } = r.content else {
        panic!("a notice: {:?}", r.content);
    };
    assert!(
        body.contains("action: wave") && body.contains("times: 2"),
        "{body}"
    );

    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
}

#[tokio::test]
async fn offline_events_reach_our_client_and_wait_for_its_ack() {
    let sb = JmSandbox::start(&["alice", "bob", "carol"]).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let (carol, _) = sb.client("carol").await;
    let sent = carol.send_text("bob", "read me", None).await.unwrap();
    assert_eq!(message(&mut bob_events).await.msg_id, sent.msg_id);
    let gid = bob.create_group("later", "").await.unwrap();
    bob.add_group_members(gid, &["carol"]).await.unwrap();
    carol.logout().await;
    wait_offline(&sb, "carol").await;

    bob.add_group_members(gid, &["alice"]).await.unwrap();
    let gone = bob.send_group_text(gid, "gone", None).await.unwrap();
    bob.retract(gone.msg_id).await.unwrap();
    bob.report_read_single("carol", &[sent.msg_id])
        .await
        .unwrap();

    // Carol's client holds the hand-overs' acks until told they are stored.
    let mut session = SessionConfig::new(APP_KEY, SECRET, "carol", "carol-pw");
    session.defer_push_ack = true;
    let (carol, mut events) = Client::start(ClientConfig::new(&sb.server(), session));
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        carol.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await
    .expect("carol logs in");
    assert_eq!(state, LinkState::Connected);
    let added = next(&mut events, |e| match e {
        SessionEvent::Group(g) => Some(g),
        _ => None,
    })
    .await;
    assert_eq!(
        (added.kind, added.gid, added.to_usernames.clone()),
        (GroupEventKind::MembersAdded, gid, vec!["alice".to_string()])
    );
    let retracted = next(&mut events, |e| match e {
        SessionEvent::Retracted(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(
        (retracted.gid, retracted.msg_ids),
        (Some(gid), vec![gone.msg_id])
    );
    let first = next(&mut events, |e| match e {
        SessionEvent::PushBatch { token } => Some(token),
        _ => None,
    })
    .await;
    let change = next(&mut events, |e| match e {
        SessionEvent::ReceiptChange(c) => Some(c),
        _ => None,
    })
    .await;
    assert_eq!(change.username.as_deref(), Some("bob"));
    assert_eq!(change.receipts[0].msg_id, sent.msg_id);
    let second = next(&mut events, |e| match e {
        SessionEvent::PushBatch { token } => Some(token),
        _ => None,
    })
    .await;
    // Not acked yet: still kept.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sb.sandbox.pending_events("carol").1.len(), 2);
    assert_eq!(sb.sandbox.pending_receipts("carol").1.len(), 1);
    carol.ack_push(first).await;
    carol.ack_push(second).await;
    wait_handed_over(&sb, "carol").await;
    carol.logout().await;
    bob.logout().await;
}
