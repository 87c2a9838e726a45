//! A Matrix → IM message is sent once even when the bridge stopped between the IM server
//! taking it and the bridge recording it, at the connector level against the in-process
//! sandbox: the sandbox takes and delivers a message but withholds its ack (the sender's
//! send never returns, as when its process dies), and the replayed send, with the same
//! transaction id and `maybe_sent_since_ms`, finds it in history (`imbridge_txn` in `ext`)
//! and returns its id instead of sending it again; a replayed send that did not go out
//! before is sent; a plain send is not looked up.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{TestSandbox, APP_KEY};
use imbridge::core::connector::{ChatId, MessageContent, NetworkConnector, SendOptions};
use imbridge::core::login_steps::{NextStep, PendingLogin};
use imbridge::network::easemob::connector::{
    EasemobConnector, EasemobSettings, PASSWORD_FLOW, TXN_EXT_KEY,
};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{decode_incoming, Body, Content, ExtValue};
use imbridge::network::easemob::proto::Meta;
use prost::Message as _;
use tokio::sync::mpsc;

/// The texts alice sent bob, as the server stored them, with their `imbridge_txn`.
fn stored(sb: &TestSandbox) -> Vec<(String, Option<String>)> {
    let inner = sb.state.lock();
    inner
        .history_of("alice", &Conversation::single("bob"))
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

#[tokio::test]
async fn a_replayed_send_is_found_in_history_instead_of_sent_twice() {
    let t0 = Instant::now();
    let sb = TestSandbox::start().await;
    sb.user("alice", "alice-pw");
    sb.user("bob", "bob-pw");
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
    let (tx, mut rx) = mpsc::channel(256);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let session = c.connect(&data, tx).await.expect("connects");
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
