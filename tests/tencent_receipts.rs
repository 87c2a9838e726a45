//! Per-message read receipts between the unmodified official `@tencentcloud/chat` 3.6.6
//! (tests/sdk/tencent-agent.js) and our Rust client, through the sandbox, in a Work group and
//! C2C, both ways: a message the SDK sends with `needReadReceipt` reaches our client marked
//! so, and our client's receipt (`group_msg_receipt` / `c2c_msg_read_receipt`) reaches the
//! SDK's `MESSAGE_READ_RECEIPT_RECEIVED` for that message, with the counts its
//! `getMessageReadReceiptList` / `getGroupMessageReadMemberList` then confirm; our client's
//! message asking for receipts reaches the SDK with `needReadReceipt`, and the SDK's
//! `sendMessageReadReceipt` reaches our client as a typed receipt naming the reader and the
//! message. Every run asserts the SDK raised no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use common::sdk_agent::SdkAgent;
use common::tencent_rig::{next, sdk_login, sdk_received, TestSandbox, APP};
use imbridge::core::connector::{ChatId, MessageContent, RemoteEvent};
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::receipts::{
    c2c_receipt_request, group_receipt_request, C2cReceiptFor, ReceiptNotice,
};
use imbridge::network::tencent::session::{SessionConfig, SessionEvent};
use imbridge::network::tencent::wire::servcmd;
use serde_json::{json, Value};

/// The SDK's copy of the message with text `text`, which must ask for a receipt, once the SDK
/// has sent its read receipt for it (`sendMessageReadReceipt`).
async fn sdk_reads(alice: &mut SdkAgent, text: &str) -> Value {
    let m = sdk_received(alice, |m| m["payload"]["text"] == text).await;
    assert_eq!(m["needReadReceipt"], true, "{m}");
    alice
        .ok(
            "onMessages",
            json!({"method": "sendMessageReadReceipt", "messageIDs": [m["ID"]]}),
        )
        .await;
    m
}

fn receipts(e: SessionEvent) -> Option<ReceiptNotice> {
    match e {
        SessionEvent::ReadReceipts(r) => Some(r),
        _ => None,
    }
}

