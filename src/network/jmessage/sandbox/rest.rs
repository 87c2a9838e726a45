//! The sandbox's admin REST (the shape of JMessage IM REST v1, reference §B2), with
//! `Authorization: Basic base64(appKey:masterSecret)`:
//! - `POST /v1/users/` `[{username, password}]` registers users → `201 [{username}]` (or
//!   `{username, error:{code:899001, message}}` per taken name, `899003` per name breaking
//!   the register rules, [`crate::network::jmessage::across::valid_username`]);
//! - `PUT /v1/users/{username}/password` `{new_password}` → 204; the user's sessions get
//!   `event_notification` type 2 (password changed) and are logged out;
//! - `POST /v1/messages` `{version, target_type:"single", from_type, from_id, target_id,
//!   msg_type:"text", msg_body:{text, extras?}}` → `{msg_id, msg_ctime}`. The real service
//!   takes only `from_type:"admin"`; the sandbox also takes `"user"` so tests can send as any
//!   registered user.
//!
//! Errors are `{error:{code, message}}` with the HTTP status the real service uses (401 bad
//! auth, 400 bad body, 403 unknown user).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};

use super::state::Sandbox;
use crate::network::jmessage::wire::Content;

/// "Basic authentication failed" (the server error table's 899008).
pub(super) const AUTH_FAILED: i64 = 899008;

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The app of the federation ([`super::apps`]) whose `appKey:masterSecret` the request's
/// `Authorization: Basic` carries; `None` when it is no app's.
pub(super) fn authorized(sandbox: &Arc<Sandbox>, headers: &HeaderMap) -> Option<Arc<Sandbox>> {
    let raw = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())?;
    let (key, secret) = raw.split_once(':')?;
    sandbox
        .app(key)
        .filter(|app| app.cfg.master_secret == secret)
}

/// The JSON body, or the 400 answer for one that is not JSON.
fn parse(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
}

/// `POST /v1/users/`.
pub async fn register(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(sandbox) = authorized(&sandbox, &headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            AUTH_FAILED,
            "Basic authentication failed",
        );
    };
    let body = match parse(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, 899003, &e),
    };
    let Some(users) = body.as_array() else {
        return error(
            StatusCode::BAD_REQUEST,
            899003,
            "a list of users is expected",
        );
    };
    let mut out = Vec::new();
    for u in users {
        let name = u["username"].as_str().unwrap_or_default();
        let password = u["password"].as_str().unwrap_or_default();
        if name.is_empty() || password.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                899003,
                "username and password are required",
            );
        }
        if !crate::network::jmessage::across::valid_username(name) {
            // The register rules (letters, digits, `_ . - @`, a letter or digit first).
            out.push(json!({"username": name, "error": {"code": 899003,
                "message": "invalid username: letters, digits, _ . - @ only"}}));
        } else if sandbox.register(name, password) {
            out.push(json!({"username": name}));
        } else {
            out.push(json!({"username": name, "error": {"code": 899001, "message": "user exist"}}));
        }
    }
    (StatusCode::CREATED, Json(Value::Array(out))).into_response()
}

/// `PUT /v1/users/{username}/password`.
pub async fn set_password(
    State(sandbox): State<Arc<Sandbox>>,
    Path(username): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(sandbox) = authorized(&sandbox, &headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            AUTH_FAILED,
            "Basic authentication failed",
        );
    };
    let body = match parse(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, 899003, &e),
    };
    let Some(password) = body["new_password"].as_str().filter(|p| !p.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, 899003, "new_password is required");
    };
    if sandbox.set_password(&username, password) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::FORBIDDEN, 899002, "No such user")
    }
}

/// `POST /v1/messages`.
pub async fn send_message(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(sandbox) = authorized(&sandbox, &headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            AUTH_FAILED,
            "Basic authentication failed",
        );
    };
    let body = match parse(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, 899003, &e),
    };
    if body["target_type"].as_str() != Some("single") {
        return error(
            StatusCode::BAD_REQUEST,
            899003,
            "only target_type single is implemented",
        );
    }
    let from = body["from_id"].as_str().unwrap_or_default().to_owned();
    let mut content = match serde_json::from_value::<Content>(body.clone()) {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                899003,
                &format!("bad message: {e}"),
            )
        }
    };
    content.from_platform = "api".into();
    content.from_type = Some(body["from_type"].as_str().unwrap_or("admin").to_owned());
    match sandbox.send_single(&from, content) {
        Ok((msg_id, ctime)) => Json(json!({"msg_id": msg_id, "msg_ctime": ctime})).into_response(),
        Err(r) => error(StatusCode::FORBIDDEN, 899002, &r.message),
    }
}
