//! Users, tokens, devices and user metadata (`/users`, `/token`, `/metadata/user`).

use super::user_mut;
use serde_json::{json, Map, Value};

use super::super::state::{now_ms, User};
use super::{str_field, user_uuid, ApiError, ApiResult, Ctx};
use crate::network::easemob::proto::statistics_body::Operation as StatOp;

/// The user metadata keys the SDK allows.
const METADATA_KEYS: [&str; 8] = [
    "nickname",
    "avatarurl",
    "mail",
    "phone",
    "gender",
    "sign",
    "birth",
    "ext",
];

/// Largest value of one metadata key.
const MAX_METADATA_VALUE: usize = 2048;

/// Valid user name: lowercase letters, digits, `_`, `-`, `.`; 1 to 64 characters.
pub(crate) fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
}

/// A user as the REST API shows it.
pub(crate) fn user_entity(app_key: &str, user: &User) -> Value {
    json!({
        "uuid": user_uuid(app_key, &user.username),
        "type": "user",
        "created": user.created,
        "modified": user.created,
        "username": user.username,
        "activated": true,
        "nickname": user.nickname,
    })
}

/// What the server says when open registration is off and no token came (the SDK looks for
/// "Open registration doesn't allow"; developers' reports quote the whole sentence with 401).
pub(crate) const REGISTRATION_CLOSED: &str =
    "Open registration doesn't allow, so register user need token";
/// What the server says when the app's user quota is reached (the free edition's limit, as
/// developers' reports quote it with 429).
pub(crate) const USER_QUOTA_REACHED: &str = "You have exceeded the limit of the community \
                                             edition,Please upgrade to the enterprise edition";

/// `POST /users`: one object or an array of `{username, password, nickname}`. Refusals as the
/// server words them: 401 `unauthorized` when registration is not open and no valid token
/// came, 400 `illegal_argument` "… is not legal" for a bad user name (the SDK tests for that
/// phrase), 400 `duplicate_unique_property_exists` for a taken one, 429 when the app's user
/// quota is reached.
pub(crate) async fn register(cx: &mut Ctx) -> ApiResult {
    if !cx.sb.cfg.open_registration && cx.token_user().is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            REGISTRATION_CLOSED,
        ));
    }
    let body = cx.json().await?;
    let items = match body {
        Value::Array(items) => items,
        Value::Object(_) => vec![body],
        _ => {
            return Err(ApiError::bad_request(
                "the request body must be a user object or an array of them",
            ))
        }
    };
    if items.is_empty() || items.len() > 60 {
        return Err(ApiError::bad_request(
            "register between 1 and 60 users at a time",
        ));
    }
    let mut new_users = Vec::new();
    for item in &items {
        let obj = item
            .as_object()
            .ok_or_else(|| ApiError::bad_request("each user must be a JSON object"))?;
        let username = str_field(obj, "username").unwrap_or_default();
        if !valid_username(username) {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "illegal_argument",
                format!(
                    "USERNAME_INVALID: username [{username}] is not legal (1 to 64 characters \
                     of a-z, 0-9, _, - and .)"
                ),
            ));
        }
        let password = str_field(obj, "password").unwrap_or_default();
        if password.is_empty() || password.len() > 64 {
            return Err(ApiError::bad_request(
                "PASSWORD_INVALID: the password must be 1 to 64 characters",
            ));
        }
        let nickname = str_field(obj, "nickname").unwrap_or_default();
        if nickname.len() > 100 {
            return Err(ApiError::bad_request(
                "the nickname must be at most 100 bytes",
            ));
        }
        new_users.push(User {
            username: username.to_owned(),
            password: password.to_owned(),
            nickname: nickname.to_owned(),
            created: now_ms(),
            ..Default::default()
        });
    }
    let entities = {
        let mut inner = cx.sb.lock();
        for (i, user) in new_users.iter().enumerate() {
            let dup_in_batch = new_users[..i].iter().any(|u| u.username == user.username);
            if dup_in_batch || inner.data.users.contains_key(&user.username) {
                return Err(ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "duplicate_unique_property_exists",
                    format!(
                        "Application {} Entity user requires that property named username be unique, value of {} exists",
                        cx.app_key(),
                        user.username
                    ),
                ));
            }
        }
        if let Some(max) = cx.sb.cfg.max_users {
            if inner.data.users.len() + new_users.len() > max {
                return Err(ApiError::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "exceeded_limit",
                    USER_QUOTA_REACHED,
                ));
            }
        }
        let mut entities = Vec::new();
        for user in new_users {
            entities.push(user_entity(cx.app_key(), &user));
            inner.data.users.insert(user.username.clone(), user);
        }
        entities
    };
    cx.sb.touch();
    cx.ok(json!({ "entities": entities }))
}

