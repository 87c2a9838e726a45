//! The chaos run (`scripts/chaos.sh`; ignored by the default `cargo test`): messages both ways
//! between IM peers (Rust Easemob clients against the sandbox process) and Matrix users in
//! portals, through the bridge as in production (the `imbridge` binary, its own process),
//! while faults hit it: the bridge SIGKILLed and restarted, the homeserver restarted, live IM
//! sockets of the bridge's logins dropped, one login's token expired (then `relogin` with a
//! new one), and on PostgreSQL the database restarted. After the last fault it waits
//! (bounded) for the system to settle and reads what arrived on each receiving side (the
//! Matrix room timelines, the IM peers' inboxes) and prints per chat: sent, bridged, lost,
//! duplicated, out of order, and the closing line
//! `chaos: sent N, lost L, duplicated D, out of order O`. The test fails unless L, D, O are 0.
//!
//! The homeserver is the stand-in of `benches/standin` (fast) or a real Synapse (slow); the
//! stand-in's modules are shared with that benchmark, not copied.
//!
//! Settings (environment; defaults in brackets): `CHAOS_MESSAGES` [10000] in all, half each
//! way; `CHAOS_HOMESERVER` [standin] or `synapse`; `CHAOS_STORE` [sled] or `postgres`;
//! `CHAOS_LOGINS` [20] × `CHAOS_PEERS` [2] = chats; `CHAOS_RATE` messages/s over the run
//! [200 on the stand-in, 25 on Synapse, less if the run would last under 30 s]; `CHAOS_SETTLE_SECS` [120 / 300] bound of the wait
//! for the last messages; `CHAOS_KEEP` keeps the run's folder (bridge config and log);
//! `CHAOS_STANDBY` [1]: on PostgreSQL a second bridge process stands by for the database
//! lease, so every SIGKILL of the active bridge is a failover (the standby takes over, timed;
//! the killed one comes back as the next standby); `0` restarts the killed bridge instead.

#![cfg(feature = "easemob")]

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

#[allow(dead_code)]
#[path = "../../benches/standin/homeserver.rs"]
mod homeserver;
#[allow(dead_code)]
#[path = "../../benches/standin/im.rs"]
mod im;
#[allow(dead_code)]
#[path = "../../benches/standin/procs.rs"]
mod procs;
#[allow(dead_code)]
#[path = "../../benches/standin/setup.rs"]
mod setup;
#[allow(dead_code)]
#[path = "../../benches/standin/tracker.rs"]
mod tracker;

mod faults;
mod side;
mod synapse_bed;
mod tally;
mod traffic;

use std::time::{Duration, Instant};

use procs::StoreChoice;

