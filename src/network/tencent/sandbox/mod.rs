//! The Tencent Cloud Chat sandbox server: the websocket at `/binfo` and `/info`, UserSig
//! checks with the app's SecretKey, C2C messages with live push and offline sync, and the
//! REST admin calls `account_import` and `openim/sendmsg` — faithful enough that the
//! official `@tencentcloud/chat` SDK logs in and chats through it (proven by
//! `tests/tencent_conformance.rs`), groups ([`groups`]), live rooms ([`live`]) and Community topics ([`topics`]), media uploads and downloads as COS would serve them ([`media`]). In memory, or in a data dir ([`persist`]).

pub mod group_changes;
pub mod group_cmds;
pub mod group_msg_ops;
pub mod groups;
pub mod live;
pub mod media;
pub mod persist;
pub mod profiles;
pub mod rest;
pub mod state;
pub mod topics;
pub mod ws;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tracing::info;

pub use state::{Sandbox, SandboxConfig};

/// The whole HTTP surface of the sandbox.
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/binfo", get(ws::binfo))
        .route("/info", get(ws::info))
        .route("/v4/{service}/{command}", post(rest::call))
        .route(
            "/cos/{key}",
            get(media::download)
                .put(media::upload)
                .layer(DefaultBodyLimit::max(media::MAX_UPLOAD_BYTES + 1)),
        )
        .with_state(sandbox)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    sandbox: Arc<Sandbox>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    info!(%addr, sdk_app_id = sandbox.cfg.sdk_app_id, "tencent sandbox listening");
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(sandbox))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
