//! Groups and recall, proven by the unmodified official JMessage Web SDK 2.5.0 (loaded from
//! ../shared/vendor, run in node by tests/sdk/jmessage-agent.js) against our sandbox with our
//! Rust client as the other members: create / info / list / members / add / remove / update /
//! exit with the group `event_notification`s typed on the Rust side, group text both ways with
//! fan-out, offline group messages at the SDK's login, and `msg_retract` both ways (single
//! and group) with the author-only refusal, and read receipts both ways (`receipt_report` →
//! `receipt_change`, single and group). Skipped (saying so) when the bundle is absent.

#![cfg(feature = "jmessage")]

mod common;

use std::time::Duration;

use common::jmessage_sdk::{bundle, message, next, sdk_login, JmSandbox};
use imbridge::network::jmessage::session::{
    GroupEvent, GroupEventKind, Retraction, SendError, SessionEvent,
};
use imbridge::network::jmessage::wire;
use serde_json::{json, Value};
use tokio::sync::mpsc;

async fn group_event(
    events: &mut mpsc::Receiver<SessionEvent>,
    kind: GroupEventKind,
) -> GroupEvent {
    next(events, move |e| match e {
        SessionEvent::Group(g) if g.kind == kind => Some(g),
        _ => None,
    })
    .await
}

fn members(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| json!({ "username": n })).collect())
}

