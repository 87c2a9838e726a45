//! Presence both ways (issue 13, item 7), end to end on a real Synapse with the bridge binary,
//! the in-process Easemob sandbox and Rust IM clients. mx1 is logged in as alice.
//!
//! * **IM → Matrix**: bob's DM portal opens, the bridge subscribes alice's login to bob's
//!   presence and his ghost goes online; bob's custom status shows as the ghost's status
//!   text, an away word as `unavailable`; carol's device closing turns her ghost offline;
//!   after a bridge restart the subscriptions are taken again from the stored DM portals.
//! * **Matrix → IM** (opt-in): before `presence on`, mx1's presence stays on Matrix; after it,
//!   mx1's presence changes are published as alice's Easemob status (Synapse itself turns
//!   mx1 `online` again when mx1 sends the command, keeping the status text), and mx1 going
//!   away with the text "lunch" reaches carol (subscribed to alice); `presence off` stops it.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::next_event;
use common::service_env::Env;
use imbridge::network::easemob::events::{parse_presence_notify, SessionEvent};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;

const BOB_GHOST: &str = "@easemob_bob:localhost";
const CAROL_GHOST: &str = "@easemob_carol:localhost";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_both_ways() {
    let mut env = Env::start("presence", "").await;
    env.login().await;
    env.open_dm().await;
    let t0 = env.t0;
    let mgmt = env.mgmt.clone();

    // IM → Matrix.
    env.mx.wait_presence(BOB_GHOST, "online", None).await;
    env.bob
        .rest()
        .publish_presence(env.bob.resource(), "in a meeting")
        .await
        .expect("bob publishes");
    env.mx
        .wait_presence(BOB_GHOST, "online", Some("in a meeting"))
        .await;
    env.bob
        .rest()
        .publish_presence(env.bob.resource(), "away")
        .await
        .expect("bob is away");
    env.mx.wait_presence(BOB_GHOST, "unavailable", None).await;
    say!(t0, "bob's presence and status show on his ghost");

    env.sandbox.user("carol", "carol-pw");
    let (carol, mut carol_events) = env.sandbox.rust_client("carol", "carol-pw").await;
    let known = env.mx.joined_rooms().await;
    carol
        .send(OutgoingMessage::text(
            Conversation::single("alice"),
            "hi, carol here",
        ))
        .await
        .expect("carol writes");
    let carol_dm = env.mx.accept_new_invite(&known).await;
    env.mx.wait_body(&carol_dm, |b| b == "hi, carol here").await;
    env.mx.wait_presence(CAROL_GHOST, "online", None).await;

    // Matrix → IM: nothing before `presence on`.
    carol
        .rest()
        .subscribe_presence(&["alice"], 600)
        .await
        .expect("carol subscribes to alice");
    env.mx.set_presence("unavailable", Some("not yet")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Ok(e) = carol_events.try_recv() {
        if let SessionEvent::Notify { json } = &e {
            let published = parse_presence_notify(json)
                .is_some_and(|l| l.iter().any(|s| s.user == "alice" && !s.ext.is_empty()));
            assert!(!published, "published before `presence on`: {json}");
        }
    }
    env.mx.send_text(&mgmt, "presence on").await;
    env.mx
        .wait_body(&mgmt, |b| {
            b.starts_with("Your Matrix presence will be published")
        })
        .await;
    env.mx.set_presence("unavailable", Some("lunch")).await;
    let seen = next_event(&mut carol_events, "alice's presence", |e| match e {
        SessionEvent::Notify { json } => parse_presence_notify(json).and_then(|l| {
            l.into_iter()
                .find(|s| s.user == "alice" && s.ext == "lunch")
        }),
        _ => None,
    })
    .await;
    assert!(
        seen.online(),
        "the bridge's session keeps alice's device online"
    );
    say!(t0, "mx1's presence published as alice's status");
    env.mx.send_text(&mgmt, "presence off").await;
    env.mx
        .wait_body(&mgmt, |b| {
            b.starts_with("Your Matrix presence is no longer")
        })
        .await;

    // carol's device closes: her ghost goes offline.
    carol.close().await;
    env.mx.wait_presence(CAROL_GHOST, "offline", None).await;
    say!(t0, "carol offline");

    // A restart subscribes again from the stored DM portals.
    env.restart();
    env.mx
        .wait_body(&mgmt, |b| {
            b.contains("Connected") || b.contains("connected")
        })
        .await;
    env.bob
        .rest()
        .publish_presence(env.bob.resource(), "back")
        .await
        .expect("bob is back");
    env.mx
        .wait_presence(BOB_GHOST, "online", Some("back"))
        .await;
    say!(t0, "after a restart the subscriptions are there again");
    assert!(env.stop_and_find_leaks().is_empty());
}
