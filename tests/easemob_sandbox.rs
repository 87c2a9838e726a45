//! The sandbox's own guarantees beyond the protocol: state kept across restarts with `--data`,
//! the command line starting it, and a batch acknowledged only once the client's owner stored it.

#![cfg(feature = "easemob")]

mod common;

use std::time::Duration;

use common::{next_event, TestSandbox, APP_KEY};
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{Body, Content, OutgoingMessage};
use imbridge::network::easemob::sandbox::SandboxConfig;

#[tokio::test]
async fn data_dir_keeps_users_messages_and_files_across_restarts() {
    let dir = std::env::temp_dir().join(format!("imbridge-sbdata-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = || {
        let mut c = SandboxConfig::new(APP_KEY);
        c.data_dir = Some(dir.clone());
        c
    };
    let mut sb = TestSandbox::start_with(cfg()).await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let (bob, _events) = sb.rust_client("bob", "pw").await;
    let up = bob
        .rest()
        .upload(
            imbridge::network::easemob::jid::ChatType::Single,
            "alice",
            "a.txt",
            "text/plain",
            b"kept".to_vec(),
        )
        .await
        .expect("upload");
    bob.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "kept across restarts",
    ))
    .await
    .expect("sent");
    drop(bob);
    sb.stop().await;

    let sb = TestSandbox::start_with(cfg()).await;
    let (alice, mut events) = sb.rust_client("alice", "pw").await;
    let text = next_event(&mut events, "offline text after restart", |e| match e {
        SessionEvent::Message(m) => match &m.body {
            Body::Content(Content::Text { text }) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    })
    .await;
    assert_eq!(text, "kept across restarts");
    let bytes = alice
        .rest()
        .download(&up.url, Some(&up.secret), 1024)
        .await
        .expect("file kept");
    assert_eq!(bytes, b"kept");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn command_line_sandbox_starts_quickly_and_serves_discovery() {
    let port = common::synapse::free_port();
    let start = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .args([
            "sandbox",
            "easemob",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--app-key",
            "demo#sandbox",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sandbox runs");
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started_in = start.elapsed();
    assert!(up, "the sandbox did not listen");
    eprintln!("sandbox listening after {started_in:?}");
    let v: serde_json::Value = reqwest::get(format!(
        "http://127.0.0.1:{port}/easemob/server.json?app_key=demo%23sandbox"
    ))
    .await
    .expect("server.json")
    .json()
    .await
    .expect("json");
    assert_eq!(
        v["rest"]["hosts"][0]["port"],
        serde_json::json!(port.to_string())
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// A client that must store events before acknowledging them (`await_persistence`, as the
/// bridge runs it) leaves a batch on the server until its owner confirms the checkpoint: an
/// owner that dies first gets the batch again on the next login, and only once confirmed is it
/// gone.
#[tokio::test]
async fn a_batch_is_acknowledged_only_after_the_owner_stored_it() {
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let (bob, _bob_events) = sb.rust_client("bob", "pw").await;
    for text in ["one", "two"] {
        bob.send(OutgoingMessage::text(Conversation::single("alice"), text))
            .await
            .expect("bob sends while alice is away");
    }
    let alice = || {
        let mut cfg = sb.client_config("alice", "pw", "imbridge_alice");
        cfg.await_persistence = true;
        imbridge::network::easemob::client::EasemobClient::login(cfg)
    };
    // Receives the batch and the checkpoint after it; returns the texts and the checkpoint.
    async fn batch(
        events: &mut imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    ) -> (Vec<String>, imbridge::core::connector::Checkpoint) {
        let mut texts = Vec::new();
        let checkpoint = next_event(events, "the batch and its checkpoint", |e| match e {
            SessionEvent::Message(m) => {
                if let Body::Content(Content::Text { text }) = &m.body {
                    texts.push(text.clone());
                }
                None
            }
            SessionEvent::Checkpoint(c) => Some(c.clone()),
            _ => None,
        })
        .await;
        (texts, checkpoint)
    }

    // First owner: takes the batch but "crashes" before storing it.
    let (first, mut events) = alice().await.expect("first login");
    let (texts, checkpoint) = batch(&mut events).await;
    assert_eq!(texts, ["one", "two"]);
    drop(checkpoint);
    drop(events);
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Second owner: gets the same batch again, stores it, confirms.
    let (second, mut events) = alice().await.expect("second login");
    let (texts, checkpoint) = batch(&mut events).await;
    assert_eq!(
        texts,
        ["one", "two"],
        "an unconfirmed batch is delivered again"
    );
    checkpoint.done();
    // Bob's next message arrives after the acknowledged batch and nothing is repeated.
    bob.send(OutgoingMessage::text(
        Conversation::single("alice"),
        "three",
    ))
    .await
    .expect("bob sends");
    let (texts, checkpoint) = batch(&mut events).await;
    assert_eq!(texts, ["three"]);
    checkpoint.done();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(events);
    drop(second);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Third owner: nothing left on the server.
    let (_third, mut events) = alice().await.expect("third login");
    let mut texts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let SessionEvent::Message(m) = event {
            if let Body::Content(Content::Text { text }) = m.body {
                texts.push(text);
            }
        }
    }
    assert!(
        texts.is_empty(),
        "acknowledged messages came again: {texts:?}"
    );
}

/// The fault endpoints of the chaos run: dropping live sockets (clients reconnect) and
/// expiring a user's tokens (refused afterwards), each guarded by a token.
#[tokio::test]
async fn fault_endpoints_drop_sockets_and_expire_tokens() {
    use serde_json::{json, Value};
    let sb = TestSandbox::start().await;
    sb.user("alice", "pw");
    sb.user("bob", "pw");
    let (_alice, mut alice_events) = sb.rust_client("alice", "pw").await;
    let (_bob, _bob_events) = sb.rust_client("bob", "pw").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while alice_events.try_recv().is_ok() {}
    let http = reqwest::Client::new();
    let base = format!("{}/{}", sb.rest_url(), APP_KEY.replace('#', "/"));
    let token_of = |user: &'static str| {
        let http = http.clone();
        let url = format!("{base}/token");
        async move {
            let body = json!({ "grant_type": "password", "username": user, "password": "pw" });
            let v: Value = http
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("token")
                .json()
                .await
                .expect("json");
            v["access_token"].as_str().expect("access_token").to_owned()
        }
    };
    let bob_token = token_of("bob").await;

    // No token: refused.
    let drop_url = format!("{base}/sandbox/drop_sockets");
    let resp = http
        .post(&drop_url)
        .json(&json!({ "count": 5 }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);
    // Only alice's socket goes, and her client comes back.
    let v: Value = http
        .post(&drop_url)
        .bearer_auth(&bob_token)
        .json(&json!({ "count": 5, "users": ["alice"] }))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(v["data"]["dropped"], 1, "{v}");
    next_event(&mut alice_events, "alice connected again", |e| {
        matches!(e, SessionEvent::Connected { .. }).then_some(())
    })
    .await;

    // Another user's token may not expire bob's; bob's may, and is refused afterwards.
    let expire_url = format!("{base}/sandbox/users/bob/token/expire");
    let alice_token = token_of("alice").await;
    let resp = http
        .post(&expire_url)
        .bearer_auth(&alice_token)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403);
    let v: Value = http
        .post(&expire_url)
        .bearer_auth(&bob_token)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert!(v["data"]["expired"].as_u64().unwrap_or(0) >= 1, "{v}");
    let resp = http
        .get(format!("{base}/users/bob"))
        .bearer_auth(&bob_token)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 401, "an expired token is refused");
}
