//! Running as a system service: the systemd notification protocol ([`notify`]: `READY=1`,
//! `STOPPING=1`, `WATCHDOG=1`, without a libsystemd dependency), the watchdog task that pings
//! only while the event loop and the store answer ([`watchdog`]), and the optional health and
//! metrics listener ([`health`]: `/health/live`, `/health/ready`, `/metrics`).
//!
//! [`ServiceState`] is the small shared state between them and the daemon: lifecycle flags and
//! a few counters, all atomics, passed around as `Arc<ServiceState>`.

pub mod health;
pub mod notify;
pub mod watchdog;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use health::{health_router, serve_health};
pub use notify::{watchdog_interval, Notifier};
pub use watchdog::{spawn_watchdog, store_probe};

/// Lifecycle flags and counters shared by the daemon, the watchdog and the health listener.
#[derive(Debug, Default)]
pub struct ServiceState {
    ready: AtomicBool,
    stopping: AtomicBool,
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

/// A [`MatrixEventSink`](crate::core::matrix_api::MatrixEventSink) that counts the
/// transactions (and their events) it passes on to the real one.
pub struct CountingSink {
    inner: std::sync::Arc<dyn crate::core::matrix_api::MatrixEventSink>,
    state: std::sync::Arc<ServiceState>,
}

impl CountingSink {
    /// Wraps `inner`, counting into `state`.
    pub fn new(
        inner: std::sync::Arc<dyn crate::core::matrix_api::MatrixEventSink>,
        state: std::sync::Arc<ServiceState>,
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
        let result = self.inner.enqueue(events).await;
        match &result {
            Ok(()) => self.state.record_transaction(count),
            Err(_) => self.state.record_transaction_failure(),
        }
        result
    }
}
