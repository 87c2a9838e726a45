//! Do-not-disturb (the SDK's "silent mode", `silent/silent.js`): per-conversation settings
//! `PUT|GET /users/{user}/notification/{user|chatgroup}/{id}` with one of `{"type": "ALL" |
//! "AT" | "NONE" | "DEFAULT"}`, `{"ignoreDuration": ms}` or `{"ignoreInterval": "h:m-h:m"}`
//! (`setSilentModeForConversation`, `getSilentModeForConversation`,
//! `clearRemindTypeForConversation` sends `DEFAULT`), the account-wide one at
//! `/notification/user/{user}` (its own id: `setSilentModeForAll`), and the batch read
//! `GET /users/{user}/notification?user=a,b&group=g` (`getSilentModeForConversations`),
//! answered `{"data": {"user": {id: setting}, "group": {id: setting}}}`. The answer shapes are
//! the SDK's pass-through of the server's `data` and are inferred, not captured.

use serde_json::{json, Map, Value};

use super::super::state::now_ms;
use super::{user_mut, ApiError, ApiResult, Ctx};

/// The remind types the service knows.
const REMIND_TYPES: [&str; 4] = ["ALL", "AT", "NONE", "DEFAULT"];

/// The store key of a conversation's setting: `user:<id>` or `chatgroup:<id>`.
fn key(kind: &str, id: &str) -> Result<String, ApiError> {
    match kind {
        "user" | "chatgroup" => Ok(format!("{kind}:{id}")),
        other => Err(ApiError::bad_request(format!(
            "unknown conversation type {other:?}: user or chatgroup"
        ))),
    }
}

/// A setting as answered: `type` (DEFAULT when none), and the duration's end or the interval
/// when set; an expired duration is left out.
fn answer(setting: Option<&Value>) -> Value {
    let mut out = Map::new();
    let s = setting.and_then(Value::as_object);
    let remind = s
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("DEFAULT");
    out.insert("type".into(), json!(remind));
    if let Some(until) = s
        .and_then(|s| s.get("ignoreDuration"))
        .and_then(Value::as_u64)
    {
        if until > now_ms() {
            out.insert("ignoreDuration".into(), json!(until));
        }
    }
    if let Some(i) = s.and_then(|s| s.get("ignoreInterval")) {
        out.insert("ignoreInterval".into(), i.clone());
    }
    Value::Object(out)
}

/// `PUT /users/{user}/notification/{kind}/{id}`: sets one of the three kinds of setting.
pub(crate) async fn set(cx: &mut Ctx, user: &str, kind: &str, id: &str) -> ApiResult {
    cx.auth_as(user)?;
    let key = key(kind, id)?;
    let body = cx.json_object().await?;
    let mut setting = {
        let inner = cx.sb.lock();
        inner
            .data
            .users
            .get(user)
            .and_then(|u| u.notification.get(&key))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    if let Some(t) = body.get("type") {
        let t = t
            .as_str()
            .filter(|t| REMIND_TYPES.contains(t))
            .ok_or_else(|| ApiError::bad_request("type must be ALL, AT, NONE or DEFAULT"))?;
        setting.insert("type".into(), json!(t));
    } else if let Some(d) = body.get("ignoreDuration") {
        let ms = d
            .as_u64()
            .filter(|ms| *ms <= 7 * 24 * 3600 * 1000)
            .ok_or_else(|| ApiError::bad_request("ignoreDuration must be 0 to 604800000 ms"))?;
        setting.insert("ignoreDuration".into(), json!(now_ms().saturating_add(ms)));
    } else if let Some(i) = body.get("ignoreInterval") {
        let i = i
            .as_str()
            .ok_or_else(|| ApiError::bad_request("ignoreInterval must be \"h:m-h:m\""))?;
        setting.insert("ignoreInterval".into(), json!(i));
    } else {
        return Err(ApiError::bad_request(
            "give type, ignoreDuration or ignoreInterval",
        ));
    }
    let stored = Value::Object(setting);
    let data = answer(Some(&stored));
    {
        let mut inner = cx.sb.lock();
        user_mut(&mut inner, user)?.notification.insert(key, stored);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": data }))
}

/// `GET /users/{user}/notification/{kind}/{id}`.
pub(crate) fn get(cx: &mut Ctx, user: &str, kind: &str, id: &str) -> ApiResult {
    cx.auth_as(user)?;
    let key = key(kind, id)?;
    let data = {
        let mut inner = cx.sb.lock();
        answer(user_mut(&mut inner, user)?.notification.get(&key))
    };
    cx.ok(json!({ "data": data }))
}

/// `GET /users/{user}/notification?user=a,b&group=g`: the settings of these conversations.
pub(crate) fn get_many(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let list = |v: Option<&str>| -> Vec<String> {
        v.unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let users = list(cx.query("user"));
    let groups = list(cx.query("group"));
    if users.len() + groups.len() > 100 {
        return Err(ApiError::bad_request("at most 100 conversations per call"));
    }
    let data = {
        let mut inner = cx.sb.lock();
        let u = user_mut(&mut inner, user)?;
        let pick = |kind: &str, ids: &[String]| -> Map<String, Value> {
            ids.iter()
                .map(|id| {
                    let setting = u.notification.get(&format!("{kind}:{id}"));
                    (id.clone(), answer(setting))
                })
                .collect()
        };
        json!({ "user": pick("user", &users), "group": pick("chatgroup", &groups) })
    };
    cx.ok(json!({ "data": data }))
}
