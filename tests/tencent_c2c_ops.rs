//! Conformance of the C2C operations on sent messages: the unmodified official
//! `@tencentcloud/chat` 3.6.6 (tests/sdk/tencent-agent.js) against our Tencent sandbox, with
//! our Rust client as the other party, both ways, field by field: recall
//! (`revokeMessage` ↔ `openim.msgwithdraw`), edit (`modifyMessage` ↔
//! `openim.modify_c2c_msg`), the read marker (`setMessageRead` ↔ `openim.msgreaded`) and
//! the TUIKit typing notice (an online-only custom message). Every run asserts the SDK
//! raised no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use common::sdk_agent::SdkAgent;
use common::tencent_rig::{next, sdk_login, TestSandbox};
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::history;
use imbridge::network::tencent::session::ops::{self, C2cRef};
use imbridge::network::tencent::session::{C2cMessage, SessionEvent};
use imbridge::network::tencent::wire::servcmd;
use serde_json::{json, Value};
use tokio::sync::mpsc;

async fn next_message(events: &mut mpsc::Receiver<SessionEvent>) -> C2cMessage {
    next(events, |e| match e {
        SessionEvent::Message(m) => Some(m),
        _ => None,
    })
    .await
}

/// The first message of the SDK's next `onMessageReceived`.
async fn sdk_message(a: &mut SdkAgent) -> Value {
    let batch = a.event("onMessageReceived", |_| true).await;
    batch[0].clone()
}

fn receipt_ref(from: &str, to: &str, key: &str) -> C2cRef {
    C2cRef::from_key(from, to, key).expect("the sandbox's MsgKey has the service's shape")
}

