//! Group management from Matrix (issue 13, items 1 and 2), end to end on a real Synapse with
//! the bridge binary, the in-process Easemob sandbox and bob's Rust IM client. bob owns the
//! group "project" (at most 3 members: bob, alice, carol) and makes alice an admin; mx1 is
//! logged in as alice. Every IM-side check reads what the IM server holds (bob's REST view).
//!
//! * **name and topic, Matrix → IM**: mx1 renames the portal and sets its topic; the IM
//!   group's name and description follow, and the bridge does not post the change again;
//! * **refused**: a name longer than the IM service allows is refused by the server; the IM
//!   name stays, the bot says why in the room and puts the group's name back on the room;
//! * **IM → Matrix**: bob renames the group and changes its description over REST; the
//!   room's name and topic follow;
//! * **members**: mx1 kicks carol's ghost: carol leaves the IM group; mx1 invites dave's
//!   ghost: dave joins the IM group and the ghost joins the room; mx1 invites erin's ghost
//!   into the now full group: the server refuses, the ghost rejects the invite with the reason
//!   and the bot says so in the room;
//! * **no login**: a second Matrix user without a login invites erin's ghost: the ghost
//!   rejects the invite saying so, the bot tells them to log in, the IM group does not change.
//!
//! * **roles, Matrix → IM**: mx1 (an admin, not the owner) raises dave's ghost to 50: the IM
//!   server refuses (owner only), the bot says so and the ghost's level is put back; mx1
//!   lowers dave's ghost below `events_default`: dave is muted on the IM side;
//! * **mutes, IM → Matrix**: bob unmutes dave, then mutes him again: the ghost's level
//!   follows; bob mutes alice: mx1's message is refused and the bot says she is muted (her
//!   Matrix level untouched); unmuted, her next message reaches bob;
//! * **create-group**: mx1 sends `create-group "team room" bob @easemob_dave:localhost`: the
//!   IM group exists with alice as owner, bob and dave as members, and its portal invites mx1;
//!   there mx1 is the owner, so raising dave's ghost to 50 makes dave an IM admin, and
//!   lowering it again makes him a member.
//! * **leave_on_part**: bob makes a group "side" with alice; mx1 leaves its room: alice stays
//!   in the IM group (off by default); with `bridge.leave_on_part: true` (bridge restarted),
//!   bob's next message invites mx1 back, mx1 leaves again: alice leaves the IM group and the
//!   bot says so in the management room; across that restart, "project" made to look like an
//!   older portal (power levels changeable at 100 only) is opened to admins (50) again;
//! * **dissolved**: bob destroys "project": the bot says so in its room, the ghosts leave, the
//!   `m.bridge` marker is emptied, no tombstone, mx1 stays with the history.
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
use imbridge::network::easemob::rest::{GroupInfo, NewGroup, RestClient};
use serde_json::{json, Value};

const CAROL_GHOST: &str = "@easemob_carol:localhost";
const DAVE_GHOST: &str = "@easemob_dave:localhost";
const ERIN_GHOST: &str = "@easemob_erin:localhost";
const BOB_GHOST: &str = "@easemob_bob:localhost";
const BOT: &str = "@easemobbot:localhost";
const MX2: &str = "@mx2:localhost";
const SETTLE: Duration = Duration::from_secs(3);

