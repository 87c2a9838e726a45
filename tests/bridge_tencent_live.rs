//! Tencent live rooms (AVChatRoom, the IM part of TWebLive) as channel portals, end to end on
//! a real Synapse with the bridge binary, the Tencent sandbox in this process and bob's Rust
//! IM client (the streamer's phone). mx1 is logged in as alice; the bridge runs with
//! `bridge.channel_queue_depth: 4` and metrics on.
//!
//! * **join**: `join-live <unknown id>` is refused in words; `join-live show1` joins alice
//!   to the live room and invites mx1 to the portal, named as the room;
//! * **both ways**: bob's text reaches the portal from his ghost; mx1's text reaches bob as a
//!   live-room message from alice, and is in the portal once (its echo in the poll is not
//!   bridged back);
//! * **notices**: bob's like, gift (TUIGift shapes) and stream end (`stopPush`) appear as
//!   `m.notice`s from his ghost ("bob liked", "bob sent a gift: rose ×3", "bob stopped the
//!   stream");
//! * **bounded, likes only**: bob sends a burst of 300 likes with 5 texts among them, then a
//!   DM to alice: the DM reaches mx1 while the burst is still being worked off (fewer than
//!   300 − 256 likes in the portal then: a lossless queue of 256 would have held the DM behind
//!   the rest), every text of the burst reaches the portal (texts are never dropped), and the
//!   likes that reached the portal plus `imbridge_channel_events_dropped_total` are exactly
//!   the burst's likes;
//! * **rejoined**: the sandbox drops alice's socket; after the reconnection the room is
//!   joined again and bob's next text arrives;
//! * **leave**: `leave-live` (no id: alice's only live room) leaves it; the bot says so and
//!   bob's next text does not reach the portal.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::prometheus::MetricsClient;
use common::synapse::free_port;
use common::tencent_bed::TencentBed;
use imbridge::network::tencent::client::Client;
use imbridge::network::tencent::elem::{CustomElem, Elem};
use imbridge::network::tencent::session::SessionEvent;

const BOB_GHOST: &str = "@tencent_bob:localhost";
const ROOM: &str = "show1";
/// Likes in the burst.
const BURST: usize = 300;
/// The depth of a lossless portal queue (`core::portal::QUEUE_DEPTH`).
const LOSSLESS_DEPTH: usize = 256;
/// A text goes out after every this many likes of the burst.
const TEXT_EVERY: usize = 60;
const LIKE: &str =
    r#"{"businessID":"TUIGift_like","version":"1.0","platform":"web","data":{"message":""}}"#;

fn custom(data: &str) -> Vec<Elem> {
    vec![Elem::Custom(CustomElem {
        data: data.into(),
        ..Default::default()
    })]
}

/// How many of the portal's bodies satisfy `pick`.
async fn count(
    mx: &common::matrix_user::MatrixUser,
    room: &str,
    pick: impl Fn(&str) -> bool,
) -> usize {
    mx.all_bodies(room).await.iter().filter(|b| pick(b)).count()
}

/// The live-room texts bob's client received.
fn collect(
    mut events: tokio::sync::mpsc::Receiver<SessionEvent>,
) -> Arc<Mutex<Vec<(String, String)>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let out = got.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let SessionEvent::LiveMessage(m) = e {
                if let Ok(mut v) = out.lock() {
                    v.push((m.from.clone(), m.text()));
                }
            }
        }
    });
    got
}

async fn send_text(bob: &Client, text: &str) {
    bob.send_group(ROOM, vec![Elem::text(text)], vec![])
        .await
        .expect("bob sends to the live room");
}

