//! The peer benchmark (`cargo bench --bench peer`, wrapped by `scripts/bench-peer.sh`): the
//! stand-in homeserver of `benches/standin/` drives, one after the other, imbridge (the
//! `imbridge` binary on sled with the Easemob sandbox, exactly as `cargo bench --bench
//! standin` runs it) and a minimal bridge on the mautrix Python framework with a dummy IM
//! network (`benches/peer/peer.py`, run by the Python of a venv holding the pinned
//! `benches/peer/requirements.txt`). Both get the same logins × peers = portals, the same
//! message counts and the same stand-in (echoes on); for each it reads the bridge process's
//! CPU (`utime + stime` of `/proc/<pid>/stat`) over an IM → Matrix burst and a Matrix → IM
//! burst across every portal, and prints CPU per message side by side as ratios.
//!
//! RSS per idle login of the peer: VmRSS of a peer started with 1 login and one started with
//! `BENCH_PEER_IDLE_LOGINS` logins, (difference) / (logins − 1); once with a websocket per
//! login to a dummy IM server (another process; as each of our logins holds one to the
//! sandbox), once with the dummy client alone. Ours comes from
//! `scripts/bench-logins.sh` (passed in as `BENCH_OURS_RSS_PER_LOGIN_KIB` by
//! `scripts/bench-peer.sh`), since our logins need the bot, the sandbox and a restart.
//!
//! Environment (defaults in brackets): `BENCH_MESSAGES` [10000] per burst, `BENCH_LOGINS`
//! [10] × `BENCH_PEERS` [10], `BENCH_WINDOW` [1000] IM sends in flight (imbridge side),
//! `BENCH_PHASE_LIMIT_SECS` [120], `BENCH_PEER_IDLE_LOGINS` [1000], `BENCH_PEER_PYTHON`
//! [`.venv-peer/bin/python`], `BENCH_OURS_RSS_PER_LOGIN_KIB` (none: printed as n/a),
//! `BENCH_PEER_ONLY` set skips the imbridge run, `BENCH_KEEP` keeps the temp folder.
//! Closing line:
//! `peer: cpu_per_msg_us im_to_matrix ours X mautrix Y ratio R, matrix_to_im ours X mautrix Y
//! ratio R; rss_per_login_kib ours A mautrix B ratio Q (mautrix without a connection per login
//! C)` (ratio = mautrix / ours; B with a websocket per login).

#[allow(dead_code)]
#[path = "../standin/homeserver.rs"]
mod homeserver;
#[allow(dead_code)]
#[path = "../standin/im.rs"]
mod im;
mod mautrix;
#[allow(dead_code)]
#[path = "../standin/phases.rs"]
mod phases;
#[allow(dead_code)]
#[path = "../standin/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "../standin/setup.rs"]
mod setup;
#[allow(dead_code)]
#[path = "../standin/tracker.rs"]
mod tracker;

use std::path::{Path, PathBuf};
use std::time::Duration;

use procs::StoreChoice;
use setup::Shape;

/// Benchmark sizes, from the environment.
pub struct Settings {
    pub messages: usize,
    pub window: usize,
    pub limit: Duration,
    pub shape: Shape,
    pub idle_logins: usize,
    pub python: PathBuf,
    pub ours_rss: Option<f64>,
    pub peer_only: bool,
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
            window: env_num("BENCH_WINDOW", 1_000usize).max(1),
            limit: Duration::from_secs(env_num("BENCH_PHASE_LIMIT_SECS", 120u64).clamp(5, 900)),
            shape: Shape {
                logins: env_num("BENCH_LOGINS", 10usize).clamp(1, 1000),
                peers: env_num("BENCH_PEERS", 10usize).clamp(1, 1000),
                echo: true,
            },
            idle_logins: env_num("BENCH_PEER_IDLE_LOGINS", 1000usize).clamp(2, 100_000),
            python: std::env::var_os("BENCH_PEER_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".venv-peer/bin/python")),
            ours_rss: std::env::var("BENCH_OURS_RSS_PER_LOGIN_KIB")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            peer_only: std::env::var_os("BENCH_PEER_ONLY").is_some(),
        }
    }
}

