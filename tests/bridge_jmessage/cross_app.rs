//! The cross-app suite of `bridge_jmessage` (see the crate's doc): a user of another app of
//! the service is a ghost and a DM of their own, apart from our app's user of the same name,
//! both ways, and in a group of our app; `pm` and `resolve-identifier` take both names.

use std::time::{Duration, Instant};

use super::common::bridge::tail;
use super::common::bridge_rig::BridgeRig;
use super::common::jmessage::{
    ghost, JmPeer, JmSandbox, JmTarget, APP_KEY, OTHER_APP_KEY, OTHER_SECRET,
};
use super::{ALICE_PW, BOB_PW};

const OTHER_BOB_PW: &str = "other-bob-pw-6120";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_cross_app_users_are_ghosts_of_their_own() {
    let t0 = Instant::now();
    let sb = JmSandbox::start_cross(
        &[("alice", ALICE_PW), ("bob", BOB_PW)],
        &[("bob", OTHER_BOB_PW)],
    )
    .await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-cross", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    let other_bob =
        JmPeer::login_to(&sb.url, OTHER_APP_KEY, OTHER_SECRET, "bob", OTHER_BOB_PW).await;
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    // How each side names the other: another app's user carries the appkey.
    let other_bob_ghost = ghost(&format!("bob/{OTHER_APP_KEY}"));
    let alice_seen_by_other_app = format!("alice/{APP_KEY}");
    say!(t0, "Synapse, the bridge, both bobs up; mx1 = alice");

    // The other app's bob writes alice: a DM portal with his own ghost.
    other_bob
        .send(&alice_seen_by_other_app, "hello from the other app")
        .await;
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    rig.mx
        .wait_bodies_steady(
            &dm,
            &other_bob_ghost,
            &["hello from the other app"],
            &rig.log,
        )
        .await;
    say!(t0, "DM {dm} from {other_bob_ghost}");

    // The Matrix reply reaches him, and not our app's bob.
    rig.mx.send_text(&dm, "hi other bob").await;
    assert!(
        other_bob
            .wait(
                &alice_seen_by_other_app,
                |t| t == "hi other bob",
                Duration::from_secs(20)
            )
            .await,
        "the other app's bob got the reply\n{}",
        tail(&rig.log, 40)
    );
    assert!(
        bob.texts_from("alice").is_empty(),
        "our app's bob got nothing"
    );
    say!(t0, "the Matrix reply went to the other app");

    // Our app's bob is another person: another DM, another ghost.
    bob.send("alice", "hello from our app").await;
    let known = [rig.mgmt.clone(), dm.clone()];
    let dm2 = rig.mx.accept_new_invite(&known).await;
    assert_ne!(dm, dm2);
    rig.mx
        .wait_bodies_steady(&dm2, &ghost("bob"), &["hello from our app"], &rig.log)
        .await;
    say!(t0, "our bob has DM {dm2}");

    // `pm` naming our bob with our own appkey finds his chat (the same id as his events'),
    // and `resolve-identifier` of the other app's bob names his ghost and chat.
    rig.command(&format!("pm bob/{APP_KEY}")).await;
    let answer = rig
        .mx
        .wait_body(&rig.mgmt, |b| {
            b.starts_with("You already have a chat with bob:")
        })
        .await;
    assert!(answer.contains(dm2.as_str()), "{answer}");
    rig.command(&format!("resolve-identifier bob/{OTHER_APP_KEY}"))
        .await;
    let who = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.contains("on the IM side"))
        .await;
    assert!(
        who.contains(&other_bob_ghost) && who.contains(dm.as_str()),
        "{who}"
    );

    // A group of our app with the other app's bob in it: his text comes from his ghost, and
    // the room's text reaches him.
    let gid = bob
        .client
        .create_group("Two apps", "")
        .await
        .expect("bob creates the group");
    let other_bob_name = format!("bob/{OTHER_APP_KEY}");
    bob.client
        .add_group_members(gid, &["alice", &other_bob_name])
        .await
        .expect("bob adds alice and the other app's bob");
    other_bob
        .client
        .send_group_text(gid, "the other bob in the group", None)
        .await
        .expect("the other app's bob writes in our app's group");
    let known = [rig.mgmt.clone(), dm.clone(), dm2.clone()];
    let room = rig.mx.accept_new_invite(&known).await;
    rig.mx
        .wait_bodies_steady(
            &room,
            &other_bob_ghost,
            &["the other bob in the group"],
            &rig.log,
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rig.mx.members(&room).await.contains(&other_bob_ghost) {
        assert!(Instant::now() < deadline, "{}", tail(&rig.log, 30));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rig.mx.send_text(&room, "hello both bobs").await;
    let heard = other_bob
        .wait_message(
            |m| m.gid == Some(gid) && m.text.as_deref() == Some("hello both bobs"),
            Duration::from_secs(20),
        )
        .await;
    assert!(heard.is_some(), "{}", tail(&rig.log, 40));
    say!(t0, "group {room}: both ways with the other app's bob");
    rig.bridge.stop();
}
