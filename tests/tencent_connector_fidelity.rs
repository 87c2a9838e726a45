//! The Tencent connector's C2C fidelity (the core's contract) against the in-process Tencent
//! sandbox, with a plain Rust client as the other side (and as the user's phone): recall,
//! edit, the read marker and typing, each both ways, as [`RemoteEvent`]s in and abilities
//! out.

#![cfg(feature = "tencent")]

mod common;

use std::time::Duration;

use common::tencent_rig::{TestSandbox, APP};

use imbridge::core::connector::{
    ChatId, MessageContent, NetworkConnector, RemoteEvent, RemoteEventReceiver,
};
use imbridge::network::tencent::connector::{TencentConnector, TencentSettings};
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::session::ops::{self, C2cRef};
use imbridge::network::tencent::session::{C2cMessage, SessionEvent};
use imbridge::network::tencent::wire::servcmd;
use tokio::sync::mpsc;

async fn next_event(events: &mut RemoteEventReceiver) -> RemoteEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event in time")
        .expect("the stream is open")
}

/// The next event that is not a message, a state or a checkpoint.
async fn next_op(events: &mut RemoteEventReceiver) -> RemoteEvent {
    loop {
        match next_event(events).await {
            RemoteEvent::Message(_) | RemoteEvent::State(_) | RemoteEvent::Checkpoint(_) => {}
            e => return e,
        }
    }
}

async fn next_message(events: &mut RemoteEventReceiver) -> String {
    loop {
        if let RemoteEvent::Message(m) = next_event(events).await {
            return m.id;
        }
    }
}

async fn phone_next<T>(
    events: &mut mpsc::Receiver<SessionEvent>,
    pick: impl Fn(SessionEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) => {
                if let Some(t) = pick(e) {
                    return t;
                }
            }
            other => panic!("no matching event: {other:?}"),
        }
    }
}

fn message(e: SessionEvent) -> Option<C2cMessage> {
    match e {
        SessionEvent::Message(m) => Some(m),
        _ => None,
    }
}

