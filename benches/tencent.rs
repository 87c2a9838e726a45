//! Tencent Cloud Chat benchmarks (`cargo bench --bench tencent`), printing figures rather than
//! asserting:
//! 1. frames/s the client session decodes (plain JSON and `COMP` deflated), sans-I/O: each
//!    frame a `msg_push` of 10 C2C texts, as the sandbox and the service push them;
//! 2. messages/s the sandbox relays between two Rust clients over loopback websockets;
//! 3. resident memory per idle client session (the sandbox in a separate process).

#[path = "common/mod.rs"]
mod common;

use common::{rss_kb, SandboxProcess};
use std::time::{Duration, Instant};

use imbridge::network::tencent::client::{Client, ClientConfig, LinkState};
use imbridge::network::tencent::session::{Output, Session, SessionConfig, SessionEvent};
use imbridge::network::tencent::usersig;
use imbridge::network::tencent::wire::{self, servcmd, Head};
use serde_json::json;

const APP: u64 = 1_400_000_001;
const KEY: &str = "bench-secret-key";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn sig(user: &str) -> String {
    usersig::sign(KEY, APP, user, unix_now(), 86_400)
}

/// A `msg_push` frame of `n` C2C texts from bob, sequence numbers from `first`.
fn push_frame(first: u64, n: u64) -> Vec<u8> {
    let msgs: Vec<_> = (first..first + n)
        .map(|i| {
            json!({"From_Account": "bob", "To_Account": "alice", "MsgSeq": i,
                   "MsgRandom": i * 7 + 1, "MsgTimeStamp": 1_700_000_000 + i,
                   "MsgKey": format!("{i}_{}_{}", i * 7 + 1, 1_700_000_000 + i),
                   "MsgBody": [{"MsgType": "TIMTextElem",
                                "MsgContent": {"Text": format!("message number {i} with a little text in it")}}]})
        })
        .collect();
    let body = json!({"eventArray": [{"event": 9, "C2cMsgArray": msgs}],
                      "NeedAck": 1, "SessionData": format!("sess-{first}")});
    let head = Head {
        servcmd: servcmd::MSG_PUSH.into(),
        seq: Some(999_999_999_999),
        ..Default::default()
    };
    wire::encode(&head, &body).into_bytes()
}

/// A session logged in by a hand-made `wslogin` reply, its catch-up answered empty.
fn logged_in_session(now: Instant) -> Option<Session> {
    let mut s = Session::new(SessionConfig::new(APP, "alice", "SIG"), now, 7);
    s.on_connected(now);
    let mut login = None;
    while let Some(o) = s.poll_output() {
        if let Output::Transmit(t) = o {
            login = wire::decode(t.as_bytes()).ok();
        }
    }
    let login = login?;
    let body = json!({"ErrorCode": 0, "A2Key": "A2", "TinyId": "144115", "HelloInterval": 30,
                      "InstId": 5, "TimeStamp": 1_700_000_000});
    s.on_frame(wire::encode(&login.head, &body).as_bytes(), now)
        .ok()?;
    let mut sync = Vec::new();
    while let Some(o) = s.poll_output() {
        if let Output::Transmit(t) = o {
            if let Ok(f) = wire::decode(t.as_bytes()) {
                sync.push(f);
            }
        }
    }
    for f in sync.iter().filter(|f| f.head.servcmd == servcmd::GETMSG) {
        let done = json!({"ErrorCode": 0, "Cookie": "c", "SyncFlag": 2, "MsgList": []});
        s.on_frame(wire::encode(&f.head, &done).as_bytes(), now)
            .ok()?;
    }
    while s.poll_output().is_some() {}
    Some(s)
}

fn decode_rate(compressed: bool) {
    let now = Instant::now();
    let Some(mut s) = logged_in_session(now) else {
        println!("decode: the session did not log in on the hand-made reply (skipped)");
        return;
    };
    let per_frame = 10u64;
    let frames = 20_000u64;
    let inputs: Vec<Vec<u8>> = (0..frames)
        .map(|i| {
            let f = push_frame(1_000 + i * per_frame, per_frame);
            if compressed {
                wire::deflate_frame(&f)
            } else {
                f
            }
        })
        .collect();
    let bytes: usize = inputs.iter().map(Vec::len).sum();
    let start = Instant::now();
    let (mut messages, mut acks, mut errors) = (0u64, 0u64, 0u64);
    for f in &inputs {
        if s.on_frame(f, now).is_err() {
            errors += 1;
        }
        while let Some(o) = s.poll_output() {
            match o {
                Output::Event(e) if matches!(*e, SessionEvent::Message(_)) => messages += 1,
                Output::Transmit(_) => acks += 1,
                _ => {}
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "decode ({}): {:>9.0} frames/s, {:>9.0} messages/s, {:.1} MB/s on the wire ({messages} messages, {acks} acks, {errors} errors)",
        if compressed { "COMP " } else { "plain" },
        frames as f64 / secs,
        messages as f64 / secs,
        bytes as f64 / secs / 1e6,
    );
}

fn start_sandbox(port: u16, users: &[String]) -> SandboxProcess {
    let mut args: Vec<String> = vec![
        "--sdk-app-id".into(),
        APP.to_string(),
        "--secret-key".into(),
        KEY.into(),
    ];
    for u in users {
        args.extend(["--user".into(), u.clone()]);
    }
    common::start_sandbox("tencent", port, &args)
}

fn free_port() -> u16 {
    common::free_port(18190)
}

/// A client of `user`, once connected (`None` if it does not connect within 20 s).
async fn connect(
    port: u16,
    user: &str,
) -> Option<(Client, tokio::sync::mpsc::Receiver<SessionEvent>)> {
    let cfg = ClientConfig::new(
        &format!("ws://127.0.0.1:{port}"),
        SessionConfig::new(APP, user, &sig(user)),
    );
    let (client, events) = Client::start(cfg);
    let state = tokio::time::timeout(
        Duration::from_secs(20),
        client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
    )
    .await
    .ok()?;
    (state == LinkState::Connected).then_some((client, events))
}

async fn relay_rate() {
    let port = free_port();
    let _sandbox = start_sandbox(port, &["alice".into(), "bob".into()]);
    let (Some((alice, _a_events)), Some((_bob, mut b_events))) =
        (connect(port, "alice").await, connect(port, "bob").await)
    else {
        println!("relay: the clients did not connect (skipped)");
        return;
    };
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
                let _ = a.send_c2c_text("bob", &format!("m{i}")).await;
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
    // Warm up the runtime and allocator with one session first.
    let Some(warm) = connect(port, "idle0").await else {
        println!("memory: the warm-up client did not connect (skipped)");
        return;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kb();
    let mut clients = Vec::new();
    for u in users.iter().skip(1) {
        match connect(port, u).await {
            Some(c) => clients.push(c),
            None => println!("memory: {u} did not connect"),
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kb();
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / clients.len().max(1) as f64;
    println!(
        "memory: {} idle client sessions add {} KiB RSS = {:.1} KB per session",
        clients.len(),
        after.saturating_sub(before),
        per / 1000.0
    );
    drop(clients);
    drop(warm);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run quickly then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("(run with `cargo bench --bench tencent` for figures)");
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
