//! The life of portal rooms on the Matrix side, end to end on a real Synapse with the bridge
//! binary, the in-process Easemob sandbox and Rust IM clients as the other parties. One world,
//! in steps:
//!
//! 0. **room features**: the DM portal's `com.beeper.room_features` state is what the Easemob
//!    connector's capabilities give (also in the DM adopted in step 2);
//! 1. **membership drift**: the user leaves the DM portal with bob; bob writes; the user is
//!    invited to the same room again, joins, and sees the message (once);
//! 2. **invites to ghosts**: the user creates a direct chat inviting carol's ghost; the ghost
//!    joins, the room becomes the DM portal with carol (text both ways, its `m.bridge` state
//!    set, the bot in it, no other room made);
//!    inviting bob's ghost into another new DM is rejected with a reason pointing to the
//!    existing portal, and the bot says where it is; a Matrix user without a login is
//!    rejected with a reason too;
//! 3. **room upgrades**: the user upgrades the DM portal with bob; the bot, unable to join the
//!    invite-only replacement, asks in the management room to be invited, and meanwhile bob's
//!    messages still arrive in the old room; once invited (as Element's "invite members"
//!    does) the bot and bob's ghost are in the new room, text from the new room reaches bob,
//!    and bob's reply arrives in the new room, not the old one.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::matrix_user::MatrixUser;
use common::service_env::{Env, Inbox};
use imbridge::core::connector::NetworkConnector;
use imbridge::core::room_features;
use imbridge::network::easemob::connector::{EasemobConnector, EasemobSettings};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;
use imbridge::network::easemob::rest::NewGroup;
use serde_json::{json, Value};

const BOT: &str = "@easemobbot:localhost";
const BOB_GHOST: &str = "@easemob_bob:localhost";
const CAROL_GHOST: &str = "@easemob_carol:localhost";
const SETTLE: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_secs(30);

fn count(bodies: &[String], body: &str) -> usize {
    bodies.iter().filter(|b| *b == body).count()
}