/// One bridge's figures: CPU µs per message each way, messages/s each way.
#[derive(Default, Clone, Copy)]
pub struct Figures {
    pub to_matrix_us: Option<f64>,
    pub to_matrix_rate: f64,
    pub to_im_us: Option<f64>,
    pub to_im_rate: f64,
    /// Messages that arrived of those sent, each way.
    pub to_matrix_arrived: (usize, usize),
    pub to_im_arrived: (usize, usize),
}

/// imbridge on sled, as `cargo bench --bench standin` runs it: one burst each way over
/// every portal.
async fn run_ours(dir: &Path, s: &Settings) -> Result<Figures, String> {
    let bed = setup::start(dir, &StoreChoice::Sled, &s.shape).await?;
    eprintln!(
        "[imbridge] pid {}, {} portals ready",
        bed.bridge.pid(),
        bed.portals.len()
    );
    let ticks = procs::clock_ticks();
    let all = setup::all_routes(&bed.logins, s.shape.peers);
    let portals: Vec<(usize, usize)> = all
        .iter()
        .map(|r| {
            let i = bed.logins.iter().position(|l| *l == r.to).unwrap_or(0);
            (i, r.peer)
        })
        .collect();
    let n = s.messages;
    let a = phases::im_to_matrix(&bed, &all, n, s.window, None, s.limit, ticks).await;
    let b = phases::matrix_to_im(&bed, &portals, n, None, s.limit, ticks).await;
    for (what, m) in [("IM → Matrix", &a), ("Matrix → IM", &b)] {
        eprintln!(
            "[imbridge] {what}: {}/{} in {:.2} s = {:.0} msg/s, CPU {:.2} s",
            m.outcome.arrived,
            m.outcome.sent,
            m.outcome.elapsed.as_secs_f64(),
            m.outcome.rate(),
            m.cpu.as_secs_f64()
        );
    }
    let complete = |m: &phases::Measured| m.outcome.arrived == m.outcome.sent;
    Ok(Figures {
        to_matrix_us: complete(&a).then(|| a.cpu_per_msg_us()),
        to_matrix_rate: a.outcome.rate(),
        to_im_us: complete(&b).then(|| b.cpu_per_msg_us()),
        to_im_rate: b.outcome.rate(),
        to_matrix_arrived: (a.outcome.arrived, a.outcome.sent),
        to_im_arrived: (b.outcome.arrived, b.outcome.sent),
    })
}

fn fmt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "n/a".into())
}

fn fmt1(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "n/a".into())
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}")).unwrap_or_else(|| "n/a".into())
}

/// The peer's KiB per idle login: without a connection, and with a websocket per login.
type PeerRss = Option<(f64, f64)>;

