//! The Easemob network connector: implements the core's connector contract over
//! [`EasemobClient`] and [`RestClient`]: logging in, sessions, and the optional abilities
//! (edits, recall, receipts, media upload, typing). The translation between Easemob's typed
//! events and messages and the core's network-neutral [`RemoteEvent`] / [`MessageContent`]
//! lives in [`incoming`] (Easemob → core) and [`outgoing`] (core → Easemob).

use std::sync::Arc;

use crate::core::connector::RemoteEventSender;
use async_trait::async_trait;
use serde_json::json;

mod channels;
mod contacts;
mod group_admin;
mod incoming;
mod login;
mod notify;
mod outgoing;
mod presence;
mod profile;
mod register;
mod search;
mod send;
mod threads;

pub use login::{PASSWORD_FLOW, TOKEN_FLOW};

pub use incoming::{incoming_content, translate_message, translate_notify};
use incoming::{media_url, split_media_url, translate, Translator};
pub use outgoing::outgoing_content;
use outgoing::parse_id;
pub use send::TXN_EXT_KEY;
use threads::ThreadDirectory;

use super::client::{ClientConfig, Credential, EasemobClient};
use super::error::{LoginError, SendError};
use super::jid::{ChatType, Conversation};
use super::message::{decode_incoming, Body, Content, Ext, ExtValue, FileRef, OutgoingMessage};
use super::proto::status::ErrorCode;
use super::rest::{RestClient, RestError};
use crate::config::EasemobConfig;
use crate::core::connector::{
    Capabilities, ChatId, ChatInfo, ChatKind, EditAbility, GroupAdminAbility, HistoryAbility,
    LoginData, LoginFailure, LoginFlow, LoginProcess, MediaAbility, MessageContent,
    NetworkConnector, NetworkLogin, QuotedKind, ReactionAbility, RecallAbility, ReceiptAbility,
    RemoteEvent, RemoteMedia, RemoteMessage, ReplyTo, SendFailure, SendOptions, TypingAbility,
    UserProfile, UserSearchResult,
};

/// Where the Easemob service is.
#[derive(Debug, Clone)]
pub struct EasemobSettings {
    pub app_key: String,
    pub rest_url: String,
    pub websocket_url: String,
}

/// The Easemob connector.
pub struct EasemobConnector {
    settings: EasemobSettings,
}

impl EasemobConnector {
    /// A connector for the service at `settings`.
    pub fn new(settings: EasemobSettings) -> Self {
        Self { settings }
    }

    /// A connector for the config's `network.easemob` section: its `rest_url` and
    /// `websocket_url`, or else the hosts that `dns_url` names for the app (host discovery,
    /// done now; errors say which step failed).
    pub async fn from_config(section: &EasemobConfig) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let (rest_url, websocket_url) = match (&section.rest_url, &section.websocket_url) {
            (Some(r), Some(w)) => (r.clone(), w.clone()),
            _ => {
                let dns = section
                    .dns_url
                    .as_deref()
                    .context("network.easemob: set rest_url and websocket_url, or dns_url")?;
                let http = super::rest::http_client()?;
                let hosts = RestClient::discover(&http, dns, &section.app_key)
                    .await
                    .context("host discovery failed")?;
                (hosts.rest_url, hosts.websocket_url)
            }
        };
        Ok(Self::new(EasemobSettings {
            app_key: section.app_key.clone(),
            rest_url,
            websocket_url,
        }))
    }
}

fn login_failure(e: LoginError) -> LoginFailure {
    match e {
        LoginError::InvalidCredentials | LoginError::UserNotFound | LoginError::InvalidToken => {
            LoginFailure::BadCredentials(e.to_string())
        }
        LoginError::Transport(t) => LoginFailure::Unreachable(t),
        other => LoginFailure::Refused(other.to_string()),
    }
}

/// The words of the refusal of a message from a user muted in the group (the SDK's
/// `onMutedMessage`).
pub const MUTED_REFUSAL: &str =
    "you are muted in this IM group: its owner or an admin muted you, so nobody there sees your messages until they unmute you";

fn send_failure(e: SendError) -> SendFailure {
    match e {
        SendError::Rejected { code, .. } if code == ErrorCode::UserMuted as i32 => {
            SendFailure::Permanent(MUTED_REFUSAL.into())
        }
        SendError::Timeout | SendError::QueueTimeout => SendFailure::Retriable(e.to_string()),
        other => SendFailure::Permanent(other.to_string()),
    }
}

fn rest_failure(e: RestError) -> SendFailure {
    SendFailure::Retriable(e.to_string())
}

