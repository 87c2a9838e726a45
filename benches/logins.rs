//! Logins benchmark (`cargo bench --bench logins`, wrapped by `scripts/bench-logins.sh`): how
//! many IM logins one bridge process holds and how it takes a reconnect storm. The bridge
//! runs as in production (the `imbridge` binary with a config, its own process, metrics
//! listener on), the Easemob sandbox in its own process with a data folder, the stand-in
//! homeserver of the `standin` bench in this process.
//!
//! Steps: start the bridge with no logins and read its idle RSS; log `BENCH_LOGINS` [200]
//! users in through the bot (a DM with the bot, then `login <user> <password>`, in batches of
//! `BENCH_LOGIN_BATCH` [250]); stop the bridge and start it again on the same store, timing
//! start → every login `connected` (`imbridge_logins{state="connected"}` on `/metrics`),
//! with `bridge.max_concurrent_connects` = `BENCH_CONNECTS` [32]; read the idle RSS again
//! (`/proc/<pid>/status` VmRSS) for KiB per login; then SIGKILL the sandbox, restart it on
//! the same data folder and time kill → every login connected again, sampling the bridge's
//! RSS every 50 ms for the peak. Every wait is bounded by `BENCH_LIMIT_SECS` [300].
//! The closing line is
//! `logins N: rss_per_login_kib K, connect_all_s T, storm_recover_s R, storm_peak_ratio P`.
//! `BENCH_KEEP` set keeps the temp folder; `BENCH_IMBRIDGE` names another binary.

#[allow(dead_code)]
#[path = "standin/homeserver.rs"]
mod homeserver;
#[allow(dead_code)]
#[path = "standin/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "standin/tracker.rs"]
mod tracker;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use homeserver::{Homeserver, DOMAIN};
use procs::{Proc, StoreChoice, PASSWORD};

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Benchmark sizes, from the environment.
struct Settings {
    logins: usize,
    batch: usize,
    connects: usize,
    limit: Duration,
}

/// What was measured.
struct Figures {
    rss_empty: u64,
    rss_idle: u64,
    connect_all: Duration,
    storm_recover: Duration,
    storm_peak: u64,
}

