//! REST API of the sandbox: everything under `/{org}/{app}/` the official Web SDK and the
//! bridge call (protocol reference §1.3, §3.8, §3.10, §4). One catch-all route dispatches on
//! method and path segments, so every answer (including unknown paths and errors) has the
//! Easemob JSON shape the SDK parses: success bodies are HTTP 200 with the usual envelope
//! (`action`, `uri`, `entities`, `data`, `timestamp`, …), errors carry `error` and
//! `error_description`.
//!
//! Handlers lock the shared state only in short synchronous sections, never across an await,
//! and call [`Sandbox::touch`] after every change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Map, Value};

use super::state::{now_ms, Sandbox};

#[path = "rest_contacts.rs"]
mod contacts;
#[path = "rest_faults.rs"]
mod faults;
#[path = "rest_files.rs"]
mod files;
#[path = "rest_group_blocks.rs"]
mod group_blocks;
#[path = "rest_groups.rs"]
mod groups;
#[path = "rest_history.rs"]
mod history;
#[path = "rest_invitations.rs"]
mod invitations;
#[path = "rest_members.rs"]
mod members;
#[path = "rest_notification.rs"]
mod notification;
#[path = "rest_presence.rs"]
mod presence;
#[path = "rest_reactions.rs"]
pub(crate) mod reactions;
#[path = "rest_threads.rs"]
pub(crate) mod threads;
#[path = "rest_users.rs"]
mod users;

/// Largest JSON / form body accepted (uploads have their own limit).
const MAX_JSON_BODY: usize = 1 << 20;

/// REST routes.
pub fn routes() -> Router<Arc<Sandbox>> {
    Router::new()
        .route("/{org}/{app}", any(dispatch))
        .route("/{org}/{app}/{*rest}", any(dispatch))
        // Uploads enforce `cfg.max_upload_bytes` themselves, JSON bodies `MAX_JSON_BODY`.
        .layer(DefaultBodyLimit::disable())
}

/// An Easemob-style error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error: String,
    description: String,
    exception: &'static str,
}

