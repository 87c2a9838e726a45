//! The Easemob REST API client: host discovery, registration and password tokens, attachments,
//! user profiles, contacts, groups, chat rooms, message history and reactions (protocol
//! reference §1.2, §1.3, §3.7, §3.8, §3.10, §4).
//!
//! One shared [`reqwest::Client`]; every request has a timeout (15 s, uploads and downloads
//! 300 s). Tokens and passwords are never logged, and `Debug` hides them.

use std::collections::HashMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::debug;

use super::jid::ChatType;

mod contacts;
mod group_settings;
mod groups;
mod invitations;
mod notification;
mod presence;
mod reactions;
mod threads;
pub use group_settings::MAX_ANNOUNCEMENT_BYTES;
pub use groups::{GroupInfo, GroupMember, GroupSummary, HistoryPage, NewGroup};
pub use notification::SilentMode;
pub use reactions::ReactionSummary;
pub use threads::{ThreadInfo, MAX_THREADS_PAGE, MAX_THREAD_NAME_CHARS};

/// Timeout of ordinary requests (as the SDK's XHR).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Timeout of uploads and downloads.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(300);

/// A REST failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// The server answered with an error status.
    #[error("HTTP {status}: {error}: {description}")]
    Http {
        status: u16,
        error: String,
        description: String,
    },
    /// 401: no token, or the token is invalid or expired.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 404 for something other than a user.
    #[error("not found: {0}")]
    NotFound(String),
    /// Password login with a wrong password.
    #[error("invalid password")]
    InvalidPassword,
    /// The user does not exist.
    #[error("user not found")]
    UserNotFound,
    /// A download was larger than allowed.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// Network, TLS or timeout trouble (the URL is left out: it may carry a secret).
    #[error("transport error: {0}")]
    Transport(String),
    /// The answer was not what the API promises.
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl RestError {
    fn transport(e: reqwest::Error) -> Self {
        let kind = if e.is_timeout() { "timeout: " } else { "" };
        Self::Transport(format!("{kind}{}", e.without_url()))
    }

    /// True for failures that a retry may fix (transport trouble, 429 and 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Http { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// REST and msync addresses from host discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHosts {
    /// REST prefix, e.g. `https://a1.easemob.com` (no trailing slash).
    pub rest_url: String,
    /// msync websocket, e.g. `wss://im-api-v2.easemob.com/websocket`.
    pub websocket_url: String,
}

/// A password grant.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RegisteredUser {
    pub uuid: String,
    pub username: String,
    pub nickname: String,
    pub created: u64,
    pub activated: bool,
}

/// An uploaded attachment.
#[derive(Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// `{rest}/{org}/{app}/chatfiles/{uuid}`, what goes into `remotePath`.
    pub url: String,
    pub uuid: String,
    /// The `share-secret` (`secretKey`).
    pub secret: String,
    pub content_type: String,
    pub length: u64,
}

impl std::fmt::Debug for UploadedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadedFile")
            .field("url", &self.url)
            .field("uuid", &self.uuid)
            .field("secret", &"<redacted>")
            .field("content_type", &self.content_type)
            .field("length", &self.length)
            .finish()
    }
}

/// A user's public profile (user metadata).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserProfile {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    /// Every metadata key (`mail`, `sign`, `ext`, …).
    pub fields: HashMap<String, String>,
}

/// The REST client of one app (and, once it has a token, one user).
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    base: String,
    org: String,
    app: String,
    app_key: String,
    user: Option<String>,
    token: Option<String>,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.base)
            .field("app_key", &self.app_key)
            .field("user", &self.user)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The shape of an error body.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    error: String,
    error_description: String,
}

/// A new HTTP client with sane defaults (rustls, connect timeout).
pub fn http_client() -> Result<reqwest::Client, RestError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("imbridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(RestError::transport)
}

