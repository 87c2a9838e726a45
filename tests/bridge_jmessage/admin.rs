//! The group management suite of `bridge_jmessage` (see the crate's doc): a JMessage group
//! made and managed from Matrix, each change checked on the JMessage side (the sandbox's
//! state and bob's Rust client).

use std::time::{Duration, Instant};

use serde_json::json;

use super::common::bridge::tail;
use super::common::bridge_rig::BridgeRig;
use super::common::jmessage::{ghost, JmPeer, JmSandbox, JmTarget};
use super::{ALICE_PW, BOB_PW};

/// Waits (bounded, 20 s) until the sandbox's group `gid` satisfies `what` (its name and
/// members); panics with the bridge log's tail otherwise.
async fn wait_group(
    sb: &JmSandbox,
    rig: &BridgeRig,
    gid: i64,
    what: &str,
    pred: impl Fn(&str, &[String]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = None;
    while Instant::now() < deadline {
        last = sb.state.groups().into_iter().find(|g| g.0 == gid);
        if let Some((_, name, members)) = &last {
            if pred(name, members) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "group {gid}: {what} never held (last {last:?})\n{}",
        tail(&rig.log, 40)
    );
}

/// Waits (bounded, 20 s) until `user` is (`present`) or is not a joined member of `room`.
async fn wait_member(rig: &BridgeRig, room: &str, user: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if rig.mx.members(room).await.iter().any(|m| m == user) == present {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "{user} {} the room {room}\n{}",
        if present {
            "never joined"
        } else {
            "never left"
        },
        tail(&rig.log, 40)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_group_management_from_matrix_and_offline_events() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[
        ("alice", ALICE_PW),
        ("bob", BOB_PW),
        ("carol", "carol-pw-1"),
    ])
    .await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-admin", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    say!(t0, "Synapse, the bridge and bob up; mx1 logged in as alice");

    // create-group: a JMessage group owned by alice with bob in it, and its portal.
    rig.command("create-group \"plan\" bob").await;
    let reply = rig
        .mx
        .wait_body(&rig.mgmt, |b| {
            b.starts_with("Created the IM group") || b.contains("not created")
        })
        .await;
    assert!(
        reply.starts_with("Created the IM group"),
        "{reply}\n{}",
        tail(&rig.log, 40)
    );
    let (gid, _, members) = sb
        .state
        .groups()
        .into_iter()
        .find(|g| g.1 == "plan")
        .unwrap_or_else(|| panic!("no group named plan: {:?}", sb.state.groups()));
    assert_eq!(members, ["alice", "bob"], "the owner first, then bob");
    assert!(reply.contains(&gid.to_string()), "{reply}");
    let info = bob.client.group_info(gid).await.expect("bob reads it");
    assert_eq!(info.owner.as_deref(), Some("alice"), "{info:?}");
    let room = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    wait_member(&rig, &room, &ghost("bob"), true).await;
    say!(t0, "create-group made group {gid} and its portal {room}");

    // The room's name and topic become the group's name and description.
    rig.mx
        .set_state(&room, "m.room.name", json!({"name": "plan B"}))
        .await;
    wait_group(&sb, &rig, gid, "renamed plan B", |n, _| n == "plan B").await;
    rig.mx
        .set_state(&room, "m.room.topic", json!({"topic": "what we do next"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut description = String::new();
    while Instant::now() < deadline {
        description = bob
            .client
            .group_info(gid)
            .await
            .map(|i| i.description)
            .unwrap_or_default();
        if description == "what we do next" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        description,
        "what we do next",
        "the topic is not the group's description\n{}",
        tail(&rig.log, 40)
    );
    say!(t0, "the room's name and topic are the group's");

    // A name JMessage cannot take is refused in words, and the room shows the group's again.
    let long = "n".repeat(70);
    rig.mx
        .set_state(&room, "m.room.name", json!({ "name": long }))
        .await;
    let refusal = rig
        .mx
        .wait_body(&room, |b| b.starts_with("⚠️ The IM group's name"))
        .await;
    assert!(refusal.contains("at most 64 bytes"), "{refusal}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && rig.mx.state(&room, "m.room.name").await["name"] != "plan B"
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(rig.mx.state(&room, "m.room.name").await["name"], "plan B");
    wait_group(&sb, &rig, gid, "still plan B", |n, _| n == "plan B").await;
    say!(
        t0,
        "a 70-byte name refused in words; the room shows plan B again"
    );

    // Inviting carol's ghost adds carol; kicking it removes her.
    let carol = ghost("carol");
    rig.mx.invite(&room, &carol).await;
    wait_group(&sb, &rig, gid, "carol added", |_, m| {
        m.iter().any(|u| u == "carol")
    })
    .await;
    wait_member(&rig, &room, &carol, true).await;
    rig.mx.kick(&room, &carol, "not this time").await;
    wait_group(&sb, &rig, gid, "carol removed", |_, m| {
        !m.iter().any(|u| u == "carol")
    })
    .await;
    say!(
        t0,
        "inviting and kicking carol's ghost added and removed her"
    );

    // While the bridge is stopped bob retracts a text and adds carol: after the restart
    // (with bridge.leave_on_part on) the text is redacted and carol's ghost joins, from
    // the events JMessage hands over at login (`sync_event`).
    let oops = bob
        .client
        .send_group_text(gid, "retract me", None)
        .await
        .expect("bob writes");
    let event = rig.mx.event_id_of(&room, "retract me").await;
    rig.bridge.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sb.state.sessions_of("alice") > 0 {
        assert!(
            Instant::now() < deadline,
            "alice's session outlived the bridge"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bob.client.retract(oops.msg_id).await.expect("bob retracts");
    bob.client
        .add_group_members(gid, &["carol"])
        .await
        .expect("bob adds carol");
    let config = std::fs::read_to_string(&rig.config).expect("config read");
    let config = config.replacen("bridge:\n", "bridge:\n  leave_on_part: true\n", 1);
    std::fs::write(&rig.config, config).expect("config written");
    rig.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut redacted = false;
    while !redacted && Instant::now() < deadline {
        let e = rig.mx.event(&room, &event).await;
        redacted = e["content"].as_object().is_some_and(|c| c.is_empty());
        if !redacted {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(
        redacted,
        "the text bob retracted while the bridge was stopped is still in the room\n{}",
        tail(&rig.log, 40)
    );
    wait_member(&rig, &room, &carol, true).await;
    say!(
        t0,
        "a retraction and a new member from while the bridge was stopped arrived"
    );

    // With bridge.leave_on_part, leaving the room leaves the group.
    rig.mx.leave(&room).await;
    wait_group(&sb, &rig, gid, "alice gone", |_, m| {
        !m.iter().any(|u| u == "alice")
    })
    .await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.contains("you left the IM group too"))
        .await;
    let info = bob.client.group_info(gid).await.expect("bob reads it");
    assert_eq!(info.owner.as_deref(), Some("bob"), "bob owns it now");
    let bodies = rig.mx.all_bodies(&rig.mgmt).await;
    assert!(
        !bodies.iter().any(|b| b.contains("still in the IM group")),
        "{bodies:?}"
    );
    say!(t0, "with leave_on_part, leaving the room left the group");
    rig.bridge.stop();
}
