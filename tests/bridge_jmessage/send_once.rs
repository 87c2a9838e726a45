//! The crash window of Matrix → JMessage (see the crate's doc): the server took a message and
//! delivered it, but its answer never reached the bridge, which is SIGKILLed; after the
//! restart the replayed event is found in the IM REST Report v2 under its transaction id and
//! not sent again.

use std::time::{Duration, Instant};

use super::common::bridge::{read_log, tail};
use super::common::bridge_rig::BridgeRig;
use super::common::jmessage::{ghost, JmPeer, JmSandbox, JmTarget};
use super::{ALICE_PW, BOB_PW};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmessage_a_crash_after_the_server_took_a_message_does_not_send_it_again() {
    let t0 = Instant::now();
    let sb = JmSandbox::start(&[("alice", ALICE_PW), ("bob", BOB_PW)]).await;
    let target = JmTarget {
        websocket_url: &sb.url,
    };
    let mut rig = BridgeRig::start("jmessage-sendonce", &target).await;
    let bob = JmPeer::login(&sb.url, "bob", BOB_PW).await;
    rig.command(&format!("login alice {ALICE_PW}")).await;
    rig.mx
        .wait_body(&rig.mgmt, |b| b.starts_with("Logged in as alice"))
        .await;
    bob.send("alice", "open the chat").await;
    let dm = rig
        .mx
        .accept_new_invite(std::slice::from_ref(&rig.mgmt))
        .await;
    rig.mx
        .wait_bodies_steady(&dm, &ghost("bob"), &["open the chat"], &rig.log)
        .await;
    say!(t0, "DM {dm} open");

    let held = "taken by the server, never answered";
    sb.state.withhold_answers(held);
    rig.mx.send_text(&dm, held).await;
    assert!(
        bob.wait("alice", |t| t == held, Duration::from_secs(30))
            .await,
        "bob never got the message\n{}",
        tail(&rig.log, 30)
    );
    say!(t0, "bob has it, the bridge has no answer: SIGKILL");
    rig.bridge.kill();
    sb.state.stop_withholding_answers();
    rig.restart();
    rig.mx.send_text(&dm, "after the crash").await;
    assert!(
        bob.wait("alice", |t| t == "after the crash", Duration::from_secs(60))
            .await,
        "Matrix → JMessage does not work after the restart\n{}",
        tail(&rig.log, 30)
    );
    // Time for a second copy to arrive if one were sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let texts = bob.texts_from("alice");
    let copies = texts.iter().filter(|t| *t == held).count();
    assert!(
        read_log(&rig.log).contains("Matrix events left from an earlier run are replayed"),
        "the event was not replayed\n{}",
        tail(&rig.log, 30)
    );
    assert_eq!(copies, 1, "bob got {copies} copies: {texts:?}");
    say!(t0, "bob has it once: {texts:?}");
    rig.bridge.stop();
}
