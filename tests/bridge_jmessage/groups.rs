//! The group suite of `bridge_jmessage` (see the crate's doc): a group bridged once for two
//! logins, both ways, members following, bob's retraction redacting the room's copy.

use std::time::{Duration, Instant};

use super::common::bridge::tail;
use super::common::bridge_rig::BridgeRig;
use super::common::jmessage::{ghost, JmPeer, JmSandbox, JmTarget, BOT};
use super::common::matrix_user::MatrixUser;
use super::{ALICE_PW, BOB_PW, DAVE_PW};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_group_portal_both_ways_and_members() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[
        ("alice", ALICE_PW),
        ("bob", BOB_PW),
        ("carol", "carol-pw-1"),
        ("dave", DAVE_PW),
    ])
    .await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-group", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    // A second Matrix user, logged in as dave (also in the group).
    let token = rig.synapse.register("mx2", "mxpw-rig-matrix-secret-2");
    let mut mx2 = MatrixUser::new(&rig.synapse.url(), "@mx2:localhost", &token);
    let mgmt2 = mx2.create_dm(BOT).await;
    for _ in 0..100 {
        if mx2.members(&mgmt2).await.iter().any(|m| m == BOT) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    mx2.send_text(&mgmt2, &format!("login dave {DAVE_PW}"))
        .await;
    mx2.wait_body(&mgmt2, |b| b.starts_with("Logged in as dave"))
        .await;
    say!(
        t0,
        "Synapse, the bridge and bob up; mx1 = alice, mx2 = dave logged in"
    );

    // JMessage → Matrix: bob's group with alice and dave in it, and his text there: one
    // portal both Matrix users are in, the text once.
    let gid = bob
        .client
        .create_group("Tea Room", "the group's topic")
        .await
        .expect("bob creates the group");
    bob.client
        .add_group_members(gid, &["alice", "dave"])
        .await
        .expect("bob adds alice and dave");
    bob.client
        .send_group_text(gid, "hello group", None)
        .await
        .expect("bob writes in the group");
    let room = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    let room2 = mx2.accept_new_invite(std::slice::from_ref(&mgmt2)).await;
    assert_eq!(room, room2, "the group is bridged once for its two logins");
    rig.mx
        .wait_bodies_steady(&room, &ghost("bob"), &["hello group"], &rig.log)
        .await;
    assert_eq!(
        rig.mx.state(&room, "m.room.name").await["name"],
        "Tea Room",
        "the portal is named after the group\n{}",
        tail(&rig.log, 30)
    );
    assert_eq!(
        rig.mx.state(&room, "m.room.topic").await["topic"],
        "the group's topic"
    );
    say!(t0, "group portal {room} named and with bob's text");

    // Matrix → JMessage: alice's reply is a group message bob gets.
    rig.mx.send_text(&room, "hi all").await;
    assert!(
        bob.wait("alice", |t| t == "hi all", Duration::from_secs(20))
            .await,
        "bob did not get the Matrix reply\n{}",
        tail(&rig.log, 40)
    );
    // dave's Matrix message reaches bob as dave's, once.
    mx2.send_text(&room, "dave here").await;
    assert!(
        bob.wait("dave", |t| t == "dave here", Duration::from_secs(20))
            .await,
        "bob did not get dave's Matrix message\n{}",
        tail(&rig.log, 40)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(bob.texts_from("alice"), ["hi all"], "alice's text once");
    assert_eq!(bob.texts_from("dave"), ["dave here"], "dave's text once");
    say!(
        t0,
        "bob got the Matrix replies in the group, each once from its author"
    );

    // Members: carol added, then removed.
    let carol = ghost("carol");
    bob.client
        .add_group_members(gid, &["carol"])
        .await
        .expect("bob adds carol");
    let joined = wait_member(&rig, &room, &carol, true).await;
    assert!(
        joined,
        "carol never joined the room\n{}",
        tail(&rig.log, 40)
    );
    bob.client
        .del_group_members(gid, &["carol"])
        .await
        .expect("bob removes carol");
    let left = wait_member(&rig, &room, &carol, false).await;
    assert!(left, "carol never left the room\n{}", tail(&rig.log, 40));
    say!(t0, "carol joined and left with the group");

    // Recall: bob retracts a text of his; the room's copy is redacted.
    let oops = bob
        .client
        .send_group_text(gid, "oops", None)
        .await
        .expect("bob writes again");
    let event = rig.mx.event_id_of(&room, "oops").await;
    bob.client
        .retract(oops.msg_id)
        .await
        .expect("bob retracts his text");
    let deadline = Instant::now() + Duration::from_secs(20);
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
        "bob's retracted text is still in the room\n{}",
        tail(&rig.log, 40)
    );
    say!(t0, "bob's retraction redacted the room's copy");
    rig.bridge.stop();
}

/// Waits (bounded, 20 s) until `user` is (`present`) or is not a joined member of `room`.
async fn wait_member(rig: &BridgeRig, room: &str, user: &str, present: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if rig.mx.members(room).await.iter().any(|m| m == user) == present {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}
