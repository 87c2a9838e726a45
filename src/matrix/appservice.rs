//! The appservice HTTP listener: what the homeserver calls.
//!
//! * `PUT /_matrix/app/v1/transactions/{txnId}` (and the legacy `/transactions/{txnId}`):
//!   events in. The transaction is parsed ([`super::transaction`]), handed to the
//!   [`MatrixEventSink`] and only then acknowledged. A retry (the same transaction id carrying
//!   the same events, see [`fingerprint`]) is acknowledged without enqueueing again; the same
//!   id carrying other events is a new transaction (Synapse on SQLite numbers them from 1
//!   again after a restart). The sink itself drops events whose ids it already queued, so
//!   nothing is lost or doubled either way. A failed enqueue answers 500 so that the
//!   homeserver retries the same transaction later.
//! * `GET /_matrix/app/v1/users/{userId}`: 200 for the bot and our ghosts (registering them
//!   first when a registrar is set), 404 otherwise.
//! * `GET /_matrix/app/v1/rooms/{alias}`: always 404 (the bridge has no alias namespace).
//! * `POST /_matrix/app/v1/ping`: 200 `{}`.
//!
//! Every route checks the `hs_token`, in constant time, from `Authorization: Bearer` or the
//! legacy `?access_token=` query: missing → 401 `M_UNAUTHORIZED`, wrong → 403 `M_FORBIDDEN`.
//! Errors are Matrix error JSON; every response has a `Content-Length` (Synapse counts a 200
//! without one as a failure).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex as StdMutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ruma::{OwnedUserId, UserId};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use super::transaction::parse_transaction;
use crate::core::matrix_api::{MatrixApi, MatrixEvent, MatrixEventSink};

/// Largest transaction body accepted (Synapse sends at most 100 + 100 events).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What a transaction carried, for telling a retry from a new transaction that reuses an id:
/// the first 16 bytes of SHA-256 over the ids of its timeline events, in order (a homeserver's
/// retry carries the same ones; Synapse drops the ephemeral events from retries), or over the
/// whole body when it has no timeline events.
pub fn fingerprint(events: &[MatrixEvent], body: &[u8]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    let mut any = false;
    for id in events.iter().filter_map(MatrixEvent::event_id) {
        any = true;
        hasher.update(id.as_bytes());
        hasher.update([0u8]);
    }
    if !any {
        hasher.update(b"body\0");
        hasher.update(body);
    }
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Remembers which transactions were already processed, with what they carried. Implementations
/// should scope the ids to the registration (Synapse restarts the numbering when the
/// registration changes, and on SQLite after a restart).
#[async_trait]
pub trait TxnDedup: Send + Sync + 'static {
    /// Whether `txn_id` was processed before carrying the same events (`fingerprint`).
    async fn seen(&self, txn_id: &str, fingerprint: &[u8; 16]) -> bool;
    /// Records that `txn_id` was processed (its events are durably queued), replacing what
    /// an earlier transaction of the same id left.
    async fn mark(&self, txn_id: &str, fingerprint: &[u8; 16]);
}

/// What [`fingerprint`] returns.
pub type Fingerprint = [u8; 16];

/// An in-memory [`TxnDedup`] remembering the last `capacity` transactions (for tests, or when
/// nothing durable is at hand).
pub struct MemoryTxnDedup {
    inner: StdMutex<(HashMap<String, Fingerprint>, VecDeque<String>)>,
    capacity: usize,
}

impl MemoryTxnDedup {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: StdMutex::new((HashMap::new(), VecDeque::new())),
            capacity: capacity.max(1),
        }
    }
}

impl MemoryTxnDedup {
    /// Whether a transaction with this id was marked (whatever it carried).
    pub fn contains(&self, txn_id: &str) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.contains_key(txn_id)
    }
}

impl Default for MemoryTxnDedup {
    fn default() -> Self {
        Self::new(10_000)
    }
}

