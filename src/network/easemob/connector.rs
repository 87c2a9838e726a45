//! The Easemob network connector: implements the core's connector contract over
//! [`EasemobClient`] and [`RestClient`]. Owns the translation between Easemob's typed events
//! and messages and the core's network-neutral [`RemoteEvent`] / [`MessageContent`].

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::mpsc;
use tracing::debug;

use super::client::{ClientConfig, Credential, EasemobClient};
use super::error::{EndReason, LoginError, SendError};
use super::events::{GroupEvent, SessionEvent};
use super::jid::{ChatType, Conversation};
use super::message::{Body, Content, Ext, ExtValue, FileRef, IncomingMessage, OutgoingMessage};
use super::rest::{RestClient, RestError};
use crate::core::connector::{
    Capabilities, ChatId, ChatInfo, ChatInfoChange, ChatKind, EditAbility, LoginData, LoginFailure,
    LoginState, MediaKind, MessageContent, NetworkConnector, NetworkLogin, RecallAbility,
    ReceiptAbility, RemoteEvent, RemoteMedia, RemoteMessage, SendFailure, UserProfile,
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
    pub fn new(settings: EasemobSettings) -> Self {
        Self { settings }
    }
}

fn login_failure(e: LoginError) -> LoginFailure {
    match e {
        LoginError::InvalidCredentials | LoginError::UserNotFound | LoginError::InvalidToken => {
            LoginFailure::BadCredentials
        }
        LoginError::Transport(t) => LoginFailure::Unreachable(t),
        other => LoginFailure::Refused(other.to_string()),
    }
}

fn send_failure(e: SendError) -> SendFailure {
    match e {
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
            reactions: false,
            read_receipts: true,
            delivery_receipts: true,
            typing: false,
            group_management: false,
        }
    }

    async fn login_password(&self, user: &str, password: &str) -> Result<LoginData, LoginFailure> {
        let http =
            super::client::shared_http().map_err(|e| LoginFailure::Unreachable(e.to_string()))?;
        let rest = RestClient::new(http, &self.settings.rest_url, &self.settings.app_key)
            .map_err(|e| LoginFailure::Unreachable(e.to_string()))?;
        let user = user.trim().to_lowercase();
        match rest.password_token(&user, password).await {
            Ok(_) => {}
            Err(RestError::InvalidPassword) | Err(RestError::UserNotFound) => {
                return Err(LoginFailure::BadCredentials)
            }
            Err(e) => return Err(LoginFailure::Unreachable(e.to_string())),
        }
        let resource = format!("imbridge_{}", super::sandbox::state::random_string(12));
        Ok(LoginData {
            remote_id: user,
            secrets: json!({ "password": password, "resource": resource }),
        })
    }

    async fn connect(
        &self,
        data: &LoginData,
        events: mpsc::Sender<RemoteEvent>,
    ) -> Result<Box<dyn NetworkLogin>, LoginFailure> {
        let password = data.secrets["password"]
            .as_str()
            .ok_or_else(|| LoginFailure::Refused("stored login has no password".into()))?;
        let resource = data.secrets["resource"].as_str().unwrap_or("imbridge");
        let mut cfg = ClientConfig::new(
            &self.settings.app_key,
            &self.settings.rest_url,
            &self.settings.websocket_url,
            &data.remote_id,
            Credential::Password(password.to_owned()),
            resource,
        );
        // A pulled batch is acknowledged to the server only once the core has stored it.
        cfg.await_persistence = true;
        let (client, session_events) = EasemobClient::start(cfg).await.map_err(login_failure)?;
        let own = data.remote_id.clone();
        tokio::spawn(translate(own.clone(), session_events, events));
        Ok(Box::new(EasemobLogin {
            client: Arc::new(client),
            own,
        }))
    }
}

/// One Easemob session as a core login.
pub struct EasemobLogin {
    client: Arc<EasemobClient>,
    own: String,
}

