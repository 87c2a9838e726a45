//! Tencent groups: the sandbox's Work group (REST admin calls, websocket send, fan-out, tips,
//! `group_msg_get`), our Rust session's group support, and the proof against the unmodified
//! official `@tencentcloud/chat` 3.6.6 SDK (tests/sdk/tencent-agent.js) with our Rust client as
//! the other member: text both ways field by field, @-mentions, TUIKit reply quotes both ways, offline group messages in
//! order (tips: `tencent_group_tips.rs`). Every SDK run asserts no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use std::time::Duration;

use common::tencent_rig::{next, sdk_login, sdk_received, TestSandbox, APP};
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::group_wire::{
    modify_body, read_report_body, recall_body, recall_failures, GROUP_MSG_RECALL,
    MODIFY_GROUP_MSG, MSG_READ_REPORT,
};
use imbridge::network::tencent::session::ops;
use imbridge::network::tencent::session::{
    GroupAt, GroupMessage, GroupModified, GroupNotice, SessionConfig, SessionEvent, AT_ALL,
};
use serde_json::{json, Value};

fn group_message(e: SessionEvent) -> Option<GroupMessage> {
    match e {
        SessionEvent::GroupMessage(m) => Some(m),
        _ => None,
    }
}

#[tokio::test]
async fn work_group_text_both_ways_between_sdk_and_rust_client() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["alice", "bob"]).await;
    let mut alice = sdk_login(&sb, "alice").await;
    let (bob, mut bob_events) = sb.client("bob").await;
    let list = next(&mut bob_events, |e| match e {
        SessionEvent::GroupList(l) => Some(l),
        _ => None,
    })
    .await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].group_id, gid);
    assert_eq!(list[0].kind, "Work");
    assert_eq!(list[0].profile.name.as_deref(), Some("Team"));
    assert_eq!(list[0].member_num, 2);

    // Rust client -> SDK, with an @-mention of alice.
    let receipt = bob
        .send_group(
            &gid,
            vec![Elem::text("hi team")],
            vec![GroupAt::User("alice".into())],
        )
        .await
        .expect("group send");
    assert_eq!(receipt.msg_seq, 1, "the group's first MsgSeq");
    let m = sdk_received(&mut alice, |m| m["payload"]["text"] == "hi team").await;
    assert_eq!(m["conversationType"], "GROUP");
    assert_eq!(m["conversationID"], format!("GROUP{gid}"));
    assert_eq!(m["to"], gid);
    assert_eq!(m["from"], "bob");
    assert_eq!(m["flow"], "in");
    assert_eq!(m["type"], "TIMTextElem");
    assert_eq!(m["sequence"], json!(receipt.msg_seq));
    assert_eq!(m["random"], json!(receipt.msg_random));
    assert_eq!(m["time"], json!(receipt.msg_time));
    assert_eq!(m["atUserList"], json!(["alice"]));
    // The SDK names bob's message `{TinyId}-{MsgClientTime}-{MsgRandom}`, as in C2C: the
    // bridge computes it for what it sent (the client time is filled with MsgTime).
    let question_id = m["ID"].as_str().expect("an ID").to_owned();
    assert!(
        !question_id.starts_with('-')
            && question_id.ends_with(&format!("-{}-{}", receipt.msg_time, receipt.msg_random)),
        "{question_id}"
    );

    // SDK -> Rust client: a TUIKit reply quoting bob's message.
    let quote = json!({"messageReply": {"messageID": question_id, "messageAbstract": "hi team",
                                        "messageSender": "bob", "messageType": 1, "version": 1}});
    let answer = alice
        .ok(
            "sendGroupText",
            json!({"groupID": gid, "text": "answer", "cloudCustomData": quote.to_string()}),
        )
        .await;
    let got = next(&mut bob_events, group_message).await;
    assert_eq!(got.text(), "answer");
    let r = ops::parse_reply(&got.cloud_custom_data).expect("a reply quote");
    assert_eq!(
        (r.message_id.as_str(), r.message_sender.as_str()),
        (question_id.as_str(), "bob")
    );
    // bob computes the SDK's id of alice's message from what he received.
    assert_eq!(
        ops::sdk_message_id(&got.tiny_id, got.client_time, got.random),
        answer["ID"].as_str().expect("an ID")
    );

    // Rust client -> SDK: bob quotes alice's answer by its SDK id.
    let quote = ops::reply_data(&ops::MessageReply {
        message_id: answer["ID"].as_str().unwrap_or_default().to_owned(),
        message_abstract: "answer".into(),
        message_sender: "alice".into(),
        message_type: 1,
    });
    bob.send_group_with(&gid, vec![Elem::text("thanks")], Vec::new(), quote)
        .await
        .expect("group send");
    let m = sdk_received(&mut alice, |m| m["payload"]["text"] == "thanks").await;
    let data: Value =
        serde_json::from_str(m["cloudCustomData"].as_str().unwrap_or_default()).expect("JSON");
    assert_eq!(data["messageReply"]["messageID"], answer["ID"]);
    assert_eq!(data["messageReply"]["messageSender"], "alice");

    // SDK -> Rust client, @all.
    let sent = alice
        .ok(
            "sendGroupText",
            json!({"groupID": gid, "text": "hello all", "atUserList": [AT_ALL]}),
        )
        .await;
    assert_eq!(sent["status"], "success");
    let got = next(&mut bob_events, group_message).await;
    assert_eq!(got.group_id, gid);
    assert_eq!(got.from, "alice");
    assert_eq!(got.text(), "hello all");
    assert_eq!(json!(got.seq), sent["sequence"]);
    assert_eq!(got.seq, 4);
    assert_eq!(json!(got.random), sent["random"]);
    assert_eq!(json!(got.time), sent["time"]);
    assert_eq!(got.mentions, vec![GroupAt::All]);
    assert!(!got.offline);
    // The SDK's own instance is not pushed its message back.
    assert!(alice
        .event_within("onMessageReceived", Duration::from_millis(300), |d| {
            d.to_string().contains("hello all")
        })
        .await
        .is_none());
    alice.assert_no_crash();
    alice.exit().await;
}

