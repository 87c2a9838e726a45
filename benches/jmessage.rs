//! JMessage benchmarks (`cargo bench --bench jmessage`), printing figures rather than
//! asserting:
//! 1. frames/s the client session decodes (`msg_sync` pushes of 1 and of 20 text messages,
//!    Engine.IO + socket.io + JSON + the `msg_recv_v2` receipts), sans-I/O;
//! 2. resident memory per idle logged-in client session (the sandbox in a separate process,
//!    `imbridge sandbox jmessage`).

#[path = "common/mod.rs"]
mod common;

use common::{rss_kb, SandboxProcess};
use std::time::{Duration, Instant};

use imbridge::network::jmessage::client::{Client, ClientConfig, LinkState};
use imbridge::network::jmessage::eio;
use imbridge::network::jmessage::session::{Output, Session, SessionConfig, SessionEvent};
use serde_json::json;
use tokio::sync::mpsc;

const APP_KEY: &str = "benchappkey0000000000000";
const SECRET: &str = "bench-master-secret";

/// A `msg_sync` frame carrying `n` text messages from id `first`.
fn msg_sync(first: i64, n: i64) -> String {
    let messages: Vec<_> = (first..first + n)
        .map(|id| {
            json!({"msg_id": id, "msg_type": 3, "from_uid": 10001, "from_gid": 0,
                "ctime_ms": 1_700_000_000_000i64 + id, "msg_level": 0,
                "content": {"version": 1, "target_type": "single", "from_platform": "web",
                    "target_id": "alice", "from_id": "bob", "from_appkey": APP_KEY,
                    "target_appkey": APP_KEY, "create_time": 1_700_000_000_000i64 + id,
                    "msg_type": "text",
                    "msg_body": {"text": format!("message number {id} with a little text in it")}}})
        })
        .collect();
    eio::encode_event("msg_sync", &json!({ "messages": messages }), None)
}

/// A session past login (the handshake and responses fed by hand).
fn logged_in_session() -> Session {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::new(APP_KEY, SECRET, "alice", "pw"), 1);
    s.on_connected(now, 1_700_000_000_000);
    let open = r#"0{"sid":"b","upgrades":[],"pingInterval":25000,"pingTimeout":60000}"#;
    let _ = s.on_frame(open, now);
    let _ = s.on_frame("40", now);
    for event in ["c_init", "login"] {
        let mut rid = None;
        while let Some(o) = s.poll_output() {
            if let Output::Transmit(t) = o {
                if let Ok(eio::EioPacket::Message(eio::SioPacket::Event { args, .. })) =
                    eio::decode(&t)
                {
                    rid = args.first().and_then(|a| a["rid"].as_i64());
                }
            }
        }
        let reply = json!({"rid": rid, "code": 0});
        let _ = s.on_frame(&eio::encode_event(event, &reply, None), now);
    }
    while s.poll_output().is_some() {}
    assert!(s.is_ready(), "bench session logs in");
    s
}

fn decode_rate(per_frame: i64) {
    let mut s = logged_in_session();
    let frames = 20_000 / per_frame as usize;
    let input: Vec<String> = (0..frames as i64)
        .map(|i| msg_sync(1 + i * per_frame, per_frame))
        .collect();
    let bytes: usize = input.iter().map(String::len).sum();
    let now = Instant::now();
    let start = Instant::now();
    let mut events = 0usize;
    for f in &input {
        let _ = s.on_frame(f, now);
        while let Some(o) = s.poll_output() {
            if matches!(o, Output::Event(_)) {
                events += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "decode: {frames} msg_sync frames × {per_frame} messages ({:.0} B/frame) in {secs:.3} s = {:.0} frames/s, {:.0} messages/s ({events} events)",
        bytes as f64 / frames as f64,
        frames as f64 / secs,
        (frames as i64 * per_frame) as f64 / secs
    );
}

fn start_sandbox(port: u16, users: &[String]) -> SandboxProcess {
    let mut args: Vec<String> = vec![
        "--app-key".into(),
        APP_KEY.into(),
        "--master-secret".into(),
        SECRET.into(),
    ];
    for u in users {
        args.extend(["--user".into(), format!("{u}:pw")]);
    }
    common::start_sandbox("jmessage", port, &args)
}

fn free_port() -> u16 {
    common::free_port(18191)
}

/// A logged-in client with its event receiver (held, as a real owner would).
async fn login(port: u16, user: &str) -> (Client, mpsc::Receiver<SessionEvent>) {
    let cfg = ClientConfig::new(
        &format!("ws://127.0.0.1:{port}"),
        SessionConfig::new(APP_KEY, SECRET, user, "pw"),
    );
    let (client, events) = Client::start(cfg);
    let state = tokio::time::timeout(
        Duration::from_secs(10),
        client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await
    .expect("login settles");
    assert_eq!(state, LinkState::Connected, "{user} logs in");
    (client, events)
}

async fn idle_memory() {
    let n = 200usize;
    let users: Vec<String> = (0..n).map(|i| format!("idle{i}")).collect();
    let port = free_port();
    let _sandbox = start_sandbox(port, &users);
    let warm = login(port, "idle0").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kb();
    let mut clients = Vec::new();
    for u in users.iter().skip(1) {
        clients.push(login(port, u).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kb();
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / (n - 1) as f64;
    println!(
        "memory: {} idle JMessage client sessions add {} KiB RSS = {:.1} KB per session",
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
        println!("(run with `cargo bench --bench jmessage` for figures)");
        return;
    }
    // Memory first: what later phases allocate and free stays in the allocator's arenas
    // and would absorb the idle sessions, hiding their cost.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(idle_memory());
    decode_rate(1);
    decode_rate(20);
}
