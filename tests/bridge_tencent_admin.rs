//! Tencent groups managed from Matrix, end to end: real Synapse, the bridge binary, the
//! Tencent sandbox in this process and bob's Rust client. `create-group` makes a Work group
//! owned by alice with bob and its portal; the room's name, topic, an invite and a kick
//! become the group's name, introduction and members (bob's client hears each as a group
//! tip); a power level of 50 for bob's ghost is refused in words in the Work group (it has
//! no admins) and makes bob an admin of a Public group alice owns, where a level below
//! `events_default` mutes him and an unmute on the IM side lets his ghost speak again; a
//! member muted before a group's portal exists is muted in the new room.

#![cfg(feature = "tencent")]

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::bridge::tail;
use common::tencent_bed::TencentBed;
use imbridge::network::tencent::elem::Elem;
use imbridge::network::tencent::sandbox::Sandbox;
use imbridge::network::tencent::session::{GroupTip, GroupTipKind, SessionEvent};
use serde_json::{json, Value};

const BOB_GHOST: &str = "@tencent_bob:localhost";
const CAROL_GHOST: &str = "@tencent_carol:localhost";

/// The sandbox's `get_group_info` item of `gid`.
fn group(sb: &Sandbox, gid: &str) -> Value {
    sb.group_info(None, &[gid.to_owned()])
        .into_iter()
        .next()
        .unwrap_or(Value::Null)
}

fn members(g: &Value) -> Vec<String> {
    g["MemberList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Member_Account"].as_str().map(str::to_owned))
        .collect()
}

fn role_of(g: &Value, user: &str) -> Value {
    g["MemberList"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["Member_Account"] == user))
        .map(|m| m["Role"].clone())
        .unwrap_or(Value::Null)
}

fn muted_until(g: &Value, user: &str) -> u64 {
    g["MemberList"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["Member_Account"] == user))
        .and_then(|m| m["ShutUpUntil"].as_u64())
        .unwrap_or(0)
}

