//! Network-side group events on Matrix, announcements both ways, and `sync-profile` (issue 13,
//! items 1, 2, 3 and 9), end to end on a real Synapse with the bridge binary, the in-process
//! Easemob sandbox and the Rust IM client as bob and carol. bob owns the group "events"
//! (bob, alice, carol, dave); mx1 is logged in as alice, made an admin.
//!
//! * **announcement, IM → Matrix**: bob sets the group announcement: bob's ghost posts it as a
//!   notice, which the bot pins; a second login's worth of the same event posts nothing more;
//! * **announcement, Matrix → IM**: mx1 pins a message of theirs: the IM announcement becomes
//!   its text, and the echo posts no notice; mx1 unpins it: the IM announcement is removed;
//! * **owner handed over**: bob makes carol the owner: carol's ghost gets the owner's level
//!   (95) and bob's ghost drops to the default;
//! * **banned from Matrix**: mx1 bans dave's ghost: dave is on the IM group's block list and
//!   no longer a member;
//! * **removed with a reason**: carol (now owner) removes alice from the group: mx1 is kicked
//!   from the portal by carol's ghost, the reason saying who; carol then blocks alice with
//!   words: mx1 is banned from the portal, the reason saying who and why;
//! * **sync-profile**: mx1 sets a display name and an avatar and sends `sync-profile`: bob
//!   reads alice's IM nickname and avatar, byte for byte.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::matrix_user::MatrixUser;
use common::service_env::Env;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;
use imbridge::network::easemob::rest::{NewGroup, RestClient};
use serde_json::{json, Value};

