//! A Matrix → IM message is sent once even when the bridge stopped between the IM server
//! taking it and the bridge recording it, at the connector level against the in-process
//! sandbox: the sandbox takes and delivers a message but withholds its ack (the sender's
//! send never returns, as when its process dies), and the replayed send, with the same
//! transaction id and `maybe_sent_since_ms`, finds it in history (`imbridge_txn` in `ext`)
//! and returns its id instead of sending it again; a replayed send that did not go out
//! before is sent; a plain send is not looked up. The same for a send into a thread
//! (`ThreadAbility::send_in_thread`): keyed, and found in the thread's own history.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{TestSandbox, APP_KEY};
use imbridge::core::connector::{
    ChatId, MessageContent, NetworkConnector, NetworkLogin, RemoteEvent, SendOptions,
};
use imbridge::core::event_channel::boxed_channel;
use imbridge::core::login_steps::{NextStep, PendingLogin};
use imbridge::network::easemob::connector::{
    EasemobConnector, EasemobSettings, PASSWORD_FLOW, TXN_EXT_KEY,
};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{
    decode_incoming, Body, Content, ExtValue, OutgoingMessage,
};
use imbridge::network::easemob::proto::Meta;
use imbridge::network::easemob::rest::NewGroup;
use prost::Message as _;

/// The texts alice sent bob, as the server stored them, with their `imbridge_txn`.
fn stored(sb: &TestSandbox) -> Vec<(String, Option<String>)> {
    stored_in(sb, &Conversation::single("bob"))
}

/// The texts alice sent in `conv` (a chat, or a thread by its id), as the server stored them,
/// with their `imbridge_txn`.
fn stored_in(sb: &TestSandbox, conv: &Conversation) -> Vec<(String, Option<String>)> {
    let inner = sb.state.lock();
    inner
        .history_of("alice", conv)
        .into_iter()
        .filter(|h| h.from == "alice")
        .filter_map(|h| {
            let meta = Meta::decode(h.meta.as_slice()).ok()?;
            let m = decode_incoming(&meta).ok()?;
            let Body::Content(Content::Text { text }) = &m.body else {
                return None;
            };
            let txn = m.ext.iter().find_map(|e| match &e.value {
                ExtValue::String(v) if e.key == TXN_EXT_KEY => Some(v.clone()),
                _ => None,
            });
            Some((text.clone(), txn))
        })
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// alice's connector login to `sb` (events drained).
async fn alice_login(sb: &TestSandbox) -> Box<dyn NetworkLogin> {
    let c = EasemobConnector::new(EasemobSettings {
        app_key: APP_KEY.into(),
        rest_url: sb.rest_url(),
        websocket_url: sb.ws_url(),
    });
    let mut pending = PendingLogin::begin(&c, PASSWORD_FLOW, "@mx:example.org")
        .await
        .expect("flow");
    pending.fill_all(&["alice", "alice-pw"]).expect("values");
    let data = match pending.advance().await.expect("login") {
        NextStep::Complete { data, .. } => data,
        other => panic!("not complete: {other:?}"),
    };
    let (tx, mut rx) = boxed_channel(256);
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if let RemoteEvent::Checkpoint(c) = ev {
                c.done();
            }
        }
    });
    c.connect(&data, tx).await.expect("connects")
}

#[tokio::test]
async fn a_replayed_send_is_found_in_history_instead_of_sent_twice() {
    let t0 = Instant::now();
    let sb = TestSandbox::start().await;
    sb.user("alice", "alice-pw");
    sb.user("bob", "bob-pw");
    let session = alice_login(&sb).await;
    let bob = ChatId::direct("bob");
    let since = now_ms();

    // A plain send carries its transaction id.
    let txn_plain = SendOptions::txn_id_for("$plain", 0);
    let plain = SendOptions {
        txn_id: Some(&txn_plain),
        ..SendOptions::default()
    };
    let first = session
        .send_message_with(&bob, &MessageContent::text("plain"), plain)
        .await
        .expect("plain send");
    say!(t0, "plain sent: {first:?}");

    // The crash window: the server takes the message, the sender never hears back.
    sb.state.withhold_acks("held");
    let txn_held = SendOptions::txn_id_for("$held", 0);
    let held = SendOptions {
        txn_id: Some(&txn_held),
        ..SendOptions::default()
    };
    let cut = tokio::time::timeout(
        Duration::from_secs(2),
        session.send_message_with(&bob, &MessageContent::text("held"), held),
    )
    .await;
    assert!(cut.is_err(), "the withheld ack came anyway: {cut:?}");
    sb.state.stop_withholding_acks();
    say!(t0, "held message taken without an ack");

    // The replay after the restart: found, not sent again.
    let replay = SendOptions {
        txn_id: Some(&txn_held),
        maybe_sent_since_ms: Some(since),
        ..SendOptions::default()
    };
    let found = session
        .send_message_with(&bob, &MessageContent::text("held"), replay)
        .await
        .expect("replayed send");
    say!(t0, "replay found {found:?}");
    assert_eq!(found.len(), 1, "{found:?}");

    // A replayed message that never went out is sent.
    let txn_new = SendOptions::txn_id_for("$never-sent", 0);
    let replay_new = SendOptions {
        txn_id: Some(&txn_new),
        maybe_sent_since_ms: Some(since),
        ..SendOptions::default()
    };
    let sent = session
        .send_message_with(&bob, &MessageContent::text("late"), replay_new)
        .await
        .expect("replayed send of a new message");
    assert_ne!(sent, found);

    let texts = stored(&sb);
    say!(t0, "stored: {texts:?}");
    assert_eq!(
        texts,
        vec![
            ("plain".to_owned(), Some(txn_plain.clone())),
            ("held".to_owned(), Some(txn_held.clone())),
            ("late".to_owned(), Some(txn_new.clone())),
        ]
    );
    // The id found is the stored message's.
    let held_id = {
        let inner = sb.state.lock();
        inner
            .history_of("alice", &Conversation::single("bob"))
            .into_iter()
            .filter_map(|h| {
                let m = decode_incoming(&Meta::decode(h.meta.as_slice()).ok()?).ok()?;
                matches!(&m.body, Body::Content(Content::Text { text }) if text == "held")
                    .then_some(h.id.to_string())
            })
            .next()
    };
    assert_eq!(Some(found[0].clone()), held_id);
    // Transaction ids differ per part of one event.
    assert_ne!(txn_held, SendOptions::txn_id_for("$held", 1));
    session.disconnect(false).await;
}

