//! The Tencent Cloud Chat network connector: the core's connector contract over the Tencent
//! [`Client`]: the `usersig` and `minted` login flows ([`login`]), one-to-one (C2C) text
//! both ways, groups ([`groups`]: messages with @-mentions both ways, info, tips), login
//! states, the catch-up at login, and the conversation list.
//!
//! Recall, edits, the read marker, typing and reply quotes in DMs: [`fidelity`]; recall,
//! edits and the read marker in groups: [`group_ops`]. Live rooms (AVChatRoom) as
//! channels, with likes / gifts / the stream's end as notices: [`live`].
//! Profiles (ghost names, pushed changes, the user's own nickname): [`profiles`].
//! Media both ways (images, voice, files, video; uploads and downloads over COS): [`media`].
//! Backfill of new portals from the server's roaming history: [`history`].
//! Not yet: avatars, per-message read receipts in groups.
//! Acknowledgements: a live push is acknowledged (`ws_msg_push_ack`) only once the core has
//! stored its messages ([`RemoteEvent::Checkpoint`]); one the core did not store is fetched
//! again (its C2C messages by `openim.getmsg`, not dropped as seen); the catch-up pages (`openim.getmsg`)
//! are still taken as they come (the next page's `Cookie` moves the server on), so a crash
//! during the catch-up can lose what was fetched but not yet stored.

mod conversations;
mod fidelity;
mod group_admin;
mod group_ops;
pub mod groups;
mod history;
mod incoming;
pub mod live;
mod login;
pub mod media;
mod mute_ends;
mod notify;
mod profiles;
mod reaction_sync;
mod reactions;
mod receipts;
pub mod topics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

pub use incoming::{content_of, message_id, translate_message};
pub use login::{minted_identity, MINTED_FLOW, USERSIG_EXPIRED, USERSIG_FLOW};

use super::client::Client;
use super::elem::{Elem, LocationElem};
use super::session::SendError;
use crate::config::{Secret, TencentConfig};
use crate::core::connector::{
    Capabilities, ChatId, ChatInfo, ChatKind, EditAbility, LoginData, LoginFailure, LoginFlow,
    LoginProcess, MessageContent, NetworkConnector, NetworkLogin, RecallAbility, ReceiptAbility,
    RemoteEventSender, RemoteMedia, ReplyTo, SendFailure, TypingAbility, UserProfile,
};

/// Where the Tencent service is, and what the bridge may sign.
#[derive(Clone)]
pub struct TencentSettings {
    /// The app's SDKAppID.
    pub sdk_app_id: u64,
    /// The websocket server (`wss://wss.im.qcloud.com`).
    pub websocket_url: String,
    /// The app's SecretKey, when the bridge signs UserSigs (the `minted` flow).
    pub secret_key: Option<Secret>,
    /// The homeserver's domain: the minted flow serves its users only.
    pub homeserver_domain: String,
    /// Reconnect backoff (floor, ceiling); `None`: the client's default (1 s … 60 s).
    pub backoff: Option<(Duration, Duration)>,
    /// Lifetime of the UserSigs the bridge signs (the `minted` flow); they are renewed at
    /// half of it. [`DEFAULT_MINT_LIFETIME`] unless a test shortens it.
    pub mint_lifetime: Duration,
}

/// Lifetime of a minted UserSig: 7 days.
pub const DEFAULT_MINT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

impl std::fmt::Debug for TencentSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentSettings")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("websocket_url", &self.websocket_url)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("homeserver_domain", &self.homeserver_domain)
            .finish()
    }
}