const BOB_GHOST: &str = "@easemob_bob:localhost";
const CAROL_GHOST: &str = "@easemob_carol:localhost";
const DAVE_GHOST: &str = "@easemob_dave:localhost";
const CAROL_PW: &str = "carol-pw-5521";
const SETTLE: Duration = Duration::from_secs(3);
/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Waits (bounded, 30 s) until the IM group's announcement (bob's view) is `want`.
async fn wait_announcement(rest: &RestClient, group: &str, want: &str) {
    let mut last = String::new();
    for _ in 0..150 {
        match rest.group_announcement(group).await {
            Ok(text) if text == want => return,
            Ok(text) => last = text,
            Err(e) => eprintln!("announcement: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the IM announcement never became {want:?}: {last:?}");
}

/// Waits (bounded, 30 s) until the room's pinned events satisfy `what`.
async fn wait_pinned(mx: &MatrixUser, room: &str, what: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..150 {
        let state = mx.state_of(room, "m.room.pinned_events", "").await;
        last = state["pinned"].as_array().cloned().unwrap_or_default();
        if what(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the pinned events of {room} never got there: {last:?}");
}

/// The bodies in `room` that are announcement notices.
async fn announcements(mx: &MatrixUser, room: &str) -> Vec<String> {
    mx.all_bodies(room)
        .await
        .into_iter()
        .filter(|b| b.starts_with("📢 Group announcement:"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_events_announcements_and_own_profile() {
    let mut env = Env::start("group-events", "").await;
    env.sandbox.user("carol", CAROL_PW);
    env.sandbox.user("dave", "dave-pw-7731");
    env.login().await;
    let rest = env.bob.rest();
    let group = rest
        .create_group(&NewGroup {
            name: "events".into(),
            description: "what happens".into(),
            members: vec!["alice".into(), "carol".into(), "dave".into()],
            ..Default::default()
        })
        .await
        .expect("group created");
    env.bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "events hello",
        ))
        .await
        .expect("group message");
    let mgmt = env.mgmt.clone();
    let room = env.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    env.mx.wait_body(&room, |b| b == "events hello").await;
    rest.add_group_admin(&group, "alice")
        .await
        .expect("alice made admin");
    let mx1 = env.mx.mxid.clone();
    env.mx.wait_power(&room, &mx1, Some(50)).await;
    say!(env.t0, "group portal {room} open, alice is an admin");

    // Announcement, IM → Matrix: a notice by bob's ghost, pinned.
    rest.set_group_announcement(&group, "Meeting at 10\nin room 4")
        .await
        .expect("bob sets the announcement");
    let notice = env
        .mx
        .wait_body(&room, |b| {
            b == "📢 Group announcement:\nMeeting at 10\nin room 4"
        })
        .await;
    let notice_id = env.mx.event_id_of(&room, &notice).await;
    let event = env.mx.event(&room, &notice_id).await;
    assert_eq!(event["sender"], BOB_GHOST, "{event}");
    assert_eq!(event["content"]["msgtype"], "m.notice", "{event}");
    wait_pinned(&env.mx, &room, |p| p.first() == Some(&json!(notice_id))).await;
    say!(
        env.t0,
        "the IM announcement is a pinned notice by bob's ghost"
    );

    // Matrix → IM: mx1 pins a message; it becomes the announcement, with no notice echoed.
    let plan = env.mx.send_text(&room, "new plan: ship on Friday").await;
    env.mx
        .set_state(
            &room,
            "m.room.pinned_events",
            json!({ "pinned": [notice_id, plan] }),
        )
        .await;
    wait_announcement(&rest, &group, "new plan: ship on Friday").await;
    tokio::time::sleep(SETTLE).await;
    let posted = announcements(&env.mx, &room).await;
    assert_eq!(
        posted.len(),
        1,
        "the change from Matrix was echoed: {posted:?}"
    );
    say!(
        env.t0,
        "pinning a message in Matrix sets the IM announcement"
    );

    // Unpinning it removes the announcement.
    env.mx
        .set_state(
            &room,
            "m.room.pinned_events",
            json!({ "pinned": [notice_id] }),
        )
        .await;
    wait_announcement(&rest, &group, "").await;
    say!(env.t0, "unpinning it removes the IM announcement");

    // Matrix ban → the IM group's block list: dave is removed and kept out.
    env.mx
        .call_post(
            &format!("/rooms/{room}/ban"),
            json!({ "user_id": DAVE_GHOST, "reason": "spam" }),
        )
        .await;
    let mut blocked = Vec::new();
    for _ in 0..150 {
        blocked = rest.group_blocklist(&group).await.unwrap_or_default();
        if blocked.iter().any(|u| u == "dave") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(blocked, vec!["dave"], "dave is on the IM block list");
    let info = rest.group_info(&group).await.expect("group info");
    assert!(!info.members.contains(&"dave".to_owned()), "{info:?}");
    say!(env.t0, "banning a ghost blocks the IM user in the group");

    // Owner handed over: carol's ghost takes the owner's level, bob's drops.
    let (carol, _carol_events) = env.sandbox.rust_client("carol", CAROL_PW).await;
    rest.change_group_owner(&group, "carol")
        .await
        .expect("bob hands the group to carol");
    env.mx.wait_power(&room, CAROL_GHOST, Some(95)).await;
    env.mx.wait_power(&room, BOB_GHOST, None).await;
    say!(env.t0, "the new owner's ghost has the owner's level");

    // sync-profile: mx1's Matrix name and avatar become alice's IM nickname and avatar.
    env.mx.set_displayname("Alice from Matrix").await;
    let mxc = env.mx.upload(PNG.to_vec(), "image/png", "me.png").await;
    env.mx.set_avatar_url(&mxc).await;
    env.mx.send_text(&mgmt, "sync-profile").await;
    env.mx
        .wait_body(&mgmt, |b| {
            b.starts_with("Your IM nickname is now “Alice from Matrix”")
        })
        .await;
    let profiles = rest.user_info(&["alice"]).await.expect("alice's profile");
    let alice = profiles.get("alice").expect("alice is known");
    assert_eq!(alice.nickname.as_deref(), Some("Alice from Matrix"));
    let avatar = alice.avatar_url.clone().expect("an avatar URL");
    let bytes = rest
        .download(&avatar, None, 1 << 20)
        .await
        .expect("the avatar downloads");
    assert_eq!(bytes, PNG, "the IM avatar is the Matrix one");
    say!(env.t0, "sync-profile copied the name and the avatar");

    // Removed with a reason: carol (owner) removes alice; mx1 is kicked by carol's ghost.
    carol
        .rest()
        .remove_group_members(&group, &["alice"])
        .await
        .expect("carol removes alice");
    let mut last = Value::Null;
    for _ in 0..150 {
        last = env.mx.state_of(&room, "m.room.member", &mx1).await;
        if last["membership"] == "leave" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last["membership"], "leave", "mx1 was not removed: {last}");
    assert_eq!(
        last["reason"], "Removed from the IM group by carol",
        "{last}"
    );
    let kick = env
        .mx
        .raw_events(&room)
        .await
        .into_iter()
        .rfind(|e| e["type"] == "m.room.member" && e["state_key"] == mx1.as_str());
    assert_eq!(
        kick.as_ref().map(|e| e["sender"].clone()),
        Some(json!(CAROL_GHOST)),
        "{kick:?}"
    );
    say!(env.t0, "removal from the IM group kicks mx1, saying who");

    // Banned on the IM side (after the kick): mx1 is banned from the portal, saying who and why.
    carol
        .rest()
        .block_group_member(&group, "alice", Some("flooding"))
        .await
        .expect("carol blocks alice");
    // A banned user may not read the room: look as the bridge bot (the appservice token).
    let as_token = common::bridge::registration_value(&env.reg, "as_token");
    let url = format!(
        "{}/_matrix/client/v3/rooms/{room}/state/m.room.member/{mx1}?user_id=@easemobbot:localhost",
        env.synapse.url()
    );
    let http = reqwest::Client::new();
    let mut last = Value::Null;
    for _ in 0..150 {
        if let Ok(r) = http.get(&url).bearer_auth(&as_token).send().await {
            last = r.json().await.unwrap_or(Value::Null);
            if last["membership"] == "ban" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last["membership"], "ban", "mx1 was not banned: {last}");
    assert_eq!(
        last["reason"], "Banned from the IM group by carol: flooding",
        "{last}"
    );
    say!(
        env.t0,
        "an IM ban bans mx1 from the portal, saying who and why"
    );

    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "secrets in the log: {leaks:?}");
}