#[async_trait]
impl TxnDedup for MemoryTxnDedup {
    async fn seen(&self, txn_id: &str, fingerprint: &[u8; 16]) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.get(txn_id) == Some(fingerprint)
    }

    async fn mark(&self, txn_id: &str, fingerprint: &[u8; 16]) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *guard;
        if set.insert(txn_id.to_owned(), *fingerprint).is_none() {
            order.push_back(txn_id.to_owned());
            while order.len() > self.capacity {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }
}

/// Says whether a user id belongs to the bridge (the bot or a ghost).
pub type IsOurs = Arc<dyn Fn(&UserId) -> bool + Send + Sync>;

/// Everything the listener's handlers share.
pub struct AppserviceState {
    hs_token: String,
    sink: Arc<dyn MatrixEventSink>,
    dedup: Arc<dyn TxnDedup>,
    is_ours: IsOurs,
    registrar: Option<Arc<dyn MatrixApi>>,
    /// Held from the dedup check to the mark, so that a retry arriving while the first attempt
    /// is still enqueueing cannot enqueue the same transaction twice.
    txn_lock: Mutex<()>,
}

impl AppserviceState {
    /// `hs_token` is the registration's homeserver token; `is_ours` answers user queries.
    pub fn new(
        hs_token: impl Into<String>,
        sink: Arc<dyn MatrixEventSink>,
        dedup: Arc<dyn TxnDedup>,
        is_ours: IsOurs,
    ) -> Self {
        Self {
            hs_token: hs_token.into(),
            sink,
            dedup,
            is_ours,
            registrar: None,
            txn_lock: Mutex::new(()),
        }
    }

    /// Registers the users that a user query finds ours before answering 200.
    pub fn with_registrar(mut self, registrar: Arc<dyn MatrixApi>) -> Self {
        self.registrar = Some(registrar);
        self
    }
}

impl fmt::Debug for AppserviceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppserviceState")
            .field("hs_token", &"<redacted>")
            .field("registrar", &self.registrar.is_some())
            .finish_non_exhaustive()
    }
}

type Shared = Arc<AppserviceState>;

/// The listener's routes (prefixed and legacy), with authentication.
pub fn router(state: AppserviceState) -> Router {
    let state: Shared = Arc::new(state);
    let authed = Router::new()
        .route(
            "/_matrix/app/v1/transactions/{txn_id}",
            put(put_transaction),
        )
        .route("/transactions/{txn_id}", put(put_transaction))
        .route("/_matrix/app/v1/users/{user_id}", get(query_user))
        .route("/users/{user_id}", get(query_user))
        .route("/_matrix/app/v1/rooms/{alias}", get(query_room))
        .route("/rooms/{alias}", get(query_room))
        .route("/_matrix/app/v1/ping", post(ping))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    authed
        .fallback(|| async {
            matrix_error(StatusCode::NOT_FOUND, "M_UNRECOGNIZED", "unknown endpoint")
        })
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "appservice listener running");
    }
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A Matrix error response: `{"errcode": ..., "error": ...}`.
pub fn matrix_error(status: StatusCode, errcode: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "errcode": errcode, "error": message })),
    )
        .into_response()
}

fn empty_ok() -> Response {
    (StatusCode::OK, Json(json!({}))).into_response()
}

/// Compares two secrets without an early exit (only the length may leak; tokens have a fixed
/// length anyway).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The token the homeserver presented: the `Authorization: Bearer` header, else the legacy
/// `access_token` query parameter.
fn presented_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

async fn authenticate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    match presented_token(req.headers(), req.uri().query()).filter(|t| !t.is_empty()) {
        None => matrix_error(
            StatusCode::UNAUTHORIZED,
            "M_UNAUTHORIZED",
            "missing homeserver token",
        ),
        Some(token)
            if !state.hs_token.is_empty()
                && constant_time_eq(token.as_bytes(), state.hs_token.as_bytes()) =>
        {
            next.run(req).await
        }
        Some(_) => {
            warn!(
                path = req.uri().path(),
                "appservice request with a wrong hs_token"
            );
            matrix_error(
                StatusCode::FORBIDDEN,
                "M_FORBIDDEN",
                "wrong homeserver token",
            )
        }
    }
}