impl ApiError {
    fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        let exception = match status {
            StatusCode::UNAUTHORIZED => "UnauthorizedException",
            StatusCode::FORBIDDEN => "ForbiddenOpException",
            StatusCode::NOT_FOUND => "EntityNotFoundException",
            StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLargeException",
            _ => "java.lang.IllegalArgumentException",
        };
        Self {
            status,
            error: error.to_owned(),
            description: description.into(),
            exception,
        }
    }

    /// 400 `illegal_argument`.
    pub(crate) fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "illegal_argument", description)
    }

    /// 401 with the description the SDK maps to NO_PERMISSION.
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unable to authenticate (OAuth)",
        )
    }

    /// 403 `forbidden_op`.
    pub(crate) fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden_op", description)
    }

    /// 404 for a missing user; the description contains "user not found" (SDK: USER_NOT_FOUND).
    pub(crate) fn user_not_found(user: &str) -> Self {
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            "service_resource_not_found",
            format!("user not found: {user}"),
        );
        e.exception = "UserNotFoundException";
        e
    }

    /// 404 for a missing group or room; "does not exist" makes the SDK report
    /// GROUP_NOT_EXIST / CHATROOM_NOT_EXIST.
    pub(crate) fn group_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            format!("grpID {id} does not exist!"),
        )
    }

    fn into_response_at(self, started: Instant) -> Response {
        let body = json!({
            "error": self.error,
            "error_description": self.description,
            "timestamp": now_ms(),
            "duration": started.elapsed().as_millis() as u64,
            "exception": self.exception,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// One request being answered.
pub(crate) struct Ctx {
    sb: Arc<Sandbox>,
    method: String,
    /// Path segments after `/{org}/{app}/`, percent-decoded.
    segs: Vec<String>,
    query: HashMap<String, String>,
    headers: HeaderMap,
    /// The request, until a handler consumes its body.
    req: Option<Request>,
    /// `http://host` as the client addressed us.
    base: String,
    started: Instant,
}

impl Ctx {
    /// The app key `org#app`.
    pub(crate) fn app_key(&self) -> &str {
        &self.sb.cfg.app_key
    }

    /// A query parameter, ignoring the SDK's `undefined` / `null` placeholders.
    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty() && *v != "undefined" && *v != "null")
    }

    /// A numeric query parameter.
    pub(crate) fn query_num(&self, key: &str) -> Option<usize> {
        self.query(key).and_then(|v| v.parse().ok())
    }

    /// The client resource named in `?resource=` (the device to leave out of multi-device
    /// notifications).
    pub(crate) fn resource(&self) -> Option<String> {
        self.query("resource").map(str::to_owned)
    }

    /// The bearer token, if any.
    fn bearer(&self) -> Option<&str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        Some(token.trim()).filter(|t| !t.is_empty())
    }

    /// The user the bearer token belongs to, if it is valid.
    pub(crate) fn token_user(&self) -> Option<String> {
        let token = self.bearer()?;
        self.sb.lock().token_user(token).map(str::to_owned)
    }

    /// The authenticated user, or 401.
    pub(crate) fn auth(&self) -> Result<String, ApiError> {
        self.token_user().ok_or_else(ApiError::unauthorized)
    }

    /// The authenticated user, who must be `user` (the path's user), or 401 / 403.
    pub(crate) fn auth_as(&self, user: &str) -> Result<String, ApiError> {
        let me = self.auth()?;
        if me != user {
            return Err(ApiError::forbidden(format!(
                "the token of {me} may not act for user {user}"
            )));
        }
        Ok(me)
    }

    /// The raw token (for the expiry lookup).
    pub(crate) fn raw_token(&self) -> Option<String> {
        self.bearer()
            .map(|t| t.strip_prefix("$t$").unwrap_or(t).to_owned())
    }

    /// Takes the request (for multipart parsing).
    pub(crate) fn take_request(&mut self) -> Result<Request, ApiError> {
        self.req
            .take()
            .ok_or_else(|| ApiError::bad_request("request body already read"))
    }

    /// Reads the body (at most `MAX_JSON_BODY`).
    pub(crate) async fn body_bytes(&mut self) -> Result<Bytes, ApiError> {
        let req = self.take_request()?;
        axum::body::to_bytes(req.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_entity_too_large",
                    format!("request body larger than {MAX_JSON_BODY} bytes"),
                )
            })
    }

    /// The body as JSON; an empty body is `null`, malformed JSON is a 400.
    pub(crate) async fn json(&mut self) -> Result<Value, ApiError> {
        let bytes = self.body_bytes().await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "json_parse",
                format!("Unexpected content, the request body is not valid JSON: {e}"),
            )
        })
    }

    /// The body as a JSON object (400 otherwise; an empty body is an empty object).
    pub(crate) async fn json_object(&mut self) -> Result<Map<String, Value>, ApiError> {
        match self.json().await? {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Map::new()),
            _ => Err(ApiError::bad_request(
                "the request body must be a JSON object",
            )),
        }
    }

    /// A success answer: the Easemob envelope merged with `fields` (an object).
    pub(crate) fn ok(&self, fields: Value) -> ApiResult {
        let (org, app) = self.sb.cfg.org_app();
        let path = self.segs.join("/");
        let mut body = json!({
            "action": self.method.to_ascii_lowercase(),
            "application": app_uuid(&self.sb.cfg.app_key),
            "path": format!("/{}", self.segs.first().map(String::as_str).unwrap_or_default()),
            "uri": format!("{}/{org}/{app}/{path}", self.base),
            "entities": [],
            "timestamp": now_ms(),
            "duration": self.started.elapsed().as_millis() as u64,
            "organization": org,
            "applicationName": app,
        });
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        Ok((StatusCode::OK, axum::Json(body)).into_response())
    }

    /// `{base}/{org}/{app}/{tail}`.
    pub(crate) fn url(&self, tail: &str) -> String {
        let (org, app) = self.sb.cfg.org_app();
        format!("{}/{org}/{app}/{tail}", self.base)
    }
}

