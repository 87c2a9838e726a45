//! Tencent live rooms (AVChatRoom, the IM part of TWebLive): the proof against the unmodified
//! official `@tencentcloud/chat` 3.6.6 SDK (tests/sdk/tencent-agent.js), and the older
//! `tim-js-sdk` 2.27.6 TWebLive was built on, with our Rust client as the other member — `joinGroup` on an AVChatRoom in the sandbox starts the SDK's long-polling
//! loop, text and custom messages go both ways field by field, no offline messages, `quitGroup`
//! stops delivery — and the Rust client joining again after its link drops. Every SDK run
//! asserts no unhandled error.

#![cfg(feature = "tencent")]

mod common;

use std::time::Duration;

use common::sdk_agent::SdkAgent;
use common::tencent_rig::{next, sdk_login, sdk_received, TestSandbox};
use imbridge::network::tencent::client::LinkState;
use imbridge::network::tencent::elem::{CustomElem, Elem};
use imbridge::network::tencent::session::{GroupMessage, SessionEvent};
use serde_json::json;

fn live_message(e: SessionEvent) -> Option<GroupMessage> {
    match e {
        SessionEvent::LiveMessage(m) => Some(m),
        _ => None,
    }
}

/// A live room `id` made over REST by the admin (no members: the audience joins).
async fn live_room(sb: &TestSandbox, id: &str) -> String {
    let r = sb
        .rest(
            "group_open_http_svc/create_group",
            json!({"Type": "AVChatRoom", "GroupId": id, "Name": "Launch stream"}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");
    r["GroupId"].as_str().expect("GroupId").to_owned()
}

#[tokio::test]
async fn live_room_messages_both_ways_between_sdk_and_rust_client() {
    let sb = TestSandbox::start().await;
    let gid = live_room(&sb, "launch").await;
    sb.sandbox.import("bob");
    // Said before anyone joined: a live room keeps no offline messages.
    let r = sb
        .rest(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": gid, "Random": 1,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "before"}}]}),
        )
        .await;
    assert_eq!(r["ErrorCode"], 0, "{r}");

    let mut alice = sdk_login(&sb, "alice").await;
    let joined = alice
        .call("joinGroup", json!([{"groupID": gid, "type": "AVChatRoom"}]))
        .await
        .expect("joinGroup");
    assert_eq!(joined["data"]["status"], "JoinedSuccess");
    assert_eq!(joined["data"]["group"]["groupID"], gid);
    assert_eq!(joined["data"]["group"]["type"], "AVChatRoom");

    let (bob, mut bob_events) = sb.client("bob").await;
    bob.join_live(&gid).await.expect("bob joins");
    bob.join_live(&gid).await.expect("joining again is fine");

    // Rust client -> SDK.
    let receipt = bob
        .send_group(&gid, vec![Elem::text("hello stream")], vec![])
        .await
        .expect("live send");
    assert_eq!(receipt.msg_seq, 2, "the room's second MsgSeq");
    let m = sdk_received(&mut alice, |m| m["payload"]["text"] == "hello stream").await;
    assert_eq!(m["conversationType"], "GROUP");
    assert_eq!(m["conversationID"], format!("GROUP{gid}"));
    assert_eq!(m["to"], gid);
    assert_eq!(m["from"], "bob");
    assert_eq!(m["flow"], "in");
    assert_eq!(m["type"], "TIMTextElem");
    assert_eq!(m["sequence"], json!(receipt.msg_seq));
    assert_eq!(m["random"], json!(receipt.msg_random));
    assert_eq!(m["time"], json!(receipt.msg_time));

    // A like (TUIGift's shape) from the Rust client arrives as the SDK's custom element.
    let like = r#"{"businessID":"TUIGift_like","version":"1.0","data":{"message":""}}"#;
    let elem = Elem::Custom(CustomElem {
        data: like.into(),
        ..Default::default()
    });
    bob.send_group(&gid, vec![elem], vec![])
        .await
        .expect("like sent");
    let m = sdk_received(&mut alice, |m| m["type"] == "TIMCustomElem").await;
    assert_eq!(m["payload"]["data"], like);
    assert_eq!(m["from"], "bob");

    // SDK -> Rust client: text, then a gift.
    let sent = alice
        .ok(
            "sendGroupText",
            json!({"groupID": gid, "text": "hi from the SDK"}),
        )
        .await;
    assert_eq!(sent["status"], "success");
    let got = next(&mut bob_events, live_message).await;
    assert_eq!(got.group_id, gid);
    assert_eq!(got.from, "alice");
    assert_eq!(
        got.text(),
        "hi from the SDK",
        "neither `before` nor bob's own"
    );
    assert_eq!(json!(got.seq), sent["sequence"]);
    assert_eq!(json!(got.random), sent["random"]);
    assert_eq!(json!(got.time), sent["time"]);
    let gift = r#"{"businessID":"TUIGift","data":{"giftId":"7","message":"rose","giftCount":3}}"#;
    let sent = alice
        .ok("sendGroupCustom", json!({"groupID": gid, "data": gift}))
        .await;
    assert_eq!(sent["status"], "success");
    let got = next(&mut bob_events, live_message).await;
    match got.elems.as_slice() {
        [Elem::Custom(c)] => assert_eq!(c.data, gift),
        other => panic!("a custom element, not {other:?}"),
    }

    // The SDK leaves: nothing more reaches it.
    let left = alice.call("quitGroup", json!([gid])).await.expect("quit");
    assert_eq!(left["data"]["groupID"], gid);
    bob.send_group(&gid, vec![Elem::text("after alice left")], vec![])
        .await
        .expect("live send");
    assert!(alice
        .event_within("onMessageReceived", Duration::from_millis(800), |d| {
            d.to_string().contains("after alice left")
        })
        .await
        .is_none());
    assert!(alice
        .seen("onMessageReceived")
        .iter()
        .all(|d| !d.to_string().contains("\"before\"")));
    alice.assert_no_crash();
    alice.exit().await;
}

#[tokio::test]
async fn rust_client_joins_again_after_its_link_drops_and_leaves() {
    let sb = TestSandbox::start().await;
    let gid = live_room(&sb, "show2").await;
    sb.sandbox.import("carol");
    let (bob, mut bob_events) = sb.client("bob").await;
    let (carol, _carol_events) = sb.client("carol").await;
    bob.join_live(&gid).await.expect("bob joins");
    carol.join_live(&gid).await.expect("carol joins");
    assert!(bob.join_live("nowhere").await.is_err(), "no such room");

    carol
        .send_group(&gid, vec![Elem::text("one")], vec![])
        .await
        .unwrap();
    assert_eq!(next(&mut bob_events, live_message).await.text(), "one");

    assert_eq!(sb.sandbox.drop_connections("bob"), 1);
    tokio::time::timeout(
        Duration::from_secs(10),
        bob.wait_for(|s| matches!(s, LinkState::Reconnecting(_))),
    )
    .await
    .expect("link lost");
    tokio::time::timeout(
        Duration::from_secs(10),
        bob.wait_for(|s| matches!(s, LinkState::Connected)),
    )
    .await
    .expect("reconnected");
    // The rejoin is under way or done: carol's next message reaches bob.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    let text = loop {
        n += 1;
        carol
            .send_group(&gid, vec![Elem::text(format!("two-{n}"))], vec![])
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_millis(700), async {
            loop {
                match bob_events.recv().await {
                    Some(SessionEvent::LiveMessage(m)) => break m,
                    Some(_) => {}
                    None => panic!("client ended"),
                }
            }
        })
        .await;
        if let Ok(m) = got {
            break m.text();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message after the rejoin"
        );
    };
    assert!(text.starts_with("two-"), "{text}");

    bob.leave_live(&gid).await.expect("bob leaves");
    carol
        .send_group(&gid, vec![Elem::text("three")], vec![])
        .await
        .unwrap();
    let late = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            if let Some(SessionEvent::LiveMessage(m)) = bob_events.recv().await {
                if m.text() == "three" {
                    break;
                }
            }
        }
    })
    .await;
    assert!(late.is_err(), "nothing comes after leaving");
}