#[tokio::test]
async fn recall_and_edit_both_ways_through_the_connector() {
    let env = TestSandbox::start().await;
    env.sandbox.import("bob");
    let (login, mut events) = env.connector_login("alice").await;
    let (bob, mut bob_events) = env.client("bob").await;
    let chat = ChatId::direct("bob");
    let caps = NetworkConnector::capabilities(&TencentConnector::new(TencentSettings {
        sdk_app_id: APP,
        websocket_url: env.server(),
        secret_key: None,
        homeserver_domain: "example.org".into(),
        backoff: None,
        mint_lifetime: imbridge::network::tencent::connector::DEFAULT_MINT_LIFETIME,
    }));
    assert!(caps.recall && caps.edits && caps.read_receipts && caps.typing);

    // Core → Tencent: edit then recall of the user's own message.
    let ids = login
        .send_message(&chat, &MessageContent::text("first"), None)
        .await
        .unwrap();
    let got = phone_next(&mut bob_events, message).await;
    let edit = login.as_edit().expect("edits");
    for text in ["second", "third"] {
        edit.edit_message(&chat, &ids[0], &MessageContent::text(text))
            .await
            .expect("edited");
        let m = phone_next(&mut bob_events, |e| match e {
            SessionEvent::Modified(m) => Some(m),
            _ => None,
        })
        .await;
        assert_eq!(m.target.msg_key(), got.key);
        assert_eq!(m.elems, vec![Elem::text(text)]);
    }
    login
        .as_recall()
        .expect("recall")
        .recall_message(&chat, &ids[0])
        .await
        .expect("recalled");
    let r = phone_next(&mut bob_events, |e| match e {
        SessionEvent::Recalled(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(r.msg_key(), ids[0]);
    // Not a Tencent key: refused in words, nothing sent.
    assert!(login
        .as_recall()
        .unwrap()
        .recall_message(&chat, "$event:example.org")
        .await
        .is_err());

    // Tencent → core: bob edits, then recalls, his message.
    let receipt = bob.send_c2c_text("alice", "bob v1").await.unwrap();
    let id = next_message(&mut events).await;
    assert_eq!(id, receipt.msg_key);
    let target = C2cRef::from_key("bob", "alice", &receipt.msg_key).unwrap();
    bob.call(
        ops::MODIFY_C2C_MSG,
        ops::modify_body(&target, 0, &[Elem::text("bob v2")], None),
    )
    .await
    .unwrap();
    match next_op(&mut events).await {
        RemoteEvent::Edit {
            chat: c,
            sender,
            target,
            content,
            ..
        } => {
            assert_eq!(
                (c, sender.as_str(), target.as_str()),
                (chat.clone(), "bob", id.as_str())
            );
            assert_eq!(content, MessageContent::text("bob v2"));
        }
        other => panic!("not an edit: {other:?}"),
    }
    bob.call(ops::MSGWITHDRAW, ops::withdraw_body(&target))
        .await
        .unwrap();
    assert_eq!(
        next_op(&mut events).await,
        RemoteEvent::Remove {
            chat: chat.clone(),
            sender: "bob".into(),
            target: id
        }
    );

    // The user's own recall on their phone: a removal by the user, in the chat with bob.
    let (phone, _phone_events) = env.client("alice").await;
    let mine = phone.send_c2c_text("bob", "from phone").await.unwrap();
    next_message(&mut events).await;
    let r = C2cRef::from_key("alice", "bob", &mine.msg_key).unwrap();
    phone
        .call(ops::MSGWITHDRAW, ops::withdraw_body(&r))
        .await
        .unwrap();
    assert_eq!(
        next_op(&mut events).await,
        RemoteEvent::Remove {
            chat,
            sender: "alice".into(),
            target: mine.msg_key
        }
    );
    login.disconnect(false).await;
}

#[tokio::test]
async fn read_marker_and_typing_both_ways_through_the_connector() {
    let env = TestSandbox::start().await;
    env.sandbox.import("bob");
    let (login, mut events) = env.connector_login("alice").await;
    let (bob, mut bob_events) = env.client("bob").await;
    let chat = ChatId::direct("bob");

    // Core → Tencent: the read marker up to bob's message.
    let receipt = bob.send_c2c_text("alice", "read this").await.unwrap();
    let id = next_message(&mut events).await;
    login
        .as_receipts()
        .expect("receipts")
        .mark_read(&chat, &id)
        .await
        .expect("marked");
    let (peer, time) = phone_next(&mut bob_events, |e| match e {
        SessionEvent::PeerRead { peer, time } => Some((peer, time)),
        _ => None,
    })
    .await;
    assert_eq!((peer.as_str(), time), ("alice", receipt.msg_time));

    // Tencent → core: bob reads alice's messages.
    login
        .send_message(&chat, &MessageContent::text("mine"), None)
        .await
        .unwrap();
    phone_next(&mut bob_events, message).await;
    bob.call(ops::MSGREADED, ops::read_body("alice", 0))
        .await
        .unwrap();
    assert_eq!(
        next_op(&mut events).await,
        RemoteEvent::ReadReceipt {
            chat: chat.clone(),
            sender: "bob".into(),
            up_to: None
        }
    );

    // Typing both ways.
    let typing = login.as_typing().expect("typing");
    for active in [true, false] {
        typing.set_typing(&chat, active).await.expect("typing sent");
        let m = phone_next(&mut bob_events, message).await;
        assert_eq!(ops::typing_status(&m.elems), Some(active));
        bob.call(
            servcmd::SENDMSG,
            ops::typing_body("bob", "alice", active, 30 + u32::from(active), 7),
        )
        .await
        .unwrap();
        assert_eq!(
            next_op(&mut events).await,
            RemoteEvent::Typing {
                chat: chat.clone(),
                sender: "bob".into(),
                active
            }
        );
    }
    login.disconnect(false).await;
}

#[tokio::test]
async fn reply_quotes_both_ways_through_the_connector() {
    let env = TestSandbox::start().await;
    env.sandbox.import("bob");
    let (login, mut events) = env.connector_login("alice").await;
    let (bob, mut bob_events) = env.client("bob").await;
    let bob_tiny = phone_next(&mut bob_events, |e| match e {
        SessionEvent::LoggedIn { tiny_id, .. } => Some(tiny_id),
        _ => None,
    })
    .await;
    let chat = ChatId::direct("bob");

    // bob → core: a quote of the user's message (named by its SDK id) resolves to its key.
    let ids = login
        .send_message(&chat, &MessageContent::text("lunch?"), None)
        .await
        .unwrap();
    let lunch = phone_next(&mut bob_events, message).await;
    let quote = ops::reply_data(&ops::MessageReply {
        message_id: ops::sdk_message_id(&lunch.tiny_id, lunch.client_time, lunch.random),
        message_abstract: "lunch?".into(),
        message_sender: "alice".into(),
        message_type: 1,
    });
    let yes = bob
        .send_c2c_with("alice", vec![Elem::text("yes")], quote)
        .await
        .unwrap();
    let m = loop {
        if let RemoteEvent::Message(m) = next_event(&mut events).await {
            break m;
        }
    };
    assert_eq!(m.id, yes.msg_key);
    assert_eq!(m.reply_to.as_deref(), Some(ids[0].as_str()));

    // core → bob: the user's reply quotes bob's message by the id bob's SDK knows it by.
    let reply_to = imbridge::core::connector::ReplyTo {
        id: m.id.clone(),
        sender: Some("bob".into()),
        preview: Some("yes".into()),
        kind: imbridge::core::connector::QuotedKind::Text,
        alt_id: None,
    };
    let great = login
        .send_message(&chat, &MessageContent::text("great"), Some(&reply_to))
        .await
        .unwrap();
    let got = phone_next(&mut bob_events, message).await;
    let r = ops::parse_reply(&got.cloud_custom_data).expect("a quote");
    assert_eq!(
        r.message_id,
        ops::sdk_message_id(&bob_tiny, yes.msg_time, yes.msg_random)
    );
    assert_eq!(
        (
            r.message_abstract.as_str(),
            r.message_sender.as_str(),
            r.message_type
        ),
        ("yes", "bob", 1)
    );
    // Editing the reply keeps its quote.
    login
        .as_edit()
        .unwrap()
        .edit_message(&chat, &great[0], &MessageContent::text("great!"))
        .await
        .expect("edited");
    let edited = phone_next(&mut bob_events, |e| match e {
        SessionEvent::Modified(m) => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(edited.elems, vec![Elem::text("great!")]);
    assert_eq!(ops::parse_reply(&edited.cloud_custom_data), Some(r));
    // A custom element is described in words, as a notice.
    bob.send_c2c(
        "alice",
        vec![Elem::Custom(imbridge::network::tencent::elem::CustomElem {
            desc: "a poll".into(),
            ..Default::default()
        })],
    )
    .await
    .unwrap();
    let m = loop {
        if let RemoteEvent::Message(m) = next_event(&mut events).await {
            break m;
        }
    };
    assert!(
        matches!(&m.content, MessageContent::Notice { body } if body == "sent a custom message: a poll"),
        "{:?}",
        m.content
    );
    login.disconnect(false).await;
}