#[async_trait]
impl NetworkConnector for EasemobConnector {
    fn name(&self) -> &'static str {
        "easemob"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            formatted_text: false,
            media: true,
            max_media_bytes: 32 << 20,
            edits: true,
            edit_window_secs: 0,
            recall: true,
            recall_window_secs: 120,
            reactions: true,
            read_receipts: true,
            delivery_receipts: true,
            typing: true,
            group_management: true,
            // Text messages up to 5 KB (the server refuses more: "Sorry, data is too large").
            max_text_bytes: 5 * 1024,
            threads: true,
            channels: true,
            spaces: false,
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        login::flows()
    }

    fn create_login(&self, flow_id: &str) -> Result<Box<dyn LoginProcess>, LoginFailure> {
        login::create(&self.settings, flow_id)
    }

    fn as_registration(&self) -> Option<&dyn crate::core::registration::RegistrationAbility> {
        Some(self)
    }

    async fn connect(
        &self,
        data: &LoginData,
        events: RemoteEventSender,
    ) -> Result<Box<dyn NetworkLogin>, LoginFailure> {
        let credential = login::stored_credential(data)?;
        let by_token = matches!(credential, Credential::Token(_));
        let resource = data.secrets["resource"].as_str().unwrap_or("imbridge");
        let mut cfg = ClientConfig::new(
            &self.settings.app_key,
            &self.settings.rest_url,
            &self.settings.websocket_url,
            &data.remote_id,
            credential,
            resource,
        );
        // A pulled batch is acknowledged to the server only once the core has stored it.
        cfg.await_persistence = true;
        let (client, session_events) =
            EasemobClient::start(cfg)
                .await
                .map_err(|e| match login_failure(e) {
                    LoginFailure::BadCredentials(_) if by_token => {
                        LoginFailure::BadCredentials(login::TOKEN_EXPIRED.into())
                    }
                    other => other,
                })?;
        let own = data.remote_id.clone();
        let client = Arc::new(client);
        let threads = ThreadDirectory::default();
        tokio::spawn(translate(
            Translator {
                own: own.clone(),
                by_token,
                threads: threads.clone(),
                client: Arc::downgrade(&client),
            },
            session_events,
            events,
        ));
        Ok(Box::new(EasemobLogin {
            client,
            own,
            subscriptions: Default::default(),
            threads,
        }))
    }
}

/// How many recent conversations `sync` brings over at most.
const MAX_LISTED_CONVERSATIONS: usize = 100;

/// The bridge's device (resource) name for an IM account: the same for every login of that
/// account, so logging in again continues the same device and receives what the server queued
/// for it meanwhile (Easemob keeps offline messages per device). `imbridge_` + 12 hex digits
/// of SHA-256 over the app key and user.
pub fn device_resource(app_key: &str, user: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"imbridge resource v1\0")
        .chain_update(app_key.as_bytes())
        .chain_update(b"\0")
        .chain_update(user.as_bytes())
        .finalize();
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("imbridge_{hex}")
}

/// The Easemob UIKit's reply quote (`ext.msgQuote`): `msgID`, `msgPreview`, `msgSender` and
/// `msgType` (`txt`, `img`, `video`, `audio`, `file`, `loc`, `custom`), as the UIKit's
/// message-quote component writes and reads it.
pub fn msg_quote(reply: &ReplyTo) -> serde_json::Value {
    let kind = match reply.kind {
        QuotedKind::Text => "txt",
        QuotedKind::Image => "img",
        QuotedKind::Video => "video",
        QuotedKind::Audio => "audio",
        QuotedKind::File => "file",
        QuotedKind::Location => "loc",
        QuotedKind::Other => "custom",
    };
    json!({
        "msgID": reply.id,
        "msgPreview": reply.preview.clone().unwrap_or_default(),
        "msgSender": reply.sender.clone().unwrap_or_default(),
        "msgType": kind,
    })
}

/// One Easemob session as a core login.
pub struct EasemobLogin {
    client: Arc<EasemobClient>,
    own: String,
    /// Presence subscriptions taken (kept within the service's limit).
    subscriptions: presence::Subscriptions,
    threads: ThreadDirectory,
}