async fn put_transaction(
    State(state): State<Shared>,
    Path(txn_id): Path<String>,
    body: Body,
) -> Response {
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            warn!(txn = txn_id, error = %e, "transaction body unreadable or too large");
            return matrix_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "M_TOO_LARGE",
                "transaction body unreadable or too large",
            );
        }
    };
    let events = match parse_transaction(&txn_id, &bytes) {
        Ok(events) => events,
        Err(e) => {
            warn!(txn = txn_id, error = %e, "rejecting malformed transaction");
            return matrix_error(StatusCode::BAD_REQUEST, e.errcode(), &e.to_string());
        }
    };
    let fingerprint = fingerprint(&events, &bytes);
    let inner = &*state;
    // The bridge's own events (the bot's, its ghosts') come back as echoes: the core would
    // drop them, so they are not queued at all (no store write per echo). Typing stays: it
    // names the real users who type.
    let mut events = events;
    events.retain(|e| e.sender().is_none_or(|s| !(inner.is_ours)(s)));
    let _serial = inner.txn_lock.lock().await;
    if inner.dedup.seen(&txn_id, &fingerprint).await {
        debug!(txn = txn_id, "transaction already processed");
        return empty_ok();
    }
    let count = events.len();
    if count > 0 {
        if let Err(e) = inner.sink.enqueue(events).await {
            warn!(txn = txn_id, error = %e, "could not queue transaction; homeserver will retry");
            return matrix_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "M_UNKNOWN",
                "could not queue the events",
            );
        }
    }
    inner.dedup.mark(&txn_id, &fingerprint).await;
    debug!(txn = txn_id, events = count, "transaction queued");
    empty_ok()
}

async fn query_user(State(state): State<Shared>, Path(user_id): Path<String>) -> Response {
    let Ok(user) = OwnedUserId::try_from(user_id) else {
        return matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "not a valid user id");
    };
    if !(state.is_ours)(&user) {
        return matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such user");
    }
    if let Some(registrar) = &state.registrar {
        if let Err(e) = registrar.ensure_registered(&user).await {
            warn!(user = %user, error = %e, "user query: registration failed");
            return matrix_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "M_UNKNOWN",
                "could not register the user",
            );
        }
    }
    empty_ok()
}

async fn query_room(Path(alias): Path<String>) -> Response {
    debug!(alias, "room alias query (no alias namespace)");
    matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such room alias")
}

async fn ping() -> Response {
    debug!("ping from the homeserver");
    empty_ok()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn token_sources() {
        let mut h = HeaderMap::new();
        assert_eq!(
            presented_token(&h, Some("access_token=q%2Bx")),
            Some("q+x".into())
        );
        assert_eq!(presented_token(&h, Some("other=1")), None);
        h.insert(header::AUTHORIZATION, "Bearer hdr".parse().unwrap());
        assert_eq!(
            presented_token(&h, Some("access_token=q")),
            Some("hdr".into())
        );
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(presented_token(&h, None), None);
    }

    #[tokio::test]
    async fn memory_dedup_is_bounded() {
        let d = MemoryTxnDedup::new(2);
        let fp = [1u8; 16];
        d.mark("a", &fp).await;
        d.mark("b", &fp).await;
        assert!(d.seen("a", &fp).await);
        assert!(!d.seen("a", &[2u8; 16]).await, "same id, other events: new");
        d.mark("c", &fp).await;
        assert!(!d.seen("a", &fp).await);
        assert!(d.seen("b", &fp).await && d.seen("c", &fp).await);
    }
}