/// bob writes `{prefix} 1`, `{prefix} 2`, … (0.7 s apart, 30 s at most) until one reaches
/// the portal (the live room is joined again); how many he wrote.
async fn until_bridged(
    bob: &Client,
    mx: &common::matrix_user::MatrixUser,
    portal: &str,
    prefix: &str,
) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    loop {
        n += 1;
        let text = format!("{prefix} {n}");
        send_text(bob, &text).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        if mx.bodies(portal, None).await.contains(&text) {
            return n;
        }
        assert!(Instant::now() < deadline, "nothing arrived: {prefix}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_live_rooms_as_channel_portals() {
    let t0 = Instant::now();
    let metrics_port = free_port();
    let extra = format!("metrics:\n  enabled: true\n  listen: 127.0.0.1:{metrics_port}\n");
    let (bed, _bridge) = TencentBed::start_with(
        "tencent-live",
        &["alice", "bob"],
        &["channel_queue_depth: 4"],
        &extra,
    )
    .await;
    let sb = bed.sb.clone();
    sb.create_group("AVChatRoom", ROOM, "Launch show", "administrator", &[])
        .expect("live room");
    let mut mx = bed.matrix_user("mx1", "mxpw-Tl41-matrix-secret");
    let mgmt = bed.login(&mut mx, "alice").await;
    let (bob, bob_events) = bed.im_client("bob", |_| {}).await;
    let bob_got = collect(bob_events);
    bob.join_live(ROOM).await.expect("bob joins his room");
    // alice's DM with bob, for the burst below.
    bob.send_c2c_text("alice", "hello alice").await.expect("dm");
    let dm = mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    mx.wait_body(&dm, |b| b == "hello alice").await;
    say!(t0, "logged in, DM portal {dm}");

    // Join.
    mx.send_text(&mgmt, "join-live").await;
    mx.wait_body(&mgmt, |b| b == "Usage: `join-live <live room id>`")
        .await;
    mx.send_text(&mgmt, "join-live nosuchroom").await;
    mx.wait_body(&mgmt, |b| b.contains("no live room `nosuchroom`"))
        .await;
    mx.send_text(&mgmt, &format!("join-live {ROOM}")).await;
    mx.wait_body(&mgmt, |b| b.starts_with("Joined the IM chat room"))
        .await;
    let portal = mx.accept_new_invite(&[mgmt.clone(), dm.clone()]).await;
    let name = mx.state(&portal, "m.room.name").await;
    assert_eq!(name["name"], "Launch show", "{name}");
    say!(t0, "live portal {portal}");

    // Both ways.
    send_text(&bob, "welcome to the show").await;
    mx.wait_body(&portal, |b| b == "welcome to the show").await;
    assert!(mx
        .bodies(&portal, Some(BOB_GHOST))
        .await
        .contains(&"welcome to the show".to_owned()));
    mx.send_text(&portal, "hi from matrix").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = bob_got.lock().map(|v| v.clone()).unwrap_or_default();
        if got.contains(&("alice".to_owned(), "hi from matrix".to_owned())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob never got mx1's text: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The bridge's own send comes back in its poll: not bridged again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count(&mx, &portal, |b| b == "hi from matrix").await, 1);

    // Likes, gifts and the stream's end as notices from bob's ghost.
    bob.send_group(ROOM, custom(LIKE), vec![])
        .await
        .expect("like");
    let gift = r#"{"businessID":"TUIGift","data":{"giftId":"7","message":"rose","giftCount":3}}"#;
    bob.send_group(ROOM, custom(gift), vec![])
        .await
        .expect("gift");
    bob.send_group(ROOM, custom(r#"{"cmd":"stopPush"}"#), vec![])
        .await
        .expect("stopPush");
    mx.wait_body(&portal, |b| b == "bob stopped the stream")
        .await;
    let notices: Vec<String> = mx
        .messages(&portal)
        .await
        .into_iter()
        .filter(|(s, t, c)| s == BOB_GHOST && t == "m.room.message" && c["msgtype"] == "m.notice")
        .filter_map(|(_, _, c)| c["body"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        notices,
        [
            "bob liked",
            "bob sent a gift: rose ×3",
            "bob stopped the stream"
        ]
    );
    say!(t0, "like, gift and stopPush shown as notices");

    // A burst of likes does not hold up the DM; only likes are dropped.
    let metrics = MetricsClient::new(metrics_port);
    let dropped_metric = "imbridge_channel_events_dropped_total";
    let dropped_before = metrics.scrape().await.value(dropped_metric).unwrap_or(0.0);
    let likes_before = count(&mx, &portal, |b| b == "bob liked").await;
    let mut texts = Vec::new();
    for i in 0..BURST {
        bob.send_group(ROOM, custom(LIKE), vec![])
            .await
            .expect("like");
        if i % TEXT_EVERY == TEXT_EVERY - 1 {
            let text = format!("burst text {i}");
            send_text(&bob, &text).await;
            texts.push(text);
        }
    }
    bob.send_c2c_text("alice", "dm amid the likes")
        .await
        .expect("dm");
    mx.wait_body(&dm, |b| b == "dm amid the likes").await;
    let at_dm = count(&mx, &portal, |b| b == "bob liked").await - likes_before;
    say!(
        t0,
        "the DM arrived with {at_dm} of {BURST} likes in the portal"
    );
    assert!(
        at_dm < BURST - LOSSLESS_DEPTH,
        "the DM waited behind the likes: {at_dm} were bridged before it"
    );
    let last = texts.last().cloned().expect("texts");
    mx.wait_body(&portal, |b| b == last).await;
    let mut bridged = 0;
    let mut dropped = 0.0;
    for _ in 0..50 {
        bridged = count(&mx, &portal, |b| b == "bob liked").await - likes_before;
        dropped = metrics.scrape().await.value(dropped_metric).unwrap_or(0.0) - dropped_before;
        if bridged + dropped as usize == BURST {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    say!(t0, "burst: {bridged} likes bridged, {dropped} dropped");
    assert!(dropped >= 1.0, "nothing was dropped: {bridged} bridged");
    assert_eq!(
        bridged + dropped as usize,
        BURST,
        "every like is bridged or counted"
    );
    let bodies = mx.all_bodies(&portal).await;
    for t in &texts {
        assert!(bodies.contains(t), "text {t} was dropped");
    }

    // Rejoined after a reconnection.
    assert_eq!(sb.drop_connections("alice"), 1);
    let n = until_bridged(&bob, &mx, &portal, "after the reconnection").await;
    say!(t0, "rejoined after the reconnection ({n} tries)");

    // Logged out and in again as the same IM user: the live room is joined again.
    mx.send_text(&mgmt, "logout").await;
    mx.wait_body(&mgmt, |b| b.starts_with("Logged out")).await;
    let sig = sb.user_sig("alice", 3600);
    mx.send_text(&mgmt, &format!("login usersig alice {sig}"))
        .await;
    let logged_in = |b: &String| b.starts_with("Logged in as alice");
    let deadline = Instant::now() + Duration::from_secs(20);
    while mx
        .bodies(&mgmt, None)
        .await
        .iter()
        .filter(|b| logged_in(b))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "not logged in again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let n = until_bridged(&bob, &mx, &portal, "after logging in again").await;
    say!(t0, "rejoined after logging out and in again ({n} tries)");

    // Leave without an id: alice's only live room.
    mx.send_text(&mgmt, "leave-live").await;
    mx.wait_body(&mgmt, |b| {
        b.starts_with(&format!("Left the IM chat room `{ROOM}`"))
    })
    .await;
    mx.wait_body(&portal, |b| b.contains("You left this IM chat room"))
        .await;
    let info = sb.group_info(None, &[ROOM.to_owned()]);
    let members = info[0]["MemberList"].to_string();
    assert!(!members.contains("\"alice\""), "alice left: {members}");
    send_text(&bob, "after alice left").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!mx
        .bodies(&portal, None)
        .await
        .contains(&"after alice left".to_owned()));
    say!(t0, "left");
}
