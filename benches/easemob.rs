//! Easemob benchmarks (`cargo bench --bench easemob`), printing figures rather than asserting:
//! 1. frames/s the client session decodes (plain and LZ4), sans-I/O;
//! 2. messages/s the sandbox relays between two Rust clients over loopback websockets;
//! 3. resident memory per idle client session (sandbox in a separate process).

#[path = "common/mod.rs"]
mod common;

use common::{rss_kb, SandboxProcess};
use std::time::{Duration, Instant};

use imbridge::network::easemob::client::{ClientConfig, Credential, EasemobClient};
use imbridge::network::easemob::compression::FrameCompressor;
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::jid::{self, Conversation};
use imbridge::network::easemob::message::{Content, OutgoingMessage};
use imbridge::network::easemob::proto::{
    m_sync, message_body, meta, CommSyncDl, MSync, MessageBody, Meta, Provision, Status,
};
use imbridge::network::easemob::session::{Session, SessionConfig};
use prost::Message as _;

const APP: &str = "bench#sandbox";

fn frame(command: m_sync::Command, payload: Vec<u8>) -> Vec<u8> {
    MSync {
        command: Some(command as i32),
        payload: Some(payload),
        ..Default::default()
    }
    .encode_to_vec()
}

fn batch(first_id: u64, n: u64) -> Vec<u8> {
    let metas = (first_id..first_id + n)
        .map(|id| {
            let body = MessageBody {
                r#type: Some(message_body::Type::Chat as i32),
                from: Some(jid::name_only("bob")),
                to: Some(jid::name_only("alice")),
                contents: vec![Content::Text {
                    text: format!("message number {id} with a little text in it"),
                }
                .to_wire()],
                ..Default::default()
            };
            Meta {
                id: Some(id),
                from: Some(jid::user_jid(APP, "bob")),
                to: Some(jid::user_jid(APP, "alice")),
                ns: Some(meta::NameSpace::Chat as i32),
                timestamp: Some(id),
                payload: Some(body.encode_to_vec()),
                ..Default::default()
            }
        })
        .collect();
    let dl = CommSyncDl {
        status: Some(Status {
            error_code: Some(0),
            ..Default::default()
        }),
        metas,
        ..Default::default()
    };
    frame(m_sync::Command::Sync, dl.encode_to_vec())
}

fn decode_rate(lz4: bool) {
    let now = Instant::now();
    let cfg = SessionConfig::new(APP, "alice", "tok", "bench");
    let mut s = Session::new(cfg, now, 1);
    s.on_connected(now, 1);
    let mut p = Provision {
        status: Some(Status {
            error_code: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    if lz4 {
        p.protocol_compress_type = vec![2];
        p.protocol_compress_direction = Some(2);
    }
    let _ = s.on_frame(&frame(m_sync::Command::Provision, p.encode_to_vec()), now);
    while s.poll_output().is_some() {}
    let per_frame = 10u64;
    let frames = 20_000u64;
    let mut compressor = FrameCompressor::new();
    let inputs: Vec<Vec<u8>> = (0..frames)
        .map(|i| {
            let f = batch(1_000 + i * per_frame, per_frame);
            if lz4 {
                compressor.compress(&f)
            } else {
                f
            }
        })
        .collect();
    let bytes: usize = inputs.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut messages = 0u64;
    for f in &inputs {
        let _ = s.on_frame(f, now);
        while let Some(o) = s.poll_output() {
            if let imbridge::network::easemob::session::Output::Event(e) = &o {
                if !matches!(**e, SessionEvent::Message(_)) {
                    continue;
                }
                messages += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "decode ({}): {:>9.0} frames/s, {:>9.0} messages/s, {:.1} MB/s on the wire ({} messages)",
        if lz4 { "lz4  " } else { "plain" },
        frames as f64 / secs,
        messages as f64 / secs,
        bytes as f64 / secs / 1e6,
        messages
    );
}

fn start_sandbox(port: u16, users: &[String]) -> SandboxProcess {
    let mut args: Vec<String> = vec!["--app-key".into(), APP.into()];
    for u in users {
        args.extend(["--user".into(), format!("{u}:pw")]);
    }
    common::start_sandbox("easemob", port, &args)
}

fn free_port() -> u16 {
    common::free_port(18181)
}

fn config(port: u16, user: &str) -> ClientConfig {
    ClientConfig::new(
        APP,
        &format!("http://127.0.0.1:{port}"),
        &format!("ws://127.0.0.1:{port}/websocket"),
        user,
        Credential::Password("pw".into()),
        &format!("bench_{user}"),
    )
}

async fn relay_rate() {
    let port = free_port();
    let _sandbox = start_sandbox(port, &["alice".into(), "bob".into()]);
    let (alice, _a_events) = EasemobClient::login(config(port, "alice"))
        .await
        .expect("alice");
    let (_bob, mut b_events) = EasemobClient::login(config(port, "bob"))
        .await
        .expect("bob");
    let total = 5_000usize;
    let window = 200usize;
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        let mut inflight = tokio::task::JoinSet::new();
        for i in 0..total {
            if inflight.len() >= window {
                let _ = inflight.join_next().await;
            }
            let a = alice.clone();
            inflight.spawn(async move {
                let _ = a
                    .send(OutgoingMessage::text(
                        Conversation::single("bob"),
                        format!("m{i}"),
                    ))
                    .await;
            });
        }
        while inflight.join_next().await.is_some() {}
    });
    let mut received = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while received < total {
        match tokio::time::timeout_at(deadline, b_events.recv()).await {
            Ok(Some(SessionEvent::Message(_))) => received += 1,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = sender.await;
    println!(
        "relay: {received}/{total} messages alice → sandbox → bob in {secs:.2} s = {:.0} messages/s (window {window})",
        received as f64 / secs
    );
}

async fn idle_memory() {
    let n = 200usize;
    let users: Vec<String> = (0..n).map(|i| format!("idle{i}")).collect();
    let port = free_port();
    let _sandbox = start_sandbox(port, &users);
    // Warm up the runtime, TLS-free HTTP client and allocator with one session first.
    let warm = EasemobClient::login(config(port, "idle0"))
        .await
        .expect("warm-up");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kb();
    let mut clients = Vec::new();
    for u in users.iter().skip(1) {
        clients.push(EasemobClient::login(config(port, u)).await.expect("login"));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kb();
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / (n - 1) as f64;
    println!(
        "memory: {} idle client sessions add {} KiB RSS = {:.1} KB per session",
        n - 1,
        after.saturating_sub(before),
        per / 1000.0
    );
    drop(clients);
    drop(warm);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run quickly then.
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        println!("(run with `cargo bench --bench easemob` for figures)");
        return;
    }
    // Memory first: what later phases allocate and free stays in the allocator's arenas
    // and would absorb the idle sessions, hiding their cost.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(idle_memory());
    decode_rate(false);
    decode_rate(true);
    rt.block_on(relay_rate());
}
