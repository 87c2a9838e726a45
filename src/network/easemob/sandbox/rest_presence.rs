//! Presence REST calls (`/users/{user}/presence…`, the SDK's presence API): publish a custom
//! status, subscribe with an expiry (at most [`MAX_PER_CALL`] users per call and
//! [`MAX_SUBSCRIPTIONS`] in all), unsubscribe, read statuses and the subscription list. The
//! answers carry `result` at the top level, where the SDK reads it.

use serde_json::{json, Value};

use super::super::presence::{
    notify_subscribers, presence_json, MAX_EXPIRY_SECS, MAX_PER_CALL, MAX_SUBSCRIPTIONS,
};
use super::super::state::now_ms;
use super::{names_field, str_field, user_mut, ApiError, ApiResult, Ctx};

/// `POST /users/{user}/presence/{resource}/1` `{"ext"}` (publishPresence).
pub(crate) async fn publish(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let body = cx.json_object().await?;
    let ext = str_field(&body, "ext").unwrap_or_default().to_owned();
    if ext.len() > 64 {
        return Err(ApiError::bad_request("ext must be at most 64 bytes"));
    }
    let app_key = cx.app_key().to_owned();
    {
        let mut inner = cx.sb.lock();
        user_mut(&mut inner, user)?.presence.ext = ext;
        notify_subscribers(&mut inner, &app_key, user);
    }
    cx.sb.touch();
    cx.ok(json!({ "result": "ok" }))
}

/// The `usernames` of a body: a list, refused when empty or longer than one call allows.
fn targets(body: &serde_json::Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let users = names_field(body, "usernames");
    if users.is_empty() || users.len() > MAX_PER_CALL {
        return Err(ApiError::bad_request(format!(
            "usernames must name 1 to {MAX_PER_CALL} users"
        )));
    }
    Ok(users)
}

/// `POST /users/{user}/presence/{expiry}` `{"usernames"}` (subscribePresence): subscribes for
/// `expiry` seconds and answers the current statuses.
pub(crate) async fn subscribe(cx: &mut Ctx, user: &str, expiry: &str) -> ApiResult {
    cx.auth_as(user)?;
    let secs: u64 = expiry
        .parse()
        .ok()
        .filter(|s| (1..=MAX_EXPIRY_SECS).contains(s))
        .ok_or_else(|| {
            ApiError::bad_request(format!("expiry must be 1 to {MAX_EXPIRY_SECS} seconds"))
        })?;
    let body = cx.json_object().await?;
    let users = targets(&body)?;
    let until = now_ms().saturating_add(secs.saturating_mul(1000));
    let result: Vec<Value> = {
        let mut inner = cx.sb.lock();
        if let Some(missing) = users.iter().find(|u| !inner.data.users.contains_key(*u)) {
            return Err(ApiError::user_not_found(missing));
        }
        let already: usize = inner
            .data
            .users
            .values()
            .filter(|u| u.presence.subscribers.contains_key(user))
            .count();
        let new = users
            .iter()
            .filter(|t| {
                inner
                    .data
                    .users
                    .get(*t)
                    .is_some_and(|u| !u.presence.subscribers.contains_key(user))
            })
            .count();
        if already + new > MAX_SUBSCRIPTIONS {
            return Err(ApiError::forbidden(format!(
                "at most {MAX_SUBSCRIPTIONS} users may be subscribed to"
            )));
        }
        for t in &users {
            user_mut(&mut inner, t)?
                .presence
                .subscribers
                .insert(user.to_owned(), until);
        }
        users
            .iter()
            .map(|t| presence_json(&inner, t, user))
            .collect()
    };
    cx.sb.touch();
    cx.ok(json!({ "result": result }))
}

/// `DELETE /users/{user}/presence` with a JSON array of names (unsubscribePresence).
pub(crate) async fn unsubscribe(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let names: Vec<String> = match cx.json().await? {
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => {
            return Err(ApiError::bad_request(
                "the body must be a list of user names",
            ))
        }
    };
    {
        let mut inner = cx.sb.lock();
        for t in &names {
            if let Some(u) = inner.data.users.get_mut(t) {
                u.presence.subscribers.remove(user);
            }
        }
    }
    cx.sb.touch();
    cx.ok(json!({ "result": "ok" }))
}

/// `POST /users/{user}/presence` `{"usernames"}` (getPresenceStatus).
pub(crate) async fn statuses(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let body = cx.json_object().await?;
    let users = targets(&body)?;
    let result: Vec<Value> = {
        let inner = cx.sb.lock();
        users
            .iter()
            .map(|t| presence_json(&inner, t, user))
            .collect()
    };
    cx.ok(json!({ "result": result }))
}

/// `GET /users/{user}/presence/sublist?pageNum=&pageSize=` (getSubscribedPresencelist).
pub(crate) fn sublist(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let num = cx.query_num("pageNum").unwrap_or(1).max(1);
    let size = cx.query_num("pageSize").unwrap_or(20).clamp(1, 500);
    let now = now_ms();
    let all: Vec<(String, u64)> = {
        let inner = cx.sb.lock();
        inner
            .data
            .users
            .iter()
            .filter_map(|(name, u)| {
                u.presence
                    .subscribers
                    .get(user)
                    .filter(|until| **until > now)
                    .map(|until| (name.clone(), until / 1000))
            })
            .collect()
    };
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip((num - 1).saturating_mul(size))
        .take(size)
        .map(|(uid, expiry)| json!({ "uid": uid, "expiry": expiry }))
        .collect();
    cx.ok(json!({ "result": { "sublist": page, "totalnum": total } }))
}