impl EasemobLogin {
    /// The Easemob message for `content` to `to`, with the UIKit's @-mention list and reply
    /// quote in its ext.
    fn outgoing(
        &self,
        to: Conversation,
        content: &MessageContent,
        reply_to: Option<&ReplyTo>,
    ) -> Result<OutgoingMessage, SendFailure> {
        let mut msg = OutgoingMessage::new(to, Body::Content(outgoing_content(content)?));
        if let MessageContent::Text {
            mentions,
            mentions_room,
            ..
        } = content
        {
            // The UIKit convention for @-mentions: a list of user ids, or "ALL".
            let at_list = if *mentions_room {
                Some(json!("ALL"))
            } else if !mentions.is_empty() {
                Some(json!(mentions))
            } else {
                None
            };
            if let Some(list) = at_list {
                msg.ext.push(Ext {
                    key: "em_at_list".into(),
                    value: ExtValue::Json(list.to_string()),
                });
            }
        }
        if let Some(reply) = reply_to {
            msg.ext.push(Ext {
                key: "msgQuote".into(),
                value: ExtValue::Json(msg_quote(reply).to_string()),
            });
        }
        Ok(msg)
    }

    /// Sends a control body (edit, recall, receipt) and waits for the server's ack.
    async fn send_control(&self, chat: &ChatId, body: Body) -> Result<(), SendFailure> {
        self.client
            .send(OutgoingMessage::new(conversation(chat), body))
            .await
            .map(|_| ())
            .map_err(send_failure)
    }

    /// The edit body replacing message `target`'s content.
    fn edit_body(target: &str, content: &MessageContent) -> Result<Body, SendFailure> {
        Ok(Body::Edit {
            message_id: parse_id(target)?,
            content: outgoing_content(content)?,
            with_ext: false,
        })
    }

    /// The recall body of message `target`.
    fn recall_body(target: &str) -> Result<Body, SendFailure> {
        Ok(Body::Recall {
            message_id: parse_id(target)?,
            ext: String::new(),
        })
    }
}

fn conversation(chat: &ChatId) -> Conversation {
    match chat.kind {
        ChatKind::Direct => Conversation::single(chat.id.clone()),
        ChatKind::Group => Conversation::group(chat.id.clone()),
        ChatKind::Channel => Conversation::chatroom(chat.id.clone()),
    }
}

fn chat_id(conv: &Conversation) -> ChatId {
    ChatId {
        kind: match conv.kind {
            ChatType::Single => ChatKind::Direct,
            ChatType::Group => ChatKind::Group,
            ChatType::Chatroom => ChatKind::Channel,
        },
        id: conv.id.clone(),
    }
}

#[async_trait]
impl NetworkLogin for EasemobLogin {
    fn remote_id(&self) -> &str {
        &self.own
    }

    async fn send_message(
        &self,
        chat: &ChatId,
        content: &MessageContent,
        reply_to: Option<&ReplyTo>,
    ) -> Result<Vec<String>, SendFailure> {
        let options = SendOptions {
            reply_to,
            ..SendOptions::default()
        };
        self.send_keyed(&send::SendTarget::chat(chat), content, options)
            .await
    }

    /// Sends with the core's transaction id in `ext` ([`TXN_EXT_KEY`]); a replayed message
    /// is looked for in history first (module `send`).
    async fn send_message_with(
        &self,
        chat: &ChatId,
        content: &MessageContent,
        options: SendOptions<'_>,
    ) -> Result<Vec<String>, SendFailure> {
        self.send_keyed(&send::SendTarget::chat(chat), content, options)
            .await
    }

    async fn chat_info(&self, chat: &ChatId) -> Result<ChatInfo, SendFailure> {
        let rest = self.client.rest();
        match chat.kind {
            ChatKind::Direct => {
                let profile = self.user_profile(&chat.id).await?;
                Ok(ChatInfo {
                    name: profile.name,
                    members: vec![self.own.clone(), chat.id.clone()],
                    ..Default::default()
                })
            }
            ChatKind::Group => {
                let g = rest.group_info(&chat.id).await.map_err(rest_failure)?;
                // The mute list is a second call; without it nobody shows as muted.
                let muted = rest.group_mutes(&chat.id).await.unwrap_or_default();
                Ok(ChatInfo {
                    name: Some(g.name),
                    topic: Some(g.description).filter(|d| !d.is_empty()),
                    avatar_url: None,
                    members: g.members,
                    admins: g.admins,
                    owner: Some(g.owner),
                    muted,
                    ..ChatInfo::default()
                })
            }
            ChatKind::Channel => {
                let r = rest.chatroom_info(&chat.id).await.map_err(rest_failure)?;
                Ok(ChatInfo {
                    name: Some(r.name),
                    topic: Some(r.description).filter(|d| !d.is_empty()),
                    avatar_url: None,
                    members: r.members,
                    admins: r.admins,
                    owner: Some(r.owner),
                    ..ChatInfo::default()
                })
            }
        }
    }

