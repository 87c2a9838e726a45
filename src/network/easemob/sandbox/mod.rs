//! The Easemob sandbox server: the msync websocket at `/websocket`, the REST API and
//! `/easemob/server.json` on one port, faithful enough that the official Web SDK logs in and
//! chats through it (proven by the conformance tests). Multi-user, multi-device, groups and
//! chat rooms, receipts, recall, edit, kicks and token expiry; state kept in `--data`.

mod chat;
mod chatrooms;
mod faults;
pub mod msync;
pub mod presence;
pub mod rest;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tracing::info;

pub use state::{Sandbox, SandboxConfig};

/// The whole HTTP surface of the sandbox.
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/websocket", get(msync::upgrade))
        .route("/easemob/server.json", get(server_json))
        .merge(rest::routes())
        .with_state(sandbox)
}

/// Serves until `shutdown` resolves, then saves the state.
pub async fn serve(
    listener: TcpListener,
    sandbox: Arc<Sandbox>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    info!(%addr, app_key = %sandbox.cfg.app_key, "easemob sandbox listening");
    let persister = tokio::spawn(sandbox.clone().persist_loop());
    let app = router(sandbox.clone()).into_make_service_with_connect_info::<SocketAddr>();
    // TCP_NODELAY: msync frames are small and latency-bound.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    persister.abort();
    sandbox.save()?;
    result?;
    Ok(())
}

#[derive(serde::Deserialize)]
struct DnsQuery {
    app_key: Option<String>,
}

/// Host discovery (`isHttpDNS`): points both REST and msync at this server (reference §1.2).
async fn server_json(
    State(sandbox): State<Arc<Sandbox>>,
    Query(q): Query<DnsQuery>,
    headers: axum::http::HeaderMap,
) -> Json<serde_json::Value> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:80");
    let (domain, port) = host.rsplit_once(':').unwrap_or((host, "80"));
    let entry = serde_json::json!({
        "protocol": "http", "domain": domain, "ip": domain, "port": port, "channel": "local"
    });
    Json(serde_json::json!({
        "rest": { "hosts": [entry] },
        "msync-wx": { "hosts": [entry] },
        "app_key": q.app_key.unwrap_or_else(|| sandbox.cfg.app_key.clone()),
        "enableReportLogs": "false",
        "enableDataReport": "false",
        "uploadinparts_enable": "false",
    }))
}
