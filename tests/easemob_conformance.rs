//! Conformance: the unmodified official Web SDK (npm `easemob-websdk`, and `agora-chat`) run in
//! node against our sandbox, with our Rust client as the other party. What arrives is checked
//! field by field on both sides. The sandbox grants LZ4 in both directions to every client
//! that offers it, so these runs also prove the codec against the SDK's own.

#![cfg(feature = "easemob")]

#[path = "easemob_conformance/chatrooms.rs"]
mod chatrooms;
mod common;
#[path = "easemob_conformance/contacts.rs"]
mod contacts;
#[path = "easemob_conformance/group_settings.rs"]
mod group_settings;
#[path = "easemob_conformance/groups.rs"]
mod groups;
#[path = "easemob_conformance/invitations.rs"]
mod invitations;
#[path = "easemob_conformance/presence.rs"]
mod presence;
#[path = "easemob_conformance/reactions.rs"]
mod reactions;
#[path = "easemob_conformance/silent_mode.rs"]
mod silent_mode;
#[path = "easemob_conformance/threads.rs"]
mod threads;

use std::time::Duration;

use common::sdk_agent::{Sdk, SdkAgent};
use common::{next_event, TestSandbox, APP_KEY};
use imbridge::network::easemob::client::EasemobClient;
use imbridge::network::easemob::error::EndReason;
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::jid::{ChatType, Conversation};
use imbridge::network::easemob::message::{Body, Content, Ext, ExtValue, OutgoingMessage};
use imbridge::network::easemob::sandbox::SandboxConfig;
use serde_json::{json, Value};

async fn sdk(sb: &TestSandbox, extra: &[&str]) -> SdkAgent {
    SdkAgent::spawn(Sdk::Easemob, APP_KEY, &sb.rest_url(), &sb.ws_url(), extra).await
}

async fn sdk_login(sb: &TestSandbox, user: &str, extra: &[&str]) -> SdkAgent {
    let mut a = sdk(sb, extra).await;
    a.ok("open", json!({ "user": user, "pwd": "pw" })).await;
    a.event("onConnected", |_| true).await;
    a
}

fn text_of(e: &SessionEvent) -> Option<(u64, String, String, ChatType)> {
    match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Text { text }) => {
                Some((m.id, m.from.clone(), text.clone(), m.chat_type))
            }
            _ => None,
        },
        _ => None,
    }
}

fn id_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn register_and_login_with_password_and_token() {
    let sb = TestSandbox::start().await;
    let mut a = sdk(&sb, &[]).await;
    a.ok(
        "register",
        json!({ "user": "alice", "pwd": "pw", "nickname": "Alice" }),
    )
    .await;
    // Registering twice is refused, and so is a name the server calls illegal: the SDK
    // recognises both (it retries neither; it looks for these very phrases).
    let taken = a
        .request("register", json!({ "user": "alice", "pwd": "pw" }))
        .await
        .expect_err("a taken name refused");
    assert!(taken.to_string().contains("username be unique"), "{taken}");
    let illegal = a
        .request("register", json!({ "user": "no spaces", "pwd": "pw" }))
        .await
        .expect_err("an illegal name refused");
    assert!(illegal.to_string().contains("is not legal"), "{illegal}");
    // Wrong password: rejected before any socket, as the SDK does.
    let err = a
        .request("open", json!({ "user": "alice", "pwd": "nope" }))
        .await
        .expect_err("wrong password refused");
    assert!(err.to_string().contains("invalid password"), "{err}");
    a.ok("open", json!({ "user": "alice", "pwd": "pw" })).await;
    a.event("onConnected", |_| true).await;
    a.assert_no_crash();
    a.exit().await;

    // Token login: a token from our REST client, used by the SDK.
    let http = imbridge::network::easemob::rest::http_client().expect("http client");
    let rest = imbridge::network::easemob::rest::RestClient::new(http, &sb.rest_url(), APP_KEY)
        .expect("rest client");
    let token = rest
        .password_token("alice", "pw")
        .await
        .expect("token")
        .access_token;
    let mut b = sdk(&sb, &[]).await;
    b.ok("open", json!({ "user": "alice", "accessToken": token }))
        .await;
    b.event("onConnected", |_| true).await;
    // A bad token fails with the SDK's INVALID_TOKEN error.
    let mut c = sdk(&sb, &[]).await;
    let _ = c
        .request("open", json!({ "user": "alice", "accessToken": "bogus" }))
        .await;
    let e = c.event("onError", |_| true).await;
    assert_eq!(e["type"], json!(28), "{e}");
    b.assert_no_crash();
    c.assert_no_crash();
    b.exit().await;
    c.exit().await;
}

