//! The sandbox's own guarantees beyond the protocol: state kept across restarts with `--data`,
//! the command line starting it, and a batch acknowledged only once the client's owner stored it.

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
        events: &mut tokio::sync::mpsc::Receiver<SessionEvent>,
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