/// Waits (bounded) until `user` is a joined member of `room`.
async fn wait_member(mx: &MatrixUser, room: &str, user: &str) {
    for _ in 0..150 {
        if mx.members(room).await.iter().any(|m| m == user) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{user} never joined {room}: {:?}", mx.members(room).await);
}

/// Waits (bounded) until `user`'s membership in `room` is `leave`; returns the event content.
async fn wait_left(mx: &MatrixUser, room: &str, user: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = mx.state_of(room, "m.room.member", user).await;
        if last["membership"] == "leave" {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{user} never left {room}: {last}");
}

/// The `com.beeper.room_features` content the Easemob connector's capabilities give.
fn easemob_features(direct: bool) -> Value {
    let connector = EasemobConnector::new(EasemobSettings {
        app_key: "a#b".into(),
        rest_url: String::new(),
        websocket_url: String::new(),
    });
    room_features::content(&connector.capabilities(), direct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_rooms_follow_what_users_do_with_them() {
    let mut env = Env::start("lifecycle", "").await;
    env.sandbox.user("carol", "carol-pw-3391");
    env.login().await;
    env.open_dm().await;
    let (mgmt, dm) = (env.mgmt.clone(), env.dm.clone());

    // 0. The portal says what it supports, from the connector's capabilities.
    let features = env.mx.state(&dm, room_features::EVENT_TYPE).await;
    assert_eq!(features, easemob_features(true));
    assert_eq!(features["delete_max_age"], json!(120), "{features}");
    assert!(
        features.get("state").is_none(),
        "a DM's name is the network's"
    );

    // 1. Membership drift: the user leaves, bob writes, the user is invited back.
    env.mx.leave(&dm).await;
    tokio::time::sleep(SETTLE).await; // the leave reaches the bridge first
    env.bob_send("are you still there?").await;
    let back = env.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    assert_eq!(back, dm, "invited to another room than the DM portal");
    env.mx.wait_body(&dm, |b| b == "are you still there?").await;
    say!(env.t0, "step 1: invited back to {dm} after leaving");
    env.mx.send_text(&dm, "back again").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "back again", DEADLINE)
            .await
    );

    // 2a. A direct chat the user makes with carol's ghost becomes the portal with carol.
    let (carol, carol_events) = env.sandbox.rust_client("carol", "carol-pw-3391").await;
    let carol_inbox = Inbox::collect(carol_events);
    let carol_dm = env
        .mx
        .create_room(json!({
            "is_direct": true, "invite": [CAROL_GHOST], "preset": "trusted_private_chat"
        }))
        .await;
    wait_member(&env.mx, &carol_dm, CAROL_GHOST).await;
    env.mx.send_text(&carol_dm, "hi carol, from Matrix").await;
    assert!(
        carol_inbox
            .wait("alice", |t| t == "hi carol, from Matrix", DEADLINE)
            .await,
        "carol never got the text: {:?}",
        carol_inbox.texts_from("alice")
    );
    carol
        .send(OutgoingMessage::text(
            Conversation::single("alice"),
            "hi alice, carol here",
        ))
        .await
        .expect("carol replies");
    env.mx
        .wait_body(&carol_dm, |b| b == "hi alice, carol here")
        .await;
    let bridge = env
        .mx
        .state_of(
            &carol_dm,
            "m.bridge",
            "net.imbridge%3A%2F%2Feasemob%2Fdirect%3Aalice%3Acarol",
        )
        .await;
    assert_eq!(
        bridge["bridgebot"], BOT,
        "m.bridge of the adopted portal: {bridge}"
    );
    assert_eq!(bridge["channel"]["id"], "carol", "{bridge}");
    wait_member(&env.mx, &carol_dm, BOT).await;
    say!(env.t0, "step 2a: {carol_dm} is the DM portal with carol");

    // 2b. A second DM with bob's ghost: rejected with a reason, the bot points to the portal.
    let second = env
        .mx
        .create_room(json!({
            "is_direct": true, "invite": [BOB_GHOST], "preset": "trusted_private_chat"
        }))
        .await;
    let rejected = wait_left(&env.mx, &second, BOB_GHOST).await;
    let reason = rejected["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("already have a chat with bob") && reason.contains(dm.as_str()),
        "{rejected}"
    );
    env.mx
        .wait_body(&mgmt, |b| {
            b.starts_with("You already have a chat with bob") && b.contains(dm.as_str())
        })
        .await;

    // 2c. A Matrix user without a login: rejected with a reason.
    let token = env.synapse.register("mx2", "mx2-password-5521");
    let mx2 = MatrixUser::new(&env.synapse.url(), "@mx2:localhost", &token);
    let nologin = mx2.create_dm(BOB_GHOST).await;
    let rejected = wait_left(&mx2, &nologin, BOB_GHOST).await;
    assert!(
        rejected["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not logged in")),
        "{rejected}"
    );
    say!(env.t0, "step 2b/2c: invites rejected with reasons");

    // 3. The user upgrades the DM portal with bob; the bridge follows once invited.
    let upgraded = env.mx.upgrade(&dm, "12").await;
    say!(env.t0, "step 3: {dm} upgraded to {upgraded}");
    env.mx
        .wait_body(&mgmt, |b| {
            b.contains("upgraded room") && b.contains(upgraded.as_str())
        })
        .await;
    // Until the bot is invited the chat goes on in the old room: nothing is lost.
    env.bob_send("while the bot waits").await;
    env.mx.wait_body(&dm, |b| b == "while the bot waits").await;
    env.mx.invite(&upgraded, BOT).await;
    wait_member(&env.mx, &upgraded, BOT).await;
    wait_member(&env.mx, &upgraded, BOB_GHOST).await;
    env.mx.send_text(&upgraded, "from the upgraded room").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "from the upgraded room", DEADLINE)
            .await,
        "bob never got the text: {:?}",
        env.bob_inbox.texts_from("alice")
    );
    env.bob_send("reply into the upgraded room").await;
    env.mx
        .wait_body(&upgraded, |b| b == "reply into the upgraded room")
        .await;
    tokio::time::sleep(SETTLE).await;

    // Each message once, in the right room; no other portal appeared.
    let in_old = env.mx.bodies(&dm, None).await;
    assert_eq!(count(&in_old, "are you still there?"), 1, "{in_old:?}");
    assert_eq!(count(&in_old, "while the bot waits"), 1, "{in_old:?}");
    assert_eq!(
        count(&in_old, "reply into the upgraded room"),
        0,
        "{in_old:?}"
    );
    let in_new = env.mx.bodies(&upgraded, None).await;
    assert_eq!(
        count(&in_new, "reply into the upgraded room"),
        1,
        "{in_new:?}"
    );
    let in_carol = env.mx.bodies(&carol_dm, None).await;
    assert_eq!(count(&in_carol, "hi alice, carol here"), 1, "{in_carol:?}");
    // The adopted room got the room features too. (The upgraded one cannot: in room version
    // 12 the upgrading user is its only creator and neither the bot nor a ghost has the power
    // to set state there until the user gives it.)
    let features = env.mx.state(&carol_dm, room_features::EVENT_TYPE).await;
    assert_eq!(features, easemob_features(true));
    let invites = env.mx.invites().await;
    assert!(invites.is_empty(), "unexpected rooms: {invites:?}");
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_filtering_spaces_hold_the_portals() {
    let mut env = Env::start("spaces", "").await;
    env.set_bridge_settings(&["personal_filtering_spaces: true"], true);
    env.login().await;
    let mgmt = env.mgmt.clone();
    let space = env.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    let create = env.mx.state(&space, "m.room.create").await;
    assert_eq!(create["type"], json!("m.space"), "{create}");
    env.bob_send("into the space").await;
    let dm = env
        .mx
        .accept_new_invite(&[mgmt.clone(), space.clone()])
        .await;
    env.mx.wait_body(&dm, |b| b == "into the space").await;
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let child = env.mx.state_of(&space, "m.space.child", &dm).await;
        if child["via"] == json!(["localhost"]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{dm} never in {space}: {child}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// Rooms the user makes and invites the bot to (not as a DM): the bot greets without taking
/// the room over; `!em bridge <group>` is refused while the group has its own portal, and
/// once that is unbridged makes the room the group's portal (text both ways, no other room
/// made); `!em set-management-room` makes another one the management room, where commands
/// then go without the prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_rooms_become_portals_and_management_rooms() {
    let mut env = Env::start("bridge-cmd", "").await;
    env.login().await;
    let group = env
        .bob
        .rest()
        .create_group(&NewGroup {
            name: "adopted".into(),
            description: "an IM group bridged into a room the user made".into(),
            members: vec!["alice".into()],
            max_users: 10,
            ..Default::default()
        })
        .await
        .expect("group created");

    // Being in the group, alice gets its portal at once.
    let mgmt = env.mgmt.clone();
    let made = env.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;

    let plain_room = json!({ "invite": [BOT], "preset": "private_chat", "name": "my room" });
    let room = env.mx.create_room(plain_room.clone()).await;
    let hello = env
        .mx
        .wait_body(&room, |b| b.contains("not a management room"))
        .await;
    assert!(hello.contains("bridge <group id>"), "{hello}");
    env.mx.send_text(&room, "ping").await;
    // The group has its room already: refused, until that one is unbridged.
    env.mx
        .send_text(&room, &format!("!em bridge {group}"))
        .await;
    let refused = env
        .mx
        .wait_body(&room, |b| b.contains("already bridged to"))
        .await;
    assert!(refused.contains(made.as_str()), "{refused}");
    env.mx.send_text(&made, "!em unbridge").await;
    env.mx
        .wait_body(&made, |b| b.contains("no longer bridged"))
        .await;
    env.mx
        .send_text(&room, &format!("!em bridge {group}"))
        .await;
    let done = env
        .mx
        .wait_body(&room, |b| b.starts_with("This room is now bridged"))
        .await;
    assert!(done.contains("adopted"), "{done}");
    // Without power over the room's state the bot says so, and bridges all the same.
    assert!(done.contains("power level 100"), "{done}");
    let bodies = env.mx.bodies(&room, Some(BOT)).await;
    assert!(
        bodies.iter().all(|b| !b.contains("Logged in")),
        "a plain room is no management room: {bodies:?}"
    );

    env.bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "to the adopted room",
        ))
        .await
        .expect("group message");
    env.mx
        .wait_body(&room, |b| b == "to the adopted room")
        .await;
    env.mx.send_text(&room, "from the adopted room").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "from the adopted room", DEADLINE)
            .await,
        "bob never got it: {:?}",
        env.bob_inbox.texts_from("alice")
    );
    let invites = env.mx.invites().await;
    assert!(
        invites.is_empty(),
        "no other room for the group: {invites:?}"
    );
    say!(env.t0, "{room} bridged to group {group}");

    // Another plain room becomes the management room.
    let other = env.mx.create_room(plain_room).await;
    env.mx
        .wait_body(&other, |b| b.contains("not a management room"))
        .await;
    env.mx.send_text(&other, "!em set-management-room").await;
    env.mx
        .wait_body(&other, |b| {
            b.starts_with("This is now your management room")
        })
        .await;
    env.mx.send_text(&other, "ping").await;
    env.mx
        .wait_body(&other, |b| b.starts_with("Logged in as alice"))
        .await;
    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
