//! Friends and the blacklist, proven by the unmodified official JMessage Web SDK 2.5.0 (run by
//! tests/sdk/jmessage-agent.js against our sandbox) and our Rust client, both ways:
//! * the SDK's `addFriend` reaches our client as a friend invitation (reason kept); our
//!   `answer_friend(accept)` reaches the SDK as `event_type 5, extra 2, return_code 0`, and
//!   both list each other (`getFriendList`, our `friend_list`);
//! * our `add_friend` reaches the SDK as `event_type 5, extra 1` with the reason; the SDK's
//!   `declineFriend` reaches us as a refusal; the SDK's `delFriend` reaches us as a removal
//!   (type 6) and both lists are empty;
//! * the SDK's `addSingleBlacks` is kept (the SDK's `getBlacks` reads it) and our single
//!   message to the SDK user is then refused with 880207; after `delSingleBlacks` it arrives;
//!   our own `set_blacklisted` is what our `black_list` reads, and the SDK's message to us is
//!   refused with 880207 meanwhile;
//! * offline: our invitation made while the SDK was logged out reaches its `onSyncEvent`
//!   (type 5, extra 1, the reason) at its next login; the SDK's accept made while our client
//!   was logged out reaches it as `Accepted` at its next login (`sync_event`).
//!
//! Skipped (saying so) when the bundle is absent.

#![cfg(feature = "jmessage")]

mod common;

use common::jmessage_sdk::{bundle, next, sdk_login, JmSandbox};
use imbridge::network::jmessage::session::{FriendEvent, FriendEventKind, SendError, SessionEvent};
use imbridge::network::jmessage::wire;
use serde_json::json;

fn friend_event(e: SessionEvent) -> Option<FriendEvent> {
    match e {
        SessionEvent::Friend(f) => Some(f),
        _ => None,
    }
}