fn print(s: &Settings, ours: Option<Figures>, peer: Option<Figures>, peer_rss: PeerRss) {
    let plain = peer_rss.map(|r| r.0);
    let ws = peer_rss.map(|r| r.1);
    let o = ours.unwrap_or_default();
    let p = peer.unwrap_or_default();
    println!();
    println!(
        "peer benchmark: {} logins × {} IM peers = {} portals, {} messages per burst, echoes on",
        s.shape.logins,
        s.shape.peers,
        s.shape.logins * s.shape.peers,
        s.messages
    );
    println!(
        "| figure | imbridge (sled) | mautrix-python peer (sqlite) | ratio mautrix / imbridge |"
    );
    println!("|---|---|---|---|");
    let rows = [
        ("IM → Matrix CPU µs/message", o.to_matrix_us, p.to_matrix_us),
        ("Matrix → IM CPU µs/message", o.to_im_us, p.to_im_us),
    ];
    for (what, a, b) in rows {
        println!(
            "| {what} | {} | {} | {} |",
            fmt(a),
            fmt(b),
            fmt_ratio(ratio(a, b))
        );
    }
    let rates = [
        ("IM → Matrix messages/s", o.to_matrix_rate, p.to_matrix_rate),
        ("Matrix → IM messages/s", o.to_im_rate, p.to_im_rate),
    ];
    for (what, a, b) in rates {
        let known = |v: f64, f: &Option<Figures>| f.is_some().then_some(v);
        println!(
            "| {what} | {} | {} | {} |",
            fmt(known(a, &ours)),
            fmt(known(b, &peer)),
            fmt_ratio(ratio(known(a, &ours), known(b, &peer)))
        );
    }
    println!(
        "| RSS KiB per idle login, a websocket each | {} | {} | {} |",
        fmt1(s.ours_rss),
        fmt1(ws),
        fmt_ratio(ratio(s.ours_rss, ws))
    );
    println!(
        "| RSS KiB per idle login, peer without a connection | {} | {} | {} |",
        fmt1(s.ours_rss),
        fmt1(plain),
        fmt_ratio(ratio(s.ours_rss, plain))
    );
    for (who, f) in [("imbridge", &ours), ("mautrix", &peer)] {
        if let Some(f) = f {
            for (dir, (got, sent)) in [
                ("IM → Matrix", f.to_matrix_arrived),
                ("Matrix → IM", f.to_im_arrived),
            ] {
                if got < sent {
                    println!("{who} {dir}: only {got} of {sent} arrived within the limit (no CPU figure)");
                }
            }
        }
    }
    println!(
        "CPU: the bridge process's user + system time (/proc/<pid>/stat) over the burst and \
         its settling, per message; imbridge's includes the Easemob protocol (websocket, \
         protobuf, acks) that the peer's in-process dummy network does not have. RSS per \
         login: imbridge from scripts/bench-logins.sh (0 → N logins, each with a websocket to \
         the sandbox), the peer from 1 → {} idle logins of the dummy network, each with an \
         aiohttp websocket to a dummy IM server in another process, or with none.",
        s.idle_logins
    );
    println!(
        "peer: cpu_per_msg_us im_to_matrix ours {} mautrix {} ratio {}, matrix_to_im ours {} \
         mautrix {} ratio {}; rss_per_login_kib ours {} mautrix {} ratio {} \
         (mautrix without a connection per login {})",
        fmt(o.to_matrix_us.filter(|_| ours.is_some())),
        fmt(p.to_matrix_us.filter(|_| peer.is_some())),
        fmt_ratio(ratio(o.to_matrix_us, p.to_matrix_us)),
        fmt(o.to_im_us.filter(|_| ours.is_some())),
        fmt(p.to_im_us.filter(|_| peer.is_some())),
        fmt_ratio(ratio(o.to_im_us, p.to_im_us)),
        fmt1(s.ours_rss),
        fmt1(ws),
        fmt_ratio(ratio(s.ours_rss, ws)),
        fmt1(plain),
    );
}

async fn run(s: Settings) {
    let dir = std::env::temp_dir().join(format!("imbridge-peer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return;
    }
    let ours = if s.peer_only {
        None
    } else {
        let ours_dir = dir.join("imbridge");
        let _ = std::fs::create_dir_all(&ours_dir);
        match run_ours(&ours_dir, &s).await {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("[imbridge] failed: {e}");
                None
            }
        }
    };
    let (peer, peer_rss) = if s.python.exists() {
        let peer_dir = dir.join("mautrix");
        let _ = std::fs::create_dir_all(&peer_dir);
        let figures = match mautrix::run_messages(&peer_dir, &s).await {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("[mautrix] failed: {e}");
                None
            }
        };
        let rss = match mautrix::rss_per_login(&peer_dir, &s).await {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("[mautrix] idle logins failed: {e}");
                None
            }
        };
        (figures, rss)
    } else {
        eprintln!(
            "[mautrix] skipped: no Python at {} (scripts/bench-peer.sh makes the venv)",
            s.python.display()
        );
        (None, None)
    };
    print(&s, ours, peer, peer_rss);
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("kept {}", dir.display());
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("(run with `cargo bench --bench peer` or scripts/bench-peer.sh for figures)");
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