impl EasemobLogin {
    /// Sends a control body (edit, recall, receipt) and waits for the server's ack.
    async fn send_control(&self, chat: &ChatId, body: Body) -> Result<(), SendFailure> {
        self.client
            .send(OutgoingMessage::new(conversation(chat), body))
            .await
            .map(|_| ())
            .map_err(send_failure)
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

fn parse_id(id: &str) -> Result<u64, SendFailure> {
    id.parse()
        .map_err(|_| SendFailure::Permanent(format!("not an Easemob message id: {id}")))
}

/// `MessageContent` → Easemob content (text kinds only; media goes through upload first).
fn outgoing_content(content: &MessageContent) -> Result<Content, SendFailure> {
    Ok(match content {
        MessageContent::Text { body, .. } => Content::Text { text: body.clone() },
        MessageContent::Emote { body } => Content::Text {
            text: format!("* {body}"),
        },
        MessageContent::Location {
            latitude,
            longitude,
            description,
        } => Content::Location {
            latitude: *latitude,
            longitude: *longitude,
            address: description.clone(),
            building: String::new(),
        },
        MessageContent::Media { .. } => {
            return Err(SendFailure::Permanent(
                "media from Matrix is not bridged yet".into(),
            ))
        }
        MessageContent::Unsupported { description } => {
            return Err(SendFailure::Permanent(format!(
                "unsupported: {description}"
            )))
        }
    })
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
        reply_to: Option<&str>,
    ) -> Result<String, SendFailure> {
        let mut msg = OutgoingMessage::new(
            conversation(chat),
            Body::Content(outgoing_content(content)?),
        );
        if let MessageContent::Text { mentions, .. } = content {
            if !mentions.is_empty() {
                // The UIKit convention for @-mentions.
                msg.ext.push(Ext {
                    key: "em_at_list".into(),
                    value: ExtValue::Json(json!(mentions).to_string()),
                });
            }
        }
        if let Some(reply) = reply_to {
            // The UIKit convention for replies (quotes).
            msg.ext.push(Ext {
                key: "msgQuote".into(),
                value: ExtValue::Json(json!({ "msgID": reply, "msgType": "txt" }).to_string()),
            });
        }
        let receipt = self.client.send(msg).await.map_err(send_failure)?;
        Ok(receipt.server_id.to_string())
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
                Ok(ChatInfo {
                    name: Some(g.name),
                    topic: Some(g.description).filter(|d| !d.is_empty()),
                    avatar_url: None,
                    members: g.members,
                    admins: g.admins,
                    owner: Some(g.owner),
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
                })
            }
        }
    }

    async fn user_profile(&self, user: &str) -> Result<UserProfile, SendFailure> {
        let mut profiles = self
            .client
            .rest()
            .user_info(&[user])
            .await
            .map_err(rest_failure)?;
        let p = profiles.remove(user).unwrap_or_default();
        Ok(UserProfile {
            name: p.nickname.filter(|n| !n.is_empty()),
            avatar_url: p.avatar_url.filter(|a| !a.is_empty()),
        })
    }

    async fn list_chats(&self) -> Result<Vec<ChatId>, SendFailure> {
        let rest = self.client.rest();
        let mut chats: Vec<ChatId> = rest
            .contacts()
            .await
            .map_err(rest_failure)?
            .into_iter()
            .map(ChatId::direct)
            .collect();
        chats.extend(
            rest.joined_groups()
                .await
                .map_err(rest_failure)?
                .into_iter()
                .map(|g| ChatId::group(g.id)),
        );
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
}

#[async_trait]
impl EditAbility for EasemobLogin {
    async fn edit_message(
        &self,
        chat: &ChatId,
        target: &str,
        content: &MessageContent,
    ) -> Result<(), SendFailure> {
        let body = Body::Edit {
            message_id: parse_id(target)?,
            content: outgoing_content(content)?,
            with_ext: false,
        };
        self.send_control(chat, body).await
    }
}

