//! Backfill of new portals, end to end on a real Synapse with the bridge binary and the
//! Easemob sandbox: dave wrote to alice (who read it on her phone) before she logged in to the
//! bridge, so only the chat's history has those messages; when her DM with dave gets its
//! Matrix room (`pm dave`), they are there first, each once, in order,
//! sent by dave's ghost and dated when dave sent them (appservice timestamp massaging); a
//! message dave sends afterwards follows once. After an outage, the backlog per chat is
//! limited to `bridge.max_catchup_messages` (the newest), and the skip is told. The bridge's
//! debug log holds no secret.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::bridge::{read_log, tail};
use common::service_env::{Env, IM_PASSWORD};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_portal_starts_with_the_chats_history() {
    let mut env = Env::start("backfill", "").await;
    let t0 = env.t0;
    env.sandbox.user("dave", "dave-pw");
    let (dave, _dave_events) = env.sandbox.rust_client("dave", "dave-pw").await;
    // alice reads dave on her phone: the messages are delivered there, so the bridge's session
    // (a device created later) never receives them; only the chat history has them.
    let (_phone, _phone_events) = env
        .sandbox
        .phone_client("alice", IM_PASSWORD, "alice_phone")
        .await;
    let before = now_ms();
    for text in ["old 1", "old 2", "old 3"] {
        dave.send(OutgoingMessage::text(Conversation::single("alice"), text))
            .await
            .expect("dave writes before alice uses the bridge");
    }
    let sent_by = now_ms();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    env.login().await;
    let logged_in = now_ms();
    say!(t0, "dave wrote 3 messages; mx1 logged in");

    env.mx.send_text(&env.mgmt, "pm dave").await;
    let room = env
        .mx
        .accept_new_invite(std::slice::from_ref(&env.mgmt))
        .await;
    env.mx.wait_body(&room, |b| b == "old 3").await;
    dave.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "new 1",
    ))
    .await
    .expect("dave writes live");
    env.mx.wait_body(&room, |b| b == "new 1").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let events = env.mx.raw_events(&room).await;
    let messages: Vec<(String, String, u64)> = events
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .map(|e| {
            (
                e["sender"].as_str().unwrap_or_default().to_owned(),
                e["content"]["body"].as_str().unwrap_or_default().to_owned(),
                e["origin_server_ts"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    say!(t0, "room: {messages:?}");
    let bodies: Vec<&str> = messages.iter().map(|(_, b, _)| b.as_str()).collect();
    assert_eq!(
        bodies,
        ["old 1", "old 2", "old 3", "new 1"],
        "history first, each once, in order\n{}",
        tail(&env.log, 30)
    );
    assert!(
        messages
            .iter()
            .all(|(s, _, _)| s == "@easemob_dave:localhost"),
        "sent by dave's ghost: {messages:?}"
    );
    for (_, body, ts) in &messages[..3] {
        assert!(
            (before..=sent_by).contains(ts) && *ts < logged_in,
            "{body} dated {ts}, not when dave sent it ({before}..={sent_by})"
        );
    }
    // They came from the history, not from the live stream (the phone had them).
    let log = read_log(&env.log);
    assert!(
        log.lines()
            .any(|l| l.contains("new portal backfilled") && l.contains("bridged=3")),
        "no backfill of 3 messages in the log\n{}",
        tail(&env.log, 30)
    );
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}

/// After an outage the backlog is limited per chat to `bridge.max_catchup_messages` (the
/// newest ones), and the user is told how many older ones were skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_after_an_outage_keeps_the_newest_messages_per_chat() {
    let mut env = Env::start("catchup", "").await;
    let t0 = env.t0;
    env.login().await;
    env.open_dm().await;
    env.set_bridge_settings(&["max_catchup_messages: 3"], false);
    for i in 0..8 {
        env.bob_send(&format!("missed {i}")).await;
    }
    say!(t0, "bob sent 8 messages while the bridge was down");
    env.restart();
    env.mx.wait_body(&env.dm, |b| b == "missed 7").await;
    env.bob_send("after the catch-up").await;
    env.mx
        .wait_body(&env.dm, |b| b == "after the catch-up")
        .await;
    let bodies = env.mx.all_bodies(&env.dm).await;
    let missed: Vec<&str> = bodies
        .iter()
        .map(String::as_str)
        .filter(|b| b.starts_with("missed "))
        .collect();
    assert_eq!(
        missed,
        ["missed 5", "missed 6", "missed 7"],
        "the newest 3, once, in order\n{}",
        tail(&env.log, 30)
    );
    let told = env.mx.all_bodies(&env.mgmt).await;
    assert!(
        told.iter()
            .any(|b| b.starts_with("⏩ 5 older messages in your chat with bob")),
        "the skip is told: {told:#?}"
    );
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}
