//! The JMessage sandbox server: socket.io over Engine.IO v3 at `/socket.io/` (socketioxide
//! with its socket.io v4-protocol feature, which serves socket.io-client 1.x/2.x), `c_init`
//! signature and md5 password checks, single text messages with live push (`msg_sync`) and
//! offline hand-over (`sync_conversation` after `sync_check`), and a small `/v1` admin REST —
//! faithful enough that the official JMessage Web SDK 2.5.0 logs in and chats through it
//! (proven by `tests/jmessage_conformance.rs`), groups with fan-out and their events, and
//! recall ([`groups`], proven by `tests/jmessage_groups.rs`), read receipts ([`receipts`]),
//! media upload and download ([`media`]), nicknames and avatars ([`profiles`]), events and
//! receipt changes kept for offline users and handed over at login ([`offline`]),
//! no-disturb settings ([`nodisturb`]), friends and blacklists ([`friends`]), and the Report v2
//! message history ([`report`]). In memory.

pub mod apps;
pub mod faults;
pub mod friends;
pub mod group_calls;
pub mod groups;
pub mod media;
pub mod nodisturb;
pub mod offline;
pub mod persist;
pub mod profiles;
pub mod recall;
pub mod receipts;
pub mod report;
pub mod rest;
pub mod single;
pub mod sio;
pub mod state;

use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;
use socketioxide::extract::SocketRef;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tracing::info;

pub use apps::federate;
pub use state::{Sandbox, SandboxConfig};

/// The whole HTTP surface of the sandbox.
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    let (layer, io) = SocketIo::builder()
        .ping_interval(sandbox.cfg.ping_interval)
        .ping_timeout(sandbox.cfg.ping_timeout)
        .max_payload(1 << 20)
        .build_layer();
    let for_sockets = sandbox.clone();
    io.ns("/", async move |socket: SocketRef| {
        sio::on_connect(socket, for_sockets.clone()).await;
    });
    Router::new()
        .route("/v1/users/", post(rest::register))
        .route("/v1/users", post(rest::register))
        .route("/v1/users/{username}/password", put(rest::set_password))
        .route("/v1/messages", post(rest::send_message))
        .route("/v2/users/{username}/messages", get(report::user_messages))
        .route("/resource", post(media::upload))
        .route("/resource/{*media_id}", get(media::download))
        .with_state(sandbox)
        .layer(layer)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    sandbox: Arc<Sandbox>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    info!(%addr, app_key = %sandbox.cfg.app_key, "jmessage sandbox listening");
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(sandbox))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