#[tokio::test]
async fn group_receipts_both_ways_between_sdk_and_rust_client() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["alice", "bob", "carol"]).await;
    let mut alice = sdk_login(&sb, "alice").await;
    let mut cfg = SessionConfig::new(APP, "bob", &sb.sig("bob"));
    cfg.group_read_receipts = true;
    let (bob, mut bob_events) = sb.client_with(cfg).await;

    // SDK → Rust: alice asks for receipts; bob's client sees it asked and gives one.
    let sent = alice
        .ok(
            "sendGroupText",
            json!({"groupID": gid, "text": "did you read this?", "needReadReceipt": true}),
        )
        .await;
    let got = next(&mut bob_events, |e| match e {
        SessionEvent::GroupMessage(m) if m.text() == "did you read this?" => Some(m),
        _ => None,
    })
    .await;
    assert!(got.need_receipt, "IsNeedReadReceipt reached our client");
    let (cmd, body) = group_receipt_request(&gid, &[got.seq]);
    bob.call(cmd, body.clone())
        .await
        .expect("group_msg_receipt");
    let ev = alice
        .event("onMessageReadReceiptReceived", |d| {
            d[0]["messageID"] == sent["ID"]
        })
        .await;
    assert_eq!(ev[0]["groupID"], gid.as_str(), "{ev}");
    assert_eq!(
        (ev[0]["readCount"].clone(), ev[0]["unreadCount"].clone()),
        (json!(1), json!(1)),
        "{ev}"
    );
    // Idempotent: the same receipt again changes nothing and is not refused.
    bob.call(cmd, body).await.expect("a repeated receipt");
    // The sender's queries agree: one reader (bob), one not yet (carol).
    let list = alice
        .ok(
            "onMessages",
            json!({"method": "getMessageReadReceiptList", "messageIDs": [sent["ID"]]}),
        )
        .await;
    let info = &list["messageList"][0]["readReceiptInfo"];
    assert_eq!(
        (info["readCount"].clone(), info["unreadCount"].clone()),
        (json!(1), json!(1)),
        "{list}"
    );
    let read = alice
        .ok("readMembers", json!({"messageID": sent["ID"], "filter": 0}))
        .await;
    assert_eq!(read["readUserIDList"], json!(["bob"]), "{read}");
    assert_eq!(read["isCompleted"], true, "{read}");
    let unread = alice
        .ok("readMembers", json!({"messageID": sent["ID"], "filter": 1}))
        .await;
    assert_eq!(unread["unreadUserIDList"], json!(["carol"]), "{unread}");

    // Rust → SDK: bob's message asks for receipts (the session's `group_read_receipts`);
    // alice's SDK sees `needReadReceipt` and its `sendMessageReadReceipt` reaches bob.
    let receipt = bob
        .send_group(&gid, vec![Elem::text("please ack")], vec![])
        .await
        .expect("group send");
    sdk_reads(&mut alice, "please ack").await;
    let notice = next(&mut bob_events, receipts).await;
    let ReceiptNotice::Group {
        group_id,
        reader,
        messages,
    } = notice
    else {
        panic!("a group receipt, not {notice:?}");
    };
    assert_eq!(
        (group_id.as_str(), reader.as_deref()),
        (gid.as_str(), Some("alice"))
    );
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].seq, Some(u64::from(receipt.msg_seq)));
    assert_eq!((messages[0].read, messages[0].unread), (1, 1));

    // Bad receipts are refused: bob on his own message, a seq that does not exist, a
    // message that asked for none.
    let plain = bob
        .send_group(&gid, vec![Elem::text("no receipts")], vec![])
        .await
        .expect("group send");
    let (cmd, body) = group_receipt_request(&gid, &[u64::from(receipt.msg_seq)]);
    assert!(bob.call(cmd, body).await.is_err(), "own message");
    let (cmd, body) = group_receipt_request(&gid, &[9_999]);
    assert!(bob.call(cmd, body).await.is_err(), "missing message");
    let sdk_plain = alice
        .ok(
            "sendGroupText",
            json!({"groupID": gid, "text": "no ack wanted"}),
        )
        .await;
    let (cmd, body) = group_receipt_request(&gid, &[sdk_plain["sequence"].as_u64().unwrap_or(0)]);
    assert!(
        bob.call(cmd, body).await.is_err(),
        "a message that asked for none"
    );
    assert!(plain.msg_seq > 0);

    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn c2c_receipts_both_ways_between_sdk_and_rust_client() {
    let sb = TestSandbox::start().await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let mut alice = sdk_login(&sb, "alice").await;

    // SDK → Rust.
    let sent = alice
        .ok(
            "sendText",
            json!({"to": "bob", "text": "tell me you read it", "needReadReceipt": true}),
        )
        .await;
    let got = next(&mut bob_events, |e| match e {
        SessionEvent::Message(m) if m.text() == "tell me you read it" => Some(m),
        _ => None,
    })
    .await;
    assert!(got.need_receipt);
    let asked = C2cReceiptFor {
        from: got.from.clone(),
        to: got.to.clone(),
        seq: got.seq,
        random: got.random,
        time: got.time,
        client_time: got.client_time,
    };
    let (cmd, body) = c2c_receipt_request("alice", &[asked]);
    bob.call(cmd, body).await.expect("c2c_msg_read_receipt");
    let ev = alice
        .event("onMessageReadReceiptReceived", |d| {
            d[0]["messageID"] == sent["ID"]
        })
        .await;
    assert_eq!(ev[0]["userID"], "bob", "{ev}");
    assert_eq!(ev[0]["isPeerRead"], true, "{ev}");

    // Rust → SDK: bob's message asks for a receipt (`IsNeedReadReceipt: 1`).
    let reply = bob
        .call(
            servcmd::SENDMSG,
            json!({"From_Account": "bob", "To_Account": "alice", "MsgSeq": 77,
                   "MsgRandom": 4242, "MsgClientTime": 0, "IsNeedReadReceipt": 1,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "ack me"}}]}),
        )
        .await
        .expect("sendmsg");
    let key = reply["MsgKey"].as_str().unwrap_or_default().to_owned();
    sdk_reads(&mut alice, "ack me").await;
    let notice = next(&mut bob_events, receipts).await;
    let ReceiptNotice::C2c {
        reader, messages, ..
    } = notice
    else {
        panic!("a C2C receipt, not {notice:?}");
    };
    assert_eq!(reader, "alice");
    assert_eq!(messages[0].key.as_deref(), Some(key.as_str()));

    // The SDK may not receipt its own message; our client may not receipt one that asked
    // for none.
    let own: Result<Value, Value> = alice
        .request(
            "onMessages",
            json!({"method": "sendMessageReadReceipt", "messageIDs": [sent["ID"]]}),
        )
        .await;
    assert!(own.is_err(), "the SDK filters out its own messages");
    let plain = alice
        .ok("sendText", json!({"to": "bob", "text": "plain"}))
        .await;
    let got = next(&mut bob_events, |e| match e {
        SessionEvent::Message(m) if m.text() == "plain" => Some(m),
        _ => None,
    })
    .await;
    assert!(!got.need_receipt, "{plain}");
    let (cmd, body) = c2c_receipt_request(
        "alice",
        &[C2cReceiptFor {
            from: got.from.clone(),
            to: got.to.clone(),
            seq: got.seq,
            random: got.random,
            time: got.time,
            client_time: got.client_time,
        }],
    );
    assert!(bob.call(cmd, body).await.is_err());

    alice.assert_no_crash();
    alice.exit().await;
}

