//! [`HomeserverClient`]: the client-server API as the bridge bot or any ghost, implementing the
//! core's [`MatrixApi`].
//!
//! matrix-sdk has no appservice mode any more, so requests are built with ruma's request types
//! and [`OutgoingRequestAppserviceExt::try_into_http_request_with_identity`], which appends
//! `?user_id=@ghost:domain` (identity assertion), and sent with the `as_token` over one shared
//! [`reqwest::Client`]. A matrix-sdk [`matrix_sdk::Client`] restored with the `as_token` (no
//! `/login`), on the same HTTP client, serves the start-up `whoami`; it cannot assert an
//! identity, so it acts as the registration's `sender_localpart` user, and everything done as
//! the bot or a ghost goes through the ruma path.
//!
//! Every request has a deadline ([`REQUEST_TIMEOUT`], [`MEDIA_TIMEOUT`] for media). Errors are
//! [`MatrixError::Homeserver`] (with the Matrix `errcode`) or [`MatrixError::Transport`]. The
//! tokens are never logged and never put in URLs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::metrics::Metrics;
use ruma::api::client::{
    account::{register, whoami},
    appservice::request_ping,
    discovery::get_capabilities,
    media::create_content,
    membership::{
        ban_user, invite_user, join_room_by_id, joined_members, kick_user, leave_room, unban_user,
    },
    message::{get_message_events, send_message_event},
    presence::set_presence,
    profile::{get_profile, set_profile_field},
    receipt::create_receipt,
    redact::redact_event,
    room::{create_room, get_room_event},
    state::{get_state_event_for_key, send_state_event},
    typing::create_typing_event,
};
use ruma::api::{MatrixVersion, SupportedVersions};
use ruma::profile::ProfileFieldValue;
use ruma::{
    EventId, OwnedEventId, OwnedMxcUri, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId,
    RoomVersionId, TransactionId, UserId,
};
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use tracing::{debug, info};

use super::settings::AppserviceSettings;
use super::wire::{raw, sdk_error};
use crate::core::connector::NotifyLevel;
use crate::core::matrix_api::{MatrixApi, MatrixError, MatrixProfile, PuppetAuth, RoomSpec};

/// Deadline of one client-API request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline of one media upload or download.
pub const MEDIA_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest non-media response body read.
pub(super) const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// How long a ghost shows as typing unless told otherwise.
const TYPING_TIMEOUT: Duration = Duration::from_secs(30);
/// Device id of the bot's (token-restored) matrix-sdk session.
const BOT_DEVICE_ID: &str = "IMBRIDGE";

/// The homeserver's client API, as the bot or any ghost.
pub struct HomeserverClient {
    pub(super) http: reqwest::Client,
    /// Base URL without a trailing slash.
    pub(super) base: String,
    pub(super) as_token: String,
    bot: OwnedUserId,
    appservice_id: String,
    pub(super) versions: SupportedVersions,
    sdk: matrix_sdk::Client,
    default_room_version: OnceCell<RoomVersionId>,
    /// Request latency and failures by endpoint, when the daemon collects metrics.
    pub(super) metrics: Option<Arc<Metrics>>,
    /// Double puppets: real Matrix users the bridge acts as, with their credentials.
    puppets: std::sync::RwLock<HashMap<OwnedUserId, PuppetAuth>>,
}