    async fn user_profile(&self, user: &str) -> Result<UserProfile, SendFailure> {
        Ok(self.resolve_user(user).await?.unwrap_or_default())
    }

    async fn resolve_user(&self, user: &str) -> Result<Option<UserProfile>, SendFailure> {
        // `metadata/user/get` leaves unknown users out of its answer.
        let mut profiles = self
            .client
            .rest()
            .user_info(&[user])
            .await
            .map_err(rest_failure)?;
        Ok(profiles.remove(user).map(|p| UserProfile {
            name: p.nickname.filter(|n| !n.is_empty()),
            avatar_url: p.avatar_url.filter(|a| !a.is_empty()),
        }))
    }

    async fn search_users(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<UserSearchResult>, SendFailure> {
        search::search_users(&self.client.rest(), query, limit)
            .await
            .map_err(rest_failure)
    }

    async fn list_chats(&self) -> Result<Vec<ChatId>, SendFailure> {
        let rest = self.client.rest();
        // Recent conversations first (newest first), then contacts and groups without any.
        let mut chats: Vec<ChatId> = rest
            .conversations(MAX_LISTED_CONVERSATIONS)
            .await
            .map_err(rest_failure)?
            .into_iter()
            .map(|(id, is_group)| {
                if is_group {
                    ChatId::group(id)
                } else {
                    ChatId::direct(id)
                }
            })
            .collect();
        let contacts = rest.contacts().await.map_err(rest_failure)?;
        let groups = rest.joined_groups().await.map_err(rest_failure)?;
        for chat in contacts
            .into_iter()
            .map(ChatId::direct)
            .chain(groups.into_iter().map(|g| ChatId::group(g.id)))
        {
            if !chats.contains(&chat) {
                chats.push(chat);
            }
        }
        Ok(chats)
    }

    async fn download(&self, media: &RemoteMedia, max_bytes: u64) -> Result<Vec<u8>, SendFailure> {
        let (url, secret) = split_media_url(&media.url);
        self.client
            .rest()
            .download(
                &url,
                Some(secret.as_str()).filter(|s| !s.is_empty()),
                usize::try_from(max_bytes).unwrap_or(usize::MAX),
            )
            .await
            .map_err(rest_failure)
    }

    async fn disconnect(&self, forget: bool) {
        if forget {
            self.client.logout().await;
        } else {
            self.client.close().await;
        }
    }

    fn as_edit(&self) -> Option<&dyn EditAbility> {
        Some(self)
    }
    fn as_recall(&self) -> Option<&dyn RecallAbility> {
        Some(self)
    }
    fn as_receipts(&self) -> Option<&dyn ReceiptAbility> {
        Some(self)
    }
    fn as_media(&self) -> Option<&dyn MediaAbility> {
        Some(self)
    }
    fn as_typing(&self) -> Option<&dyn TypingAbility> {
        Some(self)
    }
    fn as_reactions(&self) -> Option<&dyn ReactionAbility> {
        Some(self)
    }
    fn as_history(&self) -> Option<&dyn HistoryAbility> {
        Some(self)
    }
    fn as_group_admin(&self) -> Option<&dyn GroupAdminAbility> {
        Some(self)
    }
    fn as_contacts(&self) -> Option<&dyn crate::core::connector::ContactsAbility> {
        Some(self)
    }
    fn as_presence(&self) -> Option<&dyn crate::core::connector::PresenceAbility> {
        Some(self)
    }
    fn as_channels(&self) -> Option<&dyn crate::core::connector::ChannelAbility> {
        Some(self)
    }
    fn as_threads(&self) -> Option<&dyn crate::core::connector::ThreadAbility> {
        Some(self)
    }
    fn as_own_profile(&self) -> Option<&dyn crate::core::connector::OwnProfileAbility> {
        Some(self)
    }
    fn as_notify(&self) -> Option<&dyn crate::core::connector::NotifyAbility> {
        Some(self)
    }
}

/// Messages asked for per history page.
const HISTORY_PAGE: u32 = 50;

#[async_trait]
impl HistoryAbility for EasemobLogin {
    /// The server's message roaming, newest pages first, until `limit` messages (control
    /// messages such as receipts and recalls are skipped; undecodable ones too).
    async fn history(&self, chat: &ChatId, limit: u32) -> Result<Vec<RemoteMessage>, SendFailure> {
        let rest = self.client.rest();
        let conv = conversation(chat);
        let mut out: Vec<RemoteMessage> = Vec::new();
        let mut cursor: Option<String> = None;
        // Bounded: at most this many pages, whatever the server answers.
        for _ in 0..limit.div_ceil(HISTORY_PAGE).max(1) * 2 {
            let want = limit.saturating_sub(out.len() as u32).min(HISTORY_PAGE);
            if want == 0 {
                break;
            }
            let page = rest
                .history(&conv, cursor.as_deref(), want)
                .await
                .map_err(rest_failure)?;
            for meta in &page.metas {
                let Ok(message) = decode_incoming(meta) else {
                    continue;
                };
                if let Some(RemoteEvent::Message(m)) =
                    translate_message(&self.own, message, &self.threads)
                {
                    out.push(m);
                }
            }
            match page.next_key {
                Some(next) if !page.is_last && !page.metas.is_empty() => cursor = Some(next),
                _ => break,
            }
        }
        // Oldest first; message ids grow with time and break ties within a millisecond.
        out.sort_by_key(|m| (m.timestamp_ms, m.id.parse::<u64>().unwrap_or(0)));
        out.dedup_by(|a, b| a.id == b.id);
        let excess = out.len().saturating_sub(limit as usize);
        out.drain(..excess);
        Ok(out)
    }
}

#[async_trait]
impl ReactionAbility for EasemobLogin {
    /// Reactions are REST calls; the server reports them back (to this login too) as a
    /// `NOTIFY`, which the core recognises as the echo of its own.
    async fn react(&self, _chat: &ChatId, target: &str, key: &str) -> Result<(), SendFailure> {
        self.client
            .rest()
            .add_reaction(target, key)
            .await
            .map_err(rest_failure)
    }

