//! Chat rooms as channel portals (issue 13, item 6), end to end on a real Synapse with the
//! bridge binary, the in-process Easemob sandbox and bob's Rust IM client (the phone in the
//! room; bob owns the chat room "lobby"). mx1 is logged in as alice.
//!
//! * **join**: `join-chatroom <unknown id>` is refused in words; `join-chatroom <lobby>`
//!   joins alice over the socket (bob's client sees her `memberPresence`) and invites mx1 to
//!   the portal, named and described as the chat room;
//! * **both ways**: bob's text in the room reaches the portal from his ghost; mx1's text in
//!   the portal reaches bob as a chat-room message from alice; carol joins the room and her
//!   ghost joins the portal, she leaves and it leaves;
//! * **rejoined**: the bridge restarts (with `bridge.channel_queue_depth: 4`): the old
//!   connection's end drops alice from the room, the new one joins it again (remembered in
//!   the store), and bob's next text reaches the portal; the same after the sandbox drops
//!   alice's socket (a reconnection);
//! * **bounded**: bob floods the room with 400 texts, then writes to alice directly: the DM
//!   reaches mx1 while the flood is still being worked off (fewer than 400 − 256 flood texts
//!   in the portal then: a lossless queue of 256 would have held the DM behind the rest);
//!   the newest flood text arrives, and what reached the portal plus
//!   `imbridge_channel_events_dropped_total` is exactly the flood;
//! * **leave**: `leave-chatroom <lobby>`: alice is out of the IM room, the bot says so in the
//!   management room and in the portal, which mx1 keeps; joining again points to that room.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::matrix_user::MatrixUser;
use common::prometheus::MetricsClient;
use common::service_env::Env;
use common::synapse::free_port;
use imbridge::network::easemob::jid::{ChatType, Conversation};
use imbridge::network::easemob::message::{Body, Content, OutgoingMessage};
use imbridge::network::easemob::rest::RestClient;

const BOB_GHOST: &str = "@easemob_bob:localhost";
const CAROL_GHOST: &str = "@easemob_carol:localhost";
/// Flood texts bob sends at once.
const FLOOD: usize = 400;
/// The depth of a lossless portal queue (`core::portal::QUEUE_DEPTH`).
const LOSSLESS_DEPTH: usize = 256;