fn rejected_code(e: SendError) -> i64 {
    match e {
        SendError::Rejected { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn group_lifecycle_and_text_both_ways_between_sdk_and_rust_clients() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob", "carol"]).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let (carol, mut carol_events) = sb.client("carol").await;
    let mut alice = sdk_login(&bundle, &sb, "alice").await;

    // The SDK creates the group and gets event 8.
    let created = alice
        .ok(
            "createGroup",
            json!({"group_name": "团队 team", "group_description": "desc"}),
        )
        .await;
    let gid = created["gid"].as_i64().expect("gid");
    let note = alice
        .event("eventNotification", |n| n["event_type"] == 8)
        .await;
    assert_eq!(note["gid"], gid);

    // It adds the Rust clients: both get event 10 naming both.
    alice
        .ok(
            "addGroupMembers",
            json!({"gid": gid, "member_usernames": members(&["bob", "carol"])}),
        )
        .await;
    let added = group_event(&mut bob_events, GroupEventKind::MembersAdded).await;
    assert_eq!((added.gid, added.from_username.as_str()), (gid, "alice"));
    assert_eq!(added.to_usernames, vec!["bob", "carol"]);
    group_event(&mut carol_events, GroupEventKind::MembersAdded).await;

    // The Rust side reads the group, its members and its list.
    let info = bob.group_info(gid).await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.description.as_str()),
        ("团队 team", "desc")
    );
    let m = bob.group_members(gid).await.unwrap();
    let names: Vec<&str> = m.iter().map(|m| m.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert!(m[0].owner && !m[1].owner);
    assert_eq!(bob.group_list().await.unwrap()[0].gid, gid);
    // And so does the SDK (which renames flag to group_type and strips uid/mtime).
    let sdk_members = alice.ok("getGroupMembers", json!({"gid": gid})).await;
    assert_eq!(sdk_members["member_list"].as_array().unwrap().len(), 3);
    assert!(sdk_members["member_list"][0].get("uid").is_none());
    let sdk_groups = alice.ok("getGroups", json!({})).await;
    assert_eq!(sdk_groups["group_list"][0]["gid"], gid);
    assert_eq!(sdk_groups["group_list"][0]["group_type"], 0);

    // SDK → Rust: fan-out to both members.
    let sent = alice
        .ok(
            "sendGroupMsg",
            json!({"target_gid": gid, "target_gname": "团队 team", "content": "hi all",
                "extras": {"k": 1}}),
        )
        .await;
    for events in [&mut bob_events, &mut carol_events] {
        let got = message(events).await;
        assert_eq!(Some(got.msg_id), sent["msg_id"].as_i64());
        assert_eq!(got.gid, Some(gid));
        assert_eq!(
            (got.from.as_str(), got.text.as_deref()),
            ("alice", Some("hi all"))
        );
        assert_eq!(got.extras, Some(json!({"k": 1})));
    }

    // Rust → SDK (and to the other Rust member).
    let receipt = bob
        .send_group_text(gid, "hello from bob", None)
        .await
        .unwrap();
    let push = alice
        .event("msgReceive", |p| p["messages"][0]["msg_type"] == 4)
        .await;
    let pm = &push["messages"][0];
    assert_eq!(pm["msg_id"].as_i64(), Some(receipt.msg_id));
    assert_eq!(pm["from_gid"], gid);
    assert_eq!(pm["content"]["target_type"], "group");
    assert_eq!(pm["content"]["target_id"], gid.to_string());
    assert_eq!(pm["content"]["from_id"], "bob");
    assert_eq!(pm["content"]["msg_body"]["text"], "hello from bob");
    assert_eq!(message(&mut carol_events).await.msg_id, receipt.msg_id);

    // Not the owner: bob cannot remove carol (880704).
    let err = bob.del_group_members(gid, &["carol"]).await.unwrap_err();
    assert_eq!(rejected_code(err), wire::code::DEL_NOT_PERMITTED);

    // Rust renames the group: the SDK gets event 12 and reads the new name.
    bob.update_group_info(gid, Some("renamed"), None)
        .await
        .unwrap();
    let note = alice
        .event("eventNotification", |n| n["event_type"] == 12)
        .await;
    assert_eq!(note["from_username"], "bob");
    let sdk_info = alice.ok("getGroupInfo", json!({"gid": gid})).await;
    assert_eq!(sdk_info["group_info"]["name"], "renamed");
    assert_eq!(sdk_info["group_info"]["desc"], "desc");
    let updated = group_event(&mut carol_events, GroupEventKind::InfoUpdated).await;
    assert_eq!(updated.group_name.as_deref(), Some("renamed"));

    // carol leaves: the SDK and bob get event 9.
    carol.exit_group(gid).await.unwrap();
    let note = alice
        .event("eventNotification", |n| n["event_type"] == 9)
        .await;
    assert_eq!(note["from_username"], "carol");
    let exited = group_event(&mut bob_events, GroupEventKind::Exited).await;
    assert_eq!(exited.from_username, "carol");
    let err = carol
        .send_group_text(gid, "still here?", None)
        .await
        .unwrap_err();
    assert_eq!(rejected_code(err), wire::code::USER_NOT_IN_GROUP);

    // The SDK owner removes bob: bob gets event 11, and can no longer send.
    alice
        .ok(
            "delGroupMembers",
            json!({"gid": gid, "member_usernames": members(&["bob"])}),
        )
        .await;
    let removed = group_event(&mut bob_events, GroupEventKind::MembersRemoved).await;
    assert_eq!(removed.to_usernames, vec!["bob"]);
    let err = bob.send_group_text(gid, "x", None).await.unwrap_err();
    assert_eq!(rejected_code(err), wire::code::USER_NOT_IN_GROUP);
    // Refusals reach the SDK with the service's codes too.
    let err = alice
        .request("sendGroupMsg", json!({"target_gid": 1, "content": "x"}))
        .await
        .expect_err("unknown group");
    assert_eq!(err["code"], wire::code::TARGET_GROUP_NOT_EXIST, "{err}");
    assert_eq!(sb.sandbox.groups()[0].2, vec!["alice"]);

    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
    carol.logout().await;
}

#[tokio::test]
async fn group_messages_reach_an_offline_sdk_member_at_login_in_order() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob", "carol"]).await;
    let (bob, _events) = sb.client("bob").await;
    let gid = bob.create_group("offline", "").await.unwrap();
    bob.add_group_members(gid, &["alice"]).await.unwrap();
    let mut ids = Vec::new();
    for t in ["one", "two", "three"] {
        ids.push(bob.send_group_text(gid, t, None).await.unwrap().msg_id);
    }
    let mut alice = sdk_login(&bundle, &sb, "alice").await;
    let convs = alice.event("syncConversation", |_| true).await;
    let conv = &convs[0];
    assert_eq!(conv["msg_type"], 4);
    assert_eq!(conv["from_gid"], gid);
    let got: Vec<i64> = conv["msgs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["msg_id"].as_i64())
        .collect();
    assert_eq!(got, ids);
    // Acknowledged by the SDK: nothing left for alice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sb.sandbox.pending_conversations("alice").1.is_empty());
    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
}

#[tokio::test]
async fn retract_both_ways_single_and_group_author_only() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob", "carol"]).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut alice = sdk_login(&bundle, &sb, "alice").await;

    // SDK single message, retracted by the SDK: bob gets a typed single-chat retraction.
    let sent = alice
        .ok(
            "sendSingleMsg",
            json!({"target_username": "bob", "content": "oops"}),
        )
        .await;
    let id = sent["msg_id"].as_i64().unwrap();
    assert_eq!(message(&mut bob_events).await.msg_id, id);
    // bob is not the author: refused.
    let err = bob.retract(id).await.unwrap_err();
    assert_eq!(rejected_code(err), wire::code::RETRACT_REFUSED);
    alice.ok("msgRetract", json!({"msg_id": id})).await;
    let r: Retraction = next(&mut bob_events, |e| match e {
        SessionEvent::Retracted(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(
        (r.msg_ids, r.gid, r.from_username.as_str()),
        (vec![id], None, "alice")
    );

    // Rust group message, retracted by Rust: the SDK gets event 55 with the group.
    let gid = bob.create_group("g", "").await.unwrap();
    bob.add_group_members(gid, &["alice"]).await.unwrap();
    let receipt = bob.send_group_text(gid, "take back", None).await.unwrap();
    alice
        .event("msgReceive", |p| {
            p["messages"][0]["msg_id"] == receipt.msg_id
        })
        .await;
    // The SDK cannot retract bob's message.
    let err = alice
        .request("msgRetract", json!({"msg_id": receipt.msg_id}))
        .await
        .expect_err("not the author");
    assert_eq!(err["code"], wire::code::RETRACT_REFUSED, "{err}");
    bob.retract(receipt.msg_id).await.unwrap();
    let note = alice
        .event("eventNotification", |n| n["event_type"] == 55)
        .await;
    assert_eq!(note["msg_ids"], json!([receipt.msg_id]));
    assert_eq!(note["from_gid"], gid);
    assert_eq!(
        note["type"], 1,
        "the SDK marks a group retraction type 1: {note}"
    );
    assert_eq!(note["from_username"], "bob");

    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
}

#[tokio::test]
async fn read_receipts_both_ways_single_and_group() {
    let Some(bundle) = bundle() else { return };
    let sb = JmSandbox::start(&["alice", "bob", "carol"]).await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut alice = sdk_login(&bundle, &sb, "alice").await;

    // Rust → SDK, read by the SDK (its batched receipt_report): bob learns alice read it.
    let receipt = bob.send_text("alice", "read me", None).await.unwrap();
    alice
        .event("msgReceive", |p| {
            p["messages"][0]["msg_id"] == receipt.msg_id
        })
        .await;
    alice
        .ok(
            "addSingleReceiptReport",
            json!({"username": "bob", "msg_ids": [receipt.msg_id]}),
        )
        .await;
    let change = next(&mut bob_events, |e| match e {
        SessionEvent::ReceiptChange(c) => Some(c),
        _ => None,
    })
    .await;
    assert_eq!(
        (change.username.as_deref(), change.gid),
        (Some("alice"), None)
    );
    assert_eq!(change.receipts[0].msg_id, receipt.msg_id);
    assert_eq!(change.receipts[0].unread_count, 0);

    // SDK → Rust, read by Rust: the SDK gets receipt_change (onMsgReceiptChange).
    let sent = alice
        .ok(
            "sendSingleMsg",
            json!({"target_username": "bob", "content": "and me"}),
        )
        .await;
    let id = sent["msg_id"].as_i64().unwrap();
    assert_eq!(message(&mut bob_events).await.msg_id, id);
    bob.report_read_single("alice", &[id]).await.unwrap();
    let change = alice
        .event("msgReceiptChange", |c| c["receipt_msgs"][0]["msg_id"] == id)
        .await;
    assert_eq!(change["type"], 3);
    assert_eq!(change["username"], "bob");
    assert_eq!(change["receipt_msgs"][0]["unread_count"], 0);

    // Group: the SDK's group message read by Rust.
    let gid = bob.create_group("receipts", "").await.unwrap();
    bob.add_group_members(gid, &["alice"]).await.unwrap();
    let sent = alice
        .ok(
            "sendGroupMsg",
            json!({"target_gid": gid, "content": "group read"}),
        )
        .await;
    let id = sent["msg_id"].as_i64().unwrap();
    assert_eq!(message(&mut bob_events).await.msg_id, id);
    bob.report_read_group(gid, &[id]).await.unwrap();
    let change = alice
        .event("msgReceiptChange", |c| c["receipt_msgs"][0]["msg_id"] == id)
        .await;
    assert_eq!(
        (change["type"].clone(), change["gid"].clone()),
        (json!(4), json!(gid))
    );
    // Who read it: the SDK's msgUnreadList names bob.
    let list = alice.ok("msgUnreadList", json!({"msg_id": id})).await;
    let names = |key: &str| -> Vec<Value> {
        list["msg_unread_list"][key]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| e["username"].clone())
            .collect()
    };
    assert_eq!(names("read_list"), [json!("bob")], "{list}");
    assert!(names("unread_list").is_empty(), "{list}");

    // Rust asks the same of its own group message, read by the SDK; only the author may.
    let mine = bob
        .send_group_text(gid, "who read this", None)
        .await
        .unwrap();
    alice
        .event("msgReceive", |p| p["messages"][0]["msg_id"] == mine.msg_id)
        .await;
    let before = bob.msg_readers(mine.msg_id).await.unwrap();
    assert_eq!(
        (before.read.len(), before.unread),
        (0, vec!["alice".to_owned()])
    );
    alice
        .ok(
            "addGroupReceiptReport",
            json!({"gid": gid, "msg_ids": [mine.msg_id]}),
        )
        .await;
    next(&mut bob_events, |e| match e {
        SessionEvent::ReceiptChange(c) if c.gid == Some(gid) => Some(c),
        _ => None,
    })
    .await;
    let after = bob.msg_readers(mine.msg_id).await.unwrap();
    assert_eq!(
        (after.read, after.unread.len()),
        (vec!["alice".to_owned()], 0)
    );
    let refused = alice
        .request("msgUnreadList", json!({"msg_id": mine.msg_id}))
        .await;
    assert!(refused.is_err(), "another's message: {refused:?}");

    alice.assert_no_crash();
    alice.exit().await;
    bob.logout().await;
}
