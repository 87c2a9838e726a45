//! Bridge benchmarks (`cargo bench --bench bridge`), printing figures:
//! 1. latency from an IM message being sent by a remote user to the bridge calling the
//!    homeserver's send endpoint for it (p50 / p99): sandbox relay + Easemob session + core;
//! 2. resident memory of the bridge with 10 logged-in, idle users.
//!
//! The homeserver is a stand-in ([`StubMatrix`]): Synapse handles only ~20–40 messages/s on
//! this machine, so it would measure Synapse, not the bridge. The sandbox runs as a separate
//! process so the memory figure is the bridge's own.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use imbridge::config::{Config, LoadOptions};
use imbridge::core::connector::NetworkConnector;
use imbridge::core::logins;
use imbridge::core::matrix_api::{MatrixApi, MatrixError, RoomSpec};
use imbridge::core::Bridge;
use imbridge::network::easemob::client::{ClientConfig, Credential, EasemobClient};
use imbridge::network::easemob::connector::{EasemobConnector, EasemobSettings};
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;
use imbridge::store::Store;
use ruma::{EventId, OwnedEventId, OwnedMxcUri, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::Value;

const APP: &str = "bench#bridge";

/// A homeserver that answers at once and records when each message body was sent.
struct StubMatrix {
    bot: OwnedUserId,
    sent: Mutex<HashMap<String, Instant>>,
    counter: Mutex<u64>,
}

impl StubMatrix {
    fn next(&self) -> u64 {
        let mut c = self.counter.lock().unwrap_or_else(|p| p.into_inner());
        *c += 1;
        *c
    }
}

#[async_trait]
impl MatrixApi for StubMatrix {
    fn bot(&self) -> &UserId {
        &self.bot
    }
    async fn ensure_registered(&self, _: &UserId) -> Result<(), MatrixError> {
        Ok(())
    }
    async fn set_displayname(&self, _: &UserId, _: &str) -> Result<(), MatrixError> {
        Ok(())
    }
    async fn set_avatar(&self, _: &UserId, _: &OwnedMxcUri) -> Result<(), MatrixError> {
        Ok(())
    }
    async fn upload(
        &self,
        _: &UserId,
        _: Vec<u8>,
        _: &str,
        _: &str,
    ) -> Result<OwnedMxcUri, MatrixError> {
        Ok(OwnedMxcUri::from(format!("mxc://bench/{}", self.next())))
    }
    async fn download(&self, _: &str, _: u64) -> Result<(Vec<u8>, String), MatrixError> {
        Ok((Vec::new(), "application/octet-stream".into()))
    }
    async fn create_room(&self, _: &UserId, _: &RoomSpec) -> Result<OwnedRoomId, MatrixError> {
        RoomId::parse(format!("!r{}:bench", self.next()))
            .map_err(|e| MatrixError::Other(e.to_string()))
    }
    async fn invite(&self, _: &RoomId, _: &UserId, _: &UserId) -> Result<(), MatrixError> {
        Ok(())
    }
    async fn join(&self, _: &RoomId, _: &UserId) -> Result<(), MatrixError> {
        Ok(())
    }
    async fn leave(&self, _: &RoomId, _: &UserId) -> Result<(), MatrixError> {
        Ok(())
    }
    async fn kick(&self, _: &RoomId, _: &UserId, _: &UserId, _: &str) -> Result<(), MatrixError> {
        Ok(())
    }
    async fn send_event(
        &self,
        _: &RoomId,
        _: &UserId,
        _: &str,
        _: &str,
        content: &Value,
    ) -> Result<OwnedEventId, MatrixError> {
        if let Some(body) = content["body"].as_str() {
            self.sent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(body.to_owned(), Instant::now());
        }
        EventId::parse(format!("$e{}", self.next())).map_err(|e| MatrixError::Other(e.to_string()))
    }
    async fn send_state(
        &self,
        _: &RoomId,
        _: &UserId,
        _: &str,
        _: &str,
        _: &Value,
    ) -> Result<OwnedEventId, MatrixError> {
        EventId::parse(format!("$s{}", self.next())).map_err(|e| MatrixError::Other(e.to_string()))
    }
    async fn redact(
        &self,
        _: &RoomId,
        _: &UserId,
        _: &EventId,
        _: &str,
        _: Option<&str>,
    ) -> Result<OwnedEventId, MatrixError> {
        EventId::parse(format!("$x{}", self.next())).map_err(|e| MatrixError::Other(e.to_string()))
    }
    async fn joined_members(&self, _: &RoomId) -> Result<Vec<OwnedUserId>, MatrixError> {
        Ok(Vec::new())
    }
    async fn read_receipt(&self, _: &RoomId, _: &UserId, _: &EventId) -> Result<(), MatrixError> {
        Ok(())
    }
    async fn typing(&self, _: &RoomId, _: &UserId, _: bool) -> Result<(), MatrixError> {
        Ok(())
    }
}

struct SandboxProcess(Child);
impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18282)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn config(dir: &Path, port: u16) -> Config {
    let text = format!(
        r#"homeserver: {{ address: "http://127.0.0.1:1", domain: bench }}
appservice:
  address: http://127.0.0.1:2
  hostname: 127.0.0.1
  port: 2
  id: bench
  bot: {{ username: bot, displayname: Bot, avatar: "" }}
  as_token: "{t}"
  hs_token: "{t}"
  username_template: "easemob_{{{{.}}}}"
bridge:
  permissions: {{ "bench": user }}
database: {{ path: {db} }}
network:
  type: easemob
  easemob:
    app_key: "{APP}"
    rest_url: http://127.0.0.1:{port}
    websocket_url: ws://127.0.0.1:{port}/websocket
"#,
        t = "x".repeat(64),
        db = dir.join("db").display(),
    );
    let opts = LoadOptions {
        require_tokens: true,
        env: &|_| None,
    };
    match Config::from_yaml_str(&text, "bench.yaml", dir, &opts) {
        Ok(c) => c,
        Err(e) => panic!("bench config: {e}"),
    }
}