/// Waits (bounded, 30 s) until alice's membership of `room` on the IM server is `member`.
async fn wait_alice_member(rest: &RestClient, room: &str, member: bool) {
    for _ in 0..150 {
        let members = rest.chatroom_members(room).await.unwrap_or_default();
        if members.iter().any(|m| m.user == "alice") == member {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("alice never became member={member} of chat room {room}");
}

/// Waits (bounded, 30 s) until `user`'s being joined to `room` is `joined`.
async fn wait_joined(mx: &MatrixUser, room: &str, user: &str, joined: bool) {
    for _ in 0..150 {
        if mx.members(room).await.iter().any(|m| m == user) == joined {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{user} never became joined={joined} in {room}");
}

/// The flood texts in the portal so far.
async fn flood_count(mx: &MatrixUser, room: &str) -> usize {
    mx.all_bodies(room)
        .await
        .iter()
        .filter(|b| b.starts_with("flood "))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_rooms_as_channel_portals() {
    let metrics_port = free_port();
    let extra = format!("metrics:\n  enabled: true\n  listen: 127.0.0.1:{metrics_port}\n");
    let mut env = Env::start("chatrooms", &extra).await;
    env.login().await;
    env.open_dm().await;
    let rest = env.bob.rest();
    let lobby = rest
        .create_chatroom("lobby", "all welcome", &[])
        .await
        .expect("chat room created");

    // Join: a wrong id is refused in words; the right one opens the portal.
    let mgmt = env.mgmt.clone();
    env.mx.send_text(&mgmt, "join-chatroom 424242").await;
    env.mx
        .wait_body(&mgmt, |b| b.contains("no IM chat room `424242`"))
        .await;
    env.mx
        .send_text(&mgmt, &format!("join-chatroom {lobby}"))
        .await;
    env.mx
        .wait_body(&mgmt, |b| b.starts_with("Joined the IM chat room"))
        .await;
    wait_alice_member(&rest, &lobby, true).await;
    let known = [mgmt.clone(), env.dm.clone()];
    let portal = env.mx.accept_new_invite(&known).await;
    say!(env.t0, "channel portal {portal}");
    let name = env.mx.state_of(&portal, "m.room.name", "").await;
    assert_eq!(name["name"], "lobby", "{name}");
    let topic = env.mx.state_of(&portal, "m.room.topic", "").await;
    assert_eq!(topic["topic"], "all welcome", "{topic}");

    // Both ways.
    env.bob
        .send(OutgoingMessage::text(
            Conversation::chatroom(&lobby),
            "hello room",
        ))
        .await
        .expect("bob sends to the room");
    env.mx.wait_body(&portal, |b| b == "hello room").await;
    assert!(
        env.mx
            .bodies(&portal, Some(BOB_GHOST))
            .await
            .contains(&"hello room".to_owned()),
        "from bob's ghost"
    );
    env.mx.send_text(&portal, "hi from matrix").await;
    let got = env
        .bob_inbox
        .wait_message(
            |m| matches!(&m.body, Body::Content(Content::Text { text }) if text == "hi from matrix"),
            Duration::from_secs(30),
        )
        .await
        .expect("bob receives mx1's text");
    assert_eq!(
        (got.from.as_str(), got.chat_type, got.to.as_str()),
        ("alice", ChatType::Chatroom, lobby.as_str())
    );

    // carol comes and goes: her ghost follows.
    env.sandbox.user("carol", "carol-pw");
    let (carol, _carol_events) = env.sandbox.rust_client("carol", "carol-pw").await;
    carol.join_chatroom(&lobby).await.expect("carol joins");
    wait_joined(&env.mx, &portal, CAROL_GHOST, true).await;
    carol.leave_chatroom(&lobby).await.expect("carol leaves");
    wait_joined(&env.mx, &portal, CAROL_GHOST, false).await;
    carol.close().await;

    // Rejoined after a restart (which also makes the channel queue small for the flood).
    env.set_bridge_settings(&["channel_queue_depth: 4"], false);
    wait_alice_member(&rest, &lobby, false).await;
    say!(env.t0, "bridge stopped: alice dropped from the chat room");
    env.restart();
    wait_alice_member(&rest, &lobby, true).await;
    say!(env.t0, "alice rejoined the chat room");
    env.bob
        .send(OutgoingMessage::text(
            Conversation::chatroom(&lobby),
            "after the restart",
        ))
        .await
        .expect("bob sends again");
    env.mx
        .wait_body(&portal, |b| b == "after the restart")
        .await;

    // Rejoined after a reconnection: the sandbox drops alice's socket (and with it her room
    // membership); once the login is back, so is she, and bob's text arrives.
    let metrics = MetricsClient::new(metrics_port);
    let reconnects = "imbridge_im_reconnects_total";
    let before = metrics.scrape().await.value(reconnects).unwrap_or(0.0);
    assert_eq!(
        env.sandbox
            .state
            .drop_some_connections(1, &["alice".to_owned()]),
        1
    );
    let mut reconnected = false;
    for _ in 0..150 {
        if metrics.scrape().await.value(reconnects).unwrap_or(0.0) > before {
            reconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(reconnected, "the login never reconnected");
    wait_alice_member(&rest, &lobby, true).await;
    say!(env.t0, "alice rejoined the chat room after a reconnection");
    env.bob
        .send(OutgoingMessage::text(
            Conversation::chatroom(&lobby),
            "after the reconnection",
        ))
        .await
        .expect("bob sends again");
    env.mx
        .wait_body(&portal, |b| b == "after the reconnection")
        .await;

    // Bounded: a flood of the channel does not hold up the DM.
    let dropped_before = metrics
        .scrape()
        .await
        .value("imbridge_channel_events_dropped_total")
        .unwrap_or(0.0);
    for i in 0..FLOOD {
        env.bob
            .send(OutgoingMessage::text(
                Conversation::chatroom(&lobby),
                format!("flood {i}"),
            ))
            .await
            .expect("flood text sent");
    }
    env.bob_send("dm amid the flood").await;
    let dm = env.dm.clone();
    env.mx.wait_body(&dm, |b| b == "dm amid the flood").await;
    let at_dm = flood_count(&env.mx, &portal).await;
    say!(
        env.t0,
        "the DM arrived with {at_dm} of {FLOOD} flood texts in the portal"
    );
    assert!(
        at_dm < FLOOD - LOSSLESS_DEPTH,
        "the DM waited behind the flood: {at_dm} flood texts were bridged before it"
    );
    let last = format!("flood {}", FLOOD - 1);
    env.mx.wait_body(&portal, |b| b == last).await;
    // The last text is in; give the (at most 4) before it their time, then count.
    let mut bridged = 0;
    let mut dropped = 0.0;
    for _ in 0..50 {
        bridged = flood_count(&env.mx, &portal).await;
        dropped = metrics
            .scrape()
            .await
            .value("imbridge_channel_events_dropped_total")
            .unwrap_or(0.0)
            - dropped_before;
        if bridged + dropped as usize == FLOOD {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say!(env.t0, "flood: {bridged} bridged, {dropped} dropped");
    assert!(dropped >= 1.0, "nothing was dropped: {bridged} bridged");
    assert_eq!(
        bridged + dropped as usize,
        FLOOD,
        "every flood text is bridged or counted"
    );

    // Leave.
    env.mx
        .send_text(&mgmt, &format!("leave-chatroom {lobby}"))
        .await;
    env.mx
        .wait_body(&mgmt, |b| b.starts_with("Left the IM chat room"))
        .await;
    wait_alice_member(&rest, &lobby, false).await;
    env.mx
        .wait_body(&portal, |b| b.contains("You left this IM chat room"))
        .await;
    assert!(
        env.mx.joined_rooms().await.contains(&portal),
        "mx1 keeps the portal"
    );
    // Joining again points to the room mx1 kept.
    env.mx
        .send_text(&mgmt, &format!("join-chatroom {lobby}"))
        .await;
    env.mx
        .wait_body(&mgmt, |b| {
            b.starts_with("Joined the IM chat room") && b.contains(&portal)
        })
        .await;
    wait_alice_member(&rest, &lobby, true).await;

    let rejoins = common::bridge::read_log(&env.log)
        .matches("channel joined again")
        .count();
    assert!(
        rejoins >= 2,
        "after the restart and the reconnection: {rejoins}"
    );
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}