#[tokio::test]
async fn a_replayed_thread_send_is_found_in_the_threads_history() {
    let t0 = Instant::now();
    let sb = TestSandbox::start().await;
    sb.user("alice", "alice-pw");
    sb.user("bob", "bob-pw");
    let session = alice_login(&sb).await;
    let (bob, mut bob_events) = sb.rust_client("bob", "bob-pw").await;
    // bob's client waits when its event channel is full: keep it drained.
    tokio::spawn(async move { while bob_events.recv().await.is_some() {} });
    let group = bob
        .rest()
        .create_group(&NewGroup {
            name: "project".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .expect("group");
    let root = bob
        .send(OutgoingMessage::text(Conversation::group(&group), "root"))
        .await
        .expect("root")
        .server_id
        .to_string();
    let chat = ChatId::group(&group);
    let threads = session.as_threads().expect("thread ability");
    let thread = threads
        .create_thread(&chat, &root, "plans")
        .await
        .expect("thread created");
    let since = now_ms();

    // The crash window, in the thread: taken, never acked.
    sb.state.withhold_acks("held in the thread");
    let txn_held = SendOptions::txn_id_for("$held-in-thread", 0);
    let held = SendOptions {
        txn_id: Some(&txn_held),
        ..SendOptions::default()
    };
    let text = MessageContent::text("held in the thread");
    let cut = tokio::time::timeout(
        Duration::from_secs(2),
        threads.send_in_thread(&chat, &thread, &text, held),
    )
    .await;
    assert!(cut.is_err(), "the withheld ack came anyway: {cut:?}");
    sb.state.stop_withholding_acks();
    say!(t0, "thread message taken without an ack");

    // Replayed: found in the thread's history, not sent again.
    let replay = SendOptions {
        txn_id: Some(&txn_held),
        maybe_sent_since_ms: Some(since),
        ..SendOptions::default()
    };
    let found = threads
        .send_in_thread(&chat, &thread, &text, replay)
        .await
        .expect("replayed thread send");
    assert_eq!(found.len(), 1, "{found:?}");

    // A replayed thread message that never went out is sent.
    let txn_new = SendOptions::txn_id_for("$late-in-thread", 0);
    let replay_new = SendOptions {
        txn_id: Some(&txn_new),
        maybe_sent_since_ms: Some(since),
        ..SendOptions::default()
    };
    let sent = threads
        .send_in_thread(
            &chat,
            &thread,
            &MessageContent::text("late in the thread"),
            replay_new,
        )
        .await
        .expect("replayed thread send of a new message");
    assert_ne!(sent, found);

    let in_thread = stored_in(&sb, &Conversation::group(&thread));
    say!(t0, "stored in the thread: {in_thread:?}");
    assert_eq!(
        in_thread,
        vec![
            ("held in the thread".to_owned(), Some(txn_held.clone())),
            ("late in the thread".to_owned(), Some(txn_new.clone())),
        ],
        "one IM message per Matrix event, in the thread"
    );
    assert!(
        stored_in(&sb, &Conversation::group(&group)).is_empty(),
        "nothing went to the group's main timeline"
    );
    let held_id = {
        let inner = sb.state.lock();
        inner
            .history_of("alice", &Conversation::group(&thread))
            .into_iter()
            .find(|h| {
                Meta::decode(h.meta.as_slice())
                    .ok()
                    .and_then(|m| decode_incoming(&m).ok())
                    .is_some_and(|m| {
                        matches!(&m.body, Body::Content(Content::Text { text }) if text == "held in the thread")
                    })
            })
            .map(|h| h.id.to_string())
    };
    assert_eq!(Some(found[0].clone()), held_id);
    session.disconnect(false).await;
}
