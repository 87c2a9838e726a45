//! The provisioning HTTP API: what integrations (a client's "bridges" page, a bridge manager)
//! call to log users in and open chats without talking to the bot. It follows the mautrix
//! bridgev2 paths and JSON shapes under `/_matrix/provision/v3` and runs on the appservice
//! listener, only when `provisioning.shared_secret` is set (see
//! `docs/provisioning-openapi.yaml`).
//!
//! This module owns the routes, their authentication and the login processes started through
//! them:
//!
//! * **auth** ([`authenticate`]): `Authorization: Bearer <shared_secret>` (compared in constant
//!   time) acting for `?user_id=`, or `Bearer openid:<token>` (when `allow_openid`), a Matrix
//!   OpenID token checked with the bridge's homeserver
//!   (`/_matrix/federation/v1/openid/userinfo`) and acting for its owner. Either way the user
//!   needs permission level `user`. Missing token 401 `M_MISSING_TOKEN`, wrong token 401
//!   `M_UNKNOWN_TOKEN`, too low a level 403 `M_FORBIDDEN`.
//! * **logins**: `login/start/{flowID}` begins a [`PendingLogin`] kept in memory under a random
//!   login process id (`login_id`) for [`PROCESS_TTL`]; `login/step/...` submits the step's
//!   values (all at once) or waits on a `display_and_wait` step; `login/cancel/...` gives up.
//!   The submitted values are secrets: never logged, dropped once submitted.
//! * **chats**: `contacts`, `resolve_identifier/{id}`, `create_dm/{id}` (the bot's `pm`),
//!   `create_group` (the bot's `create-group`).
//!
//! Errors are Matrix error JSON (`{"errcode", "error"}`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rand::Rng;
use ruma::{OwnedUserId, UserId};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::appservice::matrix_error;
use crate::config::{PermissionLevel, Secret};
use crate::core::commands::chats::{existing_room, open_portal, point_to_chat};
use crate::core::connector::{ChatId, ChatKind, LoginFailure, LoginStep, UserProfile};
use crate::core::login_steps::{NextStep, PendingLogin};
use crate::core::logins::{self, UserLogin};
use crate::core::portal::portal_key;
use crate::core::Ctx;

/// Where the API lives.
pub const PREFIX: &str = "/_matrix/provision/v3";

/// How long a login process started here waits for its next call.
pub const PROCESS_TTL: Duration = Duration::from_secs(10 * 60);

/// Login processes one user may have open at once.
const MAX_PROCESSES_PER_USER: usize = 4;

/// How long a verified OpenID token is trusted without asking the homeserver again.
const OPENID_CACHE_TTL: Duration = Duration::from_secs(5 * 60);

/// How long `create_dm` waits for a new portal's room.
const CREATE_DM_WAIT: Duration = Duration::from_secs(30);

/// The Matrix user a request acts for (set by [`authenticate`]).
#[derive(Debug, Clone)]
pub struct Caller(pub OwnedUserId);

/// One login process started through the API.
struct Process {
    owner: OwnedUserId,
    pending: PendingLogin,
    expires: Instant,
}

/// Everything the API's handlers share.
pub struct Provisioning {
    ctx: Arc<Ctx>,
    secret: Secret,
    allow_openid: bool,
    homeserver_url: String,
    http: reqwest::Client,
    processes: Mutex<HashMap<String, Process>>,
    /// SHA-256 of a verified OpenID token → its owner and when to ask again.
    openid_cache: StdMutex<HashMap<[u8; 32], (OwnedUserId, Instant)>>,
}

type Shared = Arc<Provisioning>;

