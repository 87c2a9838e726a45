//! The bridge as a service under load, end to end on a real Synapse (the bridge binary, the
//! in-process Easemob sandbox, a Rust IM client as the other party, a Matrix user over the
//! client API):
//!
//! * a SIGTERM while a burst of 40 IM → Matrix messages is in flight (in the IM session, in the
//!   portal queues, in homeserver calls), then a restart on the same database, delivers every
//!   message exactly once and in order; so does a SIGTERM right after 20 Matrix → IM messages
//!   were accepted by the homeserver (transactions still arriving or being processed);
//! * a SIGKILL in the middle of the same IM → Matrix burst (no chance to drain or flush) loses
//!   and duplicates nothing either;
//! * a SIGKILL after the IM server took a Matrix → IM message but before the bridge heard back
//!   (the sandbox withholds the ack) does not make the restarted bridge send it again;
//! * in every run the bridge's debug log holds none of the secrets: the as_token, the
//!   hs_token, the Matrix user's password, the IM password given to `login`.
//!
//! Every wait is bounded, every process is stopped by a drop guard, everything listens on
//! loopback. Message counts stay modest: the test Synapse handles some 20–40 messages/s.

#![cfg(feature = "easemob")]

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::bridge::{log_leaks, read_log, tail, BridgeProcess};
use common::prometheus::MetricsClient;
use common::service_env::Env;
use common::synapse::free_port;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::OutgoingMessage;

/// Messages per IM → Matrix burst.
const IM_BURST: usize = 40;
/// Messages per Matrix → IM burst.
const MX_BURST: usize = 20;
/// How long a restarted bridge gets to deliver a whole burst.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(90);
/// How long to keep watching for late duplicates once a burst is complete.
const SETTLE: Duration = Duration::from_secs(3);

/// How the bridge is stopped in the middle of a burst.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stop {
    Term,
    Kill,
}

/// The numbers of the bodies `"{prefix}N"`, in timeline order.
fn numbered(bodies: &[String], prefix: &str) -> Vec<usize> {
    bodies
        .iter()
        .filter_map(|b| b.strip_prefix(prefix)?.parse().ok())
        .collect()
}

/// What is wrong with `seen` as the delivery of `0..n` exactly once and in order (empty when
/// nothing is).
fn delivery_problems(what: &str, seen: &[usize], n: usize) -> Vec<String> {
    let mut counts = vec![0usize; n];
    let mut foreign = Vec::new();
    for &i in seen {
        match counts.get_mut(i) {
            Some(c) => *c += 1,
            None => foreign.push(i),
        }
    }
    let lost: Vec<usize> = (0..n).filter(|&i| counts[i] == 0).collect();
    let duplicated: Vec<(usize, usize)> = (0..n)
        .filter(|&i| counts[i] > 1)
        .map(|i| (i, counts[i]))
        .collect();
    let mut problems = Vec::new();
    if !lost.is_empty() {
        problems.push(format!("{what}: {} lost: {lost:?}", lost.len()));
    }
    if !duplicated.is_empty() {
        problems.push(format!(
            "{what}: duplicated (number, times): {duplicated:?}"
        ));
    }
    if !foreign.is_empty() {
        problems.push(format!("{what}: unexpected numbers {foreign:?}"));
    }
    if !seen.windows(2).all(|w| w[0] < w[1]) && duplicated.is_empty() {
        problems.push(format!("{what}: out of order: {seen:?}"));
    }
    problems
}