    async fn unreact(&self, _chat: &ChatId, target: &str, key: &str) -> Result<(), SendFailure> {
        self.client
            .rest()
            .remove_reaction(target, key)
            .await
            .map_err(rest_failure)
    }
}

#[async_trait]
impl TypingAbility for EasemobLogin {
    /// The Agora / Easemob convention: a command message `TypingBegin` / `TypingEnd`, online
    /// only (never stored for later), in one-to-one chats only (the apps show nothing else).
    async fn set_typing(&self, chat: &ChatId, active: bool) -> Result<(), SendFailure> {
        if chat.kind != ChatKind::Direct {
            return Ok(());
        }
        let action = if active { "TypingBegin" } else { "TypingEnd" };
        let mut msg = OutgoingMessage::new(
            conversation(chat),
            Body::Content(Content::Command {
                action: action.into(),
                params: Vec::new(),
            }),
        );
        msg.online_only = true;
        self.client.send(msg).await.map_err(send_failure)?;
        Ok(())
    }
}

#[async_trait]
impl MediaAbility for EasemobLogin {
    async fn upload_media(
        &self,
        chat: &ChatId,
        data: Vec<u8>,
        name: &str,
        mime: &str,
    ) -> Result<String, SendFailure> {
        let conv = conversation(chat);
        let uploaded = self
            .client
            .rest()
            .upload(conv.kind, &conv.id, name, mime, data)
            .await
            .map_err(rest_failure)?;
        Ok(media_url(&FileRef {
            url: uploaded.url,
            secret: uploaded.secret,
            name: name.to_owned(),
            length: Some(uploaded.length),
        }))
    }
}

#[async_trait]
impl EditAbility for EasemobLogin {
    async fn edit_message(
        &self,
        chat: &ChatId,
        target: &str,
        content: &MessageContent,
    ) -> Result<(), SendFailure> {
        self.send_control(chat, Self::edit_body(target, content)?)
            .await
    }
}

#[async_trait]
impl RecallAbility for EasemobLogin {
    async fn recall_message(&self, chat: &ChatId, target: &str) -> Result<(), SendFailure> {
        self.send_control(chat, Self::recall_body(target)?).await
    }
}

#[async_trait]
impl ReceiptAbility for EasemobLogin {
    async fn mark_read(&self, chat: &ChatId, up_to: &str) -> Result<(), SendFailure> {
        let body = Body::ReadAck {
            message_id: parse_id(up_to)?,
            ack_content: String::new(),
        };
        self.send_control(chat, body).await
    }

    /// The channel ack (`CHANNEL_ACK`, the SDK's `{type: "channel"}`): the whole conversation
    /// is read, on every device of the user.
    async fn mark_chat_read(&self, chat: &ChatId) -> Result<(), SendFailure> {
        self.send_control(chat, Body::ChannelAck).await
    }
}