#[tokio::test]
async fn tim_js_sdk_exchanges_live_room_messages_with_rust_client() {
    let sb = TestSandbox::start().await;
    let gid = live_room(&sb, "timshow").await;
    let mut tim = SdkAgent::spawn_tim(common::tencent_rig::APP, &sb.server()).await;
    let hello = tim.ok("ping", json!({})).await;
    assert_eq!(hello, json!({"sdk": "tim-js-sdk", "version": "2.27.6"}));
    let r = tim
        .ok(
            "login",
            json!({"userID": "alice", "userSig": sb.sig("alice")}),
        )
        .await;
    assert_eq!(r["errorCode"], 0);
    tim.event("sdkStateReady", |_| true).await;
    let joined = tim
        .call("joinGroup", json!([{"groupID": gid, "type": "AVChatRoom"}]))
        .await
        .expect("joinGroup");
    assert_eq!(joined["data"]["status"], "JoinedSuccess");
    let (bob, mut bob_events) = sb.client("bob").await;
    bob.join_live(&gid).await.expect("bob joins");

    let receipt = bob
        .send_group(&gid, vec![Elem::text("hello tim")], vec![])
        .await
        .expect("live send");
    let m = sdk_received(&mut tim, |m| m["payload"]["text"] == "hello tim").await;
    assert_eq!(m["conversationID"], format!("GROUP{gid}"));
    assert_eq!(m["from"], "bob");
    assert_eq!(m["sequence"], json!(receipt.msg_seq));
    assert_eq!(m["random"], json!(receipt.msg_random));

    let sent = tim
        .ok(
            "sendGroupText",
            json!({"groupID": gid, "text": "hi from tim"}),
        )
        .await;
    assert_eq!(sent["status"], "success");
    let got = next(&mut bob_events, live_message).await;
    assert_eq!(got.from, "alice");
    assert_eq!(got.text(), "hi from tim");
    assert_eq!(json!(got.seq), sent["sequence"]);
    assert_eq!(json!(got.random), sent["random"]);
    tim.assert_no_crash();
    tim.exit().await;
}
