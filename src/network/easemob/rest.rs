//! The Easemob REST API client: host discovery, registration and password tokens, attachments,
//! user profiles, contacts, groups, chat rooms and message history (protocol reference §1.2,
//! §1.3, §3.8, §3.10, §4).
//!
//! One shared [`reqwest::Client`]; every request has a timeout (15 s, uploads and downloads
//! 300 s). Tokens and passwords are never logged, and `Debug` hides them.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use prost::Message as _;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::debug;

use super::jid::{self, ChatType, Conversation};
use super::proto::Meta;

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

/// A group or chat room in a list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupSummary {
    pub id: String,
    pub name: String,
    /// `owner`, `admin` or `member` when the server tells.
    pub role: Option<String>,
}

/// Details of a group or chat room.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub admins: Vec<String>,
    /// Members including the owner.
    pub members: Vec<String>,
    pub member_count: u64,
    pub public: bool,
    pub max_users: u64,
    pub created: u64,
    pub custom: String,
}

/// One member and role (`owner`, `admin`, `member`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub user: String,
    pub role: String,
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub name: String,
    pub description: String,
    pub members: Vec<String>,
    pub public: bool,
    pub max_users: u32,
    pub allow_invites: bool,
    pub custom: String,
}

impl Default for NewGroup {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            members: Vec::new(),
            public: false,
            max_users: 200,
            allow_invites: true,
            custom: String::new(),
        }
    }
}

