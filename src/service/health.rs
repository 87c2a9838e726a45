//! The optional health and metrics listener (config `metrics:`), separate from the appservice
//! listener and without authentication (keep it on loopback):
//!
//! * `GET /health/live`: 200 `{"status":"ok"}` while the process runs;
//! * `GET /health/ready`: 200 `{"status":"ready","role":"active"}` once the bridge reported
//!   ready and the store answers a read, else 503 with `starting`, `stopping`, `store
//!   unavailable`, or `{"status":"standby","role":"standby"}` while another process holds the
//!   database lease (failover; a load balancer sends the homeserver's traffic to the ready one);
//! * `GET /metrics`: Prometheus text format 0.0.4 (rendered by `prometheus-client`): the service counters (transactions, events,
//!   watchdog pings), the bridge's [`crate::metrics::Metrics`] families, the state gauges of
//!   its [`crate::metrics::GaugeSource`] (logins by state, connections, queue depths) and the
//!   store (stored logins, size on disk).

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::prometheus_text;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::info;

use super::ServiceState;
use crate::metrics::Scrape;
use crate::store::Store;

#[derive(Clone)]
struct Health {
    service: Arc<ServiceState>,
    store: Option<Store>,
}

/// The listener's routes. `store` (if given) must answer a read for `/health/ready` to pass and
/// feeds the store metrics.
pub fn health_router(service: Arc<ServiceState>, store: Option<Store>) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"status": "not found"}))) })
        .with_state(Health { service, store })
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve_health(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "health and metrics listener running");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// How long `/health/ready` waits for the store to answer.
const STORE_READ_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn live() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

/// Reads the store in its own task: `(stored logins, size on disk)`.
async fn store_stats(store: &Store) -> Result<(usize, u64), String> {
    let store = store.clone();
    tokio::spawn(async move {
        let logins = store.list_logins().await.map_err(|e| e.to_string())?.len();
        let size = store.size_on_disk().await.map_err(|e| e.to_string())?;
        Ok((logins, size))
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn ready(State(h): State<Health>) -> Response {
    let unavailable = |status: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": status })),
        )
            .into_response()
    };
    if h.service.is_stopping() {
        return unavailable("stopping");
    }
    if h.service.is_standby() {
        // Another process holds the database lease; this one takes over when it is free.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "standby", "role": "standby" })),
        )
            .into_response();
    }
    if !h.service.is_ready() {
        return unavailable("starting");
    }
    if let Some(store) = &h.store {
        let store = store.clone();
        // A database server that does not answer within the limit counts as unavailable.
        let read = tokio::time::timeout(
            STORE_READ_LIMIT,
            tokio::spawn(async move { store.schema_version().await }),
        )
        .await;
        if !matches!(read, Ok(Ok(Ok(_)))) {
            return unavailable("store unavailable");
        }
    }
    (
        StatusCode::OK,
        Json(json!({"status": "ready", "role": "active"})),
    )
        .into_response()
}

async fn metrics(State(h): State<Health>) -> Response {
    let s = &h.service;
    let mut scrape = Scrape::default();
    scrape.gauge(
        "imbridge_ready",
        "1 when the bridge is ready, 0 while starting or stopping.",
        u64::from(s.is_ready()),
    );
    scrape.gauge(
        "imbridge_standby",
        "1 while the process stands by for the database lease (failover), 0 otherwise.",
        u64::from(s.is_standby()),
    );
    scrape.counter(
        "imbridge_appservice_transactions_total",
        "Appservice transactions from the homeserver handed to the bridge core.",
        s.transactions(),
    );
    scrape.counter(
        "imbridge_appservice_events_total",
        "Matrix events in those transactions.",
        s.events(),
    );
    scrape.counter(
        "imbridge_appservice_transaction_failures_total",
        "Transactions the bridge core could not enqueue (answered 500).",
        s.transaction_failures(),
    );
    scrape.counter(
        "imbridge_watchdog_pings_total",
        "systemd watchdog pings sent.",
        s.watchdog_pings(),
    );
    scrape.counter(
        "imbridge_watchdog_misses_total",
        "Watchdog pings withheld because the event loop or the store did not answer.",
        s.watchdog_misses(),
    );
    if let Some(source) = s.gauge_source() {
        for family in source.gauges().await {
            scrape.gauge_family(&family);
        }
    }
    if let Some(store) = &h.store {
        if let Ok((logins, size)) = store_stats(store).await {
            scrape.gauge(
                "imbridge_stored_logins",
                "Logins stored (Matrix users logged in to the remote network).",
                u64::try_from(logins).unwrap_or(u64::MAX),
            );
            scrape.gauge(
                "imbridge_store_size_bytes",
                "Size of the database on disk.",
                size,
            );
        }
    }
    let mut out = String::new();
    scrape.render(&mut out);
    s.metrics().render(&mut out);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        out,
    )
        .into_response()
}