/// The API's router (paths already under [`PREFIX`]), or `None` when
/// `provisioning.shared_secret` is not set. Merge it into the appservice router.
pub fn router(ctx: Arc<Ctx>) -> Option<Router> {
    let secret = ctx
        .cfg
        .provisioning
        .shared_secret
        .clone()
        .filter(|s| !s.expose().trim().is_empty())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap_or_default();
    let state = Arc::new(Provisioning {
        allow_openid: ctx.cfg.provisioning.allow_openid,
        homeserver_url: ctx.cfg.homeserver.address.trim_end_matches('/').to_owned(),
        ctx,
        secret,
        http,
        processes: Mutex::new(HashMap::new()),
        openid_cache: StdMutex::new(HashMap::new()),
    });
    let api = Router::new()
        .route("/whoami", get(whoami))
        .route("/login/flows", get(login_flows))
        .route("/login/start/{flow_id}", post(login_start))
        .route(
            "/login/step/{process_id}/{step_id}/{step_type}",
            post(login_step),
        )
        .route("/login/cancel/{process_id}", post(login_cancel))
        .route("/logout/{login_id}", post(logout))
        .route("/logins", get(list_logins))
        .route("/contacts", get(contacts))
        .route("/resolve_identifier/{identifier}", get(resolve_identifier))
        .route("/create_dm/{identifier}", post(create_dm))
        .route("/create_group", post(create_group))
        .route("/create_group/{group_type}", post(create_group))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
    info!("provisioning API enabled at {PREFIX}");
    Some(Router::new().nest(PREFIX, api))
}

#[path = "provisioning_auth.rs"]
mod auth;
use auth::authenticate;
pub use auth::{bearer, classify, AuthOutcome, Refusal};

// ---------------------------------------------------------------- JSON shapes

fn ok(value: Value) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

/// A login step as the API shows it (mautrix `RespSubmitLogin`): `login_id`, `type`,
/// `step_id`, `instructions` and the type's parameters. A `complete` step names the login
/// (`user_login_id`); its credentials are never shown.
pub fn step_json(process_id: &str, step: &LoginStep, user_login_id: Option<&str>) -> Value {
    let (instructions, key, params) = match step {
        LoginStep::UserInput {
            instructions,
            fields,
            ..
        } => (instructions, "user_input", json!({ "fields": fields })),
        LoginStep::DisplayAndWait {
            instructions,
            display,
            ..
        } => (instructions, "display_and_wait", json!(display)),
        LoginStep::Complete { instructions, .. } => (
            instructions,
            "complete",
            json!({ "user_login_id": user_login_id.unwrap_or_default() }),
        ),
    };
    let mut out = json!({
        "login_id": process_id,
        "type": step.kind(),
        "step_id": step.step_id(),
        "instructions": instructions,
    });
    out[key] = params;
    out
}

/// The error response for a failed login.
pub fn login_failure(e: &LoginFailure) -> Response {
    let (status, errcode) = match e {
        LoginFailure::BadCredentials(_) => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
        LoginFailure::Refused(_) => (StatusCode::BAD_REQUEST, "M_INVALID_PARAM"),
        LoginFailure::Unreachable(_) => (StatusCode::BAD_GATEWAY, "M_UNKNOWN"),
    };
    matrix_error(status, errcode, &format!("Login failed: {e}"))
}

// ---------------------------------------------------------------- handlers

async fn whoami(State(p): State<Shared>, Extension(Caller(user)): Extension<Caller>) -> Response {
    let ctx = &p.ctx;
    let name = ctx.connector.name();
    let mut displayname: String = name.chars().take(1).flat_map(char::to_uppercase).collect();
    displayname.extend(name.chars().skip(1));
    let mut logins = Vec::new();
    if let Some(login) = ctx.login_of(&user).await {
        let (state, since_ms) = login.state_since().await;
        let event = state.kind().to_ascii_uppercase();
        let reason = match &state {
            crate::core::connector::LoginState::TransientDisconnect { reason }
            | crate::core::connector::LoginState::BadCredentials { reason }
            | crate::core::connector::LoginState::LoggedOut { reason }
            | crate::core::connector::LoginState::UnknownError { reason } => Some(reason.clone()),
            _ => None,
        };
        let mut entry = json!({
            "id": login.remote_id,
            "name": login.remote_id,
            "profile": { "username": login.remote_id },
            "state_event": event,
            "state_ts": since_ms / 1000,
            "state": {
                "state_event": event,
                "timestamp": since_ms / 1000,
                "remote_id": login.remote_id,
            },
        });
        if let Some(reason) = reason {
            entry["state_reason"] = json!(reason);
            entry["state"]["reason"] = json!(reason);
        }
        logins.push(entry);
    }
    let management = ctx
        .management
        .read()
        .await
        .iter()
        .find(|(_, owner)| **owner == user)
        .map(|(room, _)| room.to_string());
    let mut out = json!({
        "network": {
            "displayname": displayname,
            "network_id": name,
            "beeper_bridge_type": name,
            "default_command_prefix": ctx.cfg.bridge.command_prefix,
        },
        "login_flows": ctx.connector.login_flows(),
        "homeserver": ctx.cfg.homeserver.domain,
        "bridge_bot": ctx.cfg.bot_mxid(),
        "command_prefix": ctx.cfg.bridge.command_prefix,
        "logins": logins,
    });
    if let Some(room) = management {
        out["management_room"] = json!(room);
    }
    ok(out)
}

