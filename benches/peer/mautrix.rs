//! The mautrix-python peer (`benches/peer/peer.py`) as a child process against the stand-in
//! homeserver: its portals opened by one dummy-network message each, an IM → Matrix burst
//! (the dummy network delivers `bench <seq>` messages; done when the stand-in has every
//! event), a Matrix → IM burst (the stand-in pushes the Matrix users' messages in
//! transactions; done when the dummy network got every text), its CPU over each, and its
//! idle RSS with 1 and with many logins.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::homeserver::{self, Homeserver};
use crate::im::Seq;
use crate::procs::{self, Proc};
use crate::setup::mx_user;
use crate::{Figures, Settings};

/// The Python program, next to this file.
fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/peer.py")
}

/// A running peer with its stand-in homeserver.
struct Peer {
    proc: Proc,
    hs: Arc<Homeserver>,
    url: String,
    http: reqwest::Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.proc.stop();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the stand-in and the peer with `logins` logins in `dir`; waits until it is ready.
/// With `im_server` (a `ws://` URL) every login holds a websocket to it.
async fn start(
    dir: &Path,
    s: &Settings,
    logins: usize,
    tag: &str,
    im_server: Option<&str>,
) -> Result<Peer, String> {
    let token = format!("peer{:0>60}", rand::random::<u32>());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("stand-in bind: {e}"))?;
    let hs_port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let as_port = procs::free_port();
    let url = format!("http://127.0.0.1:{as_port}");
    let hs = Homeserver::new(&token, &url, s.shape.echo);
    let router = homeserver::router(hs.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let pusher = tokio::spawn(hs.clone().run_pusher());
    let db = dir.join(format!("peer-{tag}.db"));
    let log = dir.join(format!("peer-{tag}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(&s.python);
    cmd.arg(script())
        .args(["--homeserver", &format!("http://127.0.0.1:{hs_port}")])
        .args(["--port", &as_port.to_string()])
        .args(["--token", &token])
        .args(["--logins", &logins.to_string()])
        .arg("--db")
        .arg(&db);
    if let Some(url) = im_server {
        cmd.args(["--im-server", url]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("{}: {e}", s.python.display()))?;
    let mut peer = Peer {
        proc: Proc::from_child(child, true),
        hs,
        url,
        http: reqwest::Client::new(),
        tasks: vec![server, pusher],
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if !peer.proc.running() {
            return Err(format!("the peer exited at start; see {}", log.display()));
        }
        let ready = peer
            .http
            .get(format!("{}/_matrix/mau/ready", peer.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(peer);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the peer was not ready within 120 s; see {}",
                log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Peer {
    /// The dummy network delivers `bench <seq>` from peer `j` to login `i` for each item.
    async fn deliver(&self, items: &[(usize, usize, u64)]) -> Result<(), String> {
        let items: Vec<Value> = items.iter().map(|(i, j, s)| json!([i, j, s])).collect();
        let r = self
            .http
            .post(format!("{}/_peer/im", self.url))
            .json(&json!({ "items": items }))
            .send()
            .await
            .map_err(|e| format!("/_peer/im: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("/_peer/im: {}", r.status()));
        }
        Ok(())
    }

    /// Bench texts the dummy network received from the bridge, once at least `n` (or after
    /// `limit`).
    async fn received(&self, n: usize, limit: Duration) -> Result<usize, String> {
        let r: Value = self
            .http
            .get(format!(
                "{}/_peer/received?n={n}&timeout={}",
                self.url,
                limit.as_secs_f64()
            ))
            .timeout(limit + Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("/_peer/received: {e}"))?
            .json()
            .await
            .map_err(|e| format!("/_peer/received: {e}"))?;
        Ok(r["received"].as_u64().unwrap_or(0) as usize)
    }

    /// Portal room by (login, peer).
    async fn portals(&self) -> Result<HashMap<(usize, usize), String>, String> {
        let r: HashMap<String, String> = self
            .http
            .get(format!("{}/_peer/portals", self.url))
            .send()
            .await
            .map_err(|e| format!("/_peer/portals: {e}"))?
            .json()
            .await
            .map_err(|e| format!("/_peer/portals: {e}"))?;
        let mut map = HashMap::new();
        for (key, room) in r {
            let Some((i, j)) = key.split_once(',') else {
                continue;
            };
            if let (Ok(i), Ok(j)) = (i.parse(), j.parse()) {
                map.insert((i, j), room);
            }
        }
        Ok(map)
    }

    /// Waits (bounded) for the stand-in's queue (echoes) to drain, then a little more.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.hs.queue_len() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every (login, peer) pair, peers varying fastest (as `setup::all_routes`).
fn pairs(s: &Settings) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 0..s.shape.logins {
        for j in 0..s.shape.peers {
            out.push((i, j));
        }
    }
    out
}

/// Opens every portal, then one burst each way; the peer's CPU per message.
pub async fn run_messages(dir: &Path, s: &Settings) -> Result<Figures, String> {
    let peer = start(dir, s, s.shape.logins, "messages", None).await?;
    let pid = peer.proc.pid();
    let ticks = procs::clock_ticks();
    let seq = Seq::default();
    let all = pairs(s);

    // Portals: one message per (login, peer) makes each room.
    let tracker = &peer.hs.to_matrix;
    tracker.reset();
    let opening: Vec<(usize, usize, u64)> = all
        .iter()
        .map(|(i, j)| {
            let n = seq.next();
            tracker.send(n, Instant::now());
            (*i, *j, n)
        })
        .collect();
    peer.deliver(&opening).await?;
    let opened = tracker.wait(all.len(), Duration::from_secs(120)).await;
    if opened.arrived < all.len() {
        return Err(format!(
            "only {} of {} portals opened",
            opened.arrived,
            all.len()
        ));
    }
    let portals = peer.portals().await?;
    if portals.len() < all.len() {
        return Err(format!(
            "{} of {} portal rooms known",
            portals.len(),
            all.len()
        ));
    }
    peer.settle().await;
    eprintln!("[mautrix] pid {pid}, {} portals ready", portals.len());

    // IM → Matrix.
    let n = s.messages;
    tracker.reset();
    let req0 = peer.hs.request_counts().1;
    let cpu0 = procs::cpu_time(pid, ticks);
    let items: Vec<(usize, usize, u64)> = (0..n)
        .map(|k| {
            let (i, j) = all[k % all.len()];
            let q = seq.next();
            tracker.send(q, Instant::now());
            (i, j, q)
        })
        .collect();
    peer.deliver(&items).await?;
    let a = tracker.wait(n, s.limit).await;
    peer.settle().await;
    let cpu_a = procs::cpu_time(pid, ticks).saturating_sub(cpu0);
    eprintln!(
        "[mautrix] IM → Matrix: {}/{} in {:.2} s = {:.0} msg/s, CPU {:.2} s",
        a.arrived,
        a.sent,
        a.elapsed.as_secs_f64(),
        a.rate(),
        cpu_a.as_secs_f64()
    );
    eprintln!(
        "[mautrix] IM → Matrix requests per message: {}",
        per_message(&req0, &peer.hs.request_counts().1, a.arrived)
    );

    // Matrix → IM.
    let before = peer.received(0, Duration::ZERO).await?;
    let req0 = peer.hs.request_counts().1;
    let cpu0 = procs::cpu_time(pid, ticks);
    let t0 = Instant::now();
    let events: Vec<Value> = (0..n)
        .filter_map(|k| {
            let (i, j) = all[k % all.len()];
            let room = portals.get(&(i, j))?;
            let content = json!({ "msgtype": "m.text", "body": format!("bench {}", seq.next()) });
            Some(
                peer.hs
                    .room_event(room, &mx_user(i), "m.room.message", content),
            )
        })
        .collect();
    peer.hs.push_events(events);
    let got = peer.received(before + n, s.limit).await? - before;
    let elapsed = t0.elapsed();
    peer.settle().await;
    let cpu_b = procs::cpu_time(pid, ticks).saturating_sub(cpu0);
    let rate_b = got as f64 / elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "[mautrix] Matrix → IM: {got}/{n} in {:.2} s = {rate_b:.0} msg/s, CPU {:.2} s",
        elapsed.as_secs_f64(),
        cpu_b.as_secs_f64()
    );
    eprintln!(
        "[mautrix] Matrix → IM requests per message: {}",
        per_message(&req0, &peer.hs.request_counts().1, got)
    );
    let per = |cpu: Duration, k: usize| cpu.as_secs_f64() * 1e6 / k.max(1) as f64;
    Ok(Figures {
        to_matrix_us: (a.arrived == a.sent).then(|| per(cpu_a, a.arrived)),
        to_matrix_rate: a.rate(),
        to_im_us: (got >= n).then(|| per(cpu_b, got)),
        to_im_rate: rate_b,
        to_matrix_arrived: (a.arrived, a.sent),
        to_im_arrived: (got, n),
    })
}

/// Homeserver requests by endpoint between two counts, per message ("none" if none).
fn per_message(
    before: &HashMap<&'static str, u64>,
    after: &HashMap<&'static str, u64>,
    n: usize,
) -> String {
    let mut by: Vec<(&str, u64)> = after
        .iter()
        .map(|(k, v)| (*k, v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    by.sort();
    if by.is_empty() {
        return "none".into();
    }
    by.iter()
        .map(|(k, v)| format!("{k} {:.2}", *v as f64 / n.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The smallest VmRSS over a second after a short rest (the idle figure).
async fn idle_rss(pid: u32) -> u64 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut least = u64::MAX;
    for _ in 0..10 {
        least = least.min(procs::rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    least
}

/// KiB per idle login: (RSS with `BENCH_PEER_IDLE_LOGINS` logins − RSS with 1) / (logins − 1).
async fn per_login(dir: &Path, s: &Settings, tag: &str, im: Option<&str>) -> Result<f64, String> {
    let one = {
        let peer = start(dir, s, 1, &format!("{tag}-1"), im).await?;
        idle_rss(peer.proc.pid()).await
    };
    let n = s.idle_logins;
    let many = {
        let peer = start(dir, s, n, &format!("{tag}-{n}"), im).await?;
        idle_rss(peer.proc.pid()).await
    };
    let per = many.saturating_sub(one) as f64 / (n - 1) as f64;
    eprintln!(
        "[mautrix] idle RSS ({tag}): 1 login {one} KiB, {n} logins {many} KiB = {per:.1} KiB/login"
    );
    Ok(per)
}

/// KiB per idle login of the peer: without a connection per login (the dummy client alone),
/// and with a websocket per login to the dummy IM server (`peer.py --serve-im`, its own
/// process).
pub async fn rss_per_login(dir: &Path, s: &Settings) -> Result<(f64, f64), String> {
    let plain = per_login(dir, s, "idle", None).await?;
    let port = procs::free_port();
    let log = dir.join("im-server.log");
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let child = Command::new(&s.python)
        .arg(script())
        .args(["--serve-im", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("{}: {e}", s.python.display()))?;
    let _server = Proc::from_child(child, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "the dummy IM server did not listen; see {}",
                log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("ws://127.0.0.1:{port}/ws");
    let ws = per_login(dir, s, "idle-ws", Some(&url)).await?;
    Ok((plain, ws))
}