fn rejected_code(e: SendError) -> i64 {
    match e {
        SendError::Rejected { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn friends_and_blacklist_between_the_sdk_and_our_client() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob"]).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut sdk = sdk_login(&bundle, &sb, "alice").await;

    // SDK invites, we accept.
    sdk.ok(
        "addFriend",
        json!({"target_name": "bob", "why": "it's alice"}),
    )
    .await;
    let inv = next(&mut bob_events, friend_event).await;
    assert_eq!(
        (inv.kind, inv.from.as_str(), inv.reason.as_str()),
        (FriendEventKind::Invited, "alice", "it's alice")
    );
    assert_eq!(
        sb.sandbox.friend_invitations_of("bob"),
        [("alice".to_owned(), "it's alice".to_owned())]
    );
    bob.answer_friend("alice", true).await.unwrap();
    let note = sdk
        .event("eventNotification", |n| n["event_type"] == 5)
        .await;
    assert_eq!(note["extra"], 2, "{note}");
    assert_eq!(note["return_code"], 0, "{note}");
    assert_eq!(note["from_username"], "bob", "{note}");
    let list = sdk.ok("getFriendList", json!({})).await;
    assert_eq!(list["friend_list"][0]["username"], "bob", "{list}");
    assert!(
        list["friend_list"][0].get("uid").is_none(),
        "the SDK drops uid: {list}"
    );
    assert_eq!(bob.friend_list().await.unwrap(), ["alice"]);
    // Answering again: nothing pending.
    let err = bob.answer_friend("alice", true).await.unwrap_err();
    assert_eq!(rejected_code(err), wire::code::FRIEND_REFUSED);

    // The SDK removes bob: we get type 6, both lists empty.
    sdk.ok("delFriend", json!({"target_name": "bob"})).await;
    let del = next(&mut bob_events, friend_event).await;
    assert_eq!(
        (del.kind, del.from.as_str()),
        (FriendEventKind::Deleted, "alice")
    );
    assert!(bob.friend_list().await.unwrap().is_empty());
    let list = sdk.ok("getFriendList", json!({})).await;
    assert_eq!(list["friend_list"], json!([]), "{list}");

    // We invite, the SDK declines.
    bob.add_friend("alice", "bob again").await.unwrap();
    let note = sdk
        .event("eventNotification", |n| {
            n["event_type"] == 5 && n["extra"] == 1
        })
        .await;
    assert_eq!(note["from_username"], "bob", "{note}");
    assert_eq!(note["description"], "bob again", "{note}");
    sdk.ok(
        "declineFriend",
        json!({"target_name": "bob", "why": "not now"}),
    )
    .await;
    let dec = next(&mut bob_events, friend_event).await;
    assert_eq!(
        (dec.kind, dec.from.as_str(), dec.reason.as_str()),
        (FriendEventKind::Declined, "alice", "not now")
    );
    assert!(sb.sandbox.friends_of("alice").is_empty());
    let err = bob.add_friend("nobody", "").await.unwrap_err();
    assert_eq!(rejected_code(err), wire::code::USER_NOT_EXIST);

    // The SDK blacklists bob: bob's texts are refused (880207) until it takes him off.
    sdk.ok(
        "addSingleBlacks",
        json!({"member_usernames": [{"username": "bob"}]}),
    )
    .await;
    assert_eq!(sb.sandbox.blacklist_of("alice"), ["bob"]);
    let err = bob.send_text("alice", "blocked?", None).await.unwrap_err();
    assert_eq!(rejected_code(err), wire::code::SENDER_BLACKLISTED);
    let blacks = sdk.ok("getBlacks", json!({})).await;
    assert_eq!(blacks["black_list"][0]["username"], "bob", "{blacks}");
    sdk.ok(
        "delSingleBlacks",
        json!({"member_usernames": [{"username": "bob"}]}),
    )
    .await;
    bob.send_text("alice", "back", None).await.unwrap();
    let msg = sdk
        .event("msgReceive", |m| {
            m["messages"][0]["content"]["msg_body"]["text"] == "back"
        })
        .await;
    assert_eq!(msg["messages"][0]["content"]["from_id"], "bob", "{msg}");

    // Our blacklist is what the sandbox keeps and our own read returns.
    bob.set_blacklisted("alice", true).await.unwrap();
    assert_eq!(bob.black_list().await.unwrap(), ["alice"]);
    let err = sdk
        .request(
            "sendSingleMsg",
            json!({"target_username": "bob", "content": "hi"}),
        )
        .await
        .expect_err("blacklisted");
    assert_eq!(err["code"], wire::code::SENDER_BLACKLISTED, "{err}");
    bob.set_blacklisted("alice", false).await.unwrap();
    assert!(bob.black_list().await.unwrap().is_empty());

    // Offline: an invitation made while the SDK was away reaches its `onSyncEvent` at login;
    // its accept made while our client was away reaches us at our next login.
    sdk.assert_no_crash();
    sdk.exit().await;
    wait_offline(&sb, "alice").await;
    bob.add_friend("alice", "while you were away")
        .await
        .unwrap();
    let mut sdk = sdk_login(&bundle, &sb, "alice").await;
    let events = sdk.event("syncEvent", |_| true).await;
    let events = events.as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event_type"], 5, "{events:?}");
    assert_eq!(events[0]["extra"], 1, "{events:?}");
    assert_eq!(events[0]["from_username"], "bob", "{events:?}");
    assert_eq!(
        events[0]["description"], "while you were away",
        "{events:?}"
    );
    bob.logout().await;
    drop(bob_events);
    wait_offline(&sb, "bob").await;
    sdk.ok("acceptFriend", json!({"target_name": "bob"})).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let acc = next(&mut bob_events, friend_event).await;
    assert_eq!(
        (acc.kind, acc.from.as_str()),
        (FriendEventKind::Accepted, "alice")
    );
    assert_eq!(bob.friend_list().await.unwrap(), ["alice"]);

    sdk.assert_no_crash();
    sdk.exit().await;
    bob.logout().await;
}

/// Waits (bounded, 10 s) until `user` has no socket on the sandbox.
async fn wait_offline(sb: &JmSandbox, user: &str) {
    for _ in 0..100 {
        if sb.sandbox.sessions_of(user) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{user} still online after 10 s");
}
