//! When each benchmark message was sent and when it arrived on the other side, by sequence
//! number, for throughput (first send → last arrival) and latency percentiles.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::homeserver::lock;

/// Send and arrival times of one phase's messages.
#[derive(Default)]
pub struct Tracker {
    inner: Mutex<Times>,
}

#[derive(Default)]
struct Times {
    sent: HashMap<u64, Instant>,
    arrived: HashMap<u64, Instant>,
}

/// What a finished (or timed-out) phase measured.
pub struct Outcome {
    pub sent: usize,
    pub arrived: usize,
    /// First send → last arrival.
    pub elapsed: Duration,
    /// Arrival − send, sorted.
    pub latencies: Vec<Duration>,
}

impl Outcome {
    /// Messages per second over the phase.
    pub fn rate(&self) -> f64 {
        self.arrived as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p` quantile (0..1) of the latencies.
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let i = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
        self.latencies[i]
    }
}

impl Tracker {
    /// Forgets everything (a new phase).
    pub fn reset(&self) {
        let mut t = lock(&self.inner);
        t.sent.clear();
        t.arrived.clear();
    }

    /// Message `seq` is being sent now.
    pub fn send(&self, seq: u64, at: Instant) {
        lock(&self.inner).sent.insert(seq, at);
    }

    /// Message `seq` arrived (ignored unless this phase sent it; the first arrival counts).
    pub fn arrive(&self, seq: u64, at: Instant) {
        let mut t = lock(&self.inner);
        if t.sent.contains_key(&seq) {
            t.arrived.entry(seq).or_insert(at);
        }
    }

    /// How many of this phase's messages arrived.
    pub fn arrived(&self) -> usize {
        lock(&self.inner).arrived.len()
    }

    /// Waits (bounded by `limit`) until `n` messages arrived; then the outcome.
    pub async fn wait(&self, n: usize, limit: Duration) -> Outcome {
        let deadline = Instant::now() + limit;
        while self.arrived() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.outcome()
    }

    /// What was measured so far.
    pub fn outcome(&self) -> Outcome {
        let t = lock(&self.inner);
        let first = t.sent.values().min().copied();
        let last = t.arrived.values().max().copied();
        let elapsed = match (first, last) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        };
        let mut latencies: Vec<Duration> = t
            .arrived
            .iter()
            .filter_map(|(seq, at)| t.sent.get(seq).map(|s| at.saturating_duration_since(*s)))
            .collect();
        latencies.sort();
        Outcome {
            sent: t.sent.len(),
            arrived: t.arrived.len(),
            elapsed,
            latencies,
        }
    }
}
