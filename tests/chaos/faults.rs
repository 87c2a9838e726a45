//! The faults of a chaos run: which, how many (scaled to the run's size, each kind at least
//! once), when (spread over the run), and how each is done: the bridge SIGKILLed and started
//! again, the homeserver restarted, live IM sockets of the bridge's logins dropped through the
//! sandbox's fault endpoint, one login's token expired and a new one given with `relogin`,
//! PostgreSQL restarted.

use std::time::{Duration, Instant};

use imbridge::store::testing::PgCluster;
use serde_json::{json, Value};

use crate::procs::{APP, PASSWORD};
use crate::side::Rig;
use crate::Settings;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    KillBridge,
    RestartHomeserver,
    /// Drop this many live sockets of the bridge's logins.
    DropSockets(usize),
    ExpireToken,
    RestartDatabase,
}

/// Sockets dropped over a whole run.
const SOCKETS: usize = 20;

/// A time a login was out (its token expired until the `relogin` was confirmed): Matrix →
/// IM messages sent to its chats then may be refused rather than bridged.
#[derive(Debug, Clone)]
pub struct Outage {
    pub login: usize,
    pub from: Instant,
    pub to: Instant,
}

/// The faults, each at a fraction (0..1) of the run: for 10 000 messages 5 bridge kills, 1
/// homeserver restart, 20 dropped sockets (one at a time), 1 token expiry, 1 database
/// restart (on PostgreSQL); fewer kills and drop rounds for fewer messages (at least 2 and
/// 4; still 20 sockets in all), the other kinds once.
pub fn plan(s: &Settings, postgres: bool) -> Vec<(f64, Fault)> {
    let scale = s.messages as f64 / 10_000.0;
    let kills = ((5.0 * scale).ceil() as usize).clamp(2, 5);
    let drops = ((SOCKETS as f64 * scale).ceil() as usize).clamp(4, SOCKETS);
    let per_drop = SOCKETS.div_ceil(drops);
    let mut kinds = vec![
        (kills, Fault::KillBridge),
        (drops, Fault::DropSockets(per_drop)),
        (1, Fault::RestartHomeserver),
        (1, Fault::ExpireToken),
    ];
    if postgres {
        kinds.push((1, Fault::RestartDatabase));
    }
    let mut plan = Vec::new();
    for (k, (count, fault)) in kinds.iter().enumerate() {
        // Evenly spread, each kind shifted a little so kinds do not coincide.
        let shift = k as f64 * 0.37;
        for n in 0..*count {
            let at = ((n as f64 + 0.5 + shift / kinds.len() as f64) / *count as f64).min(0.99);
            plan.push((0.05 + 0.8 * at, *fault));
        }
    }
    plan.sort_by(|a, b| a.0.total_cmp(&b.0));
    plan
}

/// When the faults that matter to the verdict happened.
#[derive(Default)]
pub struct Timeline {
    /// Token outages.
    pub outages: Vec<Outage>,
    /// When each homeserver restart began and when the homeserver was back.
    pub homeserver_restarts: Vec<(Instant, Instant)>,
}

