//! The measured phases: a burst of messages one way (as fast as the bridge takes them) or a
//! paced stream (for latency), with the bridge's CPU time, the stand-in's request counts and
//! the transactions pushed taken before and after.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::im::{self, Route};
use crate::procs;
use crate::setup::{mx_user, Bed};
use crate::tracker::Outcome;

/// How a phase went.
pub struct Measured {
    pub outcome: Outcome,
    /// Bridge CPU time (user + system) over the phase, settling included.
    pub cpu: Duration,
    /// Wall time of the phase, settling included.
    pub wall: Duration,
    /// CPU time of the sandbox and of this process (stand-in, peers) over the phase.
    pub others_cpu: Duration,
    /// Homeserver requests by endpoint during the phase.
    pub requests: HashMap<&'static str, u64>,
    /// Transactions pushed (answered 200) and failed attempts during the phase.
    pub txns: u64,
    pub txn_failures: u64,
    /// IM sends that failed (IM → Matrix phases).
    pub send_failures: usize,
}

impl Measured {
    /// Bridge CPU per message that arrived, in µs.
    pub fn cpu_per_msg_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.outcome.arrived.max(1) as f64
    }

    /// Homeserver requests per message that arrived.
    pub fn requests_per_msg(&self) -> f64 {
        self.requests.values().sum::<u64>() as f64 / self.outcome.arrived.max(1) as f64
    }
}

struct Probe {
    cpu: Duration,
    others: Duration,
    at: Instant,
    requests: HashMap<&'static str, u64>,
    txns: u64,
    failures: u64,
}

fn probe(bed: &Bed, ticks: f64) -> Probe {
    Probe {
        cpu: procs::cpu_time(bed.bridge.pid(), ticks),
        others: procs::cpu_time(bed.sandbox.pid(), ticks)
            + procs::cpu_time(std::process::id(), ticks),
        at: Instant::now(),
        requests: bed.hs.request_counts().1,
        txns: bed.hs.txns_ok.load(Ordering::Relaxed),
        failures: bed.hs.txn_failures.load(Ordering::Relaxed),
    }
}

/// Waits (bounded) for the stand-in's queue (echoes) to drain, then a little for the bridge
/// to finish what it started.
async fn settle(bed: &Bed) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while bed.hs.queue_len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn measured(bed: &Bed, ticks: f64, before: Probe, outcome: Outcome, failures: usize) -> Measured {
    let after = probe(bed, ticks);
    let requests = after
        .requests
        .iter()
        .map(|(k, v)| (*k, v - before.requests.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    Measured {
        outcome,
        cpu: after.cpu.saturating_sub(before.cpu),
        wall: after.at.duration_since(before.at),
        others_cpu: after.others.saturating_sub(before.others),
        requests,
        txns: after.txns - before.txns,
        txn_failures: after.failures - before.failures,
        send_failures: failures,
    }
}

/// IM → Matrix: peers send `n` messages over `routes` (`window` in flight; paced at `rate`
/// when given); done when the stand-in received each as a Matrix event.
pub async fn im_to_matrix(
    bed: &Bed,
    routes: &[Route],
    n: usize,
    window: usize,
    rate: Option<f64>,
    limit: Duration,
    ticks: f64,
) -> Measured {
    let tracker = &bed.hs.to_matrix;
    tracker.reset();
    let before = probe(bed, ticks);
    let failures = im::send(&bed.peers, routes, n, window, rate, &bed.seq, tracker).await;
    let outcome = tracker.wait(n, limit).await;
    settle(bed).await;
    measured(bed, ticks, before, outcome, failures)
}

/// Matrix → IM: the stand-in pushes `n` messages of the Matrix users into `portals` (all at
/// once, or paced at `rate`); done when the peers received each.
pub async fn matrix_to_im(
    bed: &Bed,
    portals: &[(usize, usize)],
    n: usize,
    rate: Option<f64>,
    limit: Duration,
    ticks: f64,
) -> Measured {
    let tracker = &bed.peers.received;
    tracker.reset();
    let before = probe(bed, ticks);
    let start = Instant::now();
    let mut batch = Vec::new();
    for k in 0..n {
        let (i, j) = portals[k % portals.len()];
        let Some(room) = bed.portals.get(&(i, j)) else {
            continue;
        };
        let s = bed.seq.next();
        let content = json!({ "msgtype": "m.text", "body": format!("bench {s}") });
        let event = bed
            .hs
            .room_event(room, &mx_user(i), "m.room.message", content);
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(k as f64 / rate);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
            tracker.send(s, Instant::now());
            bed.hs.push_events([event]);
        } else {
            batch.push((s, event));
        }
    }
    if !batch.is_empty() {
        let now = Instant::now();
        for (s, _) in &batch {
            tracker.send(*s, now);
        }
        bed.hs.push_events(batch.into_iter().map(|(_, e)| e));
    }
    let outcome = tracker.wait(n, limit).await;
    settle(bed).await;
    measured(bed, ticks, before, outcome, 0)
}
