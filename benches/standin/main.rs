//! Stand-in homeserver benchmark (`cargo bench --bench standin`): the bridge runs as in
//! production (the `imbridge` binary with a config, its own process) between the Easemob
//! sandbox (its own process) and a stand-in homeserver in this process that answers the
//! client-server API at once and pushes appservice transactions as Synapse does (≤ 100
//! events, one in flight, retried on failure). For the sled store and PostgreSQL it prints
//! IM → Matrix and Matrix → IM throughput across 1 and across all portals, latency at half
//! the measured maximum rate, and the bridge's CPU per message (`/proc/<pid>/stat`).
//! PostgreSQL is a throw-away cluster on loopback with fsync on (as in production).
//!
//! Sizes come from the environment (defaults in brackets): `BENCH_MESSAGES` [10000] per
//! all-portal phase, `BENCH_MESSAGES_ONE` [5000] per one-portal phase, `BENCH_LOGINS` [10]
//! bridge users × `BENCH_PEERS` [10] IM peers = portals, `BENCH_WINDOW` [1000] IM sends in
//! flight, `BENCH_LATENCY_SECS` [3] of paced traffic (at most `BENCH_LATENCY_MAX` [10000]
//! messages), `BENCH_STORES` [sled,postgres], `BENCH_ECHO` [1] (0: the stand-in does not push
//! the bridge's own events back), `BENCH_PHASE_LIMIT_SECS` [30] per phase; `BENCH_KEEP` set keeps the bridge's folder
//! (config, log, sled store) in the temp dir; `BENCH_BRIDGE_LOG` is the bridge's `RUST_LOG`;
//! `BENCH_IMBRIDGE` names another `imbridge` binary for the bridge and the sandbox.

mod homeserver;
// Shared with the chaos run (tests/chaos/), which uses some items this benchmark does not.
#[allow(dead_code)]
mod im;
mod phases;
#[allow(dead_code)]
mod procs;
mod report;
#[allow(dead_code)]
mod setup;
mod tracker;

use std::time::Duration;

use phases::Measured;
use procs::StoreChoice;
use report::Row;
use setup::Shape;

/// Benchmark sizes, from the environment.
struct Settings {
    messages: usize,
    messages_one: usize,
    window: usize,
    latency_secs: f64,
    latency_max: usize,
    limit: Duration,
    shape: Shape,
    stores: Vec<String>,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Settings {
    fn from_env() -> Self {
        Self {
            messages: env_num("BENCH_MESSAGES", 10_000usize).max(1),
            messages_one: env_num("BENCH_MESSAGES_ONE", 5_000usize).max(1),
            window: env_num("BENCH_WINDOW", 1_000usize).max(1),
            latency_secs: env_num("BENCH_LATENCY_SECS", 3.0f64).clamp(0.5, 60.0),
            latency_max: env_num("BENCH_LATENCY_MAX", 10_000usize).max(10),
            limit: Duration::from_secs(env_num("BENCH_PHASE_LIMIT_SECS", 30u64).clamp(5, 600)),
            shape: Shape {
                logins: env_num("BENCH_LOGINS", 10usize).clamp(1, 1000),
                peers: env_num("BENCH_PEERS", 10usize).clamp(1, 1000),
                echo: env_num("BENCH_ECHO", 1u8) != 0,
            },
            stores: std::env::var("BENCH_STORES")
                .unwrap_or_else(|_| "sled,postgres".into())
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

/// Runs every phase on one store; rows for the table.
async fn run_store(name: &str, store: StoreChoice, s: &Settings) -> Result<Vec<Row>, String> {
    let dir = std::env::temp_dir().join(format!("imbridge-standin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let t0 = std::time::Instant::now();
    let bed = setup::start(&dir, &store, &s.shape).await?;
    let portals = bed.portals.len();
    eprintln!(
        "[{name}] bridge pid {}, {} logins, {portals} portals ready in {:.1} s",
        bed.bridge.pid(),
        bed.logins.len(),
        t0.elapsed().as_secs_f64()
    );
    let ticks = procs::clock_ticks();
    let all = setup::all_routes(&bed.logins, s.shape.peers);
    let one = &all[..1];
    let all_portals: Vec<(usize, usize)> = all
        .iter()
        .map(|r| {
            let i = bed.logins.iter().position(|l| *l == r.to).unwrap_or(0);
            (i, r.peer)
        })
        .collect();
    let mut rows = Vec::new();
    let mut add = |what: &str, portals: usize, target: &str, m: Measured| {
        eprintln!(
            "[{name}] {what} × {portals}: {}/{} in {:.2} s = {:.0} msg/s",
            m.outcome.arrived,
            m.outcome.sent,
            m.outcome.elapsed.as_secs_f64(),
            m.outcome.rate()
        );
        rows.push(Row::new(name, what, portals, target, m));
    };
    let w = s.window;
    let lim = s.limit;
    let m = phases::im_to_matrix(&bed, one, s.messages_one, w, None, lim, ticks).await;
    add("IM → Matrix", 1, "", m);
    let m = phases::im_to_matrix(&bed, &all, s.messages, w, None, lim, ticks).await;
    let im_max = m.outcome.rate();
    add("IM → Matrix", portals, "≥ 10000 msg/s", m);
    let m = phases::matrix_to_im(&bed, &all_portals[..1], s.messages_one, None, lim, ticks).await;
    add("Matrix → IM", 1, "", m);
    let m = phases::matrix_to_im(&bed, &all_portals, s.messages, None, lim, ticks).await;
    let mx_max = m.outcome.rate();
    add("Matrix → IM", portals, "≥ 10000 msg/s", m);

    let paced = |max: f64| {
        let rate = (max / 2.0).max(1.0);
        let n = ((rate * s.latency_secs) as usize).clamp(10, s.latency_max);
        (rate, n)
    };
    let (rate, n) = paced(im_max);
    let m = phases::im_to_matrix(&bed, &all, n, w, Some(rate), lim, ticks).await;
    add(
        &format!("IM → Matrix @ {rate:.0}/s"),
        portals,
        "p99 ≤ 5 ms",
        m,
    );
    let (rate, n) = paced(mx_max);
    let m = phases::matrix_to_im(&bed, &all_portals, n, Some(rate), lim, ticks).await;
    add(
        &format!("Matrix → IM @ {rate:.0}/s"),
        portals,
        "p99 ≤ 5 ms",
        m,
    );

    let rss = procs::rss_kib(bed.bridge.pid());
    eprintln!(
        "[{name}] bridge RSS at the end: {rss} KiB; log {}",
        bed.log.display()
    );
    drop(bed);
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(rows)
}

async fn run(s: Settings) {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for name in &s.stores {
        let result = match name.as_str() {
            "sled" => run_store(name, StoreChoice::Sled, &s).await,
            "postgres" => match imbridge::store::testing::PgCluster::start_durable() {
                Ok(cluster) => {
                    let result = match cluster.create_database() {
                        Ok(uri) => run_store(name, StoreChoice::Postgres(uri), &s).await,
                        Err(why) => Err(format!("skipped: no PostgreSQL ({why})")),
                    };
                    drop(cluster);
                    result
                }
                Err(why) => Err(format!("skipped: no PostgreSQL ({why})")),
            },
            other => Err(format!("unknown store {other:?} (use sled, postgres)")),
        };
        match result {
            Ok(r) => rows.extend(r),
            Err(why) => skipped.push(format!("{name}: {why}")),
        }
    }
    report::print(&rows, &skipped, &s.shape);
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("(run with `cargo bench --bench standin` for figures)");
        return;
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(run(Settings::from_env()));
}
