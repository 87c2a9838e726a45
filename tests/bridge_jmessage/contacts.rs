//! The contacts suite of `bridge_jmessage` (see the crate's doc): JMessage friends through the
//! bot's contact commands (friends are brought over by `sync`), the blacklist as `block` and as Matrix ignored users (double
//! puppeting), and `pm` of a JMessage user who does not exist.

use std::time::{Duration, Instant};

use super::common::bridge::tail;
use super::common::bridge_rig::BridgeRig;
use super::common::jmessage::{ghost, JmPeer, JmSandbox, JmTarget};
use super::notify::rig_with_double_puppet;
use super::{ALICE_PW, BOB_PW, DAVE_PW};

/// Waits (bounded, 30 s) until `what` holds of the sandbox.
async fn wait_sandbox(rig: &BridgeRig, what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if pred() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} never happened\n{}", tail(&rig.log, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_friends_block_and_pm_checks_the_user() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW), ("dave", DAVE_PW)]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-contacts", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    let dave = JmPeer::login(&sb.url, "dave", DAVE_PW).await;
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    say!(t0, "mx1 logged in as alice; bob and dave up");

    // bob's friend invitation is a contact request; `accept bob` makes them friends.
    bob.client
        .add_friend("alice", "bob from the office")
        .await
        .expect("bob invites alice");
    let told = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.contains("asks to be your contact"))
        .await;
    assert!(told.contains("bob from the office"), "{told}");
    assert!(told.contains("accept bob"), "{told}");
    rig.command("accept bob").await;
    wait_sandbox(&rig, "alice and bob friends", || {
        sb.state.friends_of("alice") == ["bob"] && sb.state.friends_of("bob") == ["alice"]
    })
    .await;
    assert_eq!(bob.client.friend_list().await.expect("list"), ["alice"]);
    // `sync` brings the friend over: a DM with bob's ghost.
    rig.command("sync").await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Syncing 1 chat"))
        .await;
    let bob_dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    assert!(
        rig.mx.members(&bob_dm).await.contains(&ghost("bob")),
        "bob's ghost in the synced DM"
    );
    say!(
        t0,
        "bob's invitation told ({told}) and accepted from Matrix"
    );

    // `search` finds friends by part of their name, and users by their exact name.
    rig.command("search BO").await;
    let found = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.starts_with("IM users matching `BO`"))
        .await;
    assert!(
        found.contains("`bob`") && !found.contains("dave"),
        "{found}"
    );
    rig.command("search dave").await;
    let found = rig
        .mx
        .wait_body(&rig.mgmt, |b| b.starts_with("IM users matching `dave`"))
        .await;
    assert!(found.contains("dave"), "{found}");
    rig.command("search zz").await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b == "No IM user matches `zz`.")
        .await;

    // bob removes alice: told.
    bob.client
        .del_friend("alice")
        .await
        .expect("bob removes alice");
    rig.mx
        .wait_body(&rig.mgmt, |b| b.contains("removed you from their contacts"))
        .await;
    assert!(sb.state.friends_of("alice").is_empty());

    // `add-contact dave …` invites dave with the words; dave refuses: told.
    rig.command("add-contact dave let us talk").await;
    wait_sandbox(&rig, "dave invited", || {
        sb.state.friend_invitations_of("dave") == [("alice".to_owned(), "let us talk".to_owned())]
    })
    .await;
    dave.client
        .answer_friend("alice", false)
        .await
        .expect("dave refuses");
    rig.mx
        .wait_body(&rig.mgmt, |b| b.contains("declined your contact request"))
        .await;
    // Asked again, dave accepts: told; `remove-contact dave` ends it on JMessage.
    rig.command("add-contact dave").await;
    wait_sandbox(&rig, "dave invited again", || {
        sb.state.friend_invitations_of("dave").len() == 1
    })
    .await;
    dave.client
        .answer_friend("alice", true)
        .await
        .expect("dave accepts");
    rig.mx
        .wait_body(&rig.mgmt, |b| b.contains("accepted your contact request"))
        .await;
    assert_eq!(sb.state.friends_of("dave"), ["alice"]);
    rig.command("remove-contact dave").await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b == "`dave` is no longer your contact.")
        .await;
    assert!(sb.state.friends_of("dave").is_empty());
    say!(
        t0,
        "removal, refusal and acceptance told; add-contact / remove-contact reached dave"
    );

    // `block bob`: alice's blacklist; bob's texts are refused; `blocked` lists him.
    rig.command("block bob").await;
    wait_sandbox(&rig, "bob blacklisted", || {
        sb.state.blacklist_of("alice") == ["bob"]
    })
    .await;
    let refused = bob.client.send_text("alice", "let me in", None).await;
    assert!(
        matches!(&refused, Err(imbridge::network::jmessage::session::SendError::Rejected { code, .. }) if *code == 880207),
        "{refused:?}"
    );
    rig.command("blocked").await;
    rig.mx
        .wait_body(&rig.mgmt, |b| {
            b.starts_with("Blocked:") && b.contains("bob")
        })
        .await;
    rig.command("unblock bob").await;
    wait_sandbox(&rig, "bob unblocked", || {
        sb.state.blacklist_of("alice").is_empty()
    })
    .await;
    say!(t0, "block / blocked / unblock");

    // `pm` of a user JMessage does not have: refused in words, no room.
    rig.command("pm nobody42").await;
    let no = rig
        .mx
        .wait_body(&rig.mgmt, |b| {
            b.contains("nobody42") && b.contains("no IM user")
        })
        .await;
    assert_eq!(no, "There is no IM user `nobody42`.");
    rig.command("pm dave").await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Opening a chat with dave"))
        .await;
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    assert!(
        rig.mx
            .members(&dm)
            .await
            .iter()
            .any(|m| *m == ghost("dave")),
        "dave's ghost in the new DM"
    );
    say!(t0, "pm nobody42 refused in words; pm dave opened {dm}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_blacklist_is_matrix_ignored_users() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = rig_with_double_puppet("jmessage-ignored", &target).await;
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    let phone = JmPeer::login(&sb.url, "alice", ALICE_PW).await;
    let bob_ghost = ghost("bob");
    let stranger = "@stranger:localhost";
    say!(
        t0,
        "mx1 logged in as alice (double puppet); alice's phone up"
    );

    // JMessage → Matrix: the phone blacklists bob: his ghost joins mx1's ignored users.
    rig.mx.set_ignored_users(&[stranger]).await;
    phone
        .client
        .set_blacklisted("bob", true)
        .await
        .expect("phone blacklists bob");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ignored = Vec::new();
    while Instant::now() < deadline {
        ignored = rig.mx.ignored_users().await;
        if ignored.contains(&bob_ghost) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ignored.sort();
    assert_eq!(
        ignored,
        [bob_ghost.clone(), stranger.to_owned()],
        "bob's ghost ignored next to the stranger\n{}",
        tail(&rig.log, 40)
    );
    say!(t0, "blacklist → ignored users");

    // Matrix → JMessage: unignoring bob takes him off the blacklist, ignoring puts him back.
    rig.mx.set_ignored_users(&[stranger]).await;
    wait_sandbox(&rig, "bob off the blacklist", || {
        sb.state.blacklist_of("alice").is_empty()
    })
    .await;
    rig.mx.set_ignored_users(&[stranger, &bob_ghost]).await;
    wait_sandbox(&rig, "bob on the blacklist again", || {
        sb.state.blacklist_of("alice") == ["bob"]
    })
    .await;
    say!(t0, "ignored users → blacklist, both ways");
}