/// One page of history, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryPage {
    pub metas: Vec<Meta>,
    /// Pass back as `start_cursor` for the next (older) page.
    pub next_key: Option<String>,
    pub is_last: bool,
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

    /// `POST /metadata/user/get`: profiles of `ids` (unknown users are left out).
    pub async fn user_info(&self, ids: &[&str]) -> Result<HashMap<String, UserProfile>, RestError> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(100) {
            let v = self
                .post(
                    "metadata/user/get",
                    json!({ "targets": chunk, "properties": [] }),
                )
                .await?;
            let Some(data) = v.get("data").and_then(Value::as_object) else {
                continue;
            };
            for (user, fields) in data {
                let fields: HashMap<String, String> = fields
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                let pick = |k: &str| fields.get(k).filter(|s| !s.is_empty()).cloned();
                out.insert(
                    user.clone(),
                    UserProfile {
                        nickname: pick("nickname"),
                        avatar_url: pick("avatarurl"),
                        fields: fields.clone(),
                    },
                );
            }
        }
        Ok(out)
    }

    /// `PUT /metadata/user/{user}` (form-urlencoded, as the SDK's `updateOwnUserInfo`).
    pub async fn set_own_info(
        &self,
        nickname: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<(), RestError> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        if let Some(n) = nickname {
            form.append_pair("nickname", n);
        }
        if let Some(a) = avatar_url {
            form.append_pair("avatarurl", a);
        }
        let resp = self
            .http
            .put(self.url(&format!("metadata/user/{}", self.me()?)))
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.finish())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(RestError::transport)?;
        Self::check::<Value>(resp).await.map(drop)
    }

    /// `GET /users/{user}/contacts/users`.
    pub async fn contacts(&self) -> Result<Vec<String>, RestError> {
        let v = self
            .get(&format!("users/{}/contacts/users", self.me()?))
            .await?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `POST /users/{user}/contacts/apply`: asks `user` to become a contact.
    pub async fn add_contact(&self, user: &str, reason: &str) -> Result<(), RestError> {
        self.post(
            &format!("users/{}/contacts/apply", self.me()?),
            json!({ "usernames": [user], "reason": reason }),
        )
        .await
        .map(drop)
    }

    /// `POST /users/{user}/contacts/accept/users/{from}`.
    pub async fn accept_contact(&self, from: &str) -> Result<(), RestError> {
        self.post(
            &format!("users/{}/contacts/accept/users/{}", self.me()?, seg(from)),
            json!({}),
        )
        .await
        .map(drop)
    }

    /// `POST /users/{user}/contacts/decline/users/{from}`.
    pub async fn decline_contact(&self, from: &str) -> Result<(), RestError> {
        self.post(
            &format!("users/{}/contacts/decline/users/{}", self.me()?, seg(from)),
            json!({}),
        )
        .await
        .map(drop)
    }

    /// `DELETE /users/{user}/contacts/users/{other}`.
    pub async fn remove_contact(&self, other: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("users/{}/contacts/users/{}", self.me()?, seg(other)),
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /chatgroups/user/{user}` (v3, all pages): the groups this user is in.
    pub async fn joined_groups(&self) -> Result<Vec<GroupSummary>, RestError> {
        const PAGE: usize = 20;
        let me = self.me()?;
        let mut out = Vec::new();
        for page in 1..=500 {
            let v = self
                .get(&format!(
                    "chatgroups/user/{me}?pagenum={page}&pagesize={PAGE}&needAffiliations=true&needRole=true&version=v3"
                ))
                .await?;
            let entities = v
                .get("entities")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = entities.len();
            out.extend(entities.iter().map(|e| GroupSummary {
                id: str_of(e, "groupId"),
                name: str_of(e, "name"),
                role: Some(str_of(e, "permission")).filter(|r| !r.is_empty()),
            }));
            if n < PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /{kind}/{id}` plus the admin list.
    async fn details(&self, kind: &str, id: &str) -> Result<GroupInfo, RestError> {
        let v = self.get(&format!("{kind}/{}", seg(id))).await?;
        let d = v
            .get("data")
            .and_then(|d| d.get(0))
            .ok_or_else(|| RestError::Decode(format!("{kind} details without data")))?;
        let mut members = Vec::new();
        for a in d
            .get("affiliations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for role in ["owner", "admin", "member"] {
                if let Some(u) = a.get(role).and_then(Value::as_str) {
                    members.push(u.to_owned());
                }
            }
        }
        let admins = self
            .get(&format!("{kind}/{}/admin", seg(id)))
            .await?
            .get("data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(GroupInfo {
            id: str_of(d, "id"),
            name: str_of(d, "name"),
            description: str_of(d, "description"),
            owner: str_of(d, "owner"),
            admins,
            member_count: match u64_of(d, "affiliations_count") {
                0 => members.len() as u64,
                n => n,
            },
            members,
            public: bool_of(d, "public"),
            max_users: u64_of(d, "maxusers"),
            created: u64_of(d, "created"),
            custom: str_of(d, "custom"),
        })
    }

    /// `GET /chatgroups/{id}` and `GET /chatgroups/{id}/admin`.
    pub async fn group_info(&self, id: &str) -> Result<GroupInfo, RestError> {
        self.details("chatgroups", id).await
    }

    /// `GET /chatrooms/{id}` and `GET /chatrooms/{id}/admin`.
    pub async fn chatroom_info(&self, id: &str) -> Result<GroupInfo, RestError> {
        self.details("chatrooms", id).await
    }

    async fn members_of(&self, kind: &str, id: &str) -> Result<Vec<GroupMember>, RestError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut tail = format!("{kind}/{}/users?limit=200", seg(id));
            if let Some(c) = &cursor {
                tail.push_str(&format!("&cursor={}", seg(c)));
            }
            let v = self.get(&tail).await?;
            for m in v
                .get("data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for role in ["owner", "admin", "member"] {
                    if let Some(u) = m.get(role).and_then(Value::as_str) {
                        out.push(GroupMember {
                            user: u.to_owned(),
                            role: role.to_owned(),
                        });
                    }
                }
            }
            cursor = Some(str_of(&v, "cursor")).filter(|c| !c.is_empty());
            if cursor.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /chatgroups/{id}/users` (all pages).
    pub async fn group_members(&self, id: &str) -> Result<Vec<GroupMember>, RestError> {
        self.members_of("chatgroups", id).await
    }

    /// `GET /chatrooms/{id}/users` (all pages).
    pub async fn chatroom_members(&self, id: &str) -> Result<Vec<GroupMember>, RestError> {
        self.members_of("chatrooms", id).await
    }

    /// `POST /chatgroups`: returns the new group id.
    pub async fn create_group(&self, group: &NewGroup) -> Result<String, RestError> {
        let owner = self
            .user
            .clone()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        let v = self
            .post(
                "chatgroups",
                json!({
                    "owner": owner,
                    "groupname": group.name,
                    "desc": group.description,
                    "members": group.members,
                    "public": group.public,
                    "approval": false,
                    "allowinvites": group.allow_invites,
                    "invite_need_confirm": false,
                    "maxusers": group.max_users,
                    "custom": group.custom,
                }),
            )
            .await?;
        let id = v
            .get("data")
            .map(|d| str_of(d, "groupid"))
            .unwrap_or_default();
        if id.is_empty() {
            return Err(RestError::Decode(
                "group creation answer without groupid".into(),
            ));
        }
        Ok(id)
    }

    /// `POST /chatgroups/{id}/users` `{"usernames"}`: returns who was added.
    pub async fn add_group_members(
        &self,
        id: &str,
        users: &[&str],
    ) -> Result<Vec<String>, RestError> {
        let v = self
            .post(
                &format!("chatgroups/{}/users", seg(id)),
                json!({ "usernames": users }),
            )
            .await?;
        Ok(v.get("data")
            .and_then(|d| d.get("newmembers"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `DELETE /chatgroups/{id}/users/{u1,u2}`.
    pub async fn remove_group_members(&self, id: &str, users: &[&str]) -> Result<(), RestError> {
        let list: Vec<String> = users.iter().map(|u| seg(u)).collect();
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}/users/{}", seg(id), list.join(",")),
            None,
        )
        .await
        .map(drop)
    }

    /// `DELETE /chatgroups/{id}/quit`.
    pub async fn leave_group(&self, id: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}/quit", seg(id)),
            None,
        )
        .await
        .map(drop)
    }

    /// `PUT /chatgroups/{id}`: new name and / or description.
    pub async fn update_group(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(), RestError> {
        let mut body = serde_json::Map::new();
        if let Some(n) = name {
            body.insert("groupname".into(), n.into());
        }
        if let Some(d) = description {
            body.insert("description".into(), d.into());
        }
        self.call(
            reqwest::Method::PUT,
            &format!("chatgroups/{}", seg(id)),
            Some(Value::Object(body)),
        )
        .await
        .map(drop)
    }

    /// `DELETE /chatgroups/{id}` (owner only).
    pub async fn destroy_group(&self, id: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("chatgroups/{}", seg(id)),
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /users/{user}/joined_chatrooms` (all pages).
    pub async fn joined_chatrooms(&self) -> Result<Vec<GroupSummary>, RestError> {
        const PAGE: usize = 100;
        let me = self.me()?;
        let mut out = Vec::new();
        for page in 1..=100 {
            let v = self
                .get(&format!(
                    "users/{me}/joined_chatrooms?pagenum={page}&pagesize={PAGE}&detail=true"
                ))
                .await?;
            let data = v
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = data.len();
            out.extend(data.iter().map(|d| {
                GroupSummary {
                    id: str_of(d, "id"),
                    name: Some(str_of(d, "name"))
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| str_of(d, "title")),
                    role: None,
                }
            }));
            if n < PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /chatrooms?pagenum=&pagesize=`: one page of the app's chat rooms.
    pub async fn chatrooms(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<Vec<GroupSummary>, RestError> {
        let v = self
            .get(&format!("chatrooms?pagenum={page}&pagesize={page_size}"))
            .await?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|d| GroupSummary {
                        id: str_of(d, "id"),
                        name: str_of(d, "name"),
                        role: None,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `POST /chatrooms`: returns the new room id.
    pub async fn create_chatroom(
        &self,
        name: &str,
        description: &str,
        members: &[&str],
    ) -> Result<String, RestError> {
        let owner = self
            .user
            .clone()
            .ok_or_else(|| RestError::Unauthorized("no user token set".into()))?;
        let v = self
            .post(
                "chatrooms",
                json!({ "name": name, "description": description, "owner": owner, "members": members }),
            )
            .await?;
        let id = v.get("data").map(|d| str_of(d, "id")).unwrap_or_default();
        if id.is_empty() {
            return Err(RestError::Decode(
                "chat room creation answer without id".into(),
            ));
        }
        Ok(id)
    }

    /// `POST /users/{user}/messageroaming`: one page of `conv`'s history, newest first, older
    /// than `start_cursor` (a previous page's `next_key`; `None` = from the newest).
    pub async fn history(
        &self,
        conv: &Conversation,
        start_cursor: Option<&str>,
        limit: u32,
    ) -> Result<HistoryPage, RestError> {
        let v = self
            .post(
                &format!("users/{}/messageroaming", self.me()?),
                json!({
                    "queue": jid::conversation_text(conv),
                    "start": start_cursor.unwrap_or("-1"),
                    "end": -1,
                    "pull_number": limit,
                    "is_positive": false,
                    "msgType": "",
                }),
            )
            .await?;
        let data = v.get("data").cloned().unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut metas = Vec::new();
        for m in data
            .get("msgs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = m.get("msg").and_then(Value::as_str).unwrap_or_default();
            let bytes = b64
                .decode(text)
                .map_err(|e| RestError::Decode(format!("history message is not base64: {e}")))?;
            metas.push(
                Meta::decode(bytes.as_slice()).map_err(|e| {
                    RestError::Decode(format!("history message is not a Meta: {e}"))
                })?,
            );
        }
        Ok(HistoryPage {
            metas,
            next_key: Some(str_of(&data, "next_key")).filter(|k| !k.is_empty()),
            is_last: bool_of(&data, "is_last"),
        })
    }
}