fn group_notice(e: SessionEvent) -> Option<GroupNotice> {
    match e {
        SessionEvent::GroupNotice(n) => Some(n),
        _ => None,
    }
}

/// Group recall both ways between the SDK and our client, who may recall what, the recalled
/// message as the SDK's history shows it, and the read marker the SDK reports reaching the
/// reader's other instance (our client logged in as the same user).
#[tokio::test]
async fn group_recall_and_read_marker_between_sdk_and_rust_client() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["carol", "alice", "bob"]).await;
    let mut alice = sdk_login(&sb, "alice").await;
    let (bob, mut bob_events) = sb.client("bob").await;

    // Rust client -> SDK: bob's message, then bob recalls it.
    let receipt = bob
        .send_group(&gid, vec![Elem::text("oops")], vec![])
        .await
        .expect("group send");
    let m = sdk_received(&mut alice, |m| m["payload"]["text"] == "oops").await;
    let reply = bob
        .call(
            GROUP_MSG_RECALL,
            recall_body(&gid, &[u64::from(receipt.msg_seq)]),
        )
        .await
        .expect("recall answered");
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert!(recall_failures(&reply).is_empty(), "{reply}");
    let revoked = alice
        .event("onMessageRevoked", |d| {
            d.as_array()
                .is_some_and(|l| l.iter().any(|x| x["ID"] == m["ID"]))
        })
        .await;
    let r = &revoked[0];
    assert_eq!(r["isRevoked"], true);
    assert_eq!(r["sequence"], json!(receipt.msg_seq));
    assert_eq!(r["revoker"], "bob");
    assert_eq!(r["conversationID"], format!("GROUP{gid}"));

    // SDK -> Rust client: alice's message, recalled with the SDK's revokeMessage.
    let sent = alice
        .ok(
            "sendGroupText",
            json!({"groupID": gid, "text": "take back"}),
        )
        .await;
    let got = next(&mut bob_events, group_message).await;
    assert_eq!(got.text(), "take back");
    // bob is neither the author nor a manager: refused, per message.
    let reply = bob
        .call(GROUP_MSG_RECALL, recall_body(&gid, &[got.seq]))
        .await
        .expect("recall answered");
    assert_eq!(recall_failures(&reply), [(got.seq, 10004)], "{reply}");
    let r = alice
        .ok(
            "onMessage",
            json!({"messageID": sent["ID"], "method": "revokeMessage"}),
        )
        .await;
    assert_eq!(r["message"]["isRevoked"], true, "{r}");
    let n = next(&mut bob_events, group_notice).await;
    assert_eq!(
        n,
        GroupNotice::Recalled {
            group_id: gid.clone(),
            seqs: vec![got.seq],
            revoker: "alice".into()
        }
    );
    // A second recall of the same message: not found.
    let reply = bob
        .call(
            GROUP_MSG_RECALL,
            recall_body(&gid, &[u64::from(receipt.msg_seq)]),
        )
        .await
        .expect("recall answered");
    assert_eq!(
        recall_failures(&reply),
        [(u64::from(receipt.msg_seq), 10030)]
    );

    // History as a newcomer's SDK reads it: both recalled messages are the SDK's revoked
    // placeholders.
    let mut carol = sdk_login(&sb, "carol").await;
    let list = carol
        .call(
            "getMessageList",
            json!([{"conversationID": format!("GROUP{gid}")}]),
        )
        .await
        .expect("getMessageList");
    let msgs = list["data"]["messageList"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let revoked: Vec<&Value> = msgs.iter().filter(|m| m["isRevoked"] == true).collect();
    assert_eq!(revoked.len(), 2, "{list}");
    carol.assert_no_crash();
    carol.exit().await;

    // The read marker: the SDK reads the group; alice's other instance (our client) hears it.
    let (_alice2, mut alice2_events) = sb.client("alice").await;
    let fresh = bob
        .send_group(&gid, vec![Elem::text("read me")], vec![])
        .await
        .expect("group send");
    sdk_received(&mut alice, |m| m["payload"]["text"] == "read me").await;
    let r = alice
        .call(
            "setMessageRead",
            json!([{"conversationID": format!("GROUP{gid}")}]),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    let n = next(&mut alice2_events, group_notice).await;
    assert_eq!(
        n,
        GroupNotice::Read {
            group_id: gid.clone(),
            seq: u64::from(fresh.msg_seq)
        }
    );
    // Our client reports the same way.
    let reply = bob
        .call(
            MSG_READ_REPORT,
            read_report_body(&gid, u64::from(fresh.msg_seq)),
        )
        .await
        .expect("read report answered");
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    alice.assert_no_crash();
    alice.exit().await;
}

/// Group edits both ways between the SDK and our client, with versions and conflicts.
#[tokio::test]
async fn group_edits_between_sdk_and_rust_client() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["alice", "bob"]).await;
    let mut alice = sdk_login(&sb, "alice").await;
    let (bob, mut bob_events) = sb.client("bob").await;

    // Rust client -> SDK.
    let receipt = bob
        .send_group(&gid, vec![Elem::text("first")], vec![])
        .await
        .expect("group send");
    let m = sdk_received(&mut alice, |m| m["payload"]["text"] == "first").await;
    let seq = u64::from(receipt.msg_seq);
    let reply = bob
        .call(
            MODIFY_GROUP_MSG,
            modify_body(&gid, seq, 0, &[Elem::text("first, edited")]),
        )
        .await
        .expect("edit answered");
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(reply["MsgVersion"], 1);
    let edited = alice
        .event("onMessageModified", |d| {
            d.as_array()
                .is_some_and(|l| l.iter().any(|x| x["ID"] == m["ID"]))
        })
        .await;
    assert_eq!(edited[0]["payload"]["text"], "first, edited");
    assert_eq!(edited[0]["version"], 1);
    assert_eq!(edited[0]["isModified"], true);
    // An edit from an old version is a conflict that carries what the server has.
    let reply = bob
        .call(
            MODIFY_GROUP_MSG,
            modify_body(&gid, seq, 0, &[Elem::text("stale")]),
        )
        .await;
    let Err(imbridge::network::tencent::session::SendError::Server(e)) = reply else {
        panic!("a stale edit is refused: {reply:?}");
    };
    assert_eq!(e.code, 20027);

    // SDK -> Rust client: the SDK's modifyMessage.
    let sent = alice
        .ok("sendGroupText", json!({"groupID": gid, "text": "mine"}))
        .await;
    let got = next(&mut bob_events, group_message).await;
    let r = alice
        .ok(
            "onMessage",
            json!({"messageID": sent["ID"], "method": "modifyMessage", "text": "mine, edited"}),
        )
        .await;
    assert_eq!(r["message"]["version"], 1, "{r}");
    let n = next(&mut bob_events, |e| match e {
        SessionEvent::GroupModified(m) => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(
        n,
        GroupModified {
            group_id: gid.clone(),
            from: "alice".into(),
            seq: got.seq,
            elems: vec![Elem::text("mine, edited")],
            cloud_custom_data: String::new(),
            version: 1
        }
    );
    // bob may not edit alice's message.
    let reply = bob
        .call(
            MODIFY_GROUP_MSG,
            modify_body(&gid, got.seq, 1, &[Elem::text("not mine")]),
        )
        .await;
    assert!(
        matches!(
            reply,
            Err(imbridge::network::tencent::session::SendError::Server(_))
        ),
        "{reply:?}"
    );
    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn offline_group_messages_arrive_at_login_in_order() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["alice", "bob", "carol"]).await;
    let send = |text: String| {
        let sb = &sb;
        let gid = gid.clone();
        async move {
            let r = sb
                .rest(
                    "group_open_http_svc/send_group_msg",
                    json!({"GroupId": gid, "From_Account": "carol",
                           "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]}),
                )
                .await;
            assert_eq!(r["ErrorCode"], 0, "{r}");
            r["MsgSeq"].as_u64().expect("MsgSeq")
        }
    };
    // bob is online for the first message, then away for 25 (more than one page of 20).
    let (bob, mut bob_events) = sb.client("bob").await;
    let first = send("m0".into()).await;
    let got = next(&mut bob_events, group_message).await;
    assert_eq!((got.seq, got.text().as_str()), (first, "m0"));
    let cursors = {
        let mut c = std::collections::HashMap::new();
        c.insert(gid.clone(), got.seq);
        c
    };
    bob.logout().await;
    for i in 1..=25 {
        send(format!("m{i}")).await;
    }
    let mut cfg = SessionConfig::new(APP, "bob", &sb.sig("bob"));
    cfg.group_cursors = cursors;
    let (_bob, mut bob_events) = sb.client_with(cfg).await;
    let mut texts = Vec::new();
    let count = loop {
        match next(&mut bob_events, |e| match e {
            SessionEvent::GroupMessage(m) => Some(Ok(m)),
            SessionEvent::GroupSyncCompleted { count } => Some(Err(count)),
            _ => None,
        })
        .await
        {
            Ok(m) => {
                assert!(m.offline);
                assert_eq!(m.group_id, gid);
                texts.push(m.text());
            }
            Err(count) => break count,
        }
    };
    let want: Vec<String> = (1..=25).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, want, "offline group messages in order, none twice");
    assert_eq!(count, 25);

    // The SDK, logging in after all of it, reads the same history in order.
    let mut alice = sdk_login(&sb, "alice").await;
    let list = alice
        .call(
            "getMessageList",
            json!([{"conversationID": format!("GROUP{gid}")}]),
        )
        .await
        .expect("getMessageList");
    let got: Vec<String> = list["data"]["messageList"]
        .as_array()
        .expect("messageList")
        .iter()
        .map(|m| m["payload"]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    // The SDK asks `group_msg_get` for its page (20 messages from 3.6.6).
    assert!(got.len() >= 15, "{got:?}");
    let want: Vec<String> = (26 - got.len()..=25).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want, "the newest page, oldest first");
    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn rest_group_calls_answer_and_refuse_in_the_service_shapes() {
    let sb = TestSandbox::start().await;
    let gid = sb.work_group("Team", &["alice", "bob"]).await;
    assert!(gid.starts_with("@TGS#"), "{gid}");
    sb.sandbox.import("mallory");
    let info = sb
        .rest(
            "group_open_http_svc/get_group_info",
            json!({"GroupIdList": [gid, "@TGS#nope"]}),
        )
        .await;
    let g = &info["GroupInfo"][0];
    assert_eq!(g["Type"], "Work");
    assert_eq!(g["Name"], "Team");
    assert_eq!(g["Owner_Account"], "alice");
    assert_eq!(g["MemberNum"], 2);
    assert_eq!(g["NextMsgSeq"], 1);
    assert_eq!(g["MemberList"][0]["Member_Account"], "alice");
    assert_eq!(g["MemberList"][0]["Role"], "Owner");
    assert_eq!(g["MemberList"][1]["Role"], "Member");
    assert_eq!(info["GroupInfo"][1]["ErrorCode"], 10010);
    let joined = sb
        .rest(
            "group_open_http_svc/get_joined_group_list",
            json!({"Member_Account": "bob"}),
        )
        .await;
    assert_eq!(joined["TotalCount"], 1);
    assert_eq!(joined["GroupIdList"][0]["GroupId"], gid);
    let text = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]);
    let r = sb
        .rest(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": gid, "From_Account": "mallory", "MsgBody": text}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 10007, "a non-member may not send: {r}");
    let r = sb
        .rest(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": "@TGS#nope", "From_Account": "bob", "MsgBody": text}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 10010, "{r}");
    let r = sb
        .rest(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": gid, "From_Account": "bob", "MsgBody": []}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 90001, "{r}");
    // A retried send (same sender and Random) is stored once.
    for _ in 0..2 {
        let r = sb
            .rest(
                "group_open_http_svc/send_group_msg",
                json!({"GroupId": gid, "From_Account": "bob", "Random": 42, "MsgBody": text}),
            )
            .await;
        assert_eq!(r["MsgSeq"], 1, "{r}");
    }
    let r = sb
        .rest(
            "group_open_http_svc/create_group",
            json!({"Type": "Work", "GroupId": gid, "Name": "again"}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 10021, "{r}");
    let r = sb
        .rest(
            "group_open_http_svc/create_group",
            json!({"Type": "Nonsense", "Name": "bad type"}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 90001, "{r}");
    // The older name of Work.
    let r = sb
        .rest(
            "group_open_http_svc/create_group",
            json!({"Type": "Private", "Name": "old name", "Owner_Account": "bob"}),
        )
        .await;
    let old = r["GroupId"].as_str().expect("GroupId").to_owned();
    let info = sb
        .rest(
            "group_open_http_svc/get_group_info",
            json!({"GroupIdList": [old]}),
        )
        .await;
    assert_eq!(info["GroupInfo"][0]["Type"], "Work");
}