/// The run's sizes, from the environment.
pub struct Settings {
    pub messages: usize,
    pub synapse: bool,
    pub postgres: bool,
    /// On PostgreSQL, a standby bridge beside the active one (`CHAOS_STANDBY`, on unless 0).
    pub standby: bool,
    pub logins: usize,
    pub peers: usize,
    pub rate: f64,
    pub settle: Duration,
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The run lasts at least this long, so the faults fall among the messages.
const MIN_RUN_SECS: f64 = 30.0;

/// 200 messages/s on the stand-in, 25 on Synapse, slower when that would end the run
/// before [`MIN_RUN_SECS`].
fn default_rate(messages: usize, synapse: bool) -> f64 {
    let fastest = if synapse { 25.0 } else { 200.0 };
    (messages as f64 / MIN_RUN_SECS).min(fastest)
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let synapse = match std::env::var("CHAOS_HOMESERVER").as_deref() {
            Ok("synapse") => true,
            Ok("standin") | Err(_) => false,
            Ok(other) => return Err(format!("CHAOS_HOMESERVER={other}: use standin or synapse")),
        };
        let postgres = match std::env::var("CHAOS_STORE").as_deref() {
            Ok("postgres") => true,
            Ok("sled") | Err(_) => false,
            Ok(other) => return Err(format!("CHAOS_STORE={other}: use sled or postgres")),
        };
        let messages = env_num("CHAOS_MESSAGES", 10_000usize).max(2);
        Ok(Self {
            messages,
            synapse,
            postgres,
            standby: std::env::var("CHAOS_STANDBY").map_or(true, |v| v.trim() != "0"),
            logins: env_num("CHAOS_LOGINS", 20usize).clamp(1, 200),
            peers: env_num("CHAOS_PEERS", 2usize).clamp(1, 20),
            rate: env_num("CHAOS_RATE", default_rate(messages, synapse)).clamp(1.0, 10_000.0),
            settle: Duration::from_secs(env_num(
                "CHAOS_SETTLE_SECS",
                if synapse { 300u64 } else { 120 },
            )),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the chaos run takes minutes: scripts/chaos.sh"]
async fn chaos() {
    let settings = Settings::from_env().unwrap_or_else(|e| panic!("{e}"));
    // The bridge logs each Matrix event it takes in at debug (`imbridge::core`): the verdict
    // reads that to tell a message the homeserver never pushed from one the bridge lost.
    if std::env::var_os("BENCH_BRIDGE_LOG").is_none() {
        std::env::set_var("BENCH_BRIDGE_LOG", "info,imbridge::core=debug");
    }
    let t0 = Instant::now();
    let dir = std::env::temp_dir().join(format!("imbridge-chaos-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("run folder");

    // PostgreSQL: a durable throw-away cluster of this run, restarted once as a fault.
    let mut cluster = None;
    let store = if settings.postgres {
        let c = imbridge::store::testing::PgCluster::start_durable()
            .unwrap_or_else(|why| panic!("--store postgres: no PostgreSQL ({why})"));
        let uri = c.create_database().expect("a database for the bridge");
        cluster = Some(c);
        StoreChoice::Postgres(uri)
    } else {
        StoreChoice::Sled
    };

    let mut rig = side::Rig::start(&dir, &store, &settings)
        .await
        .unwrap_or_else(|e| panic!("setting up: {e}"));
    say!(
        t0,
        "{} logins, {} chats ready; {} messages at {:.0}/s",
        settings.logins,
        rig.portals.len(),
        settings.messages,
        settings.rate
    );
    rig.use_token_login(0)
        .await
        .unwrap_or_else(|e| panic!("token login: {e}"));
    // On PostgreSQL a standby waits for the lease: each bridge kill is then a failover.
    if settings.postgres && settings.standby {
        rig.start_standby()
            .unwrap_or_else(|e| panic!("standby: {e}"));
        say!(t0, "a standby bridge waits for the database lease");
    }

    let plan = faults::plan(&settings, cluster.is_some());
    let run_time = Duration::from_secs_f64(settings.messages as f64 / settings.rate);
    let traffic = traffic::start(&rig, &settings, run_time);
    let timeline = faults::run(&mut rig, cluster.as_mut(), &plan, run_time, t0).await;
    let outages = &timeline.outages;
    for o in outages {
        let out = o.to.saturating_duration_since(o.from).as_secs_f64();
        say!(
            t0,
            "login {} was out (token expired) for {out:.1} s",
            o.login
        );
    }
    let sent = traffic.finish().await;
    if !rig.takeovers.is_empty() {
        let secs: Vec<String> = rig
            .takeovers
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect();
        say!(
            t0,
            "failover: the standby took over {} times, in {} s after each SIGKILL",
            secs.len(),
            secs.join(", ")
        );
    }
    say!(t0, "traffic done; settling (at most {:?})", settings.settle);

    let quiet = Duration::from_secs(if settings.synapse { 60 } else { 20 });
    let received = tally::settle(&rig, &sent, outages, settings.settle, quiet, t0).await;
    let notices = rig.portal_notices().await;
    let report = tally::Report::new(&rig, &sent, &received, &timeline, &notices);
    report.print();
    tally::print_notices(&notices);
    say!(t0, "bridge log: {}", rig.log.display());
    drop(rig);
    drop(cluster);
    if std::env::var_os("CHAOS_KEEP").is_none() && report.clean() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(report.clean(), "{}", report.closing_line());
}