/// Bridge log lines worth showing next to a delivery failure.
fn interesting_log_lines(log: &Path) -> String {
    let text = read_log(log);
    let lines: Vec<String> = text
        .lines()
        .filter(|l| {
            [
                " WARN ",
                " ERROR ",
                "shutting down",
                "imbridge::daemon: stopped",
                "restoring logins",
                "login started",
                "Connected as",
                "bridge running",
            ]
            .iter()
            .any(|p| l.contains(p))
        })
        .map(|l| l.chars().take(300).collect())
        .collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// bob sends `load 0..39` to alice in a burst; once the first few are in the Matrix room the
/// bridge is stopped (`how`), then restarted. Returns the problems found (lost, duplicated,
/// out of order, a SIGTERM that did not exit 0).
async fn im_burst_across_restart(env: &mut Env, how: Stop) -> Vec<String> {
    im_burst_across_stop(env, how, None).await
}

/// A standby bridge on the same PostgreSQL database, its health port and log.
struct Standby {
    process: BridgeProcess,
    health_port: u16,
    log: PathBuf,
}

/// Waits (bounded, 60 s) until `/health/ready` on `port` answers `status`; returns the body.
async fn wait_ready(port: u16, status: u16) -> String {
    let client = MetricsClient::new(port);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = match client.try_get("/health/ready").await {
            Ok(answer) => answer,
            Err(e) => (0, e.to_string()), // not listening yet
        };
        if code == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/health/ready on {port} stayed {code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`im_burst_across_restart`]; with a `standby`, the stopped bridge is not restarted: the
/// standby must take over (its time to do so is printed) and deliver the rest.
async fn im_burst_across_stop(env: &mut Env, how: Stop, standby: Option<Standby>) -> Vec<String> {
    let t0 = env.t0;
    let prefix = "load ";
    let bob = env.bob.clone();
    say!(t0, "bob sends {IM_BURST} texts");
    let sender = tokio::spawn(async move {
        let mut failed = Vec::new();
        for i in 0..IM_BURST {
            if let Err(e) = bob
                .send(OutgoingMessage::text(
                    Conversation::single("alice"),
                    format!("load {i}"),
                ))
                .await
            {
                failed.push(format!("load {i}: {e:?}"));
            }
        }
        (Instant::now(), failed)
    });
    // Stop as soon as the first few are in the room.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before_stop = Vec::new();
    while Instant::now() < deadline {
        before_stop = numbered(&env.mx.all_bodies(&env.dm).await, prefix);
        if before_stop.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        before_stop.len() >= 3,
        "the burst did not start arriving in the room within 30 s: {before_stop:?}\n{}",
        tail(&env.log, 30)
    );
    say!(
        t0,
        "{} in the room {before_stop:?}; {how:?} the bridge",
        before_stop.len()
    );
    let mut problems = Vec::new();
    let status = match how {
        Stop::Term => env.bridge().terminate(),
        Stop::Kill => env.bridge().kill(),
    };
    say!(t0, "bridge exited: {status:?}");
    if how == Stop::Term && !status.is_some_and(|s| s.success()) {
        problems.push(format!(
            "SIGTERM during the burst: the bridge did not exit 0 within 30 s ({status:?})"
        ));
    }
    let (sent_at, send_failures) = tokio::time::timeout(Duration::from_secs(30), sender)
        .await
        .expect("bob's burst finishes")
        .expect("sender task");
    assert!(
        send_failures.is_empty(),
        "bob's sends failed: {send_failures:?}"
    );
    say!(
        t0,
        "bob's {IM_BURST} sends done {:.2}s after the start",
        sent_at.duration_since(t0).as_secs_f64()
    );
    let at_exit = numbered(&env.mx.all_bodies(&env.dm).await, prefix);
    say!(
        t0,
        "{} in the room when the bridge exited: {at_exit:?}",
        at_exit.len()
    );
    match standby {
        None => env.restart(),
        Some(standby) => {
            let killed = Instant::now();
            let body = wait_ready(standby.health_port, 200).await;
            say!(
                t0,
                "the standby took over {:.2}s after the kill: {body}",
                killed.elapsed().as_secs_f64()
            );
            if !body.contains("\"active\"") {
                problems.push(format!("the new active bridge says {body}"));
            }
            env.bridge = Some(standby.process);
            env.log = standby.log;
        }
    }
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    let mut seen = at_exit.clone();
    let mut last_len = seen.len();
    while Instant::now() < deadline {
        seen = numbered(&env.mx.all_bodies(&env.dm).await, prefix);
        if seen.len() != last_len {
            say!(t0, "{} in the room", seen.len());
            last_len = seen.len();
        }
        let distinct: std::collections::BTreeSet<usize> = seen.iter().copied().collect();
        if distinct.len() >= IM_BURST {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(SETTLE).await;
    seen = numbered(&env.mx.all_bodies(&env.dm).await, prefix);
    say!(t0, "final: {} in the room: {seen:?}", seen.len());
    let delivery = delivery_problems(
        &format!(
            "IM → Matrix across {how:?} (stopped with {} in the room)",
            at_exit.len()
        ),
        &seen,
        IM_BURST,
    );
    if !delivery.is_empty() {
        say!(
            t0,
            "bridge log (warnings, lifecycle):\n{}",
            interesting_log_lines(&env.log)
        );
    }
    problems.extend(delivery);
    problems
}

/// mx1 sends `mx 0..19` to the DM; right after the last send returns the bridge gets SIGTERM,
/// then is restarted. bob must get each once, in order, and the room must not get echoes.
async fn matrix_burst_across_restart(env: &mut Env) -> Vec<String> {
    let t0 = env.t0;
    let prefix = "mx ";
    say!(t0, "mx1 sends {MX_BURST} texts");
    for i in 0..MX_BURST {
        let dm = env.dm.clone();
        env.mx.send_text(&dm, &format!("mx {i}")).await;
    }
    let already = numbered(&env.bob_inbox.texts_from("alice"), prefix);
    say!(
        t0,
        "sends returned; bob has {already:?}; SIGTERM the bridge"
    );
    let mut problems = Vec::new();
    let status = env.bridge().terminate();
    say!(t0, "bridge exited: {status:?}");
    if !status.is_some_and(|s| s.success()) {
        problems.push(format!(
            "SIGTERM after the Matrix burst: the bridge did not exit 0 within 30 s ({status:?})"
        ));
    }
    let at_exit = numbered(&env.bob_inbox.texts_from("alice"), prefix);
    say!(
        t0,
        "bob had {} when the bridge exited: {at_exit:?}",
        at_exit.len()
    );
    env.restart();
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    let mut last_len = at_exit.len();
    while Instant::now() < deadline {
        let seen = numbered(&env.bob_inbox.texts_from("alice"), prefix);
        if seen.len() != last_len {
            say!(t0, "bob has {}", seen.len());
            last_len = seen.len();
        }
        let distinct: std::collections::BTreeSet<usize> = seen.iter().copied().collect();
        if distinct.len() >= MX_BURST {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let seen = numbered(&env.bob_inbox.texts_from("alice"), prefix);
    say!(t0, "final: bob has {}: {seen:?}", seen.len());
    problems.extend(delivery_problems(
        &format!(
            "Matrix → IM across SIGTERM (bob had {} at the exit)",
            at_exit.len()
        ),
        &seen,
        MX_BURST,
    ));
    // Each Matrix message is in the room once: no echo of alice's own sends as her ghost.
    let in_room = numbered(&env.mx.all_bodies(&env.dm).await, prefix);
    problems.extend(delivery_problems(
        "Matrix → IM: the Matrix room (echoes)",
        &in_room,
        MX_BURST,
    ));
    if !problems.is_empty() {
        say!(
            t0,
            "bridge log (warnings, lifecycle):\n{}",
            interesting_log_lines(&env.log)
        );
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_under_load_loses_and_duplicates_nothing() {
    let mut env = Env::start("restart", "").await;
    env.login().await;
    env.open_dm().await;
    let mut problems = im_burst_across_restart(&mut env, Stop::Term).await;
    // Matrix → IM works again before the next burst (the login was restored).
    env.mx.send_text(&env.dm, "back again").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "back again", Duration::from_secs(30))
            .await,
        "Matrix → IM does not work after the restart\n{}",
        tail(&env.log, 30)
    );
    problems.extend(matrix_burst_across_restart(&mut env).await);
    problems.extend(env.stop_and_find_leaks());
    say!(env.t0, "problems: {problems:#?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    say!(env.t0, "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_under_load_loses_nothing() {
    let mut env = Env::start("crash", "").await;
    env.login().await;
    env.open_dm().await;
    let mut problems = im_burst_across_restart(&mut env, Stop::Kill).await;
    problems.extend(env.stop_and_find_leaks());
    say!(env.t0, "problems: {problems:#?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    say!(env.t0, "done");
}

/// The crash window of Matrix → IM: the IM server has taken a message (bob has it) but the
/// bridge has not heard back (the sandbox withholds the ack) when it is SIGKILLed, so the
/// message is neither mapped nor acknowledged in the Matrix inbox. After the restart the
/// event is replayed; the send finds the message in history under its transaction id and
/// does not send it again: bob has it once, and the next message goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_im_server_took_a_message_does_not_send_it_again() {
    let mut env = Env::start("sendonce", "").await;
    env.login().await;
    env.open_dm().await;
    let t0 = env.t0;
    let held = "taken by the server, never acknowledged";
    env.sandbox.state.withhold_acks(held);
    env.mx.send_text(&env.dm, held).await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == held, Duration::from_secs(30))
            .await,
        "bob never got the message\n{}",
        tail(&env.log, 30)
    );
    say!(t0, "bob has it, the bridge has no ack: SIGKILL");
    env.bridge().kill();
    env.sandbox.state.stop_withholding_acks();
    env.restart();
    env.mx.send_text(&env.dm, "after the crash").await;
    assert!(
        env.bob_inbox
            .wait("alice", |t| t == "after the crash", Duration::from_secs(60))
            .await,
        "Matrix → IM does not work after the restart\n{}",
        tail(&env.log, 30)
    );
    tokio::time::sleep(SETTLE).await;
    let texts = env.bob_inbox.texts_from("alice");
    say!(t0, "bob has {texts:?}");
    let copies = texts.iter().filter(|t| *t == held).count();
    let log = read_log(&env.log);
    assert!(
        log.contains("Matrix events left from an earlier run are replayed"),
        "the event was not replayed\n{}",
        tail(&env.log, 30)
    );
    assert_eq!(copies, 1, "bob got {copies} copies: {texts:?}");
    let problems = env.stop_and_find_leaks();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Failover (issue 14 item 5): two bridge processes on one PostgreSQL database; the second
/// stands by (`/health/ready` 503 `standby`) while the first is active (200 `active`). The
/// active one is SIGKILLed in the middle of an IM → Matrix burst; the standby takes over
/// (the time is printed), and the burst arrives whole, once each, in order; Matrix → IM works
/// through the new active bridge. Skipped, saying why, where PostgreSQL is not available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_after_a_crash_without_loss() {
    let (active_port, standby_port) = (free_port(), free_port());
    let metrics = |port: u16| format!("metrics:\n  enabled: true\n  listen: 127.0.0.1:{port}\n");
    let Some(mut env) = Env::start_on_postgres("failover", &metrics(active_port)).await else {
        return;
    };
    env.login().await;
    env.open_dm().await;
    let active_body = wait_ready(active_port, 200).await;
    assert!(active_body.contains("\"active\""), "{active_body}");

    // The standby: the same config but for its health port.
    let config = std::fs::read_to_string(&env.config).expect("config");
    let standby_config = env.config.with_file_name("standby.yaml");
    std::fs::write(
        &standby_config,
        config.replace(&metrics(active_port), &metrics(standby_port)),
    )
    .expect("standby config");
    let standby_log = env.log.with_file_name("standby.log");
    let process = BridgeProcess::start(&standby_config, &standby_log, env.as_port);
    let body = wait_ready(standby_port, 503).await;
    assert!(body.contains("standby"), "{body}");
    say!(env.t0, "standby {} waits: {body}", process.pid());

    let standby = Standby {
        process,
        health_port: standby_port,
        log: standby_log,
    };
    let mut problems = im_burst_across_stop(&mut env, Stop::Kill, Some(standby)).await;
    env.mx.send_text(&env.dm, "through the standby").await;
    if !env
        .bob_inbox
        .wait(
            "alice",
            |t| t == "through the standby",
            Duration::from_secs(30),
        )
        .await
    {
        problems.push(format!(
            "Matrix → IM does not work after the takeover\n{}",
            tail(&env.log, 30)
        ));
    }
    let first_log = env.log.with_file_name("bridge.log");
    let secrets = env.secrets();
    let secrets: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    problems.extend(log_leaks(&first_log, &secrets));
    problems.extend(env.stop_and_find_leaks());
    say!(env.t0, "problems: {problems:#?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