/// Waits (bounded, 30 s) until the IM server's view of `group` satisfies `what`.
async fn wait_group(
    rest: &RestClient,
    group: &str,
    what: impl Fn(&GroupInfo) -> bool,
) -> GroupInfo {
    let mut last = None;
    for _ in 0..150 {
        match rest.group_info(group).await {
            Ok(info) if what(&info) => return info,
            Ok(info) => last = Some(info),
            Err(e) => eprintln!("group_info: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the IM group never got there: {last:?}");
}

/// Waits (bounded, 30 s) until the room's `event_type` state has `field` = `value`.
async fn wait_state(mx: &MatrixUser, room: &str, event_type: &str, field: &str, value: &str) {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = mx.state_of(room, event_type, "").await;
        if last[field] == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{event_type} of {room} never became {value:?}: {last}");
}

async fn wait_member(mx: &MatrixUser, room: &str, user: &str) {
    for _ in 0..150 {
        if mx.members(room).await.iter().any(|m| m == user) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{user} never joined {room}: {:?}", mx.members(room).await);
}

/// Waits (bounded) until `user`'s membership in `room` is `leave` with a reason satisfying
/// `why`; returns the event content.
async fn wait_left(mx: &MatrixUser, room: &str, user: &str, why: impl Fn(&str) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = mx.state_of(room, "m.room.member", user).await;
        if last["membership"] == "leave" && why(last["reason"].as_str().unwrap_or_default()) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{user} never left {room}: {last}");
}

/// `(sender, content)` of the room's recent `event_type` state events.
async fn state_events(mx: &MatrixUser, room: &str, event_type: &str) -> Vec<(String, Value)> {
    mx.raw_events(room)
        .await
        .into_iter()
        .filter(|e| e["type"] == event_type)
        .map(|e| {
            (
                e["sender"].as_str().unwrap_or_default().to_owned(),
                e["content"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_users_manage_im_groups() {
    let mut env = Env::start("groups", "").await;
    for user in ["carol", "dave", "erin"] {
        env.sandbox.user(user, &format!("{user}-pw-7731"));
    }
    env.login().await;
    let rest = env.bob.rest();
    let group = rest
        .create_group(&NewGroup {
            name: "project".into(),
            description: "the plan".into(),
            members: vec!["alice".into(), "carol".into()],
            max_users: 3,
            ..Default::default()
        })
        .await
        .expect("group created");
    env.bob
        .send(OutgoingMessage::text(
            Conversation::group(&group),
            "group hello",
        ))
        .await
        .expect("group message");
    let mgmt = env.mgmt.clone();
    let room = env.mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    env.mx.wait_body(&room, |b| b == "group hello").await;
    rest.add_group_admin(&group, "alice")
        .await
        .expect("alice made admin");
    let mx1 = env.mx.mxid.clone();
    env.mx.wait_power(&room, &mx1, Some(50)).await;
    wait_member(&env.mx, &room, CAROL_GHOST).await;
    say!(env.t0, "group portal {room} open, alice is an admin");

    // The group portal offers name, topic and member changes (room features).
    let features = env.mx.state(&room, "com.beeper.room_features").await;
    assert_eq!(
        features["state"]["m.room.name"]["level"],
        json!(2),
        "{features}"
    );
    assert_eq!(features["member_actions"]["invite"], json!(2), "{features}");
    assert_eq!(features["edit"], json!(2), "{features}");

    // Name and topic, Matrix → IM, not posted again by the bridge.
    env.mx
        .set_state(
            &room,
            "m.room.name",
            json!({ "name": "renamed from Matrix" }),
        )
        .await;
    env.mx
        .set_state(
            &room,
            "m.room.topic",
            json!({ "topic": "topic from Matrix" }),
        )
        .await;
    wait_group(&rest, &group, |g| {
        g.name == "renamed from Matrix" && g.description == "topic from Matrix"
    })
    .await;
    tokio::time::sleep(SETTLE).await;
    let names = state_events(&env.mx, &room, "m.room.name").await;
    let renamed: Vec<_> = names
        .iter()
        .filter(|(_, c)| c["name"] == "renamed from Matrix")
        .collect();
    assert_eq!(renamed.len(), 1, "the rename was echoed: {names:?}");
    assert_eq!(renamed[0].0, mx1);
    let topics = state_events(&env.mx, &room, "m.room.topic").await;
    assert_eq!(
        topics
            .iter()
            .filter(|(_, c)| c["topic"] == "topic from Matrix")
            .count(),
        1,
        "the topic was echoed: {topics:?}"
    );
    say!(env.t0, "name and topic reached the IM group, no echo");

    // A name the IM service refuses: the bot says why, the IM name stays.
    let long = "x".repeat(200);
    env.mx
        .set_state(&room, "m.room.name", json!({ "name": long }))
        .await;
    let notice = env
        .mx
        .wait_body(&room, |b| b.contains("name was not changed"))
        .await;
    assert!(notice.contains("at most 128 bytes"), "{notice}");
    let sender = state_events(&env.mx, &room, "m.room.message")
        .await
        .into_iter()
        .find(|(_, c)| c["body"].as_str() == Some(notice.as_str()))
        .map(|(s, c)| (s, c["msgtype"].clone()));
    assert_eq!(sender, Some((BOT.to_owned(), json!("m.notice"))));
    assert!(
        notice.contains("shows the IM group's name again"),
        "{notice}"
    );
    wait_state(&env.mx, &room, "m.room.name", "name", "renamed from Matrix").await;
    let info = rest.group_info(&group).await.expect("group info");
    assert_eq!(info.name, "renamed from Matrix");
    say!(
        env.t0,
        "a refused rename is told in the room and undone there"
    );

    // IM → Matrix: bob renames the group and changes its description.
    rest.update_group(&group, Some("renamed on IM"), Some("desc from IM"))
        .await
        .expect("bob renames");
    wait_state(&env.mx, &room, "m.room.name", "name", "renamed on IM").await;
    wait_state(&env.mx, &room, "m.room.topic", "topic", "desc from IM").await;
    say!(env.t0, "IM renames reach the room");

    // Members: a kick removes carol from the IM group.
    env.mx.kick(&room, CAROL_GHOST, "off the project").await;
    let info = wait_group(&rest, &group, |g| !g.members.iter().any(|m| m == "carol")).await;
    assert!(info.members.iter().any(|m| m == "alice"), "{info:?}");
    say!(env.t0, "kicking carol's ghost removed carol");

    // An invite adds dave to the IM group, and his ghost joins.
    env.mx.invite(&room, DAVE_GHOST).await;
    wait_group(&rest, &group, |g| g.members.iter().any(|m| m == "dave")).await;
    wait_member(&env.mx, &room, DAVE_GHOST).await;
    say!(env.t0, "inviting dave's ghost added dave");

    // A Matrix user without a login (anyone in the room may invite): the ghost rejects the
    // invite saying so, the bot tells them to log in, the IM group does not change.
    let token = env.synapse.register("mx2", "mx2-password-8812");
    let mx2 = MatrixUser::new(&env.synapse.url(), MX2, &token);
    env.mx.invite(&room, MX2).await;
    mx2.join(&room).await;
    mx2.invite(&room, ERIN_GHOST).await;
    wait_left(&env.mx, &room, ERIN_GHOST, |r| r.contains("not logged in")).await;
    env.mx
        .wait_body(&room, |b| {
            b.starts_with("⚠️ erin was not added to the IM group") && b.contains("not logged in")
        })
        .await;
    let info = rest.group_info(&group).await.expect("group info");
    assert!(!info.members.iter().any(|m| m == "erin"), "{info:?}");
    say!(
        env.t0,
        "a Matrix user without a login changes nothing on the IM side"
    );

    // The group is full now: erin's invite by mx1 is refused, with the reason, and told.
    env.mx.invite(&room, ERIN_GHOST).await;
    wait_left(&env.mx, &room, ERIN_GHOST, |r| r.contains("full")).await;
    env.mx
        .wait_body(&room, |b| {
            b.starts_with("⚠️ erin was not added to the IM group") && b.contains("full")
        })
        .await;
    let info = rest.group_info(&group).await.expect("group info");
    assert!(!info.members.iter().any(|m| m == "erin"), "{info:?}");
    let mut members = env.mx.members(&room).await;
    members.sort();
    assert!(members.contains(&BOB_GHOST.to_owned()), "{members:?}");
    assert!(!members.contains(&CAROL_GHOST.to_owned()), "{members:?}");
    say!(env.t0, "a full group refuses erin, and the room says so");

    roles_and_mutes(&mut env, &rest, &group, &room).await;
    let team = create_group_and_promote(&mut env, &rest, &[mgmt.clone(), room.clone()]).await;
    leave_on_part(&mut env, &rest, &[mgmt.clone(), room.clone(), team]).await;
    dissolved(&mut env, &rest, &group, &room).await;
}

/// Sets (`Some`) or removes (`None`) `user`'s power level in `room` as `mx`.
async fn set_power(mx: &MatrixUser, room: &str, user: &str, level: Option<i64>) {
    let mut pl = mx.state(room, "m.room.power_levels").await;
    match level {
        Some(level) => pl["users"][user] = json!(level),
        None => {
            if let Some(users) = pl["users"].as_object_mut() {
                users.remove(user);
            }
        }
    }
    mx.set_state(room, "m.room.power_levels", pl).await;
}

/// Waits (bounded, 30 s) until the IM group's mute list satisfies `what`.
async fn wait_mutes(rest: &RestClient, group: &str, what: impl Fn(&[String]) -> bool) {
    let mut last = Vec::new();
    for _ in 0..150 {
        match rest.group_mutes(group).await {
            Ok(list) if what(&list) => return,
            Ok(list) => last = list,
            Err(e) => eprintln!("group_mutes: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the IM mute list never got there: {last:?}");
}

/// Roles and mutes in bob's group, where mx1 (alice) is an admin and dave a member.
async fn roles_and_mutes(env: &mut Env, rest: &RestClient, group: &str, room: &str) {
    // An admin cannot make admins: refused, told, and the level put back.
    set_power(&env.mx, room, DAVE_GHOST, Some(50)).await;
    let notice = env
        .mx
        .wait_body(room, |b| b.starts_with("⚠️ dave was not made an admin"))
        .await;
    assert!(notice.contains("refused"), "{notice}");
    env.mx.wait_power(room, DAVE_GHOST, None).await;
    let info = rest.group_info(group).await.expect("group info");
    assert!(!info.admins.iter().any(|a| a == "dave"), "{info:?}");
    say!(env.t0, "an admin's promotion of dave is refused and undone");

    // An admin can mute: a level below events_default mutes dave.
    set_power(&env.mx, room, DAVE_GHOST, Some(-1)).await;
    wait_mutes(rest, group, |m| m.iter().any(|u| u == "dave")).await;
    say!(env.t0, "lowering dave's ghost muted dave");

    // IM → Matrix: bob unmutes dave, then mutes him again.
    rest.unmute_group_members(group, &["dave"])
        .await
        .expect("bob unmutes dave");
    env.mx.wait_power(room, DAVE_GHOST, None).await;
    rest.mute_group_members(group, &["dave"])
        .await
        .expect("bob mutes dave");
    env.mx.wait_power(room, DAVE_GHOST, Some(-1)).await;
    say!(env.t0, "IM mutes and unmutes move dave's ghost");

    // The logged-in user muted: her message is refused and she is told why.
    rest.mute_group_members(group, &["alice"])
        .await
        .expect("bob mutes alice");
    tokio::time::sleep(SETTLE).await;
    env.mx.send_text(room, "can I still speak?").await;
    let notice = env
        .mx
        .wait_body(room, |b| b.contains("you are muted in this IM group"))
        .await;
    assert!(notice.starts_with("⚠️"), "{notice}");
    let mx1 = env.mx.mxid.clone();
    env.mx.wait_power(room, &mx1, Some(50)).await;
    rest.unmute_group_members(group, &["alice"])
        .await
        .expect("bob unmutes alice");
    tokio::time::sleep(SETTLE).await;
    env.mx.send_text(room, "unmuted now").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "unmuted now", Duration::from_secs(30))
            .await,
        "bob never got alice's message after the unmute"
    );
    say!(env.t0, "a muted user is told; unmuted, she speaks again");
}

/// `create-group` makes mx1 the owner of a new group, where promoting works.
async fn create_group_and_promote(env: &mut Env, rest: &RestClient, known: &[String]) -> String {
    let mgmt = env.mgmt.clone();
    env.mx
        .send_text(
            &mgmt,
            "create-group \"team room\" bob @easemob_dave:localhost",
        )
        .await;
    let reply = env
        .mx
        .wait_body(&mgmt, |b| b.starts_with("Created the IM group"))
        .await;
    let room = env.mx.accept_new_invite(known).await;
    wait_state(&env.mx, &room, "m.room.name", "name", "team room").await;
    let groups = rest.joined_groups().await.expect("bob's groups");
    let group = groups
        .iter()
        .find(|g| g.name == "team room")
        .map(|g| g.id.clone())
        .unwrap_or_else(|| panic!("bob is not in the new group: {groups:?}"));
    assert!(reply.contains(&group), "{reply}");
    let info = rest.group_info(&group).await.expect("group info");
    assert_eq!(info.owner, "alice", "{info:?}");
    for member in ["bob", "dave"] {
        assert!(info.members.iter().any(|m| m == member), "{info:?}");
    }
    let mx1 = env.mx.mxid.clone();
    env.mx.wait_power(&room, &mx1, Some(95)).await;
    say!(env.t0, "create-group made {group} and its portal {room}");

    set_power(&env.mx, &room, DAVE_GHOST, Some(50)).await;
    wait_group(rest, &group, |g| g.admins.iter().any(|a| a == "dave")).await;
    set_power(&env.mx, &room, DAVE_GHOST, Some(0)).await;
    wait_group(rest, &group, |g| !g.admins.iter().any(|a| a == "dave")).await;
    let bodies = env.mx.all_bodies(&room).await;
    assert!(
        !bodies.iter().any(|b| b.starts_with("⚠️")),
        "nothing was refused: {bodies:?}"
    );
    say!(
        env.t0,
        "the owner makes and unmakes an IM admin from Matrix"
    );
    room
}

/// Leaving a group portal leaves the IM group only with `leave_on_part`.
async fn leave_on_part(env: &mut Env, rest: &RestClient, known: &[String]) {
    let side = rest
        .create_group(&NewGroup {
            name: "side".into(),
            members: vec!["alice".into()],
            ..Default::default()
        })
        .await
        .expect("side group");
    let to_side = |text: &str| OutgoingMessage::text(Conversation::group(&side), text);
    env.bob.send(to_side("side hello")).await.expect("sent");
    let room = env.mx.accept_new_invite(known).await;
    env.mx.wait_body(&room, |b| b == "side hello").await;
    env.mx.leave(&room).await;
    tokio::time::sleep(SETTLE).await;
    let info = rest.group_info(&side).await.expect("group info");
    assert!(info.members.iter().any(|m| m == "alice"), "{info:?}");
    say!(
        env.t0,
        "leaving a room keeps the IM group (leave_on_part off)"
    );

    // Meanwhile "project" becomes an older portal, where only level 100 could change power
    // levels (as the bot, with the appservice token): the restart opens it to admins again.
    let as_token = common::bridge::registration_value(&env.reg, "as_token");
    let mut pl = env.mx.state(&known[1], "m.room.power_levels").await;
    pl["events"]["m.room.power_levels"] = json!(100);
    let url = format!(
        "{}/_matrix/client/v3/rooms/{}/state/m.room.power_levels/?user_id={BOT}",
        env.synapse.url().trim_end_matches('/'),
        known[1]
    );
    let status = reqwest::Client::new()
        .put(&url)
        .bearer_auth(&as_token)
        .json(&pl)
        .send()
        .await
        .expect("power levels as the bot")
        .status();
    assert!(status.is_success(), "{status}");

    env.set_bridge_settings(&["leave_on_part: true"], true);
    env.bob.send(to_side("side again")).await.expect("sent");
    let back = env.mx.accept_new_invite(known).await;
    assert_eq!(back, room, "invited back to the same room");
    env.mx.wait_body(&room, |b| b == "side again").await;
    env.mx.leave(&room).await;
    wait_group(rest, &side, |g| !g.members.iter().any(|m| m == "alice")).await;
    let mgmt = env.mgmt.clone();
    env.mx
        .wait_body(&mgmt, |b| b.contains("you left the IM group too"))
        .await;
    say!(
        env.t0,
        "with leave_on_part, leaving the room left the IM group"
    );
    let mut level = Value::Null;
    for _ in 0..75 {
        level = env.mx.state(&known[1], "m.room.power_levels").await["events"]
            ["m.room.power_levels"]
            .clone();
        if level == json!(50) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        level,
        json!(50),
        "the older portal was not opened to admins"
    );
    say!(
        env.t0,
        "an older group portal lets admins change power levels after a restart"
    );
}

/// bob dissolves "project": the portal stays as a plain room.
async fn dissolved(env: &mut Env, rest: &RestClient, group: &str, room: &str) {
    rest.destroy_group(group).await.expect("bob dissolves");
    env.mx
        .wait_body(room, |b| b.starts_with("ℹ️ The IM group was dissolved"))
        .await;
    for ghost in [BOB_GHOST, DAVE_GHOST] {
        wait_left(&env.mx, room, ghost, |r| r.contains("dissolved")).await;
    }
    let mut marker = None;
    for _ in 0..75 {
        marker = env
            .mx
            .raw_events(room)
            .await
            .into_iter()
            .rfind(|e| e["type"] == "m.bridge")
            .map(|e| e["content"].clone());
        if marker == Some(json!({})) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(marker, Some(json!({})), "the bridge marker is emptied");
    assert_eq!(
        env.mx.state_of(room, "m.room.tombstone", "").await,
        Value::Null
    );
    let members = env.mx.members(room).await;
    assert!(members.contains(&env.mx.mxid), "{members:?}");
    let bodies = env.mx.all_bodies(room).await;
    assert!(bodies.iter().any(|b| b == "group hello"), "{bodies:?}");
    say!(
        env.t0,
        "a dissolved group leaves a readable, unbridged room"
    );
}