#[tokio::test]
async fn text_both_ways_with_ext() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let mut a = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;

    // SDK → Rust.
    let sent = a
        .ok(
            "send",
            json!({ "msg": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "hello bob 你好",
                              "ext": { "a": 1, "b": "x", "c": true, "d": 1.5, "e": { "nested": 1 } } } }),
        )
        .await;
    let server_id = id_str(&sent["serverMsgId"]);
    let m = next_event(&mut bob_events, "text from the SDK", |e| match e {
        SessionEvent::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(m.id.to_string(), server_id);
    assert_eq!(m.from, "alice");
    assert_eq!(m.to, "bob");
    assert_eq!(m.chat_type, ChatType::Single);
    assert_eq!(
        m.body,
        Body::Content(Content::Text {
            text: "hello bob 你好".into()
        })
    );
    let ext = |k: &str| m.ext.iter().find(|e| e.key == k).map(|e| e.value.clone());
    assert_eq!(ext("a"), Some(ExtValue::Int(1)));
    assert_eq!(ext("b"), Some(ExtValue::String("x".into())));
    assert_eq!(ext("c"), Some(ExtValue::Bool(true)));
    assert_eq!(ext("d"), Some(ExtValue::Double(1.5)));
    assert_eq!(ext("e"), Some(ExtValue::Json(r#"{"nested":1}"#.into())));

    // Rust → SDK.
    let mut msg = OutgoingMessage::text(Conversation::single("alice"), "hi alice from rust");
    msg.ext.push(Ext::string("k", "v"));
    let receipt = bob.send(msg).await.expect("acked");
    let got = a
        .event("onTextMessage", |d| d["msg"] == json!("hi alice from rust"))
        .await;
    assert_eq!(id_str(&got["id"]), receipt.server_id.to_string());
    assert_eq!(got["from"], json!("bob"));
    assert_eq!(got["to"], json!("alice"));
    assert_eq!(got["chatType"], json!("singleChat"));
    assert_eq!(got["ext"]["k"], json!("v"));
    // Both the SDK and our client offered LZ4 and got it in both directions: every frame after
    // the Provision above went through our codec against the SDK's own.
    assert_eq!(
        sb.state
            .lz4_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn group_and_chatroom_messages() {
    let sb = TestSandbox::start().await;
    for u in ["alice", "bob", "carol"] {
        sb.user(u, "pw");
    }
    let mut a = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let created = a
        .call(
            "createGroup",
            json!([{ "data": { "groupname": "team", "desc": "the team", "members": ["bob", "carol"],
                               "public": false, "approval": false, "allowinvites": true, "inviteNeedConfirm": false } }]),
        )
        .await
        .expect("group created");
    let group_id = id_str(&created["data"]["groupid"]);
    assert!(!group_id.is_empty(), "group id in {created}");
    let info = bob
        .rest()
        .group_info(&group_id)
        .await
        .expect("group info over REST");
    assert_eq!(info.name, "team");
    assert!(
        info.members.contains(&"bob".to_string()) && info.members.contains(&"alice".to_string())
    );

    a.ok(
        "send",
        json!({ "msg": { "type": "txt", "chatType": "groupChat", "to": group_id, "msg": "hi team" } }),
    )
    .await;
    let (_, from, text, kind) = next_event(&mut bob_events, "group text", text_of).await;
    assert_eq!(
        (from.as_str(), text.as_str(), kind),
        ("alice", "hi team", ChatType::Group)
    );
    bob.send(OutgoingMessage::text(
        Conversation::group(&group_id),
        "hi from bob",
    ))
    .await
    .expect("group send");
    let got = a
        .event("onTextMessage", |d| d["msg"] == json!("hi from bob"))
        .await;
    assert_eq!(got["chatType"], json!("groupChat"));
    assert_eq!(id_str(&got["to"]), group_id);

    // The conversation list (what `sync` brings over): the SDK's getServerConversations and
    // our REST client read the same answer.
    bob.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "just us",
    ))
    .await
    .expect("one-to-one send");
    a.event("onTextMessage", |d| d["msg"] == json!("just us"))
        .await;
    let listed = a
        .call(
            "getServerConversations",
            json!([{ "pageSize": 20, "cursor": "" }]),
        )
        .await
        .expect("conversation list");
    let conversations = listed["data"]["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pairs: Vec<(String, String)> = conversations
        .iter()
        .map(|c| {
            (
                id_str(&c["conversationId"]),
                c["conversationType"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("bob".to_owned(), "singleChat".to_owned()),
            (group_id.clone(), "groupChat".to_owned())
        ],
        "newest first: {listed}"
    );
    let ours = bob
        .rest()
        .conversations(10)
        .await
        .expect("REST conversations");
    assert_eq!(
        ours,
        vec![("alice".to_owned(), false), (group_id.clone(), true)]
    );

    // Chat room: created over REST by the SDK, joined over the socket by both.
    let room = a
        .call(
            "createChatRoom",
            json!([{ "name": "lobby", "description": "d", "maxusers": 100, "members": [] }]),
        )
        .await
        .expect("room created");
    let room_id = id_str(&room["data"]["id"]);
    a.call("joinChatRoom", json!([{ "roomId": room_id }]))
        .await
        .expect("SDK joins");
    bob.join_chatroom(&room_id).await.expect("rust joins");
    a.ok(
        "send",
        json!({ "msg": { "type": "txt", "chatType": "chatRoom", "to": room_id, "msg": "lobby hello" } }),
    )
    .await;
    let (_, _, text, kind) = next_event(&mut bob_events, "room text", text_of).await;
    assert_eq!((text.as_str(), kind), ("lobby hello", ChatType::Chatroom));
    bob.send(OutgoingMessage::text(
        Conversation::chatroom(&room_id),
        "room reply",
    ))
    .await
    .expect("room send");
    let got = a
        .event("onTextMessage", |d| d["msg"] == json!("room reply"))
        .await;
    assert_eq!(got["chatType"], json!("chatRoom"));
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn image_upload_and_download_both_ways() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let mut a = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    let png: Vec<u8> = [
        &[0x89u8, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a][..],
        &[7u8; 3000][..],
    ]
    .concat();
    let dir = std::env::temp_dir().join(format!("imbridge-img-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("pic.png");
    std::fs::write(&path, &png).expect("write image");
    a.ok(
        "sendFile",
        json!({ "type": "img", "to": "bob", "chatType": "singleChat", "path": path, "width": 40, "height": 30 }),
    )
    .await;
    let m = next_event(&mut bob_events, "image", |e| match e {
        SessionEvent::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    let Body::Content(Content::Image {
        file,
        width,
        height,
        ..
    }) = &m.body
    else {
        panic!("an image, got {:?}", m.body)
    };
    assert_eq!(file.name, "pic.png");
    assert_eq!(file.length, Some(png.len() as u64));
    assert_eq!((*width, *height), (Some(40.0), Some(30.0)));
    let bytes = bob
        .rest()
        .download(&file.url, Some(&file.secret), 1 << 20)
        .await
        .expect("download");
    assert_eq!(bytes, png);

    // Rust uploads and sends; the SDK receives a URL that serves the same bytes.
    let up = bob
        .rest()
        .upload(
            ChatType::Single,
            "alice",
            "back.png",
            "image/png",
            png.clone(),
        )
        .await
        .expect("upload");
    let file = imbridge::network::easemob::message::FileRef {
        url: up.url.clone(),
        secret: up.secret.clone(),
        name: "back.png".into(),
        length: Some(png.len() as u64),
    };
    bob.send(OutgoingMessage::new(
        Conversation::single("alice"),
        Body::Content(Content::Image {
            file,
            width: Some(8.0),
            height: Some(6.0),
            is_gif: false,
            thumbnail: None,
        }),
    ))
    .await
    .expect("image sent");
    let got = a.event("onImageMessage", |_| true).await;
    let url = got["url"].as_str().expect("url").to_owned();
    assert!(url.contains(&up.uuid), "{url}");
    let fetched = reqwest::get(&url)
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("body");
    assert_eq!(fetched.as_ref(), png.as_slice());
    let _ = std::fs::remove_dir_all(&dir);
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn receipts_recall_edit_custom_and_command() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let mut a = sdk_login(&sb, "alice", &["--delivery"]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;

    // Rust → SDK message; the SDK (delivery:true) acks delivery automatically.
    let r = bob
        .send(OutgoingMessage::text(
            Conversation::single("alice"),
            "please read",
        ))
        .await
        .expect("sent");
    a.event("onTextMessage", |d| d["msg"] == json!("please read"))
        .await;
    let delivered = next_event(&mut bob_events, "delivery ack", |e| match e {
        SessionEvent::Message(m) => match m.body {
            Body::DeliveryAck { message_id } => Some(message_id),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(delivered, r.server_id);
    // The SDK reads it.
    a.ok("send", json!({ "msg": { "type": "read", "chatType": "singleChat", "to": "bob", "id": r.server_id.to_string() } }))
        .await;
    let read = next_event(&mut bob_events, "read ack", |e| match e {
        SessionEvent::Message(m) => match m.body {
            Body::ReadAck { message_id, .. } => Some(message_id),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(read, r.server_id);
    a.ok(
        "send",
        json!({ "msg": { "type": "channel", "chatType": "singleChat", "to": "bob" } }),
    )
    .await;
    next_event(&mut bob_events, "channel ack", |e| match e {
        SessionEvent::Message(m) if m.body == Body::ChannelAck => Some(()),
        _ => None,
    })
    .await;

    // SDK → Rust, then Rust acks read / delivery / channel back.
    let s = a
        .ok("send", json!({ "msg": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "ack me" } }))
        .await;
    let sid: u64 = id_str(&s["serverMsgId"]).parse().expect("numeric id");
    next_event(&mut bob_events, "text", text_of).await;
    bob.send(OutgoingMessage::new(
        Conversation::single("alice"),
        Body::DeliveryAck { message_id: sid },
    ))
    .await
    .expect("delivery ack");
    let d = a.event("onDeliveredMessage", |_| true).await;
    assert_eq!(id_str(&d["mid"]), sid.to_string());
    bob.send(OutgoingMessage::new(
        Conversation::single("alice"),
        Body::ReadAck {
            message_id: sid,
            ack_content: String::new(),
        },
    ))
    .await
    .expect("read ack");
    let rd = a.event("onReadMessage", |_| true).await;
    assert_eq!(id_str(&rd["mid"]), sid.to_string());
    bob.send(OutgoingMessage::new(
        Conversation::single("alice"),
        Body::ChannelAck,
    ))
    .await
    .expect("channel ack");
    let ch = a.event("onChannelMessage", |_| true).await;
    assert_eq!(ch["from"], json!("bob"));

    // Edit: SDK edits its message, Rust sees the new text; Rust edits, the SDK sees it.
    a.call(
        "modifyMessage",
        json!([{ "messageId": sid.to_string(),
                 "modifiedMessage": { "$message": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "ack me (edited)" } } }]),
    )
    .await
    .expect("SDK edit");
    let (edited_id, edited) = next_event(&mut bob_events, "edit", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Edit {
                message_id,
                content: Content::Text { text },
                ..
            } => Some((*message_id, text.clone())),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!((edited_id, edited.as_str()), (sid, "ack me (edited)"));
    bob.send(OutgoingMessage::new(
        Conversation::single("alice"),
        Body::Edit {
            message_id: r.server_id,
            content: Content::Text {
                text: "please read!".into(),
            },
            with_ext: false,
        },
    ))
    .await
    .expect("rust edit");
    let md = a.event("onModifiedMessage", |_| true).await;
    assert_eq!(id_str(&md["id"]), r.server_id.to_string());
    assert_eq!(md["msg"], json!("please read!"));
    assert_eq!(md["modifiedInfo"]["operatorId"], json!("bob"));

    // Recall both ways.
    a.call(
        "recallMessage",
        json!([{ "mid": sid.to_string(), "to": "bob", "chatType": "singleChat" }]),
    )
    .await
    .expect("SDK recall");
    let recalled = next_event(&mut bob_events, "recall", |e| match e {
        SessionEvent::Message(m) => match m.body {
            Body::Recall { message_id, .. } => Some(message_id),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(recalled, sid);
    bob.send(OutgoingMessage::new(
        Conversation::single("alice"),
        Body::Recall {
            message_id: r.server_id,
            ext: "oops".into(),
        },
    ))
    .await
    .expect("rust recall");
    let rc = a.event("onRecallMessage", |_| true).await;
    assert_eq!(id_str(&rc["mid"]), r.server_id.to_string());
    assert_eq!(rc["ext"], json!("oops"));

    // Custom and command messages both ways.
    a.ok(
        "send",
        json!({ "msg": { "type": "custom", "chatType": "singleChat", "to": "bob", "customEvent": "gift", "customExts": { "n": 3 } } }),
    )
    .await;
    let (event, exts) = next_event(&mut bob_events, "custom", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Custom { event, exts }) => Some((event.clone(), exts.clone())),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(event, "gift");
    assert_eq!(
        exts,
        vec![Ext {
            key: "n".into(),
            value: ExtValue::Int(3)
        }]
    );
    a.ok("send", json!({ "msg": { "type": "cmd", "chatType": "singleChat", "to": "bob", "action": "TypingBegin" } }))
        .await;
    next_event(&mut bob_events, "command", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Command { action, .. }) if action == "TypingBegin" => Some(()),
            _ => None,
        },
        _ => None,
    })
    .await;
    bob.send(OutgoingMessage::new(
        Conversation::single("alice"),
        Body::Content(Content::Custom {
            event: "sticker".into(),
            exts: vec![Ext::string("id", "42")],
        }),
    ))
    .await
    .expect("custom");
    let cu = a.event("onCustomMessage", |_| true).await;
    assert_eq!(cu["customEvent"], json!("sticker"));
    assert_eq!(cu["customExts"]["id"], json!("42"));
    bob.send(OutgoingMessage::new(
        Conversation::single("alice"),
        Body::Content(Content::Command {
            action: "refresh".into(),
            params: vec![],
        }),
    ))
    .await
    .expect("cmd");
    let cmd = a.event("onCmdMessage", |_| true).await;
    assert_eq!(cmd["action"], json!("refresh"));
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn offline_messages_arrive_at_login_in_order() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let (bob, _bob_events) = sb.rust_client("bob", "pw").await;
    for i in 0..5 {
        bob.send(OutgoingMessage::text(
            Conversation::single("alice"),
            format!("offline {i}"),
        ))
        .await
        .expect("queued on the server");
    }
    let mut a = sdk(&sb, &[]).await;
    a.ok("open", json!({ "user": "alice", "pwd": "pw" })).await;
    a.event("onOfflineMessageSyncStart", |_| true).await;
    let mut texts = Vec::new();
    for i in 0..5 {
        let want = format!("offline {i}");
        let got = a.event("onTextMessage", |d| d["msg"] == json!(want)).await;
        texts.push(got["msg"].clone());
    }
    a.event("onOfflineMessageSyncFinish", |_| true).await;
    assert_eq!(texts.len(), 5);
    // And the other way: the Rust client gets what was sent while it was away.
    drop(bob);
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.ok("send", json!({ "msg": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "while you were away" } }))
        .await;
    let (_bob2, mut events) = sb.rust_client("bob", "pw").await;
    let (_, _, text, _) = next_event(&mut events, "offline text", text_of).await;
    assert_eq!(text, "while you were away");
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn newer_login_kicks_the_older_device() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("carol", "pw");
    let mut first = sdk_login(&sb, "alice", &[]).await;
    let mut second = sdk_login(&sb, "alice", &[]).await;
    let e = first.event("onError", |d| d["type"] == json!(206)).await;
    assert_eq!(e["type"], json!(206));
    first.event("onDisconnected", |_| true).await;
    // The Rust client sees the same kick as a typed, final end of session.
    let (_old, mut old_events) = EasemobClient::login(sb.client_config("carol", "pw", "dev_a"))
        .await
        .expect("first device");
    let (_new, _new_events) = EasemobClient::login(sb.client_config("carol", "pw", "dev_b"))
        .await
        .expect("second device");
    let reason = next_event(&mut old_events, "kick", |e| match e {
        SessionEvent::Ended(r) => Some(r.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(reason, EndReason::LoggedInElsewhere { .. }),
        "{reason:?}"
    );
    second.assert_no_crash();
    first.assert_no_crash();
    first.exit().await;
    second.exit().await;
}

#[tokio::test]
async fn reconnect_after_the_server_drops_the_socket() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let mut a = sdk_login(&sb, "alice", &[]).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    sb.state.drop_connections();
    a.event("onReconnecting", |_| true).await;
    a.event("onConnected", |_| true).await;
    next_event(&mut bob_events, "rust reconnect", |e| match e {
        SessionEvent::Reconnecting { .. } => Some(()),
        _ => None,
    })
    .await;
    next_event(&mut bob_events, "rust connected", |e| match e {
        SessionEvent::Connected { .. } => Some(()),
        _ => None,
    })
    .await;
    bob.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "after reconnect",
    ))
    .await
    .expect("sent after reconnect");
    a.event("onTextMessage", |d| d["msg"] == json!("after reconnect"))
        .await;
    a.ok(
        "send",
        json!({ "msg": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "me too" } }),
    )
    .await;
    let (_, _, text, _) = next_event(&mut bob_events, "text", text_of).await;
    assert_eq!(text, "me too");
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn agora_chat_logs_in_and_exchanges_a_message() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let mut a = SdkAgent::spawn(Sdk::Agora, APP_KEY, &sb.rest_url(), &sb.ws_url(), &[]).await;
    a.ok("open", json!({ "user": "alice", "pwd": "pw" })).await;
    a.event("onConnected", |_| true).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "pw").await;
    a.ok("send", json!({ "msg": { "type": "txt", "chatType": "singleChat", "to": "bob", "msg": "from agora" } }))
        .await;
    let (_, from, text, _) = next_event(&mut bob_events, "agora text", text_of).await;
    assert_eq!((from.as_str(), text.as_str()), ("alice", "from agora"));
    bob.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "to agora",
    ))
    .await
    .expect("sent");
    a.event("onTextMessage", |d| d["msg"] == json!("to agora"))
        .await;
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn uncompressed_mode_works_too() {
    let mut cfg = imbridge::network::easemob::sandbox::SandboxConfig::new(APP_KEY);
    cfg.compression = None;
    let sb = TestSandbox::start_with(cfg).await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let mut a = sdk_login(&sb, "alice", &[]).await;
    let (bob, _events) = sb.rust_client("bob", "pw").await;
    bob.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "plain",
    ))
    .await
    .expect("sent");
    a.event("onTextMessage", |d| d["msg"] == json!("plain"))
        .await;
    assert_eq!(
        sb.state
            .lz4_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    a.assert_no_crash();
    a.exit().await;
}

#[tokio::test]
async fn sdk_with_host_discovery() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    let dns = sb.rest_url();
    let mut a = sdk(&sb, &["--dns", &dns]).await;
    a.ok("open", json!({ "user": "alice", "pwd": "pw" })).await;
    a.event("onConnected", |_| true).await;
    a.assert_no_crash();
    a.exit().await;
}

/// An app without open registration refuses the SDK's `registerUser` with the server's
/// sentence; one at its user quota refuses with 429.
#[tokio::test]
async fn register_refused_when_closed_or_full() {
    let mut cfg = SandboxConfig::new(APP_KEY);
    cfg.open_registration = false;
    let sb = TestSandbox::start_with(cfg).await;
    let mut a = sdk(&sb, &[]).await;
    let closed = a
        .request("register", json!({ "user": "alice", "pwd": "pw" }))
        .await
        .expect_err("closed registration refused");
    assert!(
        closed
            .to_string()
            .contains("Open registration doesn't allow"),
        "{closed}"
    );
    a.assert_no_crash();
    a.exit().await;

    let mut cfg = SandboxConfig::new(APP_KEY);
    cfg.max_users = Some(1);
    let sb = TestSandbox::start_with(cfg).await;
    let mut b = sdk(&sb, &[]).await;
    b.ok("register", json!({ "user": "first", "pwd": "pw" }))
        .await;
    let full = b
        .request("register", json!({ "user": "second", "pwd": "pw" }))
        .await
        .expect_err("quota reached");
    assert!(full.to_string().contains("limit"), "{full}");
    b.assert_no_crash();
    b.exit().await;
}