/// The bridge's `imbridge_logins{state="connected"}`, or `None` when /metrics did not answer.
async fn connected(http: &reqwest::Client, port: u16) -> Option<usize> {
    let text = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("imbridge_logins{state=\"connected\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as usize)
}

/// Waits (bounded) until at least `n` logins are connected, sampling the bridge's RSS; the
/// elapsed time and the peak RSS seen.
async fn wait_connected(
    http: &reqwest::Client,
    port: u16,
    pid: u32,
    n: usize,
    limit: Duration,
) -> Result<(Duration, u64), String> {
    let t0 = Instant::now();
    let mut peak = 0;
    let mut last = None;
    while t0.elapsed() < limit {
        peak = peak.max(procs::rss_kib(pid));
        last = connected(http, port).await;
        if last.is_some_and(|c| c >= n) {
            return Ok((t0.elapsed(), peak.max(procs::rss_kib(pid))));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "timed out ({limit:?}) waiting for {n} connected logins (last seen {last:?})"
    ))
}

async fn wait_for(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out ({limit:?}) waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Adds `metrics:` and `bridge.max_concurrent_connects` to the stand-in bench's config.
fn tune_config(path: &Path, metrics_port: u16, connects: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // Info lines per login and reconnect are noise at this scale.
    let text = text
        .replacen(
            "bridge:\n",
            &format!("bridge:\n  max_concurrent_connects: {connects}\n"),
            1,
        )
        .replace("logging:\n  level: info", "logging:\n  level: warn")
        + &format!("metrics:\n  enabled: true\n  listen: 127.0.0.1:{metrics_port}\n");
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Idle RSS: the bridge left alone for a moment, then the smallest of a few samples.
async fn idle_rss(pid: u32) -> u64 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut least = u64::MAX;
    for _ in 0..5 {
        least = least.min(procs::rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    least
}

async fn run(s: &Settings, dir: &Path) -> Result<Figures, String> {
    let users: Vec<String> = (0..s.logins).map(|i| format!("u{i}")).collect();
    let sandbox_port = procs::free_port();
    let sandbox_dir = dir.join("sandbox");
    let mut sandbox = procs::start_sandbox_at(sandbox_port, &users, Some(&sandbox_dir))?;

    let token = format!("bench{:0>59}", rand::random::<u32>());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("stand-in bind: {e}"))?;
    let hs_port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let as_port = procs::free_port();
    let hs = Homeserver::new(&token, &format!("http://127.0.0.1:{as_port}"), false);
    let router = homeserver::router(hs.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let pusher = tokio::spawn(hs.clone().run_pusher());
    let result = measure(
        s,
        dir,
        &users,
        &hs,
        hs_port,
        as_port,
        &token,
        sandbox_port,
        &mut sandbox,
    )
    .await;
    server.abort();
    pusher.abort();
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    s: &Settings,
    dir: &Path,
    users: &[String],
    hs: &Arc<Homeserver>,
    hs_port: u16,
    as_port: u16,
    token: &str,
    sandbox_port: u16,
    sandbox: &mut Proc,
) -> Result<Figures, String> {
    let http = reqwest::Client::new();
    let config = procs::write_config(
        dir,
        hs_port,
        as_port,
        sandbox_port,
        token,
        &StoreChoice::Sled,
    )?;
    let metrics_port = procs::free_port();
    tune_config(&config, metrics_port, s.connects)?;
    let log = dir.join("bridge.log");

    // 1. No logins: the baseline.
    let mut bridge = procs::start_bridge(&config, &log, as_port)?;
    wait_connected(
        &http,
        metrics_port,
        bridge.pid(),
        0,
        Duration::from_secs(30),
    )
    .await?;
    let rss_empty = idle_rss(bridge.pid()).await;
    eprintln!(
        "[logins] bridge pid {}, idle with 0 logins: {rss_empty} KiB",
        bridge.pid()
    );

    // 2. Logins through the bot, in batches.
    let t_login = Instant::now();
    let bot = format!("@bot:{DOMAIN}");
    let mx = |i: usize| format!("@mx{i}:{DOMAIN}");
    let mgmt = |i: usize| format!("!mgmt{i}:{DOMAIN}");
    let mut done = 0;
    while done < users.len() {
        let end = (done + s.batch).min(users.len());
        hs.push_events((done..end).map(|i| {
            let content = json!({ "membership": "invite", "is_direct": true });
            hs.member_event(&mgmt(i), &mx(i), &bot, content)
        }));
        let joined = || (done..end).all(|i| homeserver::lock(&hs.bot_joined).contains(&mgmt(i)));
        wait_for("the bot to join the management rooms", s.limit, joined).await?;
        hs.push_events((done..end).map(|i| {
            let body = format!("login {} {PASSWORD}", users[i]);
            hs.room_event(
                &mgmt(i),
                &mx(i),
                "m.room.message",
                json!({ "msgtype": "m.text", "body": body }),
            )
        }));
        wait_connected(&http, metrics_port, bridge.pid(), end, s.limit).await?;
        done = end;
        eprintln!(
            "[logins] {done} logged in ({:.1} s)",
            t_login.elapsed().as_secs_f64()
        );
    }

    // 3. Restart: start → all connected, then idle RSS.
    bridge.stop();
    let t_start = Instant::now();
    let bridge = procs::start_bridge(&config, &log, as_port)?;
    wait_connected(&http, metrics_port, bridge.pid(), users.len(), s.limit).await?;
    let connect_all = t_start.elapsed();
    eprintln!(
        "[logins] restart: {} connected {:.2} s after the bridge started",
        users.len(),
        connect_all.as_secs_f64()
    );
    let rss_idle = idle_rss(bridge.pid()).await;
    eprintln!("[logins] idle with {} logins: {rss_idle} KiB", users.len());

    // 4. The storm: SIGKILL the sandbox, restart it on its data folder.
    tokio::time::sleep(Duration::from_millis(500)).await; // its state is saved 200 ms after a change
    let t_kill = Instant::now();
    sandbox.stop();
    *sandbox = procs::start_sandbox_at(sandbox_port, users, Some(&dir.join("sandbox")))?;
    eprintln!(
        "[logins] sandbox killed and back in {:.2} s",
        t_kill.elapsed().as_secs_f64()
    );
    // Until the bridge noticed (bounded: a session may not notice before its heartbeat).
    let mut peak = procs::rss_kib(bridge.pid());
    let noticed = Instant::now();
    while noticed.elapsed() < Duration::from_secs(10) {
        peak = peak.max(procs::rss_kib(bridge.pid()));
        if connected(&http, metrics_port)
            .await
            .is_some_and(|c| c < users.len())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, storm_peak) =
        wait_connected(&http, metrics_port, bridge.pid(), users.len(), s.limit).await?;
    let storm_recover = t_kill.elapsed();
    let storm_peak = storm_peak.max(peak);
    eprintln!(
        "[logins] storm: all {} connected again {:.2} s after the kill; peak RSS {storm_peak} KiB",
        users.len(),
        storm_recover.as_secs_f64()
    );
    eprintln!("[logins] bridge log {}", log.display());
    drop(bridge);
    Ok(Figures {
        rss_empty,
        rss_idle,
        connect_all,
        storm_recover,
        storm_peak,
    })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("(run with `cargo bench --bench logins` or scripts/bench-logins.sh for figures)");
        return;
    }
    let s = Settings {
        logins: env_num("BENCH_LOGINS", 200usize).clamp(1, 20_000),
        batch: env_num("BENCH_LOGIN_BATCH", 250usize).clamp(1, 5_000),
        connects: env_num("BENCH_CONNECTS", 32usize).clamp(1, 10_000),
        limit: Duration::from_secs(env_num("BENCH_LIMIT_SECS", 300u64).clamp(10, 3600)),
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let dir = std::env::temp_dir().join(format!("imbridge-logins-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        std::process::exit(1);
    }
    let result = rt.block_on(run(&s, &dir));
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(f) => {
            let n = s.logins;
            let per = f.rss_idle.saturating_sub(f.rss_empty) as f64 / n as f64;
            let ratio = f.storm_peak as f64 / f.rss_idle.max(1) as f64;
            println!(
                "bridge RSS: {} KiB with 0 logins, {} KiB idle with {n}, peak {} KiB in the storm",
                f.rss_empty, f.rss_idle, f.storm_peak
            );
            println!(
                "targets: rss_per_login_kib ≤ 24, storm_recover_s ≤ 60, storm_peak_ratio ≤ 1.5"
            );
            println!(
                "logins {n}: rss_per_login_kib {per:.1}, connect_all_s {:.2}, storm_recover_s {:.2}, storm_peak_ratio {ratio:.2}",
                f.connect_all.as_secs_f64(),
                f.storm_recover.as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("logins benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