/// A stable UUID-looking id for the application.
fn app_uuid(app_key: &str) -> String {
    let h = fnv(app_key.as_bytes());
    let l = fnv(&h.to_le_bytes());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h as u16,
        (l >> 48) as u16,
        l & 0xffff_ffff_ffff
    )
}

/// A stable UUID-looking id for a user (real users have one; the sandbox derives it).
pub(crate) fn user_uuid(app_key: &str, user: &str) -> String {
    app_uuid(&format!("{app_key}/{user}"))
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A random UUID (version 4 layout).
pub(crate) fn random_uuid() -> String {
    let a: u128 = rand::random();
    let a =
        (a & !(0xf000u128 << 64) | (0x4000u128 << 64)) & !(0xc000u128 << 48) | (0x8000u128 << 48);
    let hex = format!("{a:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Percent-decodes one path segment (invalid escapes are kept as they are).
fn percent_decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Adds the CORS headers a browser-hosted SDK needs.
fn with_cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "authorization, content-type, restrict-access, share-secret, accept",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    resp
}

async fn dispatch(State(sb): State<Arc<Sandbox>>, req: Request) -> Response {
    let started = Instant::now();
    if req.method() == axum::http::Method::OPTIONS {
        return with_cors(StatusCode::OK.into_response());
    }
    let mut segs: Vec<String> = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    // Tolerate a trailing slash.
    if segs.len() > 1 && segs.last().is_some_and(String::is_empty) {
        segs.pop();
    }
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers = req.headers().clone();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let scheme = if headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p == "https")
    {
        "https"
    } else {
        "http"
    };
    let org_app = (segs.first().cloned(), segs.get(1).cloned());
    let rest = segs.split_off(2.min(segs.len()));
    let mut cx = Ctx {
        sb,
        method: req.method().as_str().to_owned(),
        segs: rest,
        query,
        headers,
        req: Some(req),
        base: format!("{scheme}://{host}"),
        started,
    };
    let (org, app) = cx.sb.cfg.org_app();
    let result = if org_app.0.as_deref() != Some(org) || org_app.1.as_deref() != Some(app) {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "organization_application_not_found",
            format!(
                "Could not find application for {}/{} from URI",
                org_app.0.unwrap_or_default(),
                org_app.1.unwrap_or_default()
            ),
        ))
    } else {
        route(&mut cx).await
    };
    with_cors(result.unwrap_or_else(|e| e.into_response_at(started)))
}