async fn login_flows(State(p): State<Shared>) -> Response {
    ok(json!({ "flows": p.ctx.connector.login_flows() }))
}

/// A new random login process id.
fn process_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Provisioning {
    /// Drops expired processes (cancelling them in the background).
    fn purge(&self, map: &mut HashMap<String, Process>) {
        let now = Instant::now();
        let expired: Vec<String> = map
            .iter()
            .filter(|(_, proc)| proc.expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(proc) = map.remove(&id) {
                info!(user = %proc.owner, flow = %proc.pending.flow.id, "provisioning login expired");
                tokio::spawn(proc.pending.cancel());
            }
        }
    }

    /// Takes the caller's process `id` out of the map (404 when there is none).
    async fn take(&self, id: &str, user: &UserId) -> Result<Process, Response> {
        let mut map = self.processes.lock().await;
        self.purge(&mut map);
        match map.remove(id) {
            Some(proc) if proc.owner == user => Ok(proc),
            Some(proc) => {
                map.insert(id.to_owned(), proc);
                Err(process_not_found())
            }
            None => Err(process_not_found()),
        }
    }

    /// Puts a process (back) in the map with a fresh deadline.
    async fn keep(&self, id: String, mut proc: Process) {
        proc.expires = Instant::now() + PROCESS_TTL;
        self.processes.lock().await.insert(id, proc);
    }

    /// Answers what the process's `advance` gave: the next step (the process waits in the
    /// map for it), or the completed login (stored and started now), or the failure.
    async fn answer(
        &self,
        id: String,
        proc: Process,
        next: Result<NextStep, LoginFailure>,
    ) -> Response {
        match next {
            Ok(NextStep::Ask { .. } | NextStep::Display { .. }) => {
                let body = step_json(&id, proc.pending.step(), None);
                self.keep(id, proc).await;
                ok(body)
            }
            Ok(NextStep::Complete { data, .. }) => {
                let user = proc.owner.clone();
                match logins::finish_login(&self.ctx, &user, data).await {
                    Ok(login) => {
                        info!(user = %user, flow = %proc.pending.flow.id, "provisioning login completed");
                        ok(step_json(&id, proc.pending.step(), Some(&login.remote_id)))
                    }
                    Err(e) => login_failure(&e),
                }
            }
            Err(e) => {
                info!(user = %proc.owner, flow = %proc.pending.flow.id, "provisioning login failed");
                login_failure(&e)
            }
        }
    }
}

fn process_not_found() -> Response {
    matrix_error(
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
        "Login process not found (it may have expired)",
    )
}

async fn login_start(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
    Path(flow_id): Path<String>,
) -> Response {
    {
        let mut map = p.processes.lock().await;
        p.purge(&mut map);
        if map.values().filter(|proc| proc.owner == user).count() >= MAX_PROCESSES_PER_USER {
            return matrix_error(
                StatusCode::TOO_MANY_REQUESTS,
                "M_LIMIT_EXCEEDED",
                "too many logins in progress: cancel one first",
            );
        }
    }
    let mut pending =
        match PendingLogin::begin(p.ctx.connector.as_ref(), &flow_id, user.as_str()).await {
            Ok(pending) => pending,
            Err(e) => return login_failure(&e),
        };
    info!(user = %user, flow = %flow_id, "provisioning login started");
    let next = pending.advance().await;
    let proc = Process {
        owner: user,
        pending,
        expires: Instant::now(),
    };
    p.answer(process_id(), proc, next).await
}