impl fmt::Debug for HomeserverClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HomeserverClient")
            .field("homeserver", &self.base)
            .field("bot", &self.bot)
            .field("as_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl HomeserverClient {
    /// Builds the client; no request is sent (call [`Self::whoami`] to check the token).
    pub async fn new(settings: &AppserviceSettings) -> Result<Self, MatrixError> {
        let bot = settings.bot_user_id().map_err(MatrixError::Other)?;
        let base = settings.homeserver_url.trim_end_matches('/').to_owned();
        url::Url::parse(&base)
            .map_err(|e| MatrixError::Other(format!("invalid homeserver URL {base}: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("imbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MatrixError::Other(format!("HTTP client: {e}")))?;
        // Every version up to 1.12 (what current Synapse serves): ruma then picks the stable
        // `/v3/` (or `/v1/`) paths.
        let versions = SupportedVersions {
            versions: [
                MatrixVersion::V1_1,
                MatrixVersion::V1_2,
                MatrixVersion::V1_3,
                MatrixVersion::V1_4,
                MatrixVersion::V1_5,
                MatrixVersion::V1_6,
                MatrixVersion::V1_7,
                MatrixVersion::V1_8,
                MatrixVersion::V1_9,
                MatrixVersion::V1_10,
                MatrixVersion::V1_11,
                MatrixVersion::V1_12,
            ]
            .into(),
            features: Default::default(),
        };
        let sdk = matrix_sdk::Client::builder()
            .homeserver_url(&base)
            .http_client(http.clone())
            .server_versions(versions.versions.iter().copied())
            .request_config(matrix_sdk::config::RequestConfig::new().timeout(REQUEST_TIMEOUT))
            .build()
            .await
            .map_err(|e| MatrixError::Other(format!("matrix-sdk client: {e}")))?;
        let session = matrix_sdk::authentication::matrix::MatrixSession {
            meta: matrix_sdk::SessionMeta {
                user_id: bot.clone(),
                device_id: BOT_DEVICE_ID.into(),
            },
            tokens: matrix_sdk::SessionTokens {
                access_token: settings.as_token.clone(),
                refresh_token: None,
            },
        };
        sdk.restore_session(session)
            .await
            .map_err(|e| MatrixError::Other(format!("matrix-sdk session: {e}")))?;
        Ok(Self {
            http,
            base,
            as_token: settings.as_token.clone(),
            bot,
            appservice_id: settings.appservice_id.clone(),
            versions,
            sdk,
            default_room_version: OnceCell::new(),
            metrics: None,
            puppets: Default::default(),
        })
    }

    /// The double puppet credentials of `user`, if any.
    pub(super) fn puppet(&self, user: &UserId) -> Option<PuppetAuth> {
        self.puppets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(user)
            .cloned()
    }

    /// Records request latency and failures by endpoint into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// A matrix-sdk client authenticated with the `as_token` (never synced). matrix-sdk cannot
    /// assert an identity, so it acts as the registration's `sender_localpart` user, which may
    /// differ from the bot; its session's user id is nominally the bot.
    pub fn sdk(&self) -> &matrix_sdk::Client {
        &self.sdk
    }

    /// Who the `as_token` acts as without identity assertion: the registration's
    /// `sender_localpart` user (the bot when the bot is the sender). A start-up check that the
    /// homeserver knows the registration and its token.
    pub async fn whoami(&self) -> Result<OwnedUserId, MatrixError> {
        let response = self.sdk.whoami().await.map_err(sdk_error)?;
        Ok(response.user_id)
    }

    /// Sets the bot's display name and avatar, as the bot (identity assertion: the bot need not
    /// be the registration's `sender_localpart` user, which is who matrix-sdk acts as).
    pub async fn set_bot_profile(
        &self,
        displayname: Option<&str>,
        avatar: Option<&OwnedMxcUri>,
    ) -> Result<(), MatrixError> {
        if let Some(name) = displayname {
            self.set_displayname(&self.bot, name).await?;
        }
        if let Some(url) = avatar {
            self.set_avatar(&self.bot, url).await?;
        }
        Ok(())
    }

    /// Asks the homeserver to ping the appservice (`POST /_matrix/client/v1/appservice/{id}/ping`):
    /// checks the round trip and makes Synapse resume sending at once after downtime.
    /// Returns the round-trip time the homeserver measured.
    pub async fn ping_homeserver(&self) -> Result<Duration, MatrixError> {
        let mut request = request_ping::v1::Request::new(self.appservice_id.clone());
        request.transaction_id = Some(TransactionId::new());
        let response = self.send(request, None, REQUEST_TIMEOUT).await?;
        info!(
            ms = response.duration.as_millis() as u64,
            "homeserver reached the appservice"
        );
        Ok(response.duration)
    }

    /// The homeserver's default room version (asked once, from `/capabilities`).
    async fn default_room_version(&self) -> Result<RoomVersionId, MatrixError> {
        self.default_room_version
            .get_or_try_init(|| async {
                let request = get_capabilities::v3::Request::new();
                let response = self.send(request, Some(&self.bot), REQUEST_TIMEOUT).await?;
                Ok(response.capabilities.room_versions.default)
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl MatrixApi for HomeserverClient {
    fn bot(&self) -> &UserId {
        &self.bot
    }

    async fn ensure_registered(&self, user: &UserId) -> Result<(), MatrixError> {
        // `/register` takes a localpart: a foreign user id would register someone else.
        if user.server_name() != self.bot.server_name() {
            return Err(MatrixError::Other(format!(
                "cannot register {user}: not on {}",
                self.bot.server_name()
            )));
        }
        let mut request = register::v3::Request::new();
        request.username = Some(user.localpart().to_owned());
        request.login_type = Some(register::LoginType::ApplicationService);
        request.inhibit_login = true;
        match self.send(request, None, REQUEST_TIMEOUT).await {
            Ok(_) => {
                debug!(user = %user, "registered");
                Ok(())
            }
            Err(MatrixError::Homeserver { errcode, .. }) if errcode == "M_USER_IN_USE" => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn set_displayname(&self, user: &UserId, name: &str) -> Result<(), MatrixError> {
        let value = ProfileFieldValue::DisplayName(name.to_owned());
        let request = set_profile_field::v3::Request::new(user.to_owned(), value);
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn ignored_users(&self, user: &UserId) -> Result<Vec<OwnedUserId>, MatrixError> {
        self.ignored_list(user).await
    }

    async fn set_ignored_users(
        &self,
        user: &UserId,
        users: &[OwnedUserId],
    ) -> Result<(), MatrixError> {
        self.put_ignored_list(user, users).await
    }

    async fn notifications_muted(&self, user: &UserId) -> Result<bool, MatrixError> {
        Ok(super::account_settings::master_enabled(
            &self.push_rules(user).await?,
        ))
    }

    async fn set_notifications_muted(&self, user: &UserId, muted: bool) -> Result<(), MatrixError> {
        self.put_master(user, muted).await
    }

    async fn room_notify_levels(
        &self,
        user: &UserId,
    ) -> Result<HashMap<OwnedRoomId, NotifyLevel>, MatrixError> {
        Ok(super::account_settings::levels_of(
            &self.push_rules(user).await?,
        ))
    }

    async fn set_room_notify_level(
        &self,
        user: &UserId,
        room: &RoomId,
        level: NotifyLevel,
    ) -> Result<(), MatrixError> {
        self.put_room_level(user, room, level).await
    }

    async fn profile(&self, user: &UserId) -> Result<MatrixProfile, MatrixError> {
        let request = get_profile::v3::Request::new(user.to_owned());
        let response = self.send(request, Some(&self.bot), REQUEST_TIMEOUT).await?;
        let field = |name: &str| {
            response
                .get(name)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Ok(MatrixProfile {
            displayname: field("displayname"),
            avatar_url: field("avatar_url"),
        })
    }

    async fn set_avatar(&self, user: &UserId, avatar: &OwnedMxcUri) -> Result<(), MatrixError> {
        let value = ProfileFieldValue::AvatarUrl(avatar.clone());
        let request = set_profile_field::v3::Request::new(user.to_owned(), value);
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn upload(
        &self,
        user: &UserId,
        bytes: Vec<u8>,
        mime: &str,
        name: &str,
    ) -> Result<OwnedMxcUri, MatrixError> {
        let mut request = create_content::v3::Request::new(bytes);
        request.content_type = Some(mime.to_owned());
        request.filename = (!name.is_empty()).then(|| name.to_owned());
        let response = self.send(request, Some(user), MEDIA_TIMEOUT).await?;
        Ok(response.content_uri)
    }

    async fn download(&self, mxc: &str, max_bytes: u64) -> Result<(Vec<u8>, String), MatrixError> {
        self.download_media(mxc, max_bytes).await
    }

    async fn create_room(
        &self,
        creator: &UserId,
        spec: &RoomSpec,
    ) -> Result<OwnedRoomId, MatrixError> {
        let version = self.default_room_version().await?;
        // Unknown (newer) versions are assumed to privilege creators, like v12.
        let privileged = version
            .rules()
            .is_none_or(|r| r.authorization.explicitly_privilege_room_creators);
        let users = super::power::power_users(creator, &self.bot, spec, privileged);

        let mut request = create_room::v3::Request::new();
        request.preset = Some(if spec.is_direct {
            create_room::v3::RoomPreset::TrustedPrivateChat
        } else {
            create_room::v3::RoomPreset::PrivateChat
        });
        request.is_direct = spec.is_direct;
        request.invite = spec.invite.clone();
        request.name = spec.name.clone();
        request.topic = spec.topic.clone();
        request.room_version = Some(version);
        request.power_level_content_override = Some(raw(&json!({ "users": users }))?);
        if let Some(room_type) = &spec.room_type {
            request.creation_content = Some(raw(&json!({ "type": room_type }))?);
        }
        let mut initial_state = Vec::with_capacity(spec.initial_state.len() + 1);
        if let Some(avatar) = &spec.avatar {
            initial_state.push(raw(&json!({
                "type": "m.room.avatar",
                "state_key": "",
                "content": { "url": avatar },
            }))?);
        }
        for (event_type, state_key, content) in &spec.initial_state {
            initial_state.push(raw(&json!({
                "type": event_type,
                "state_key": state_key,
                "content": content,
            }))?);
        }
        request.initial_state = initial_state;
        let response = self.send(request, Some(creator), REQUEST_TIMEOUT).await?;
        info!(room = %response.room_id, creator = %creator, direct = spec.is_direct, "room created");
        Ok(response.room_id)
    }

    async fn invite(&self, room: &RoomId, by: &UserId, user: &UserId) -> Result<(), MatrixError> {
        let recipient = invite_user::v3::InviteUserId::new(user.to_owned());
        let request = invite_user::v3::Request::new(room.to_owned(), recipient.into());
        self.send(request, Some(by), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn join(&self, room: &RoomId, user: &UserId) -> Result<(), MatrixError> {
        let request = join_room_by_id::v3::Request::new(room.to_owned());
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn leave(&self, room: &RoomId, user: &UserId) -> Result<(), MatrixError> {
        let request = leave_room::v3::Request::new(room.to_owned());
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn leave_with_reason(
        &self,
        room: &RoomId,
        user: &UserId,
        reason: &str,
    ) -> Result<(), MatrixError> {
        let mut request = leave_room::v3::Request::new(room.to_owned());
        request.reason = (!reason.is_empty()).then(|| reason.to_owned());
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn kick(
        &self,
        room: &RoomId,
        by: &UserId,
        user: &UserId,
        reason: &str,
    ) -> Result<(), MatrixError> {
        let mut request = kick_user::v3::Request::new(room.to_owned(), user.to_owned());
        request.reason = (!reason.is_empty()).then(|| reason.to_owned());
        self.send(request, Some(by), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn ban(
        &self,
        room: &RoomId,
        by: &UserId,
        user: &UserId,
        reason: &str,
    ) -> Result<(), MatrixError> {
        let mut request = ban_user::v3::Request::new(room.to_owned(), user.to_owned());
        request.reason = (!reason.is_empty()).then(|| reason.to_owned());
        self.send(request, Some(by), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn unban(&self, room: &RoomId, by: &UserId, user: &UserId) -> Result<(), MatrixError> {
        let request = unban_user::v3::Request::new(room.to_owned(), user.to_owned());
        self.send(request, Some(by), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn send_event(
        &self,
        room: &RoomId,
        user: &UserId,
        event_type: &str,
        txn_id: &str,
        content: &Value,
    ) -> Result<OwnedEventId, MatrixError> {
        let request = send_message_event::v3::Request::new_raw(
            room.to_owned(),
            OwnedTransactionId::from(txn_id),
            event_type.into(),
            raw(content)?,
        );
        let response = self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(response.event_id)
    }

    async fn send_event_at(
        &self,
        room: &RoomId,
        user: &UserId,
        event_type: &str,
        txn_id: &str,
        content: &Value,
        timestamp_ms: u64,
    ) -> Result<OwnedEventId, MatrixError> {
        let mut request = send_message_event::v3::Request::new_raw(
            room.to_owned(),
            OwnedTransactionId::from(txn_id),
            event_type.into(),
            raw(content)?,
        );
        request.timestamp = ruma::UInt::new(timestamp_ms).map(ruma::MilliSecondsSinceUnixEpoch);
        let response = self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(response.event_id)
    }

    async fn room_state(
        &self,
        room: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<Value>, MatrixError> {
        let request = get_state_event_for_key::v3::Request::new(
            room.to_owned(),
            event_type.into(),
            state_key.to_owned(),
        );
        match self.send(request, Some(&self.bot), REQUEST_TIMEOUT).await {
            Ok(response) => serde_json::from_str(response.event_or_content.get())
                .map(Some)
                .map_err(|e| MatrixError::Other(format!("state content: {e}"))),
            Err(MatrixError::Homeserver { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn room_event(
        &self,
        room: &RoomId,
        event: &EventId,
    ) -> Result<Option<Value>, MatrixError> {
        let request = get_room_event::v3::Request::new(room.to_owned(), event.to_owned());
        match self.send(request, Some(&self.bot), REQUEST_TIMEOUT).await {
            Ok(response) => serde_json::from_str(response.event.json().get())
                .map(Some)
                .map_err(|e| MatrixError::Other(format!("event: {e}"))),
            Err(MatrixError::Homeserver {
                status: 403 | 404, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn latest_message_event(
        &self,
        room: &RoomId,
    ) -> Result<Option<OwnedEventId>, MatrixError> {
        let mut request = get_message_events::v3::Request::backward(room.to_owned());
        request.limit = ruma::UInt::from(1u32);
        request.filter.types = Some(
            ["m.room.message", "m.sticker", "m.room.encrypted"]
                .map(str::to_owned)
                .to_vec(),
        );
        let response = self.send(request, Some(&self.bot), REQUEST_TIMEOUT).await?;
        Ok(response
            .chunk
            .first()
            .and_then(|e| e.get_field::<OwnedEventId>("event_id").ok().flatten()))
    }

    async fn send_state(
        &self,
        room: &RoomId,
        user: &UserId,
        event_type: &str,
        state_key: &str,
        content: &Value,
    ) -> Result<OwnedEventId, MatrixError> {
        let request = send_state_event::v3::Request::new_raw(
            room.to_owned(),
            event_type.into(),
            state_key.to_owned(),
            raw(content)?,
        );
        let response = self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(response.event_id)
    }

    async fn redact(
        &self,
        room: &RoomId,
        user: &UserId,
        event: &EventId,
        txn_id: &str,
        reason: Option<&str>,
    ) -> Result<OwnedEventId, MatrixError> {
        let mut request = redact_event::v3::Request::new(
            room.to_owned(),
            event.to_owned(),
            OwnedTransactionId::from(txn_id),
        );
        request.reason = reason.map(str::to_owned);
        let response = self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(response.event_id)
    }

    async fn joined_members(&self, room: &RoomId) -> Result<Vec<OwnedUserId>, MatrixError> {
        let request = joined_members::v3::Request::new(room.to_owned());
        let response = self.send(request, Some(&self.bot), REQUEST_TIMEOUT).await?;
        Ok(response.joined.into_keys().collect())
    }

    async fn read_receipt(
        &self,
        room: &RoomId,
        user: &UserId,
        event: &EventId,
    ) -> Result<(), MatrixError> {
        let request = create_receipt::v3::Request::new(
            room.to_owned(),
            create_receipt::v3::ReceiptType::Read,
            event.to_owned(),
        );
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn set_puppet(&self, user: &UserId, auth: Option<PuppetAuth>) -> Result<(), MatrixError> {
        let Some(auth) = auth else {
            self.puppets
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(user);
            return Ok(());
        };
        // Checked with the new credentials before they replace anything.
        let answer = self
            .send_as(
                whoami::v3::Request::new(),
                Some(user),
                Some(&auth),
                REQUEST_TIMEOUT,
            )
            .await?;
        if answer.user_id != user {
            return Err(MatrixError::Other(format!(
                "the token belongs to {}, not {user}",
                answer.user_id
            )));
        }
        self.puppets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), auth);
        Ok(())
    }

    fn has_puppet(&self, user: &UserId) -> bool {
        self.puppets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(user)
    }

    async fn set_presence(
        &self,
        user: &UserId,
        presence: &str,
        status_msg: Option<&str>,
    ) -> Result<(), MatrixError> {
        let state = ruma::presence::PresenceState::from(presence);
        let mut request = set_presence::v3::Request::new(user.to_owned(), state);
        request.status_msg = status_msg.map(str::to_owned);
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }

    async fn typing(&self, room: &RoomId, user: &UserId, active: bool) -> Result<(), MatrixError> {
        let state = if active {
            create_typing_event::v3::Typing::Yes(create_typing_event::v3::TypingInfo::new(
                TYPING_TIMEOUT,
            ))
        } else {
            create_typing_event::v3::Typing::No
        };
        let request =
            create_typing_event::v3::Request::new(user.to_owned(), room.to_owned(), state);
        self.send(request, Some(user), REQUEST_TIMEOUT).await?;
        Ok(())
    }
}