/// A DM message that asked for a receipt, received by one run of the connector and read in
/// Matrix after a restart: the new run has no memory of it, finds it in the DM's history
/// (`IsNeedReadReceipt`, not yet `IsPeerRead`) at its first read, and the SDK hears the
/// receipt; a message that asked for none gets none, and nothing goes out twice.
#[tokio::test]
async fn c2c_receipt_owed_from_before_a_restart_goes_out_after_it() {
    let sb = TestSandbox::start().await;
    let mut bob = sdk_login(&sb, "bob").await;
    let (first, mut events) = sb.connector_login("alice").await;
    let asked = bob
        .ok(
            "sendText",
            json!({"to": "alice", "text": "read me later", "needReadReceipt": true}),
        )
        .await;
    bob.ok("sendText", json!({"to": "alice", "text": "nothing asked"}))
        .await;
    let mut newest = None;
    while newest.is_none() {
        match tokio::time::timeout(std::time::Duration::from_secs(10), events.recv()).await {
            Ok(Some(RemoteEvent::Message(m))) => {
                if matches!(&m.content, MessageContent::Text { body, .. } if body == "nothing asked")
                {
                    newest = Some(m.id);
                }
            }
            Ok(Some(_)) => {}
            other => panic!("the first run got no message: {other:?}"),
        }
    }
    let newest = newest.unwrap_or_default();
    first.disconnect(false).await;
    drop(events);

    let (second, _events) = sb.connector_login("alice").await;
    let receipts = second.as_receipts().expect("receipts");
    let bob_chat = ChatId::direct("bob");
    receipts
        .mark_read(&bob_chat, &newest)
        .await
        .expect("marked read");
    let ev = bob
        .event("onMessageReadReceiptReceived", |d| {
            d[0]["messageID"] == asked["ID"]
        })
        .await;
    assert_eq!(ev[0]["userID"], "alice", "{ev}");
    receipts
        .mark_read(&bob_chat, &newest)
        .await
        .expect("marked read again");
    let again = bob
        .event_within(
            "onMessageReadReceiptReceived",
            std::time::Duration::from_secs(2),
            |_| true,
        )
        .await;
    assert!(again.is_none(), "a receipt went out twice: {again:?}");
    second.disconnect(false).await;
    bob.assert_no_crash();
    bob.exit().await;
}