#[tokio::test]
async fn recall_both_ways_between_sdk_and_rust_client() {
    let env = TestSandbox::start().await;
    let (bob, mut bob_events) = env.client("bob").await;
    let (_bob2, mut bob2_events) = env.client("bob").await;
    let mut alice = sdk_login(&env, "alice").await;

    // SDK → Rust: alice recalls; bob hears which message, field by field.
    let sent = alice
        .ok("sendText", json!({"to": "bob", "text": "oops"}))
        .await;
    let got = next_message(&mut bob_events).await;
    next_message(&mut bob2_events).await;
    alice
        .ok(
            "onMessage",
            json!({"method": "revokeMessage", "messageID": sent["ID"]}),
        )
        .await;
    let r = next(&mut bob_events, |e| match e {
        SessionEvent::Recalled(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!((r.from.as_str(), r.to.as_str()), ("alice", "bob"));
    assert_eq!((r.seq, r.random, r.time), (got.seq, got.random, got.time));
    assert_eq!(r.msg_key(), got.key);

    // Rust → SDK: bob recalls his message; the SDK raises MESSAGE_REVOKED for it, and bob's
    // other instance hears his recall too.
    let receipt = bob.send_c2c_text("alice", "unsend me").await.unwrap();
    let m = sdk_message(&mut alice).await;
    next_message(&mut bob2_events).await;
    let target = receipt_ref("bob", "alice", &receipt.msg_key);
    bob.call(ops::MSGWITHDRAW, ops::withdraw_body(&target))
        .await
        .expect("recalled");
    let revoked = alice.event("onMessageRevoked", |_| true).await;
    let revoked = &revoked[0];
    assert_eq!(revoked["ID"], m["ID"]);
    assert_eq!(revoked["isRevoked"], true);
    assert_eq!(revoked["revoker"], "bob");
    assert_eq!(revoked["payload"]["text"], "unsend me");
    let mine = next(&mut bob2_events, |e| match e {
        SessionEvent::Recalled(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(mine.msg_key(), receipt.msg_key);
    // Only the author may recall.
    let theirs = receipt_ref("alice", "bob", &got.key);
    assert!(bob
        .call(ops::MSGWITHDRAW, ops::withdraw_body(&theirs))
        .await
        .is_err());
    // A recalled message is not recalled twice.
    assert!(bob
        .call(ops::MSGWITHDRAW, ops::withdraw_body(&target))
        .await
        .is_err());

    // The history keeps both, marked: a new instance of alice reads them with
    // getMessageList as recalled (the SDK's isRevoked, its revoker), and our client reads
    // them marked too.
    let mut alice2 = sdk_login(&env, "alice").await;
    let page = alice2
        .call("getMessageList", json!([{"conversationID": "C2Cbob"}]))
        .await
        .expect("getMessageList");
    let list = page["data"]["messageList"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let marks: Vec<(Value, Value, Value)> = list
        .iter()
        .map(|m| {
            (
                m["ID"].clone(),
                m["isRevoked"].clone(),
                m["revoker"].clone(),
            )
        })
        .collect();
    assert_eq!(
        marks,
        [
            (sent["ID"].clone(), json!(true), json!("alice")),
            (m["ID"].clone(), json!(true), json!("bob")),
        ]
    );
    let page = bob
        .call(
            history::GETROAMMSG,
            history::c2c_page_body("alice", "", history::PAGE),
        )
        .await
        .expect("getroammsg");
    let (read, _, _) = history::c2c_page(&page);
    let marks: Vec<(&str, bool, &str)> = read
        .iter()
        .map(|m| (m.key.as_str(), m.revoked, m.revoker.as_str()))
        .collect();
    assert_eq!(
        marks,
        [
            (got.key.as_str(), true, "alice"),
            (receipt.msg_key.as_str(), true, "bob")
        ]
    );

    alice2.assert_no_crash();
    alice2.exit().await;
    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn edit_both_ways_between_sdk_and_rust_client() {
    let env = TestSandbox::start().await;
    let (bob, mut bob_events) = env.client("bob").await;
    let mut alice = sdk_login(&env, "alice").await;

    // SDK → Rust.
    let sent = alice
        .ok("sendText", json!({"to": "bob", "text": "v1"}))
        .await;
    let got = next_message(&mut bob_events).await;
    let r = alice
        .ok(
            "onMessage",
            json!({"method": "modifyMessage", "messageID": sent["ID"], "text": "v2"}),
        )
        .await;
    assert_eq!(r["message"]["payload"]["text"], "v2");
    let m = next(&mut bob_events, |e| match e {
        SessionEvent::Modified(m) => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(m.target.msg_key(), got.key);
    assert_eq!((m.target.seq, m.target.random), (got.seq, got.random));
    assert_eq!(m.elems, vec![Elem::text("v2")]);
    assert_eq!(m.version, 1);

    // Rust → SDK, twice (the version moves on).
    let receipt = bob.send_c2c_text("alice", "b1").await.unwrap();
    let original = sdk_message(&mut alice).await;
    let target = receipt_ref("bob", "alice", &receipt.msg_key);
    for (version, text) in [(0, "b2"), (1, "b3")] {
        let reply = bob
            .call(
                ops::MODIFY_C2C_MSG,
                ops::modify_body(&target, version, &[Elem::text(text)], None),
            )
            .await
            .expect("edited");
        assert_eq!(ops::modified_version(&reply), Some(version + 1));
        // (The SDK also reports alice's own edit above: wait for bob's.)
        let ev = alice
            .event("onMessageModified", |e| e[0]["payload"]["text"] == text)
            .await;
        let edited = &ev[0];
        assert_eq!(edited["ID"], original["ID"]);
        assert_eq!(edited["payload"]["text"], text);
        assert_eq!(edited["isModified"], true);
        assert_eq!(edited["version"], version + 1);
    }
    // A stale version is a conflict.
    let stale = bob
        .call(
            ops::MODIFY_C2C_MSG,
            ops::modify_body(&target, 0, &[Elem::text("late")], None),
        )
        .await
        .expect_err("conflict");
    assert!(stale.to_string().contains("20027"), "{stale}");

    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn read_marker_and_typing_both_ways_between_sdk_and_rust_client() {
    let env = TestSandbox::start().await;
    let (bob, mut bob_events) = env.client("bob").await;
    let mut alice = sdk_login(&env, "alice").await;

    // bob reads alice's message: the SDK marks its message read by the peer.
    let sent = alice
        .ok("sendText", json!({"to": "bob", "text": "read me"}))
        .await;
    let got = next_message(&mut bob_events).await;
    bob.call(ops::MSGREADED, ops::read_body("alice", got.time))
        .await
        .expect("read");
    let ev = alice.event("onMessageReadByPeer", |_| true).await;
    assert_eq!(ev[0]["ID"], sent["ID"]);
    assert_eq!(ev[0]["isPeerRead"], true);

    // alice reads bob's message in the SDK: bob hears it.
    bob.send_c2c_text("alice", "and you read mine")
        .await
        .unwrap();
    sdk_message(&mut alice).await;
    alice
        .call("setMessageRead", json!([{"conversationID": "C2Cbob"}]))
        .await
        .expect("setMessageRead");
    let (peer, time) = next(&mut bob_events, |e| match e {
        SessionEvent::PeerRead { peer, time } => Some((peer, time)),
        _ => None,
    })
    .await;
    assert_eq!(peer, "alice");
    assert!(time >= got.time);

    // Typing, SDK → Rust: the TUIKit notice as the SDK sends it (onlineUserOnly).
    let data = json!({"businessID": ops::TYPING_BUSINESS_ID, "typingStatus": 1, "version": 1,
                      "userAction": 14, "actionParam": "EIMAMSG_InputStatus_Ing"});
    alice
        .ok(
            "sendCustom",
            json!({"to": "bob", "data": data.to_string(), "onlineUserOnly": true}),
        )
        .await;
    let m = next_message(&mut bob_events).await;
    assert_eq!(ops::typing_status(&m.elems), Some(true));
    // Typing, Rust → SDK: a custom message the SDK hands over with the TUIKit JSON.
    let body = ops::typing_body("bob", "alice", false, 11, 12);
    bob.call(servcmd::SENDMSG, body).await.expect("typing sent");
    let m = sdk_message(&mut alice).await;
    assert_eq!(m["type"], "TIMCustomElem");
    let typing: Value = serde_json::from_str(m["payload"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(typing["businessID"], "user_typing_status");
    assert_eq!(typing["typingStatus"], 0);
    // Online only: a notice to someone offline is not kept for their next login (a text is).
    env.sandbox.import("carol");
    bob.call(
        servcmd::SENDMSG,
        ops::typing_body("bob", "carol", true, 21, 22),
    )
    .await
    .expect("typing to an offline user");
    bob.send_c2c_text("carol", "kept").await.unwrap();
    let (_carol, mut carol_events) = env.client("carol").await;
    let m = next_message(&mut carol_events).await;
    assert_eq!(m.text(), "kept");
    assert!(m.offline);
    let synced = next(&mut carol_events, |e| match e {
        SessionEvent::SyncCompleted { count } => Some(count),
        _ => None,
    })
    .await;
    assert_eq!(synced, 1);

    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn reply_quotes_and_custom_messages_between_sdk_and_rust_client() {
    let env = TestSandbox::start().await;
    let (bob, mut bob_events) = env.client("bob").await;
    let bob_tiny = next(&mut bob_events, |e| match e {
        SessionEvent::LoggedIn { tiny_id, .. } => Some(tiny_id),
        _ => None,
    })
    .await;
    let mut alice = sdk_login(&env, "alice").await;

    // The SDK names bob's message `{TinyId}-{MsgClientTime}-{MsgRandom}`: the bridge can
    // compute that id for what it sent (MsgClientTime 0 is filled with MsgTime).
    let receipt = bob.send_c2c_text("alice", "question?").await.unwrap();
    let question = sdk_message(&mut alice).await;
    assert_eq!(
        question["ID"],
        ops::sdk_message_id(&bob_tiny, receipt.msg_time, receipt.msg_random)
    );

    // SDK → Rust: a TUIKit reply quoting bob's message, field by field.
    let quote = json!({"messageReply": {"messageID": question["ID"], "messageAbstract": "question?",
                                        "messageSender": "bob", "messageType": 1, "version": 1}});
    let answer = alice
        .ok(
            "sendText",
            json!({"to": "bob", "text": "answer", "cloudCustomData": quote.to_string()}),
        )
        .await;
    let got = next_message(&mut bob_events).await;
    assert_eq!(got.text(), "answer");
    let r = ops::parse_reply(&got.cloud_custom_data).expect("a reply quote");
    assert_eq!(r.message_id, question["ID"].as_str().unwrap());
    assert_eq!(
        (
            r.message_abstract.as_str(),
            r.message_sender.as_str(),
            r.message_type
        ),
        ("question?", "bob", 1)
    );
    // And bob computes the SDK's id of alice's message from what he received.
    assert_eq!(
        ops::sdk_message_id(&got.tiny_id, got.client_time, got.random),
        answer["ID"].as_str().unwrap()
    );

    // Rust → SDK: bob quotes alice's answer by its SDK id.
    let quote = ops::reply_data(&ops::MessageReply {
        message_id: ops::sdk_message_id(&got.tiny_id, got.client_time, got.random),
        message_abstract: "answer".into(),
        message_sender: "alice".into(),
        message_type: 1,
    });
    bob.send_c2c_with("alice", vec![Elem::text("thanks")], quote)
        .await
        .unwrap();
    let m = sdk_message(&mut alice).await;
    assert_eq!(m["payload"]["text"], "thanks");
    let data: Value = serde_json::from_str(m["cloudCustomData"].as_str().unwrap()).unwrap();
    assert_eq!(data["messageReply"]["messageID"], answer["ID"]);
    assert_eq!(data["messageReply"]["messageSender"], "alice");
    assert_eq!(data["messageReply"]["version"], 1);

    // A custom message (not a typing notice) reaches bob with its data.
    alice
        .ok(
            "sendCustom",
            json!({"to": "bob", "data": "{\"businessID\":\"order\"}"}),
        )
        .await;
    let m = next_message(&mut bob_events).await;
    assert!(matches!(&m.elems[..], [Elem::Custom(c)] if c.data == "{\"businessID\":\"order\"}"));
    assert_eq!(ops::typing_status(&m.elems), None);

    alice.assert_no_crash();
    alice.exit().await;
}