/// The strings of the array at `v` (`None` or not an array: none; non-strings skipped).
fn strings_of(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn str_of(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn u64_of(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn bool_of(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Percent-encodes one path segment.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl RestClient {
    /// A client of app `app_key` (`org#app`) at `rest_url` (e.g. `http://127.0.0.1:18080`).
    pub fn new(http: reqwest::Client, rest_url: &str, app_key: &str) -> Result<Self, RestError> {
        let (org, app) = app_key
            .split_once('#')
            .filter(|(o, a)| !o.is_empty() && !a.is_empty())
            .ok_or_else(|| RestError::Decode(format!("app key '{app_key}' is not org#app")))?;
        let base = rest_url.trim_end_matches('/').to_owned();
        url::Url::parse(&base)
            .map_err(|e| RestError::Decode(format!("bad REST URL '{base}': {e}")))?;
        Ok(Self {
            http,
            base,
            org: org.to_owned(),
            app: app.to_owned(),
            app_key: app_key.to_owned(),
            user: None,
            token: None,
        })
    }

    /// The same client acting as `user` with `token`.
    pub fn with_token(&self, user: &str, token: &str) -> Self {
        let mut c = self.clone();
        c.user = Some(user.to_owned());
        c.token = Some(token.to_owned());
        c
    }

    /// Replaces the token (after a refresh).
    pub fn set_token(&mut self, user: &str, token: &str) {
        self.user = Some(user.to_owned());
        self.token = Some(token.to_owned());
    }

    /// The REST prefix.
    pub fn rest_url(&self) -> &str {
        &self.base
    }

    /// The user this client acts for.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// `{base}/{org}/{app}/{tail}`.
    fn url(&self, tail: &str) -> String {
        format!("{}/{}/{}/{tail}", self.base, self.org, self.app)
    }

    fn me(&self) -> Result<String, RestError> {
        self.user
            .as_deref()
            .map(seg)
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))
    }

    /// Host discovery (`GET {dns_base}/easemob/server.json?app_key=…`): the first REST and msync
    /// hosts whose protocol matches the DNS base's (https → https / wss).
    pub async fn discover(
        http: &reqwest::Client,
        dns_base: &str,
        app_key: &str,
    ) -> Result<ServerHosts, RestError> {
        let dns_base = dns_base.trim_end_matches('/');
        let https = dns_base.starts_with("https:");
        let url = format!("{dns_base}/easemob/server.json");
        let resp = http
            .get(&url)
            .query(&[("app_key", app_key)])
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(RestError::transport)?;
        let v: Value = Self::check(resp).await?;
        let want = if https { "https" } else { "http" };
        let pick = |section: &str| -> Option<(String, String)> {
            let hosts = v.get(section)?.get("hosts")?.as_array()?;
            let h = hosts
                .iter()
                .find(|h| h.get("protocol").and_then(Value::as_str) == Some(want))?;
            let host = Some(str_of(h, "domain"))
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| str_of(h, "ip"));
            let port = str_of(h, "port");
            let port = if port.is_empty() || port == "80" || port == "443" {
                String::new()
            } else {
                format!(":{port}")
            };
            (!host.is_empty()).then_some((host, port))
        };
        let (rest_host, rest_port) = pick("rest")
            .ok_or_else(|| RestError::Decode(format!("server.json has no {want} REST host")))?;
        let (ws_host, ws_port) = pick("msync-wx")
            .ok_or_else(|| RestError::Decode(format!("server.json has no {want} msync host")))?;
        let ws = if https { "wss" } else { "ws" };
        Ok(ServerHosts {
            rest_url: format!("{want}://{rest_host}{rest_port}"),
            websocket_url: format!("{ws}://{ws_host}{ws_port}/websocket"),
        })
    }

    /// Maps an error answer to a [`RestError`], or decodes a success body.
    async fn check<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, RestError> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(RestError::transport)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| RestError::Decode(format!("HTTP {status}: {e}")));
        }
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        let desc = if body.error_description.is_empty() {
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
        } else {
            body.error_description.clone()
        };
        Err(match status.as_u16() {
            400 if body.error == "invalid_grant" && desc == "invalid password" => {
                RestError::InvalidPassword
            }
            400 | 404 if desc.contains("user not found") => RestError::UserNotFound,
            401 => RestError::Unauthorized(desc),
            404 => RestError::NotFound(desc),
            s => RestError::Http {
                status: s,
                error: body.error,
                description: desc,
            },
        })
    }

    /// Sends an authenticated request and decodes the JSON answer.
    async fn call(
        &self,
        method: reqwest::Method,
        tail: &str,
        body: Option<Value>,
    ) -> Result<Value, RestError> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        debug!(%method, path = tail.split('?').next().unwrap_or_default(), "easemob REST");
        let mut req = self
            .http
            .request(method, self.url(tail))
            .bearer_auth(token)
            .timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(RestError::transport)?;
        Self::check(resp).await
    }

    async fn get(&self, tail: &str) -> Result<Value, RestError> {
        self.call(reqwest::Method::GET, tail, None).await
    }

    async fn post(&self, tail: &str, body: Value) -> Result<Value, RestError> {
        self.call(reqwest::Method::POST, tail, Some(body)).await
    }

    /// `POST /users` (no token needed).
    pub async fn register_user(
        &self,
        username: &str,
        password: &str,
        nickname: &str,
    ) -> Result<RegisteredUser, RestError> {
        let resp = self
            .http
            .post(self.url("users"))
            .json(&json!({ "username": username, "password": password, "nickname": nickname }))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(RestError::transport)?;
        let v: Value = Self::check(resp).await?;
        let entity = v
            .get("entities")
            .and_then(|e| e.get(0))
            .cloned()
            .ok_or_else(|| RestError::Decode("registration answer without entities".into()))?;
        serde_json::from_value(entity).map_err(|e| RestError::Decode(e.to_string()))
    }

    /// `POST /token` with a password grant. Does not change this client's token.
    pub async fn password_token(
        &self,
        user: &str,
        password: &str,
    ) -> Result<TokenGrant, RestError> {
        let resp = self
            .http
            .post(self.url("token"))
            .json(&json!({
                "grant_type": "password",
                "username": user,
                "password": password,
                "timestamp": now_ms(),
            }))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(RestError::transport)?;
        let v: Value = Self::check(resp).await?;
        let access_token = str_of(&v, "access_token");
        if access_token.is_empty() {
            return Err(RestError::Decode(
                "token answer without access_token".into(),
            ));
        }
        Ok(TokenGrant {
            access_token,
            expires_in: u64_of(&v, "expires_in"),
        })
    }

    /// `GET /sdk/users/{user}/token/expires`: expiry of the current token, ms since the epoch.
    pub async fn token_expires(&self) -> Result<u64, RestError> {
        let v = self
            .get(&format!("sdk/users/{}/token/expires", self.me()?))
            .await?;
        match u64_of(&v, "expire_timestamp") {
            0 => Err(RestError::Decode("no expire_timestamp".into())),
            t => Ok(t),
        }
    }

    /// `PUT /users/{user}/password`; the server revokes the tokens (this one too).
    pub async fn change_password(&self, new_password: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::PUT,
            &format!("users/{}/password", self.me()?),
            Some(json!({ "newpassword": new_password })),
        )
        .await
        .map(drop)
    }

    /// `GET /users/{user}/resources`: the resources of this user's online devices.
    pub async fn resources(&self) -> Result<Vec<String>, RestError> {
        let v = self.get(&format!("users/{}/resources", self.me()?)).await?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|d| str_of(d, "res"))
                    .filter(|r| !r.is_empty())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `DELETE /users/{user}/disconnect/{resource}`: logs another device of this user out (217).
    pub async fn kick_device(&self, resource: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("users/{}/disconnect/{}", self.me()?, seg(resource)),
            None,
        )
        .await
        .map(drop)
    }

    /// `POST /chatfiles?chat-type=&chat-target=` (multipart `file`).
    pub async fn upload(
        &self,
        chat_type: ChatType,
        target: &str,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<UploadedFile, RestError> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        let length = bytes.len() as u64;
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(content_type)
            .map_err(|e| RestError::Decode(format!("bad content type: {e}")))?;
        let form = reqwest::multipart::Form::new().part("file", part);
        debug!(length, "easemob REST upload");
        let resp = self
            .http
            .post(self.url("chatfiles"))
            .query(&[
                ("chat-type", chat_type.upload_name()),
                ("chat-target", target),
            ])
            .bearer_auth(token)
            .header("restrict-access", "true")
            .header(reqwest::header::ACCEPT, "*/*")
            .multipart(form)
            .timeout(TRANSFER_TIMEOUT)
            .send()
            .await
            .map_err(RestError::transport)?;
        let v: Value = Self::check(resp).await?;
        let entity = v
            .get("entities")
            .and_then(|e| e.get(0))
            .ok_or_else(|| RestError::Decode("upload answer without entities".into()))?;
        let uuid = str_of(entity, "uuid");
        if uuid.is_empty() {
            return Err(RestError::Decode("upload answer without uuid".into()));
        }
        let meta = entity.get("file-metadata").cloned().unwrap_or_default();
        Ok(UploadedFile {
            url: self.url(&format!("chatfiles/{uuid}")),
            secret: str_of(entity, "share-secret"),
            content_type: Some(str_of(&meta, "content-type"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| content_type.to_owned()),
            length: match u64_of(&meta, "content-length") {
                0 => length,
                n => n,
            },
            uuid,
        })
    }

    /// Downloads an attachment. Like the SDK, only the path of `url` is used, on this client's
    /// REST host (so a message cannot point the bridge at an arbitrary server). Fails with
    /// [`RestError::TooLarge`] beyond `max_bytes`.
    pub async fn download(
        &self,
        url: &str,
        secret: Option<&str>,
        max_bytes: usize,
    ) -> Result<Vec<u8>, RestError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| RestError::Decode(format!("bad attachment URL: {e}")))?;
        let path = parsed.path();
        let prefix = format!("/{}/{}/chatfiles/", self.org, self.app);
        if !path.starts_with(&prefix) {
            return Err(RestError::Decode(
                "the attachment URL is not a chatfiles URL of this app".into(),
            ));
        }
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(TRANSFER_TIMEOUT);
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            req = req.header("share-secret", secret);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let mut resp = req.send().await.map_err(RestError::transport)?;
        if !resp.status().is_success() {
            let err = Self::check::<Value>(resp).await.err();
            return Err(err.unwrap_or_else(|| RestError::Decode("unexpected status".into())));
        }
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(RestError::TooLarge { limit: max_bytes });
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(RestError::transport)? {
            if out.len() + chunk.len() > max_bytes {
                return Err(RestError::TooLarge { limit: max_bytes });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}
