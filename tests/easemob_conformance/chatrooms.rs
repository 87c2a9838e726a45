//! Chat rooms between the official SDK and our Rust clients (reference §3.9): bob (Rust)
//! creates a room over REST; the SDK's `joinChatRoom` goes over the socket and resolves with
//! the room info the ack carries (`chatroomInfo`), and bob's client gets `memberPresence`;
//! chat-room messages go both ways (type CHATROOM, the SDK's `chatRoom`); carol (Rust) joins
//! and the SDK gets `onChatroomEvent` `memberPresence`; carol's connection ends and she is
//! out of the room (the service drops absent members; the SDK is told `memberAbsence`); the
//! SDK's `leaveChatRoom` takes alice out: bob is told, the member list no longer has her and
//! her next message to the room is refused.

use serde_json::json;

use super::common::{next_event, TestSandbox};
use super::{id_str, sdk_login, text_of};
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::jid::{ChatType, Conversation};
use imbridge::network::easemob::message::OutgoingMessage;

/// `(operation name, from)` of a chat-room event of `room`.
fn room_event(e: &SessionEvent, room: &str) -> Option<(&'static str, String)> {
    match e {
        SessionEvent::Group(g) if g.is_chatroom && g.id == room => {
            Some((g.operation_name, g.from.clone()))
        }
        _ => None,
    }
}

#[tokio::test]
async fn chat_rooms_with_the_sdk() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob", "carol"] {
        sb.user(u, "pw");
    }
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let room = bob
        .rest()
        .create_chatroom("lobby", "everyone welcome", &[])
        .await
        .expect("room created");
    let mut alice = sdk_login(&sb, "alice", &[]).await;

    let joined = alice
        .call("joinChatRoom", json!([{ "roomId": room }]))
        .await
        .expect("SDK joins");
    assert_eq!(joined["data"]["result"], json!(true), "{joined}");
    assert_eq!(joined["data"]["action"], json!("apply"), "{joined}");
    assert_eq!(id_str(&joined["data"]["id"]), room, "{joined}");
    assert_eq!(joined["data"]["info"]["memberCount"], json!(2), "{joined}");
    assert_eq!(
        joined["data"]["info"]["isAllMembersMuted"],
        json!(false),
        "{joined}"
    );
    let (op, from) = next_event(&mut bob_events, "alice joins", |e| {
        room_event(e, &room).filter(|(op, _)| *op == "memberPresence")
    })
    .await;
    assert_eq!((op, from.as_str()), ("memberPresence", "alice"));

    // Messages both ways.
    bob.send(OutgoingMessage::text(
        Conversation::chatroom(&room),
        "welcome",
    ))
    .await
    .expect("bob sends to the room");
    let got = alice
        .event("onTextMessage", |d| d["msg"] == json!("welcome"))
        .await;
    assert_eq!(got["chatType"], json!("chatRoom"), "{got}");
    assert_eq!(id_str(&got["to"]), room, "{got}");
    assert_eq!(got["from"], json!("bob"), "{got}");
    alice
        .ok(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "chatRoom", "to": room, "msg": "thanks" } }),
        )
        .await;
    let (_, from, text, kind) = next_event(&mut bob_events, "alice's text", text_of).await;
    assert_eq!(
        (from.as_str(), text.as_str(), kind),
        ("alice", "thanks", ChatType::Chatroom)
    );

    // carol joins from our client: the SDK is told.
    let (carol, _carol_events) = sb.rust_client("carol", "pw").await;
    carol.join_chatroom(&room).await.expect("carol joins");
    let event = alice
        .event("onChatroomEvent", |d| {
            d["operation"] == json!("memberPresence")
        })
        .await;
    assert_eq!(id_str(&event["id"]), room, "{event}");
    assert_eq!(event["from"], json!("carol"), "{event}");
    // Her connection ends: the service takes her out of the room and says so.
    carol.close().await;
    let event = alice
        .event("onChatroomEvent", |d| {
            d["operation"] == json!("memberAbsence")
        })
        .await;
    assert_eq!(event["from"], json!("carol"), "{event}");
    let members = bob.rest().chatroom_members(&room).await.expect("members");
    let names: Vec<&str> = members.iter().map(|m| m.user.as_str()).collect();
    assert!(!names.contains(&"carol"), "{names:?}");
    assert!(names.contains(&"alice"), "{names:?}");

    // The SDK leaves.
    let left = alice
        .call("leaveChatRoom", json!([{ "roomId": room }]))
        .await
        .expect("SDK leaves");
    let (op, from) = next_event(&mut bob_events, "alice leaves", |e| {
        room_event(e, &room).filter(|(op, from)| *op == "memberAbsence" && from == "alice")
    })
    .await;
    assert_eq!((op, from.as_str()), ("memberAbsence", "alice"));
    assert_eq!(left["data"]["result"], json!(true), "{left}");
    let members = bob.rest().chatroom_members(&room).await.expect("members");
    assert!(members.iter().all(|m| m.user != "alice"), "{members:?}");
    let refused = alice
        .request(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "chatRoom", "to": room, "msg": "still here?" } }),
        )
        .await;
    assert!(
        refused.is_err(),
        "a message after leaving is refused: {refused:?}"
    );
    alice.assert_no_crash();
    alice.exit().await;
}