#[async_trait]
impl RecallAbility for EasemobLogin {
    async fn recall_message(&self, chat: &ChatId, target: &str) -> Result<(), SendFailure> {
        let body = Body::Recall {
            message_id: parse_id(target)?,
            ext: String::new(),
        };
        self.send_control(chat, body).await
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
}

/// Media URLs carry the download secret: `{"url":…,"secret":…}` (opaque to the core).
fn media_url(file: &FileRef) -> String {
    json!({ "url": file.url, "secret": file.secret }).to_string()
}

fn split_media_url(opaque: &str) -> (String, String) {
    match serde_json::from_str::<serde_json::Value>(opaque) {
        Ok(v) => (
            v["url"].as_str().unwrap_or_default().to_owned(),
            v["secret"].as_str().unwrap_or_default().to_owned(),
        ),
        Err(_) => (opaque.to_owned(), String::new()),
    }
}

fn media(
    kind: MediaKind,
    file: &FileRef,
    size: (Option<f64>, Option<f64>),
    duration: Option<i32>,
) -> RemoteMedia {
    RemoteMedia {
        kind,
        url: media_url(file),
        name: if file.name.is_empty() {
            "file".into()
        } else {
            file.name.clone()
        },
        mime: None,
        size: file.length,
        width: size.0.map(|w| w as u32),
        height: size.1.map(|h| h as u32),
        duration_ms: duration
            .and_then(|d| u64::try_from(d).ok())
            .map(|s| s * 1000),
    }
}

/// Easemob content → core content; `None` for contents that are not messages (commands).
pub fn incoming_content(content: &Content) -> Option<MessageContent> {
    Some(match content {
        Content::Text { text } => MessageContent::text(text.clone()),
        Content::Image {
            file,
            width,
            height,
            ..
        } => MessageContent::Media {
            media: media(MediaKind::Image, file, (*width, *height), None),
            caption: None,
        },
        Content::Video { file, duration, .. } => MessageContent::Media {
            media: media(MediaKind::Video, file, (None, None), *duration),
            caption: None,
        },
        Content::Voice { file, duration } => MessageContent::Media {
            media: media(MediaKind::Audio, file, (None, None), *duration),
            caption: None,
        },
        Content::File { file } => MessageContent::Media {
            media: media(MediaKind::File, file, (None, None), None),
            caption: None,
        },
        Content::Location {
            latitude,
            longitude,
            address,
            building,
        } => MessageContent::Location {
            latitude: *latitude,
            longitude: *longitude,
            description: [address.as_str(), building.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(", "),
        },
        Content::Command { .. } => return None,
        Content::Custom { event, .. } => MessageContent::Unsupported {
            description: format!("custom message \"{event}\""),
        },
        Content::Combine {
            title,
            compatible_text,
            ..
        } => MessageContent::Unsupported {
            description: format!("forwarded messages \"{title}\": {compatible_text}"),
        },
        Content::Unknown { type_code } => MessageContent::Unsupported {
            description: format!("message type {type_code}"),
        },
    })
}

fn reply_target(m: &IncomingMessage) -> Option<String> {
    m.ext
        .iter()
        .find(|e| e.key == "msgQuote")
        .and_then(|e| match &e.value {
            ExtValue::Json(s) | ExtValue::String(s) => serde_json::from_str::<serde_json::Value>(s)
                .ok()
                .and_then(|v| v["msgID"].as_str().map(str::to_owned)),
            _ => None,
        })
}

/// Easemob message → core event.
pub fn translate_message(own: &str, m: IncomingMessage) -> Option<RemoteEvent> {
    let chat = chat_id(&m.conversation(own));
    let sender = m.from.clone();
    Some(match &m.body {
        Body::Content(Content::Command { action, .. }) => {
            let active = match action.as_str() {
                "TypingBegin" => true,
                "TypingEnd" => false,
                _ => return None,
            };
            RemoteEvent::Typing {
                chat,
                sender,
                active,
            }
        }
        Body::Content(content) => RemoteEvent::Message(RemoteMessage {
            id: m.id.to_string(),
            chat,
            from_self: sender == own,
            sender,
            timestamp_ms: m.timestamp,
            content: incoming_content(content)?,
            reply_to: reply_target(&m),
        }),
        Body::ReadAck { message_id, .. } => RemoteEvent::ReadReceipt {
            chat,
            sender,
            up_to: Some(message_id.to_string()),
        },
        Body::ChannelAck => RemoteEvent::ReadReceipt {
            chat,
            sender,
            up_to: None,
        },
        Body::DeliveryAck { message_id } => RemoteEvent::DeliveryReceipt {
            chat,
            sender,
            target: message_id.to_string(),
        },
        Body::Recall { message_id, .. } => RemoteEvent::Remove {
            chat,
            sender,
            target: message_id.to_string(),
        },
        Body::Edit {
            message_id,
            content,
            ..
        } => RemoteEvent::Edit {
            chat,
            sender,
            target: message_id.to_string(),
            content: incoming_content(content)?,
            timestamp_ms: m.timestamp,
        },
        Body::Unknown { .. } => return None,
    })
}

/// Easemob group event → core event.
fn translate_group(g: GroupEvent) -> Option<RemoteEvent> {
    let chat = ChatId {
        kind: if g.is_chatroom {
            ChatKind::Channel
        } else {
            ChatKind::Group
        },
        id: g.id.clone(),
    };
    let mut change = ChatInfoChange::default();
    let affected = if g.to.is_empty() {
        vec![g.from.clone()]
    } else {
        g.to.clone()
    };
    match g.operation_name {
        "destroy" => return Some(RemoteEvent::ChatDelete { chat }),
        "memberPresence" | "directJoined" | "acceptInvite" | "acceptRequest" => {
            change.members_added = affected
        }
        "memberAbsence" | "removeMember" | "leave" => change.members_removed = affected,
        "updateInfo" => {
            change.name = g.name.clone();
            change.topic = g.description.clone();
        }
        "setAdmin" => change.admins_added = affected,
        "removeAdmin" => change.admins_removed = affected,
        _ => return None,
    }
    Some(RemoteEvent::ChatInfoChange {
        chat,
        sender: Some(g.from).filter(|f| !f.is_empty()),
        change,
    })
}

fn end_state(reason: &EndReason) -> LoginState {
    match reason {
        EndReason::LoginFailed(e)
            if matches!(
                e,
                LoginError::InvalidCredentials
                    | LoginError::UserNotFound
                    | LoginError::InvalidToken
            ) =>
        {
            LoginState::BadCredentials {
                reason: e.to_string(),
            }
        }
        EndReason::PasswordChanged => LoginState::BadCredentials {
            reason: reason.to_string(),
        },
        other => LoginState::LoggedOut {
            reason: other.to_string(),
        },
    }
}

/// Turns the session's events into core events, in order.
async fn translate(
    own: String,
    mut session: mpsc::Receiver<SessionEvent>,
    out: mpsc::Sender<RemoteEvent>,
) {
    while let Some(event) = session.recv().await {
        let translated = match event {
            SessionEvent::Connected { .. } => Some(RemoteEvent::State(LoginState::Connected)),
            SessionEvent::Reconnecting { reason } => {
                Some(RemoteEvent::State(LoginState::TransientDisconnect {
                    reason,
                }))
            }
            SessionEvent::Ended(reason) => Some(RemoteEvent::State(end_state(&reason))),
            SessionEvent::OfflineSyncFinished => Some(RemoteEvent::CatchUpDone),
            SessionEvent::Message(m) => translate_message(&own, m),
            SessionEvent::Group(g) => translate_group(g),
            SessionEvent::Checkpoint(checkpoint) => Some(RemoteEvent::Checkpoint(checkpoint)),
            other => {
                debug!(event = ?other, "easemob event not bridged");
                None
            }
        };
        if let Some(e) = translated {
            if out.send(e).await.is_err() {
                break;
            }
        }
    }
}
