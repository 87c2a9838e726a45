//! Double puppeting (issue 11 item 1), end to end on a real Synapse with the bridge binary, the
//! in-process Easemob sandbox, bob's Rust IM client and alice's "phone" (a second IM device of
//! the account the Matrix user mx1 is logged in as):
//!
//! * **`login-matrix <token>`**: the token message is redacted; then alice's messages from
//!   her phone show in the portal as mx1 itself, marked `fi.mau.double_puppet_source`, and are
//!   not sent back to the IM side (bob gets each once); `logout-matrix` goes back to the
//!   ghost with the `from_other_device` mark, and that choice outlives a bridge restart; the
//!   token never reaches the bridge's log;
//! * **the appservice method**: with a second registration loaded by Synapse and its
//!   `as_token` in `double_puppet.secrets`, double puppeting is on at login with nothing to
//!   do, and what mx1 writes in Matrix still reaches bob once.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything is loopback.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::time::Duration;

use common::service_env::{Env, IM_PASSWORD};
use imbridge::network::easemob::client::EasemobClient;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;
use serde_json::{json, Value};

const SETTLE: Duration = Duration::from_secs(3);
const DEADLINE: Duration = Duration::from_secs(30);
const SOURCE_KEY: &str = "fi.mau.double_puppet_source";

/// alice's second IM device: another OS type, so the bridge's own session is not kicked.
async fn alice_phone(env: &Env) -> EasemobClient {
    let (client, events) = env
        .sandbox
        .phone_client("alice", IM_PASSWORD, "alice_phone")
        .await;
    // Keep the phone's event stream drained.
    tokio::spawn(async move {
        let mut events = events;
        while events.recv().await.is_some() {}
    });
    client
}

/// The phone writes `text` to bob; returns its server id.
async fn phone_says(phone: &EasemobClient, text: &str) -> String {
    phone
        .send(OutgoingMessage::text(Conversation::single("bob"), text))
        .await
        .unwrap_or_else(|e| panic!("the phone sends {text:?}: {e:?}"))
        .server_id
        .to_string()
}

/// `(sender, content)` of the message with `body` in `room`, waiting for it.
async fn message_with_body(env: &Env, room: &str, body: &str) -> (String, Value) {
    env.mx.wait_body(room, |b| b == body).await;
    env.mx
        .messages(room)
        .await
        .into_iter()
        .find(|(_, kind, c)| kind == "m.room.message" && c["body"] == json!(body))
        .map(|(sender, _, content)| (sender, content))
        .unwrap_or_else(|| panic!("no message {body:?} in {room}"))
}

fn count(bodies: &[String], body: &str) -> usize {
    bodies.iter().filter(|b| *b == body).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_matrix_shows_own_messages_as_the_real_user() {
    let mut env = Env::start("dp-token", "").await;
    env.login().await;
    env.open_dm().await;
    let (mgmt, dm) = (env.mgmt.clone(), env.dm.clone());
    let phone = alice_phone(&env).await;

    // Before: the ghost, marked.
    phone_says(&phone, "phone before").await;
    let (sender, content) = message_with_body(&env, &dm, "phone before").await;
    assert_eq!(sender, "@easemob_alice:localhost");
    assert_eq!(content["net.imbridge.from_other_device"], json!(true));

    let token = env.mx.token().to_owned();
    env.mx
        .send_text(&mgmt, &format!("login-matrix {token}"))
        .await;
    env.mx
        .wait_body(&mgmt, |b| b.starts_with("Double puppeting is on"))
        .await;
    let mgmt_bodies = env.mx.all_bodies(&mgmt).await;
    assert!(
        mgmt_bodies.iter().all(|b| !b.contains(&token)),
        "the token message was redacted: {mgmt_bodies:?}"
    );
    say!(env.t0, "double puppeting on by login-matrix");

    phone_says(&phone, "phone as me").await;
    let (sender, content) = message_with_body(&env, &dm, "phone as me").await;
    assert_eq!(sender, env.mx.mxid, "{content}");
    assert_eq!(content[SOURCE_KEY], json!("imbridge"));
    assert!(content.get("net.imbridge.from_other_device").is_none());

    // Not sent back to the IM side: bob has each phone message once (from the phone).
    tokio::time::sleep(SETTLE).await;
    let to_bob = env.bob_inbox.texts_from("alice");
    assert_eq!(count(&to_bob, "phone as me"), 1, "{to_bob:?}");
    assert_eq!(count(&to_bob, "phone before"), 1, "{to_bob:?}");
    // And what mx1 writes in Matrix still goes out, once.
    env.mx.send_text(&dm, "typed in Matrix").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "typed in Matrix", DEADLINE)
            .await
    );

    env.mx.send_text(&mgmt, "logout-matrix").await;
    env.mx
        .wait_body(&mgmt, |b| b.starts_with("Double puppeting is off"))
        .await;
    phone_says(&phone, "phone after logout-matrix").await;
    let (sender, content) = message_with_body(&env, &dm, "phone after logout-matrix").await;
    assert_eq!(sender, "@easemob_alice:localhost");
    assert_eq!(content["net.imbridge.from_other_device"], json!(true));

    // Kept off across a restart.
    env.bridge().terminate();
    env.restart();
    phone_says(&phone, "phone after restart").await;
    let (sender, _) = message_with_body(&env, &dm, "phone after restart").await;
    assert_eq!(sender, "@easemob_alice:localhost");

    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appservice_method_turns_on_at_login() {
    let mut env = Env::start_with_double_puppet("dp-appservice", "").await;
    env.login().await;
    env.open_dm().await;
    let dm = env.dm.clone();
    let phone = alice_phone(&env).await;

    phone_says(&phone, "from the phone").await;
    let (sender, content) = message_with_body(&env, &dm, "from the phone").await;
    assert_eq!(sender, env.mx.mxid, "{content}");
    assert_eq!(content[SOURCE_KEY], json!("imbridge"));

    env.mx.send_text(&dm, "from Matrix").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "from Matrix", DEADLINE)
            .await
    );
    tokio::time::sleep(SETTLE).await;
    let to_bob = env.bob_inbox.texts_from("alice");
    assert_eq!(count(&to_bob, "from the phone"), 1, "{to_bob:?}");
    assert_eq!(count(&to_bob, "from Matrix"), 1, "{to_bob:?}");
    let in_dm = env.mx.bodies(&dm, None).await;
    assert_eq!(count(&in_dm, "from the phone"), 1, "{in_dm:?}");
    assert_eq!(count(&in_dm, "from Matrix"), 1, "{in_dm:?}");

    let leaks = env.stop_and_find_leaks();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