async fn run() {
    let port = free_port();
    // user0 is a warm-up login (first-use allocations: HTTP client, TLS roots, code paths).
    let users: Vec<String> = (0..11).map(|i| format!("user{i}")).collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imbridge"));
    cmd.args([
        "sandbox",
        "easemob",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--app-key",
        APP,
    ])
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for u in users.iter().chain(["peer".to_owned()].iter()) {
        cmd.args(["--user", &format!("{u}:pw")]);
    }
    let _sandbox = SandboxProcess(cmd.spawn().expect("sandbox"));
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = std::env::temp_dir().join(format!("imbridge-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = Arc::new(config(&dir, port));
    let store = Store::open(&cfg.database.path).await.expect("store");
    let stub = Arc::new(StubMatrix {
        bot: UserId::parse("@bot:bench").expect("bot id"),
        sent: Mutex::new(HashMap::new()),
        counter: Mutex::new(0),
    });
    let connector: Arc<dyn NetworkConnector> = Arc::new(EasemobConnector::new(EasemobSettings {
        app_key: APP.into(),
        rest_url: format!("http://127.0.0.1:{port}"),
        websocket_url: format!("ws://127.0.0.1:{port}/websocket"),
    }));
    let bridge = Bridge::new(
        cfg.clone(),
        store,
        stub.clone(),
        connector,
        std::sync::Arc::new(imbridge::metrics::Metrics::new()),
    );
    bridge.start().await.expect("bridge starts");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start_rss = rss_kb();
    let mut before = start_rss;
    for (i, u) in users.iter().enumerate() {
        let mxid = UserId::parse(format!("@mx{i}:bench")).expect("mxid");
        if let Err(e) = logins::login_with_values(&bridge.ctx, &mxid, "password", &[u, "pw"]).await
        {
            panic!("login {u}: {e}");
        }
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            before = rss_kb();
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kb();
    println!(
        "memory: bridge RSS {} KiB idle with no login, {} KiB with 1, {} KiB with 11 idle logged-in users (+{} KiB for 10 = {:.0} KiB per login)",
        start_rss,
        before,
        after,
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / 10.0
    );

    // Latency: a remote peer sends to user0; time until the bridge sends the Matrix event.
    let (peer, _events) = EasemobClient::login(ClientConfig::new(
        APP,
        &format!("http://127.0.0.1:{port}"),
        &format!("ws://127.0.0.1:{port}/websocket"),
        "peer",
        Credential::Password("pw".into()),
        "bench_peer",
    ))
    .await
    .expect("peer");
    // Warm up: the first message creates the portal and the ghost.
    let _ = peer
        .send(OutgoingMessage::text(
            Conversation::single("user0"),
            "warm-up",
        ))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let n = 500usize;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!("latency {i}");
        let t0 = Instant::now();
        let _ = peer
            .send(OutgoingMessage::text(
                Conversation::single("user0"),
                body.clone(),
            ))
            .await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(t1) = stub
                .sent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&body)
            {
                latencies.push(t1.duration_since(t0));
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "latency IM send → Matrix send_event ({} of {n} messages, one at a time): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    bridge.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("(run with `cargo bench --bench bridge` for figures)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(run());
}