/// `POST /token`: password grant.
pub(crate) async fn token(cx: &mut Ctx) -> ApiResult {
    let body = cx.json_object().await?;
    let grant = str_field(&body, "grant_type").unwrap_or_default();
    if grant != "password" {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("unsupported grant type '{grant}', the sandbox issues password grants only"),
        ));
    }
    let username = str_field(&body, "username").unwrap_or_default();
    let password = str_field(&body, "password").unwrap_or_default();
    let invalid_grant =
        |desc: &str| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_grant", desc);
    let ttl = cx.sb.cfg.token_ttl_ms;
    let (token, entity) = {
        let mut inner = cx.sb.lock();
        let user = inner
            .data
            .users
            .get(username)
            .ok_or_else(|| invalid_grant("user not found"))?;
        if user.password != password {
            return Err(invalid_grant("invalid password"));
        }
        let entity = user_entity(cx.app_key(), user);
        let (token, _) = inner.issue_token(username, ttl);
        (token, entity)
    };
    cx.sb.touch();
    Ok(axum::response::IntoResponse::into_response(axum::Json(
        json!({
            "access_token": token,
            "expires_in": ttl / 1000,
            "user": entity,
        }),
    )))
}

/// `GET /sdk/users/{user}/token/expires`: expiry of the bearer token.
pub(crate) fn token_expires(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let token = cx.raw_token().ok_or_else(ApiError::unauthorized)?;
    let expires = cx
        .sb
        .lock()
        .data
        .tokens
        .get(&token)
        .map(|t| t.expires_at)
        .ok_or_else(ApiError::unauthorized)?;
    cx.ok(json!({ "expire_timestamp": expires }))
}

/// `PUT /users/{user}/password` `{"newpassword"}`: revokes the tokens and kicks the devices.
pub(crate) async fn change_password(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let body = cx.json_object().await?;
    let new = str_field(&body, "newpassword").unwrap_or_default();
    if new.is_empty() || new.len() > 64 {
        return Err(ApiError::bad_request(
            "PASSWORD_INVALID: newpassword must be 1 to 64 characters",
        ));
    }
    {
        let mut inner = cx.sb.lock();
        let u = user_mut(&mut inner, user)?;
        u.password = new.to_owned();
        inner.revoke_tokens(user);
        inner.kick(
            user,
            None,
            StatOp::UserKickedByChangePassword as i32,
            "password changed",
        );
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "result": "ok" } }))
}

/// `GET /users/{user}`.
pub(crate) fn get_user(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth()?;
    let entity = {
        let inner = cx.sb.lock();
        let u = inner
            .data
            .users
            .get(user)
            .ok_or_else(|| ApiError::user_not_found(user))?;
        user_entity(cx.app_key(), u)
    };
    cx.ok(json!({ "entities": [entity], "count": 1 }))
}

/// `PUT /users/{user}`: the push nickname (`updateCurrentUserNick`); push tokens and
/// `notification_ignore_*` settings are accepted and ignored.
pub(crate) async fn update_user(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let body = cx.json_object().await?;
    let entity = {
        let mut inner = cx.sb.lock();
        let u = user_mut(&mut inner, user)?;
        if let Some(nick) = str_field(&body, "nickname") {
            if nick.len() > 100 {
                return Err(ApiError::bad_request(
                    "the nickname must be at most 100 bytes",
                ));
            }
            u.nickname = nick.to_owned();
        }
        user_entity(cx.app_key(), u)
    };
    cx.sb.touch();
    cx.ok(json!({ "entities": [entity] }))
}

/// `DELETE /users/{user}` (self): removes the user everywhere and kicks its devices (207).
pub(crate) fn delete_user(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let app_key = cx.app_key().to_owned();
    let entity = {
        let mut inner = cx.sb.lock();
        let removed = inner
            .data
            .users
            .remove(user)
            .ok_or_else(|| ApiError::user_not_found(user))?;
        inner.kick(user, None, StatOp::UserRemoved as i32, "user removed");
        inner.revoke_tokens(user);
        for other in inner.data.users.values_mut() {
            other.contacts.remove(user);
            other.contact_requests.remove(user);
            other.blocks.remove(user);
        }
        let owned: Vec<String> = inner
            .data
            .groups
            .values()
            .filter(|g| g.owner == user)
            .map(|g| g.id.clone())
            .collect();
        for id in owned {
            super::groups::destroy_locked(&mut inner, &app_key, &id, user, None);
        }
        for g in inner.data.groups.values_mut() {
            g.members.remove(user);
            g.admins.remove(user);
            g.muted.remove(user);
        }
        user_entity(&app_key, &removed)
    };
    cx.sb.touch();
    cx.ok(json!({ "entities": [entity] }))
}