async fn route(cx: &mut Ctx) -> ApiResult {
    let segs = cx.segs.clone();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = cx.method.clone();
    match (method.as_str(), s.as_slice()) {
        // Users and tokens.
        ("POST", ["users"]) => users::register(cx).await,
        ("POST", ["token"]) => users::token(cx).await,
        ("GET", ["sdk", "users", user, "token", "expires"]) => users::token_expires(cx, user),
        // Fault injection (sandbox only, not Easemob's API): see rest_faults.rs.
        ("POST", ["sandbox", "drop_sockets"]) => faults::drop_sockets(cx).await,
        ("POST", ["sandbox", "users", user, "token", "expire"]) => faults::expire_token(cx, user),
        ("PUT", ["users", user, "password"]) => users::change_password(cx, user).await,
        ("GET", ["users", user]) => users::get_user(cx, user),
        ("PUT", ["users", user]) => users::update_user(cx, user).await,
        ("DELETE", ["users", user]) => users::delete_user(cx, user),
        ("GET", ["users", user, "resources"]) => users::resources(cx, user),
        ("GET", ["users", user, "disconnect"]) => users::disconnect(cx, user, None),
        ("DELETE", ["users", user, "disconnect", resource]) => {
            users::disconnect(cx, user, Some(resource))
        }
        ("PUT", ["metadata", "user", user]) => users::set_metadata(cx, user).await,
        ("GET", ["users", user, "notification"]) => notification::get_many(cx, user),
        ("GET", ["users", user, "notification", kind @ ("user" | "chatgroup"), id]) => {
            notification::get(cx, user, kind, id)
        }
        ("PUT", ["users", user, "notification", kind @ ("user" | "chatgroup"), id]) => {
            notification::set(cx, user, kind, id).await
        }
        ("GET", ["metadata", "user", user]) => users::get_metadata(cx, user),
        ("POST", ["metadata", "user", "get"]) => users::fetch_metadata(cx).await,
        // Files.
        ("POST", ["chatfiles"]) => files::upload(cx).await,
        ("GET", ["chatfiles", uuid]) => files::download(cx, uuid).await,
        // Presence.
        ("POST", ["users", user, "presence", _resource, "1"]) => presence::publish(cx, user).await,
        ("POST", ["users", user, "presence", expiry]) => {
            presence::subscribe(cx, user, expiry).await
        }
        ("DELETE", ["users", user, "presence"]) => presence::unsubscribe(cx, user).await,
        ("POST", ["users", user, "presence"]) => presence::statuses(cx, user).await,
        ("GET", ["users", user, "presence", "sublist"]) => presence::sublist(cx, user),
        // Contacts and blocks.
        ("GET", ["users", user, "contacts", "users"]) => contacts::list(cx, user),
        ("GET", ["users", user, "contacts"]) => contacts::list_paged(cx, user),
        ("POST", ["users", user, "contacts", "apply"]) => contacts::apply(cx, user).await,
        ("POST", ["users", user, "contacts", "accept", "users", from]) => {
            contacts::answer(cx, user, from, true)
        }
        ("POST", ["users", user, "contacts", "decline", "users", from]) => {
            contacts::answer(cx, user, from, false)
        }
        ("DELETE", ["users", user, "contacts", "users", other]) => {
            contacts::remove(cx, user, other)
        }
        ("GET", ["users", user, "blocks", "users"]) => contacts::blocks(cx, user),
        ("POST", ["users", user, "blocks", "users"])
        | ("POST", ["sdk", "user", user, "blocks"]) => contacts::set_blocks(cx, user, true).await,
        ("DELETE", ["sdk", "user", user, "blocks"]) => contacts::set_blocks(cx, user, false).await,
        ("DELETE", ["users", user, "blocks", "users", other]) => {
            contacts::unblock_one(cx, user, other)
        }
        // History.
        ("POST", ["users", user, "messageroaming"]) => history::roaming(cx, user).await,
        ("GET", ["sdk", "user", user, "user_channels", "list"]) => history::conversations(cx, user),
        // Reactions.
        ("POST", ["reaction", "user", user]) => reactions::add(cx, user).await,
        ("DELETE", ["reaction", "user", user]) => reactions::remove(cx, user),
        ("GET", ["reaction", "user", user]) => reactions::list(cx, user),
        ("GET", ["reaction", "user", user, "detail"]) => reactions::detail(cx, user),
        // Threads.
        ("POST", ["thread"]) => threads::create(cx).await,
        ("GET", ["thread", id]) => threads::info(cx, id),
        ("PUT", ["thread", id]) => threads::rename(cx, id).await,
        ("DELETE", ["thread", id]) => threads::destroy(cx, id),
        ("GET", ["thread", id, "users"]) => threads::users(cx, id),
        ("GET", ["threads", "chatgroups", group]) => threads::of_group(cx, group),
        ("POST", ["thread", id, "user", user, "join"]) => threads::join(cx, id, user),
        ("DELETE", ["thread", id, "user", user, "quit"]) => threads::quit(cx, id, user),
        // Group and room lists.
        ("GET", ["chatgroups", "user", user]) => groups::joined_v3(cx, user),
        ("GET", ["chatgroups", "user", user, "joined_count"]) => groups::joined_count(cx, user),
        ("GET", ["users", user, "joined_chatgroups"]) => groups::joined(cx, user, false),
        ("GET", ["users", user, "joined_chatrooms"]) => groups::joined(cx, user, true),
        ("GET", ["publicchatgroups"]) => groups::public_groups(cx),
        ("GET", ["chatrooms"]) => groups::list_rooms(cx),
        // Groups and rooms.
        ("POST", [kind @ ("chatgroups" | "chatrooms")]) => groups::create(cx, room(kind)).await,
        ("GET", [kind @ ("chatgroups" | "chatrooms"), id]) => groups::info(cx, room(kind), id),
        ("PUT", [kind @ ("chatgroups" | "chatrooms"), id]) => {
            groups::modify(cx, room(kind), id).await
        }
        ("DELETE", [kind @ ("chatgroups" | "chatrooms"), id]) => {
            groups::destroy(cx, room(kind), id)
        }
        ("GET", [kind @ ("chatgroups" | "chatrooms"), id, "users"]) => {
            members::list(cx, room(kind), id)
        }
        ("POST", [kind @ ("chatgroups" | "chatrooms"), id, "users"])
        | ("POST", [kind @ "chatgroups", id, "invite"]) => members::add(cx, room(kind), id).await,
        ("POST", [kind @ ("chatgroups" | "chatrooms"), id, "users", user]) => {
            members::add_one(cx, room(kind), id, user)
        }
        ("DELETE", [kind @ ("chatgroups" | "chatrooms"), id, "users", list]) => {
            members::remove(cx, room(kind), id, list)
        }
        ("POST", ["chatgroups", id, "invite_verify"]) => invitations::verify(cx, id).await,
        ("GET", ["chatgroups", id, "blocks", "users"]) => group_blocks::list(cx, id),
        ("POST", ["chatgroups", id, "blocks", "users", user]) => {
            group_blocks::block(cx, id, user).await
        }
        ("DELETE", ["chatgroups", id, "blocks", "users", user]) => {
            group_blocks::unblock(cx, id, user)
        }
        ("DELETE", ["chatgroups", id, "quit"]) => members::quit(cx, id),
        ("POST", ["chatgroups", id, "apply"]) => members::apply(cx, id),
        ("GET", [kind @ ("chatgroups" | "chatrooms"), id, "admin"]) => {
            members::admins(cx, room(kind), id)
        }
        ("POST", [kind @ ("chatgroups" | "chatrooms"), id, "admin"]) => {
            members::add_admin(cx, room(kind), id).await
        }
        ("DELETE", [kind @ ("chatgroups" | "chatrooms"), id, "admin", user]) => {
            members::remove_admin(cx, room(kind), id, user)
        }
        ("GET", [kind @ ("chatgroups" | "chatrooms"), id, "announcement"]) => {
            members::announcement(cx, room(kind), id)
        }
        ("POST", [kind @ ("chatgroups" | "chatrooms"), id, "announcement"]) => {
            members::set_announcement(cx, room(kind), id).await
        }
        ("GET", [kind @ ("chatgroups" | "chatrooms"), id, "mute"]) => {
            members::mute_list(cx, room(kind), id)
        }
        ("POST", [kind @ ("chatgroups" | "chatrooms"), id, "mute"]) => {
            members::mute(cx, room(kind), id).await
        }
        ("DELETE", [kind @ ("chatgroups" | "chatrooms"), id, "mute", list]) => {
            members::unmute(cx, room(kind), id, list)
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_supported_in_sandbox",
            format!(
                "{} /{} is not supported by the imbridge sandbox",
                cx.method,
                cx.segs.join("/")
            ),
        )),
    }
}

/// True for the `chatrooms` path prefix.
fn room(kind: &str) -> bool {
    kind == "chatrooms"
}

/// A string field of a JSON object.
pub(crate) fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// A list of user names from a JSON field (array of strings, or one string).
pub(crate) fn names_field(obj: &Map<String, Value>, key: &str) -> Vec<String> {
    match obj.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A boolean field that may also come as `"true"` / `"false"`.
pub(crate) fn bool_field(obj: &Map<String, Value>, key: &str) -> Option<bool> {
    match obj.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A number field that may also come as a string.
pub(crate) fn u64_field(obj: &Map<String, Value>, key: &str) -> Option<u64> {
    match obj.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The user `name`, for changing, or the Easemob "user not found" error.
pub(crate) fn user_mut<'a>(
    inner: &'a mut super::state::Inner,
    name: &str,
) -> Result<&'a mut super::state::User, ApiError> {
    inner
        .data
        .users
        .get_mut(name)
        .ok_or_else(|| ApiError::user_not_found(name))
}