async fn login_step(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
    Path((id, step_id, step_type)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    if step_type != "user_input" && step_type != "display_and_wait" {
        return matrix_error(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            "unsupported step type (user_input or display_and_wait)",
        );
    }
    let mut proc = match p.take(&id, &user).await {
        Ok(proc) => proc,
        Err(response) => return response,
    };
    let step = proc.pending.step();
    if step.step_id() != step_id || step.kind() != step_type {
        let message = format!(
            "the login is at step {} ({}), not {step_id} ({step_type})",
            step.step_id(),
            step.kind()
        );
        p.keep(id, proc).await;
        return matrix_error(StatusCode::BAD_REQUEST, "M_BAD_STATE", &message);
    }
    if step_type == "user_input" {
        if let Err((status, errcode, message)) = fill_step(&mut proc.pending, &body) {
            p.keep(id, proc).await;
            return matrix_error(status, errcode, &message);
        }
    }
    let next = proc.pending.advance().await;
    p.answer(id, proc, next).await
}

/// Fills every field of the current `user_input` step from the JSON object `body`
/// (`{"field id": "value"}`), checking them all first so that nothing is filled on an error.
fn fill_step(pending: &mut PendingLogin, body: &[u8]) -> Result<(), Refusal> {
    let bad = |errcode: &'static str, message: String| (StatusCode::BAD_REQUEST, errcode, message);
    let values: BTreeMap<String, Value> = serde_json::from_slice(body).map_err(|_| {
        bad(
            "M_NOT_JSON",
            "the body must be a JSON object of field id → string".into(),
        )
    })?;
    let LoginStep::UserInput { fields, .. } = pending.step() else {
        return Err(bad("M_BAD_STATE", "this step takes no input".into()));
    };
    let mut ordered = Vec::with_capacity(fields.len());
    for field in fields {
        let value = match values.get(&field.id) {
            Some(Value::String(v)) => v.clone(),
            Some(_) => {
                let message = format!("the field `{}` must be a string", field.id);
                return Err(bad("M_BAD_JSON", message));
            }
            None => {
                let message = format!("the field `{}` is missing", field.id);
                return Err(bad("M_BAD_JSON", message));
            }
        };
        field
            .check(&value)
            .map_err(|why| bad("M_INVALID_PARAM", why))?;
        ordered.push(value);
    }
    for value in &ordered {
        pending
            .fill(value)
            .map_err(|why| bad("M_INVALID_PARAM", why))?;
    }
    Ok(())
}

async fn login_cancel(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match p.take(&id, &user).await {
        Ok(proc) => {
            proc.pending.cancel().await;
            ok(json!({}))
        }
        Err(response) => response,
    }
}

async fn logout(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
    Path(login_id): Path<String>,
) -> Response {
    let current = p.ctx.login_of(&user).await;
    let matches = current
        .as_ref()
        .is_some_and(|login| login.remote_id == login_id);
    if login_id != "all" && !matches {
        return matrix_error(StatusCode::NOT_FOUND, "M_NOT_FOUND", "Login not found");
    }
    if current.is_some() {
        logins::logout(&p.ctx, &user).await;
        info!(user = %user, "logged out through the provisioning API");
    }
    ok(json!({}))
}

async fn list_logins(
    State(p): State<Shared>,
    Extension(Caller(user)): Extension<Caller>,
) -> Response {
    let ids: Vec<String> = p
        .ctx
        .login_of(&user)
        .await
        .map(|l| l.remote_id.clone())
        .into_iter()
        .collect();
    ok(json!({ "login_ids": ids }))
}

#[path = "provisioning_chats.rs"]
mod chats;
use chats::{contacts, create_dm, create_group, resolve_identifier};

#[cfg(test)]
#[path = "provisioning_tests.rs"]
mod tests;