/// `GET /users/{user}/resources`: the devices online now.
pub(crate) fn resources(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let data: Vec<Value> = {
        let inner = cx.sb.lock();
        let u = inner
            .data
            .users
            .get(user)
            .ok_or_else(|| ApiError::user_not_found(user))?;
        let mut live: Vec<(&String, i32)> = inner
            .live
            .iter()
            .filter(|((name, _), _)| name == user)
            .map(|((_, res), conn)| (res, conn.os_type))
            .collect();
        live.sort();
        live.into_iter()
            .map(|(res, os)| {
                let device = u.devices.get(res);
                json!({
                    "res": res,
                    "device_uuid": res,
                    "device_name": res.split('_').next().unwrap_or_default(),
                    "os_type": os,
                    "last_login": device.map(|d| d.last_login).unwrap_or_default(),
                })
            })
            .collect()
    };
    cx.ok(json!({ "data": data }))
}

/// `GET /users/{user}/disconnect` (all devices) and `DELETE /users/{user}/disconnect/{resource}`
/// (one device): "kick another device of mine" (217 on the kicked device).
pub(crate) fn disconnect(cx: &mut Ctx, user: &str, resource: Option<&str>) -> ApiResult {
    cx.auth_as(user)?;
    {
        let mut inner = cx.sb.lock();
        if !inner.data.users.contains_key(user) {
            return Err(ApiError::user_not_found(user));
        }
        if let Some(res) = resource {
            if !inner.live.contains_key(&(user.to_owned(), res.to_owned())) {
                return Err(ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "resource_not_found",
                    format!("device {res} of {user} is not online"),
                ));
            }
        }
        inner.kick(
            user,
            resource,
            StatOp::UserKickedByOtherDevice as i32,
            "kicked by another device",
        );
    }
    cx.ok(json!({ "data": { "result": true } }))
}

/// The body of a metadata update: form-urlencoded (what the SDK sends) or a JSON object.
async fn metadata_body(cx: &mut Ctx) -> Result<Vec<(String, String)>, ApiError> {
    let is_json = cx
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        let obj = cx.json_object().await?;
        return Ok(obj
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect());
    }
    let bytes = cx.body_bytes().await?;
    Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
}

/// `PUT /metadata/user/{user}`: sets some of the user's metadata keys.
pub(crate) async fn set_metadata(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let pairs = metadata_body(cx).await?;
    for (k, v) in &pairs {
        if !METADATA_KEYS.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "illegal key '{k}', only these keys are allowed: {}",
                METADATA_KEYS.join(", ")
            )));
        }
        if v.len() > MAX_METADATA_VALUE {
            return Err(ApiError::bad_request(format!(
                "the value of '{k}' is longer than {MAX_METADATA_VALUE} bytes"
            )));
        }
    }
    let data = {
        let mut inner = cx.sb.lock();
        let u = user_mut(&mut inner, user)?;
        for (k, v) in pairs {
            u.metadata.insert(k, v);
        }
        metadata_json(&u.metadata, &[])
    };
    cx.sb.touch();
    cx.ok(json!({ "data": data }))
}

/// `GET /metadata/user/{user}`.
pub(crate) fn get_metadata(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth()?;
    let data = {
        let inner = cx.sb.lock();
        let u = inner
            .data
            .users
            .get(user)
            .ok_or_else(|| ApiError::user_not_found(user))?;
        metadata_json(&u.metadata, &[])
    };
    cx.ok(json!({ "data": data }))
}

fn metadata_json(
    metadata: &std::collections::BTreeMap<String, String>,
    properties: &[String],
) -> Value {
    let map: Map<String, Value> = metadata
        .iter()
        .filter(|(k, _)| properties.is_empty() || properties.contains(k))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Value::Object(map)
}

/// `POST /metadata/user/get` `{"targets":[…],"properties":[…]}` →
/// `{"data":{"alice":{"nickname":…}}}`; unknown users are left out.
pub(crate) async fn fetch_metadata(cx: &mut Ctx) -> ApiResult {
    cx.auth()?;
    let body = cx.json_object().await?;
    let targets = super::names_field(&body, "targets");
    if targets.is_empty() || targets.len() > 100 {
        return Err(ApiError::bad_request("targets must name 1 to 100 users"));
    }
    let properties = super::names_field(&body, "properties");
    let data: Map<String, Value> = {
        let inner = cx.sb.lock();
        targets
            .iter()
            .filter_map(|t| {
                let u = inner.data.users.get(t)?;
                Some((t.clone(), metadata_json(&u.metadata, &properties)))
            })
            .collect()
    };
    cx.ok(json!({ "data": data }))
}