/// Waits (bounded, 20 s) until group `gid` satisfies `pred`.
async fn wait_group(
    sb: &Sandbox,
    gid: &str,
    what: &str,
    log: &std::path::Path,
    pred: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = group(sb, gid);
    while !pred(&last) {
        assert!(
            Instant::now() < deadline,
            "group {gid}: {what} never held: {last}\n{}",
            tail(log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        last = group(sb, gid);
    }
}

/// Waits (bounded, 20 s) until bob's client heard a tip of `kind` in `gid`.
async fn wait_tip(tips: &Arc<Mutex<Vec<GroupTip>>>, gid: &str, kind: GroupTipKind) -> GroupTip {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = tips.lock().ok().and_then(|v| {
            v.iter()
                .find(|t| t.group_id == gid && t.kind == kind)
                .cloned()
        });
        if let Some(t) = found {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "bob heard no {kind:?} tip in {gid}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_groups_managed_from_matrix() {
    let t0 = Instant::now();
    let (bed, mut bridge) = TencentBed::start("tencent-admin", &["alice", "bob", "carol"]).await;
    let sb = bed.sb.clone();
    let log = bed.log.clone();
    let mut mx = bed.matrix_user("mx1", "mxpw-Ad51-matrix-secret");
    let (bob, mut events) = bed.im_client("bob", |_| {}).await;
    let tips: Arc<Mutex<Vec<GroupTip>>> = Arc::default();
    let heard = tips.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if let (SessionEvent::GroupTip(t), Ok(mut v)) = (e, heard.lock()) {
                v.push(t);
            }
        }
    });
    let mgmt = bed.login(&mut mx, "alice").await;
    say!(t0, "Synapse, the bridge and bob up; mx1 logged in as alice");

    // create-group: a Work group owned by alice with bob in it, and its portal.
    mx.send_text(&mgmt, "create-group \"plan\" bob").await;
    let reply = mx
        .wait_body(&mgmt, |b| {
            b.starts_with("Created the IM group") || b.contains("not created")
        })
        .await;
    assert!(
        reply.starts_with("Created the IM group"),
        "{reply}\n{}",
        tail(&log, 40)
    );
    let gid = sb
        .joined_groups("alice")
        .into_iter()
        .find(|g| g["Name"] == "plan")
        .and_then(|g| g["GroupId"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no group named plan\n{}", tail(&log, 40)));
    assert!(reply.contains(&gid), "{reply}");
    let g = group(&sb, &gid);
    assert_eq!(
        (g["Type"].clone(), g["Owner_Account"].clone()),
        (json!("Work"), json!("alice"))
    );
    assert_eq!(members(&g), ["alice", "bob"], "{g}");
    let room = mx.accept_new_invite(std::slice::from_ref(&mgmt)).await;
    say!(
        t0,
        "create-group made Work group {gid} and its portal {room}"
    );

    // The room's name and topic become the group's name and introduction.
    mx.set_state(&room, "m.room.name", json!({"name": "plan B"}))
        .await;
    wait_group(&sb, &gid, "renamed plan B", &log, |g| g["Name"] == "plan B").await;
    let renamed = wait_tip(&tips, &gid, GroupTipKind::ProfileChanged).await;
    assert_eq!(renamed.operator, "alice");
    mx.set_state(&room, "m.room.topic", json!({"topic": "what we do next"}))
        .await;
    wait_group(&sb, &gid, "introduced", &log, |g| {
        g["Introduction"] == "what we do next"
    })
    .await;
    say!(t0, "the room's name and topic are the group's");

    // Inviting carol's ghost adds carol; kicking it removes her.
    mx.invite(&room, CAROL_GHOST).await;
    wait_group(&sb, &gid, "carol added", &log, |g| {
        members(g).iter().any(|m| m == "carol")
    })
    .await;
    let added = wait_tip(&tips, &gid, GroupTipKind::MemberJoined).await;
    assert_eq!(
        (added.operator.as_str(), added.users.as_slice()),
        ("alice", ["carol".to_owned()].as_slice())
    );
    mx.kick(&room, CAROL_GHOST, "not this time").await;
    wait_group(&sb, &gid, "carol removed", &log, |g| {
        !members(g).iter().any(|m| m == "carol")
    })
    .await;
    wait_tip(&tips, &gid, GroupTipKind::MemberKicked).await;
    say!(
        t0,
        "inviting and kicking carol's ghost added and removed her"
    );

    // A Work group has no admins: bob's power level 50 is refused in words.
    let mut levels = mx.state(&room, "m.room.power_levels").await;
    levels["users"][BOB_GHOST] = json!(50);
    mx.set_state(&room, "m.room.power_levels", levels).await;
    let refusal = mx
        .wait_body(&room, |b| b.starts_with("⚠️ bob was not"))
        .await;
    assert!(refusal.contains("no admins"), "{refusal}");
    assert_eq!(role_of(&group(&sb, &gid), "bob"), "Member");
    say!(t0, "an admin in a Work group refused in words");

    // In a Public group alice owns, the same makes bob an admin.
    let pid = sb
        .create_group("Public", "", "Town hall", "alice", &["bob".to_owned()])
        .expect("public group");
    bob.send_group(&pid, vec![Elem::text("hello town")], vec![])
        .await
        .expect("bob writes");
    let public = mx.accept_new_invite(&[mgmt.clone(), room.clone()]).await;
    mx.wait_body(&public, |b| b == "hello town").await;
    let mut levels = mx.state(&public, "m.room.power_levels").await;
    levels["users"][BOB_GHOST] = json!(50);
    mx.set_state(&public, "m.room.power_levels", levels).await;
    wait_group(&sb, &pid, "bob an admin", &log, |g| {
        role_of(g, "bob") == "Admin"
    })
    .await;
    let made = wait_tip(&tips, &pid, GroupTipKind::AdminSet).await;
    assert_eq!(made.users, ["bob"]);
    say!(t0, "power level 50 made bob an admin of the Public group");

    // Below the room's events_default bob is muted there; unmuted on the IM side, his
    // ghost may speak again.
    let mut levels = mx.state(&public, "m.room.power_levels").await;
    levels["users"][BOB_GHOST] = json!(-1);
    mx.set_state(&public, "m.room.power_levels", levels).await;
    wait_group(&sb, &pid, "bob muted and a member again", &log, |g| {
        role_of(g, "bob") == "Member" && muted_until(g, "bob") > 0
    })
    .await;
    wait_tip(&tips, &pid, GroupTipKind::MemberInfoChanged).await;
    sb.set_mute("alice", &pid, "bob", 0).expect("bob unmuted");
    wait_ghost_muted(&mx, &public, &log, false).await;
    say!(t0, "muted from Matrix, unmuted from the IM side");

    // An admin again (on the IM side), muted there for two seconds: the mute ends without a
    // tip, and the ghost may speak again once it is over, as the admin it was.
    sb.set_role("alice", &pid, "bob", "Admin")
        .expect("bob an admin again");
    wait_ghost_level(&mx, &public, &log, 50).await;
    sb.set_mute("alice", &pid, "bob", 2)
        .expect("bob muted for 2 s");
    wait_ghost_muted(&mx, &public, &log, true).await;
    wait_ghost_muted(&mx, &public, &log, false).await;
    let levels = mx.state(&public, "m.room.power_levels").await;
    assert_eq!(levels["users"][BOB_GHOST], json!(50), "{levels}");
    say!(
        t0,
        "a timed mute from the IM side lifted at its end, bob still an admin"
    );

    // Muted, then no longer an admin: the ghost stays muted (the role's level waits for the
    // unmute), and the unmute gives the member's level. The rename after the demotion
    // tells when the bridge has handled it (one ordered queue per portal).
    sb.set_mute("alice", &pid, "bob", 600)
        .expect("bob muted for 10 min");
    wait_ghost_muted(&mx, &public, &log, true).await;
    sb.set_role("alice", &pid, "bob", "Member")
        .expect("bob no longer an admin");
    let rename = imbridge::network::tencent::sandbox::groups::ProfileChange {
        name: Some("Town square".into()),
        ..Default::default()
    };
    sb.modify_group("alice", &pid, &rename).expect("renamed");
    let deadline = Instant::now() + Duration::from_secs(20);
    while mx.state(&public, "m.room.name").await["name"] != "Town square" {
        assert!(
            Instant::now() < deadline,
            "never renamed\n{}",
            tail(&log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_ghost_muted(&mx, &public, &log, true).await;
    sb.set_mute("alice", &pid, "bob", 0).expect("bob unmuted");
    wait_ghost_muted(&mx, &public, &log, false).await;
    let levels = mx.state(&public, "m.room.power_levels").await;
    assert!(
        levels["users"][BOB_GHOST].as_i64().unwrap_or(0) < 50,
        "{levels}"
    );
    say!(
        t0,
        "demoted while muted: still muted, then back as a member"
    );

    // A group whose member is muted before its portal exists: the new room shows carol's
    // ghost muted (`ShutUpUntil` of the group's member list).
    let qid = sb
        .create_group(
            "Public",
            "",
            "Quiet corner",
            "alice",
            &["bob".to_owned(), "carol".to_owned()],
        )
        .expect("another public group");
    sb.set_mute("alice", &qid, "carol", 600)
        .expect("carol muted for 10 min");
    bob.send_group(&qid, vec![Elem::text("shh")], vec![])
        .await
        .expect("bob writes");
    let quiet = mx
        .accept_new_invite(&[mgmt.clone(), room.clone(), public.clone()])
        .await;
    mx.wait_body(&quiet, |b| b == "shh").await;
    wait_levels(&mx, &quiet, &log, "carol's ghost muted", |pl| {
        let ed = pl["events_default"].as_i64().unwrap_or(0);
        pl["users"][CAROL_GHOST].as_i64().is_some_and(|l| l < ed)
    })
    .await;
    say!(
        t0,
        "a member muted before the portal existed is muted in it"
    );
    bridge.stop();
}

/// Waits (bounded, 20 s) until the power levels of `room` satisfy `what` (described by
/// `want` for the failure).
async fn wait_levels(
    mx: &common::matrix_user::MatrixUser,
    room: &str,
    log: &std::path::Path,
    want: &str,
    what: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let levels = mx.state(room, "m.room.power_levels").await;
        if what(&levels) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{want} never held: {levels}\n{}",
            tail(log, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until bob's ghost has `level` in `room`.
async fn wait_ghost_level(
    mx: &common::matrix_user::MatrixUser,
    room: &str,
    log: &std::path::Path,
    level: i64,
) {
    let want = format!("bob's ghost at level {level}");
    wait_levels(mx, room, log, &want, |pl| {
        pl["users"][BOB_GHOST].as_i64() == Some(level)
    })
    .await
}

/// Waits until bob's ghost is below the room's `events_default` (`muted`) or not.
async fn wait_ghost_muted(
    mx: &common::matrix_user::MatrixUser,
    room: &str,
    log: &std::path::Path,
    muted: bool,
) {
    let want = format!("bob's ghost {}", if muted { "muted" } else { "unmuted" });
    wait_levels(mx, room, log, &want, |pl| {
        let level = pl["users"][BOB_GHOST].as_i64().unwrap_or(0);
        (level < pl["events_default"].as_i64().unwrap_or(0)) == muted
    })
    .await
}