impl TencentSettings {
    /// From the config's `network.tencent` section and the homeserver domain; reads the
    /// SecretKey file when one is named (an unreadable or empty file is an error).
    pub fn from_config(section: &TencentConfig, homeserver_domain: &str) -> anyhow::Result<Self> {
        let secret_key = match &section.secret_key_file {
            None => None,
            Some(path) => {
                let key = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("network.tencent.secret_key_file {}: {e}", path.display())
                })?;
                let key = key.trim();
                anyhow::ensure!(
                    !key.is_empty(),
                    "network.tencent.secret_key_file {} is empty",
                    path.display()
                );
                Some(Secret::new(key))
            }
        };
        Ok(Self {
            sdk_app_id: section.sdk_app_id,
            websocket_url: section.websocket_url.clone(),
            secret_key,
            homeserver_domain: homeserver_domain.to_owned(),
            backoff: None,
            mint_lifetime: DEFAULT_MINT_LIFETIME,
        })
    }
}

/// The Tencent Cloud Chat connector.
pub struct TencentConnector {
    settings: TencentSettings,
    warm: login::WarmSessions,
}

impl TencentConnector {
    /// A connector for the service at `settings`.
    pub fn new(settings: TencentSettings) -> Self {
        Self {
            settings,
            warm: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// The longest text sent in one message, UTF-8 bytes. Tencent's limit is 12 KB for the whole
/// message body (docs: "消息长度限制 12KB"); the element's JSON takes some of it.
const MAX_TEXT_BYTES: usize = 10 * 1024;

#[async_trait]
impl NetworkConnector for TencentConnector {
    fn name(&self) -> &'static str {
        "tencent"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_text_bytes: MAX_TEXT_BYTES,
            edits: true,
            recall: true,
            recall_window_secs: fidelity::RECALL_WINDOW_SECS,
            read_receipts: true,
            typing: true,
            // `addMessageReaction` / `removeMessageReaction` ([`reactions`]; a paid feature of
            // the service: an app without it refuses them, told in words).
            reactions: true,
            // Communities with topics: a space with a room per topic.
            spaces: true,
            // Live rooms (AVChatRoom): `join-live` / `leave-live` ([`live`]).
            channels: true,
            // Names, topics, members and admins from Matrix ([`group_admin`]).
            group_management: true,
            media: true,
            max_media_bytes: media::MAX_MEDIA_BYTES,
            ..Capabilities::default()
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        login::flows(&self.settings)
    }

    fn create_login(&self, flow_id: &str) -> Result<Box<dyn LoginProcess>, LoginFailure> {
        login::create(&self.settings, &self.warm, flow_id, None)
    }

    fn create_login_for(
        &self,
        flow_id: &str,
        matrix_user: &str,
    ) -> Result<Box<dyn LoginProcess>, LoginFailure> {
        login::create(&self.settings, &self.warm, flow_id, Some(matrix_user))
    }

    async fn connect(
        &self,
        data: &LoginData,
        events: RemoteEventSender,
    ) -> Result<Box<dyn NetworkLogin>, LoginFailure> {
        let stored = login::stored_user_sig(data)?;
        let minted = stored.is_none();
        let user = data.remote_id.clone();
        let (client, session_events) = match login::take_warm(&self.warm, &user) {
            Some(w) => (w.client, w.events),
            None => {
                let sig = match stored {
                    Some(sig) => sig,
                    None => login::mint(&self.settings, &user).ok_or_else(|| {
                        LoginFailure::BadCredentials(
                            "this login's UserSigs were signed by the bridge, which no longer \
                             has the SecretKey: log in with `login usersig`"
                                .into(),
                        )
                    })?,
                };
                login::start_client(&self.settings, &user, &sig)
            }
        };
        let memory = fidelity::Shared::default();
        tokio::spawn(incoming::translate(
            user.clone(),
            minted.then(|| self.settings.clone()),
            client.clone(),
            session_events,
            events,
            memory.clone(),
        ));
        Ok(Box::new(TencentLogin {
            client,
            own: user,
            memory,
            sdk_app_id: self.settings.sdk_app_id,
        }))
    }
}

/// One logged-in Tencent user.
pub struct TencentLogin {
    client: Client,
    own: String,
    /// Edit versions and SDK message ids ([`fidelity::Memory`]).
    memory: fidelity::Shared,
    /// The app's SDKAppID (in the `UUID`s of uploads).
    sdk_app_id: u64,
}

impl TencentLogin {
    /// Calls `servcmd` with `body` for its success only (the reply's fields are not needed);
    /// a failure in [`send_failure`]'s words.
    async fn call_done(&self, servcmd: &str, body: serde_json::Value) -> Result<(), SendFailure> {
        self.client
            .call(servcmd, body)
            .await
            .map(|_| ())
            .map_err(send_failure)
    }
}

fn send_failure(e: SendError) -> SendFailure {
    match e {
        SendError::Timeout | SendError::QueueTimeout => SendFailure::Retriable(e.to_string()),
        SendError::Server(s) => {
            SendFailure::Permanent(format!("Tencent Cloud Chat refused it: {s}"))
        }
        SendError::SessionEnded => {
            SendFailure::Permanent("the Tencent session has ended: log in again to send".into())
        }
        SendError::Malformed(m) => SendFailure::Permanent(format!("unexpected reply: {m}")),
    }
}

/// The elements a message goes out as: text (and location) elements, an uploaded attachment's
/// element ([`media`]; its caption is sent apart); other contents as text saying what they
/// were.
pub fn outgoing_elems(content: &MessageContent) -> Vec<Elem> {
    match content {
        MessageContent::Text { body, .. } => vec![Elem::text(body.clone())],
        MessageContent::Emote { body } => vec![Elem::text(format!("* {body}"))],
        MessageContent::Location {
            latitude,
            longitude,
            description,
        } => vec![Elem::Location(LocationElem {
            desc: description.clone(),
            latitude: *latitude,
            longitude: *longitude,
        })],
        MessageContent::Media { media, .. } if media::parse_uploaded(media).is_some() => {
            media::parse_uploaded(media).into_iter().collect()
        }
        MessageContent::Media { media, caption } => {
            let mut text = format!(
                "[{}: {} — attachments are not bridged to Tencent yet]",
                match media.kind {
                    crate::core::connector::MediaKind::Image => "image",
                    crate::core::connector::MediaKind::Video => "video",
                    crate::core::connector::MediaKind::Audio => "voice message",
                    crate::core::connector::MediaKind::File => "file",
                },
                media.name
            );
            if let Some(c) = caption.as_deref().filter(|c| !c.is_empty()) {
                text = format!("{c}\n{text}");
            }
            vec![Elem::text(text)]
        }
        MessageContent::Unsupported { description }
        | MessageContent::Notice { body: description } => {
            vec![Elem::text(description.clone())]
        }
    }
}

fn direct_peer(chat: &ChatId) -> Result<&str, SendFailure> {
    match chat.kind {
        ChatKind::Direct => Ok(&chat.id),
        _ => Err(SendFailure::Permanent("not a one-to-one chat".into())),
    }
}

#[async_trait]
impl NetworkLogin for TencentLogin {
    fn remote_id(&self) -> &str {
        &self.own
    }

    async fn send_message(
        &self,
        chat: &ChatId,
        content: &MessageContent,
        reply_to: Option<&ReplyTo>,
    ) -> Result<Vec<String>, SendFailure> {
        if let MessageContent::Media {
            media,
            caption: Some(caption),
        } = content
        {
            if media::parse_uploaded(media).is_some() {
                // The attachment, then its caption as a text of its own.
                let bare = MessageContent::Media {
                    media: media.clone(),
                    caption: None,
                };
                let mut ids = self.send_message(chat, &bare, reply_to).await?;
                if !caption.trim().is_empty() && *caption != media.name {
                    let text = MessageContent::text(caption.clone());
                    ids.extend(self.send_message(chat, &text, None).await?);
                }
                return Ok(ids);
            }
        }
        let cloud = reply_to.map_or_else(String::new, |r| self.memory.reply_data(r));
        if matches!(chat.kind, ChatKind::Group | ChatKind::Channel) {
            // A live room is a group on the wire.
            let receipt = groups::send(&self.client, &chat.id, content, cloud).await?;
            let id = groups::group_message_id(&chat.id, u64::from(receipt.msg_seq));
            self.memory.sent_as(&self.own, &receipt, id.clone());
            return Ok(vec![id]);
        }
        let peer = direct_peer(chat)?;
        let receipt = self
            .client
            .send_c2c_with(peer, outgoing_elems(content), cloud)
            .await
            .map_err(send_failure)?;
        self.memory.sent(&self.own, &receipt);
        Ok(vec![message_id(
            &self.own,
            receipt.msg_seq,
            receipt.msg_random,
            &receipt.msg_key,
        )])
    }

    /// The SDK `ID` of a message just sent (the TUIKit's reply quotes name messages by it).
    fn sent_alt_id(&self, _chat: &ChatId, id: &str) -> Option<String> {
        self.memory.sdk_id_of(id)
    }

    async fn chat_info(&self, chat: &ChatId) -> Result<ChatInfo, SendFailure> {
        if chat.kind == ChatKind::Channel {
            // A live room is a group on the wire (`get_group_info`).
            return groups::chat_info(&self.client, &chat.id).await;
        }
        if chat.kind == ChatKind::Group {
            if let Some(info) = topics::chat_info(&self.client, &chat.id).await {
                return info;
            }
            return groups::chat_info(&self.client, &chat.id).await;
        }
        let peer = direct_peer(chat)?;
        Ok(ChatInfo {
            name: Some(peer.to_owned()),
            members: vec![self.own.clone(), peer.to_owned()],
            ..ChatInfo::default()
        })
    }

    async fn user_profile(&self, user: &str) -> Result<UserProfile, SendFailure> {
        profiles::user_profile(self, user).await
    }

    async fn list_chats(&self) -> Result<Vec<ChatId>, SendFailure> {
        let reply = conversations::recent(&self.client, &self.own)
            .await
            .map_err(send_failure)?;
        let mut chats: Vec<ChatId> = conversations::direct(&reply)
            .into_iter()
            .map(|(chat, _)| chat)
            .collect();
        chats.extend(groups::joined(&self.client, &self.own).await?);
        Ok(chats)
    }

    async fn download(&self, media: &RemoteMedia, max_bytes: u64) -> Result<Vec<u8>, SendFailure> {
        self.download_media(media, max_bytes).await
    }

    fn as_media(&self) -> Option<&dyn crate::core::connector::MediaAbility> {
        Some(self)
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

    fn as_channels(&self) -> Option<&dyn crate::core::connector::ChannelAbility> {
        Some(self)
    }

    fn as_reactions(&self) -> Option<&dyn crate::core::connector::ReactionAbility> {
        Some(self)
    }

    fn as_history(&self) -> Option<&dyn crate::core::connector::HistoryAbility> {
        Some(self)
    }
    fn as_typing(&self) -> Option<&dyn TypingAbility> {
        Some(self)
    }

    fn as_own_profile(&self) -> Option<&dyn crate::core::connector::OwnProfileAbility> {
        Some(self)
    }

    fn as_notify(&self) -> Option<&dyn crate::core::connector::NotifyAbility> {
        Some(self)
    }

    fn as_group_admin(&self) -> Option<&dyn crate::core::connector::GroupAdminAbility> {
        Some(self)
    }

    async fn disconnect(&self, _forget: bool) {
        // `wslogout` either way: Tencent keeps offline messages per account, not per instance.
        self.client.logout().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_goes_out_as_words() {
        let content = MessageContent::Media {
            media: RemoteMedia {
                kind: crate::core::connector::MediaKind::Image,
                url: "mxc://x/y".into(),
                name: "cat.png".into(),
                mime: None,
                size: None,
                width: None,
                height: None,
                duration_ms: None,
                thumbnail: None,
            },
            caption: Some("look".into()),
        };
        let elems = outgoing_elems(&content);
        let [Elem::Text(t)] = elems.as_slice() else {
            panic!("one text element");
        };
        assert!(t.text.starts_with("look\n[image: cat.png"), "{}", t.text);
    }
}