/// Does the faults of `plan` one after the other at their times over `run` (a late one
/// right away).
pub async fn run(
    rig: &mut Rig,
    mut cluster: Option<&mut PgCluster>,
    plan: &[(f64, Fault)],
    run: Duration,
    t0: Instant,
) -> Timeline {
    let start = Instant::now();
    let mut timeline = Timeline::default();
    for (at, fault) in plan {
        let due = start + run.mul_f64(*at);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let result = match fault {
            Fault::KillBridge => tokio::task::block_in_place(|| {
                rig.kill_and_restart_bridge(Duration::from_millis(500))
            }),
            Fault::RestartHomeserver => {
                let began = Instant::now();
                rig.restart_homeserver(Duration::from_secs(5)).await;
                timeline.homeserver_restarts.push((began, Instant::now()));
                Ok(())
            }
            Fault::DropSockets(n) => drop_sockets(rig, *n).await,
            Fault::ExpireToken => expire_token(rig).await.map(|o| timeline.outages.push(o)),
            Fault::RestartDatabase => match cluster.as_deref_mut() {
                Some(c) => tokio::task::block_in_place(|| {
                    c.restart()?;
                    // A bridge that lost its database lease stops at once (failover); the
                    // service manager starts it again, as systemd's Restart= does.
                    std::thread::sleep(Duration::from_secs(2));
                    if !rig.bridge().running() {
                        say!(
                            t0,
                            "the bridge stopped with the database; starting it again"
                        );
                    }
                    rig.recover_after_database_restart()
                }),
                None => Err("no database to restart".into()),
            },
        };
        match result {
            Ok(()) => say!(t0, "fault {fault:?} done"),
            Err(e) => say!(t0, "fault {fault:?} FAILED: {e}"),
        }
    }
    timeline
}

fn rest_base(port: u16) -> String {
    let (org, app) = APP.split_once('#').unwrap_or((APP, ""));
    format!("http://127.0.0.1:{port}/{org}/{app}")
}

/// A token for `user` from the sandbox (`POST /token`, password grant).
pub async fn fetch_token(port: u16, user: &str) -> Result<String, String> {
    let body = json!({ "grant_type": "password", "username": user, "password": PASSWORD });
    let v = post(port, "token", None, body).await?;
    v["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no access_token in {v}"))
}

async fn post(port: u16, path: &str, bearer: Option<&str>, body: Value) -> Result<Value, String> {
    let mut req = reqwest::Client::new()
        .post(format!("{}/{path}", rest_base(port)))
        .json(&body)
        .timeout(Duration::from_secs(10));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| format!("{path}: {e}"))?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("{path}: {status} {v}"));
    }
    Ok(v)
}

/// Drops `n` live sockets of the bridge's logins, waiting (bounded, 10 s) for sockets to drop
/// when fewer are up (right after a bridge restart its logins are still connecting).
async fn drop_sockets(rig: &Rig, n: usize) -> Result<(), String> {
    let peer = "p0";
    let token = fetch_token(rig.sandbox_port, peer).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut dropped = 0;
    while dropped < n {
        let body = json!({ "count": n - dropped, "users": rig.logins });
        let v = post(rig.sandbox_port, "sandbox/drop_sockets", Some(&token), body).await?;
        dropped += v["data"]["dropped"].as_u64().unwrap_or(0) as usize;
        if dropped < n {
            if Instant::now() > deadline {
                return Err(format!("dropped {dropped} of {n} sockets"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}

/// Expires the token of the login by token, waits for the bot to say it is logged out, then
/// gives it a new token with `relogin`.
async fn expire_token(rig: &mut Rig) -> Result<Outage, String> {
    let (i, token) = rig.token.clone().ok_or("no login by token")?;
    let login = rig.logins[i].clone();
    let before = rig.bot_notices(i).await.len();
    let from = Instant::now();
    let path = format!("sandbox/users/{login}/token/expire");
    post(rig.sandbox_port, &path, Some(&token), json!({})).await?;
    let told = rig
        .wait_notice(
            i,
            before,
            |n| n.contains(&format!("Logged out of {login}")),
            Duration::from_secs(60),
        )
        .await;
    if let Err(e) = &told {
        eprintln!("NOTE: the bridge did not say {login} is logged out: {e}");
    }
    // Leave it out a little while messages keep coming from both sides.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let new = fetch_token(rig.sandbox_port, &login).await?;
    let text = format!("relogin token {login} {new}");
    let done = |n: &str| n.starts_with(&format!("Logged in as {login}"));
    rig.command(i, &text, done, Duration::from_secs(60)).await?;
    rig.token = Some((i, new));
    Ok(Outage {
        login: i,
        from,
        to: Instant::now(),
    })
}
