//! Fault injection for resilience runs (`scripts/chaos.sh`): sandbox-only endpoints, not
//! part of Easemob's API. Guarded like the sandbox's other app-level calls (a valid token;
//! the sandbox has no app tokens), and for a user's token by that user's token.
//!
//! - `POST /{org}/{app}/sandbox/drop_sockets`, body `{"count": n, "users": [..]}` (both
//!   optional: 1, every user): drops up to `n` live msync sockets abruptly, as a network
//!   failure would; clients reconnect and sync what they missed. Answer `{"data":
//!   {"dropped": k}}`.
//! - `POST /{org}/{app}/sandbox/users/{user}/token/expire`: every token of `user` expires
//!   now and the user's sockets drop, so devices reconnect and are refused with "Sorry,
//!   token expired". Answer `{"data": {"expired": k}}`.

use serde_json::json;

use super::{names_field, u64_field, ApiError, ApiResult, Ctx};

/// `POST /sandbox/drop_sockets`.
pub(crate) async fn drop_sockets(cx: &mut Ctx) -> ApiResult {
    cx.auth()?;
    let body = cx.json_object().await?;
    let count = u64_field(&body, "count").unwrap_or(1);
    let count = usize::try_from(count)
        .map_err(|_| ApiError::bad_request(format!("count {count} is too large")))?;
    let users = names_field(&body, "users");
    let dropped = cx.sb.drop_some_connections(count, &users);
    cx.ok(json!({ "data": { "dropped": dropped } }))
}

/// `POST /sandbox/users/{user}/token/expire`.
pub(crate) fn expire_token(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    if !cx.sb.lock().data.users.contains_key(user) {
        return Err(ApiError::user_not_found(user));
    }
    let expired = cx.sb.expire_tokens(user);
    cx.ok(json!({ "data": { "expired": expired } }))
}
