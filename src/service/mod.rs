//! Running as a system service: the systemd notification protocol ([`notify`]: `READY=1`,
//! `STOPPING=1`, `WATCHDOG=1`, through the `sd-notify` crate), the watchdog task that pings
//! only while the event loop and the store answer ([`watchdog`]), and the optional health and
//! metrics listener ([`health`]: `/health/live`, `/health/ready`, `/metrics`), and the
//! active/standby lease of processes sharing a PostgreSQL database ([`failover`]).
//!
//! [`ServiceState`] is the small shared state between them and the daemon: lifecycle flags and
//! a few counters, all atomics, passed around as `Arc<ServiceState>`.

pub mod failover;
pub mod health;
pub mod notify;
pub mod watchdog;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::metrics::{GaugeSource, Metrics};

pub use health::{health_router, serve_health};
pub use notify::{watchdog_interval, Notifier};
pub use watchdog::{spawn_watchdog, store_probe};

/// Lifecycle flags and counters shared by the daemon, the watchdog and the health listener,
/// with the bridge's [`Metrics`] and the source of its state gauges.
#[derive(Default)]
pub struct ServiceState {
    metrics: Arc<Metrics>,
    gauges: OnceLock<Arc<dyn GaugeSource>>,
    ready: AtomicBool,
    stopping: AtomicBool,
    standby: AtomicBool,
    transactions: AtomicU64,
    events: AtomicU64,
    transaction_failures: AtomicU64,
    watchdog_pings: AtomicU64,
    watchdog_misses: AtomicU64,
}

impl ServiceState {
    /// A fresh state: not ready, not stopping, counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The metric families the bridge updates (shared with the core and the Matrix side).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Sets what computes the state gauges at scrape time (the core, once it exists).
    pub fn set_gauge_source(&self, source: Arc<dyn GaugeSource>) {
        let _ = self.gauges.set(source);
    }

    /// The state gauges' source, if set.
    pub fn gauge_source(&self) -> Option<&Arc<dyn GaugeSource>> {
        self.gauges.get()
    }

    /// Marks the bridge ready (listener bound, store open, core started).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Marks the bridge as shutting down; it is no longer ready.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// True once ready and not shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.is_stopping()
    }

    /// Marks the process as a standby waiting for the database lease (`true`) or as the
    /// active one (`false`); see [`crate::store::postgres::lease`].
    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::SeqCst);
    }

    /// True while the process stands by for the lease.
    pub fn is_standby(&self) -> bool {
        self.standby.load(Ordering::SeqCst)
    }

    /// True once shutdown began.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Counts one appservice transaction handed to the core, carrying `events` events.
    pub fn record_transaction(&self, events: usize) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.events
            .fetch_add(u64::try_from(events).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Counts one transaction the core refused to enqueue.
    pub fn record_transaction_failure(&self) {
        self.transaction_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one watchdog ping sent (`ok`) or withheld because a probe failed.
    pub fn record_watchdog(&self, ok: bool) {
        let counter = if ok {
            &self.watchdog_pings
        } else {
            &self.watchdog_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Appservice transactions handed to the core.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Matrix events in those transactions.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Transactions the core refused to enqueue.
    pub fn transaction_failures(&self) -> u64 {
        self.transaction_failures.load(Ordering::Relaxed)
    }

    /// Watchdog pings sent.
    pub fn watchdog_pings(&self) -> u64 {
        self.watchdog_pings.load(Ordering::Relaxed)
    }

    /// Watchdog pings withheld because the event loop or the store did not answer in time.
    pub fn watchdog_misses(&self) -> u64 {
        self.watchdog_misses.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceState")
            .field("ready", &self.ready)
            .field("stopping", &self.stopping)
            .finish_non_exhaustive()
    }
}

/// A [`MatrixEventSink`](crate::core::matrix_api::MatrixEventSink) that counts the
/// transactions (and their events) it passes on to the real one, and times them.
pub struct CountingSink {
    inner: Arc<dyn crate::core::matrix_api::MatrixEventSink>,
    state: Arc<ServiceState>,
}

impl CountingSink {
    /// Wraps `inner`, counting into `state`.
    pub fn new(
        inner: Arc<dyn crate::core::matrix_api::MatrixEventSink>,
        state: Arc<ServiceState>,
    ) -> Self {
        Self { inner, state }
    }
}

#[async_trait::async_trait]
impl crate::core::matrix_api::MatrixEventSink for CountingSink {
    async fn enqueue(
        &self,
        events: Vec<crate::core::matrix_api::MatrixEvent>,
    ) -> Result<(), String> {
        let count = events.len();
        let started = Instant::now();
        let result = self.inner.enqueue(events).await;
        self.state
            .metrics
            .transaction_seconds
            .observe(&[], started.elapsed());
        match &result {
            Ok(()) => self.state.record_transaction(count),
            Err(_) => self.state.record_transaction_failure(),
        }
        result
    }
}
