//! The bridge's metric families, shared by the layers that feed them: the core (messages
//! bridged, failures, IM send latency, reconnects, event processing time), the Matrix side
//! (homeserver request latency and failures, appservice transaction time). Gauges that
//! describe current state (logins by state, connections, queue depths) are not stored here:
//! a [`GaugeSource`] computes them at scrape time. The `/metrics` endpoint in
//! [`crate::service::health`] renders both.
//!
//! Label values always come from fixed sets in the code, never from user input.

pub mod registry;
pub mod scrape;

use async_trait::async_trait;
use prometheus_client::registry::Registry;

pub use registry::{CounterVec, HistogramVec, LATENCY_BUCKETS};
pub use scrape::Scrape;

/// Which way a message or event went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the IM network into Matrix.
    ToMatrix,
    /// From Matrix out to the IM network.
    ToNetwork,
}

impl Direction {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToMatrix => "to_matrix",
            Self::ToNetwork => "to_network",
        }
    }
}

/// Every metric family the bridge updates as it works.
#[derive(Debug)]
pub struct Metrics {
    /// Messages and events bridged, by direction and kind.
    pub bridged: CounterVec,
    /// Messages and events that could not be bridged, by direction and reason.
    pub failures: CounterVec,
    /// IM connections lost while logged in (the session reconnects by itself).
    pub im_disconnects: CounterVec,
    /// IM connections re-established after a loss.
    pub im_reconnects: CounterVec,
    /// Time to queue an appservice transaction's events durably before answering it.
    pub transaction_seconds: HistogramVec,
    /// Time of one portal queue item (one event bridged), by direction.
    pub processing_seconds: HistogramVec,
    /// Homeserver client-API request latency, by endpoint.
    pub homeserver_seconds: HistogramVec,
    /// Homeserver requests that failed, by endpoint and reason.
    pub homeserver_failures: CounterVec,
    /// Time from handing a message to the IM session to its server acknowledgement.
    pub im_send_seconds: HistogramVec,
    /// IM → Matrix events of channel portals (public chat rooms) dropped unbridged because
    /// the portal's bounded buffer was full.
    pub channel_events_dropped: CounterVec,
    /// Every family above, registered once for rendering (the families are shared handles).
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All families empty; the unlabelled counters start at 0 so they show from the start.
    pub fn new() -> Self {
        let mut metrics = Self {
            bridged: CounterVec::new(
                "imbridge_messages_bridged_total",
                "Messages and events bridged, by direction (to_matrix, to_network) and kind.",
                &["direction", "kind"],
            ),
            failures: CounterVec::new(
                "imbridge_bridge_failures_total",
                "Messages and events that could not be bridged, by direction and reason.",
                &["direction", "reason"],
            ),
            im_disconnects: CounterVec::new(
                "imbridge_im_disconnects_total",
                "IM connections lost while logged in.",
                &[],
            ),
            im_reconnects: CounterVec::new(
                "imbridge_im_reconnects_total",
                "IM connections re-established after a loss.",
                &[],
            ),
            transaction_seconds: HistogramVec::new(
                "imbridge_appservice_transaction_seconds",
                "Time to queue an appservice transaction's events durably before answering it.",
                &[],
                LATENCY_BUCKETS,
            ),
            processing_seconds: HistogramVec::new(
                "imbridge_event_processing_seconds",
                "Time to bridge one event in its portal queue, by direction.",
                &["direction"],
                LATENCY_BUCKETS,
            ),
            homeserver_seconds: HistogramVec::new(
                "imbridge_homeserver_request_seconds",
                "Homeserver client-API request latency, by endpoint.",
                &["endpoint"],
                LATENCY_BUCKETS,
            ),
            homeserver_failures: CounterVec::new(
                "imbridge_homeserver_request_failures_total",
                "Homeserver requests that failed, by endpoint and reason (HTTP status, timeout, unreachable).",
                &["endpoint", "reason"],
            ),
            im_send_seconds: HistogramVec::new(
                "imbridge_im_send_seconds",
                "Time from handing a message to the IM session to the server's acknowledgement.",
                &[],
                LATENCY_BUCKETS,
            ),
            channel_events_dropped: CounterVec::new(
                "imbridge_channel_events_dropped_total",
                "IM events of busy channels (public chat rooms) dropped, oldest first, because the channel's bounded queue was full.",
                &[],
            ),
            registry: Registry::default(),
        };
        let registry = &mut metrics.registry;
        metrics.bridged.register(registry);
        metrics.failures.register(registry);
        metrics.im_disconnects.register(registry);
        metrics.im_reconnects.register(registry);
        metrics.transaction_seconds.register(registry);
        metrics.processing_seconds.register(registry);
        metrics.homeserver_seconds.register(registry);
        metrics.homeserver_failures.register(registry);
        metrics.im_send_seconds.register(registry);
        metrics.channel_events_dropped.register(registry);
        metrics.im_disconnects.add(&[], 0);
        metrics.im_reconnects.add(&[], 0);
        metrics.channel_events_dropped.add(&[], 0);
        metrics
    }

    /// Counts one message or event bridged.
    pub fn bridged(&self, direction: Direction, kind: &str) {
        self.bridged.inc(&[direction.as_str(), kind]);
    }

    /// Counts one message or event that could not be bridged.
    pub fn failed(&self, direction: Direction, reason: &str) {
        self.failures.inc(&[direction.as_str(), reason]);
    }

    /// Renders every family in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        registry::render_registry(&self.registry, out);
    }
}

/// One gauge family computed at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeFamily {
    pub name: &'static str,
    pub help: &'static str,
    /// Label pairs and value of each sample.
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl GaugeFamily {
    /// A family with one unlabelled sample.
    pub fn single(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            samples: vec![(Vec::new(), value)],
        }
    }

    /// Renders the family alone.
    pub fn render(&self, out: &mut String) {
        let mut scrape = Scrape::default();
        scrape.gauge_family(self);
        scrape.render(out);
    }
}

/// Computes the gauges describing the bridge's current state (implemented by the core).
#[async_trait]
pub trait GaugeSource: Send + Sync {
    async fn gauges(&self) -> Vec<GaugeFamily>;
}
