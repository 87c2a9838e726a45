//! The JiGuang JMessage network connector: the core's connector contract over the JMessage
//! [`Client`]: the `password` login flow ([`login`]), account registration ([`register`]),
//! single and group text both ways, images / files / voices both ways ([`media`]), locations
//! both ways, read receipts both ways ([`receipts`]), group events ([`groups`]), recall both
//! ways, users' nicknames and avatars as ghost profiles, login states (wrong password,
//! password changed, logged in elsewhere), the messages waiting at login, and group
//! management from Matrix ([`admin`]: name, description, members, create, leave), and
//! no-disturb ↔ Matrix room notifications ([`notify`]).
//!
//! Acknowledgements: a push (`msg_sync`'s `msg_recv_v2` receipts, `sync_conversation_ack`
//! for the offline hand-over) is receipted only once the core has stored its messages
//! ([`RemoteEvent::Checkpoint`](crate::core::connector::RemoteEvent::Checkpoint)), so a crash
//! before that leaves them on the server, which hands them over again.
//!
//! Message `extras` both ways, and sends replayed after a crash looked up in the service's
//! history instead of sent twice ([`send`]).
//!
//! Not yet: profile changes of users who send nothing (a change is noticed on the sender's next message, by
//! its `sui_mtime`), the conversation list, and cross-app users (bridged under their
//! username, with a note).

mod admin;
mod contacts;
mod groups;
mod incoming;
mod login;
mod media;
mod notify;
mod receipts;
mod register;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

pub use admin::admin_failure;
pub use groups::{translate_group_event, translate_retraction};
pub use incoming::{
    content_of, custom_words, end_state, profile_changed, translate_message, CATCH_UP_QUIET,
    CUSTOM_WORDS_CHARS, MAX_PROFILE_TIMES,
};
pub use login::PASSWORD_FLOW;
pub use media::{
    media_failure, media_of, parse_uploaded, upload_kind, uploaded_url, MAX_MEDIA_BYTES, UPLOADED,
};
pub use receipts::{
    group_read_receipts, group_receipt_worker, translate_receipt_change, ReaderBook, UnreadBook,
    GROUP_RECEIPT_QUEUE, MAX_MESSAGES_WITH_READERS, MAX_UNREPORTED_PER_CHAT,
};
pub use register::{check_username, refusal};
pub use send::{incoming_extra, outgoing_extras, EXTRAS_FIELD};

use super::client::Client;
use super::report::ReportApi;
use super::session::{GroupInfo, GroupMember, SendError, UserInfo};
use super::{across, wire};
use crate::config::{JmessageConfig, Secret};
use crate::core::connector::{
    Capabilities, ChatId, ChatInfo, ChatKind, LoginData, LoginFailure, LoginFlow, LoginProcess,
    MediaKind, MessageContent, NetworkConnector, NetworkLogin, RemoteEventSender, RemoteMedia,
    ReplyTo, SendFailure, SendOptions, UserProfile,
};

/// Where the JMessage service is, and the app's credentials.
#[derive(Clone)]
pub struct JmessageSettings {
    /// The app's AppKey.
    pub app_key: String,
    /// The app's masterSecret (signs `c_init`; never logged).
    pub master_secret: Secret,
    /// The socket.io server without path (`wss://ws.im.jiguang.cn`).
    pub websocket_url: String,
    /// The IM REST Report v2 host (`https://report.im.jpush.cn`; a sandbox's own address),
    /// where a replayed send looks up what the login sent ([`send`]).
    pub report_url: String,
    /// Reconnect backoff (floor, ceiling); `None`: the client's default (1 s … 60 s).
    pub backoff: Option<(Duration, Duration)>,
}

impl std::fmt::Debug for JmessageSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JmessageSettings")
            .field("app_key", &self.app_key)
            .field("master_secret", &"<redacted>")
            .field("websocket_url", &self.websocket_url)
            .field("report_url", &self.report_url)
            .finish()
    }
}

impl JmessageSettings {
    /// From the config's `network.jmessage` section; reads the masterSecret file (an
    /// unreadable or empty file is an error).
    pub fn from_config(section: &JmessageConfig) -> anyhow::Result<Self> {
        let path = &section.master_secret_file;
        let secret = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "network.jmessage.master_secret_file {}: {e}",
                path.display()
            )
        })?;
        let secret = secret.trim();
        anyhow::ensure!(
            !secret.is_empty(),
            "network.jmessage.master_secret_file {} is empty",
            path.display()
        );
        Ok(Self {
            app_key: section.app_key.clone(),
            master_secret: Secret::new(secret),
            websocket_url: section.websocket_url.clone(),
            report_url: section.report_url.clone(),
            backoff: None,
        })
    }
}

/// The JMessage connector.
pub struct JmessageConnector {
    settings: JmessageSettings,
    warm: login::WarmSessions,
}

impl JmessageConnector {
    /// A connector for the service at `settings`.
    pub fn new(settings: JmessageSettings) -> Self {
        Self {
            settings,
            warm: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// The longest text sent in one message, UTF-8 bytes: the service takes message bodies up
/// to 7 KiB (880206, "消息大小超过限制 (7kb)"), of which the content's JSON takes some.
pub const MAX_TEXT_BYTES: usize = wire::MAX_CONTENT_BYTES - 1024;

#[async_trait]
impl NetworkConnector for JmessageConnector {
    fn name(&self) -> &'static str {
        "jmessage"
    }

    fn capabilities(&self) -> Capabilities {
        // Text, attachments, recall and read receipts in single and group chats; group management from Matrix (name, topic, invite, kick);
        // no edits or typing (JMessage has neither).
        Capabilities {
            max_text_bytes: MAX_TEXT_BYTES,
            media: true,
            max_media_bytes: MAX_MEDIA_BYTES,
            recall: true,
            recall_window_secs: RECALL_WINDOW_SECS,
            read_receipts: true,
            group_management: true,
            ..Capabilities::default()
        }
    }

    fn login_flows(&self) -> Vec<LoginFlow> {
        login::flows()
    }

    fn create_login(&self, flow_id: &str) -> Result<Box<dyn LoginProcess>, LoginFailure> {
        login::create(&self.settings, &self.warm, flow_id)
    }

    async fn connect(
        &self,
        data: &LoginData,
        events: RemoteEventSender,
    ) -> Result<Box<dyn NetworkLogin>, LoginFailure> {
        let user = data.remote_id.clone();
        let (client, session_events) = match login::take_warm(&self.warm, &user) {
            Some(w) => (w.client, w.events),
            None => {
                let password = login::stored_password(data)?;
                login::start_client(&self.settings, &user, &password)
            }
        };
        let unread = UnreadBook::default();
        tokio::spawn(incoming::translate(
            incoming::Translation {
                own: user.clone(),
                client: client.clone(),
                unread: unread.clone(),
            },
            session_events,
            events,
        ));
        let report = ReportApi::new(
            &self.settings.report_url,
            &self.settings.app_key,
            &self.settings.master_secret,
        );
        Ok(Box::new(JmessageLogin {
            client,
            own: user,
            unread,
            report,
        }))
    }

    fn as_registration(&self) -> Option<&dyn crate::core::registration::RegistrationAbility> {
        Some(self)
    }
}

/// One logged-in JMessage user.
pub struct JmessageLogin {
    client: Client,
    own: String,
    /// Messages received and not yet reported read ([`receipts`]).
    unread: UnreadBook,
    /// The app's message history, for replayed sends ([`send`]).
    report: ReportApi,
}

/// A send error in words for the Matrix side.
pub fn send_failure(e: SendError) -> SendFailure {
    match e {
        SendError::Timeout | SendError::QueueTimeout => SendFailure::Retriable(e.to_string()),
        SendError::Rejected { code, message } => SendFailure::Permanent(match code {
            wire::code::TARGET_USER_NOT_EXIST => {
                "JMessage refused it: the recipient does not exist (880203)".into()
            }
            wire::code::MESSAGE_TOO_LONG => {
                "JMessage refused it: the message is longer than 7 KB (880206)".into()
            }
            wire::code::SENDER_BLACKLISTED => {
                "JMessage refused it: the recipient has blocked this account (880207)".into()
            }
            880208 => "JMessage refused it as sensitive content (880208)".into(),
            880209 => "JMessage refused it: sending too fast (880209)".into(),
            880212 => "JMessage refused it: this account is muted (880212)".into(),
            _ => format!("JMessage refused it: {code} {message}"),
        }),
        SendError::SessionEnded => {
            SendFailure::Permanent("the JMessage session has ended: log in again to send".into())
        }
    }
}

/// The text a message goes out as: texts as they are, other contents described.
pub fn outgoing_text(content: &MessageContent) -> String {
    match content {
        MessageContent::Text { body, .. } => body.clone(),
        MessageContent::Emote { body } => format!("* {body}"),
        MessageContent::Location {
            latitude,
            longitude,
            description,
        } => format!("[location: {description} ({latitude}, {longitude})]"),
        MessageContent::Media { media, caption } => {
            let kind = match media.kind {
                MediaKind::Image => "image",
                MediaKind::Video => "video",
                MediaKind::Audio => "voice message",
                MediaKind::File => "file",
            };
            let note = format!("[{kind}: {} — not uploaded to JMessage]", media.name);
            match caption.as_deref().filter(|c| !c.is_empty()) {
                Some(c) => format!("{c}\n{note}"),
                None => note,
            }
        }
        MessageContent::Unsupported { description }
        | MessageContent::Notice { body: description } => description.clone(),
    }
}

/// The map zoom (`scale`) a location sent from Matrix carries (Matrix has none): street level.
pub const LOCATION_SCALE: i64 = 16;

/// How long after sending a message may be retracted (`msg_retract`): 3 minutes, as the
/// JMessage docs state for message recall.
pub const RECALL_WINDOW_SECS: u64 = 180;

#[async_trait]
impl crate::core::connector::RecallAbility for JmessageLogin {
    /// `msg_retract` of the user's own message `target` (its numeric `msg_id`).
    async fn recall_message(&self, chat: &ChatId, target: &str) -> Result<(), SendFailure> {
        target_of(chat)?;
        let msg_id: i64 = target.parse().map_err(|_| {
            SendFailure::Permanent(format!("{target:?} is not a JMessage message id"))
        })?;
        self.client.retract(msg_id).await.map_err(send_failure)
    }
}

/// A user's JMessage profile as the core's: the nickname, else the username, and the avatar's
/// `media_id`.
pub fn profile_of(user: &str, info: &UserInfo) -> UserProfile {
    UserProfile {
        name: Some(info.nickname.clone().unwrap_or_else(|| user.to_owned())),
        avatar_url: info.avatar.clone(),
    }
}

/// Where a core chat goes on JMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTarget<'a> {
    /// A single chat with this username.
    User(&'a str),
    /// A group, by its numeric `gid`.
    Group(i64),
}

/// The JMessage target of a core chat; groups are named by their numeric gid.
pub fn target_of(chat: &ChatId) -> Result<ChatTarget<'_>, SendFailure> {
    match chat.kind {
        ChatKind::Direct => Ok(ChatTarget::User(&chat.id)),
        ChatKind::Group => chat.id.parse().map(ChatTarget::Group).map_err(|_| {
            SendFailure::Permanent(format!("{:?} is not a JMessage group id", chat.id))
        }),
        ChatKind::Channel => Err(SendFailure::Permanent(
            "JMessage has no channels (chat rooms are not bridged)".into(),
        )),
    }
}

/// A group's info and members as the core's [`ChatInfo`]: the owner is the one admin.
pub fn group_chat_info(info: &GroupInfo, members: &[GroupMember]) -> ChatInfo {
    let owner = members
        .iter()
        .find(|m| m.owner)
        .map(|m| m.username.clone())
        .or_else(|| info.owner.clone());
    ChatInfo {
        name: Some(info.name.clone()).filter(|n| !n.is_empty()),
        topic: Some(info.description.clone()).filter(|d| !d.is_empty()),
        members: members.iter().map(|m| m.username.clone()).collect(),
        admins: owner.iter().cloned().collect(),
        owner,
        ..ChatInfo::default()
    }
}

#[async_trait]
impl NetworkLogin for JmessageLogin {
    fn remote_id(&self) -> &str {
        &self.own
    }

    /// Sends an attachment uploaded by [`crate::core::connector::MediaAbility::upload_media`]
    /// as an image / file message (and its caption as a text), a location as a `location`
    /// message (`{latitude, longitude, scale, label}`, as the SDK's `sendSingleLocation`);
    /// anything else as text ([`send`]). JMessage has no reply quotes: a reply's text starts
    /// with the quoted message as a line (`> bob: question?`, [`ReplyTo::quoted`]).
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
        self.send_keyed(chat, content, options).await
    }

    /// [`NetworkLogin::send_message`] with the Matrix event's extras and the transaction id
    /// in `extras`; a replayed message is looked for in the history first ([`send`]).
    async fn send_message_with(
        &self,
        chat: &ChatId,
        content: &MessageContent,
        options: SendOptions<'_>,
    ) -> Result<Vec<String>, SendFailure> {
        self.send_keyed(chat, content, options).await
    }

    async fn chat_info(&self, chat: &ChatId) -> Result<ChatInfo, SendFailure> {
        match target_of(chat)? {
            ChatTarget::User(peer) => Ok(ChatInfo {
                name: Some(peer.to_owned()),
                members: vec![self.own.clone(), peer.to_owned()],
                ..ChatInfo::default()
            }),
            ChatTarget::Group(gid) => {
                let info = self.client.group_info(gid).await.map_err(send_failure)?;
                let members = self.client.group_members(gid).await.map_err(send_failure)?;
                Ok(group_chat_info(&info, &members))
            }
        }
    }

    /// `get_across_user_info`: the nickname (the username when unset) and the avatar's
    /// `media_id` as the avatar URL (the core fetches it through [`Self::download`]). A user
    /// JMessage does not know (880103) is named by their username.
    async fn user_profile(&self, user: &str) -> Result<UserProfile, SendFailure> {
        match self.client.user_info(user).await {
            Ok(info) => Ok(profile_of(user, &info)),
            Err(SendError::Rejected { code, .. }) if code == wire::code::USER_NOT_EXIST => {
                Ok(UserProfile {
                    name: Some(user.to_owned()),
                    avatar_url: None,
                })
            }
            Err(e) => Err(send_failure(e)),
        }
    }

    /// A user of our own app named with our appkey (`bob/<our appkey>`) is `bob`
    /// ([`crate::network::jmessage::across`]).
    fn canonical_user_id(&self, user: &str) -> String {
        let own_app = self.client.app_key();
        let (name, appkey) = across::split(user, own_app);
        across::name(name, Some(appkey), own_app)
    }

    /// `Ok(None)` when JMessage has no such user (`get_across_user_info` answers 880103), so
    /// `pm` and `resolve-identifier` say so instead of opening a chat whose first send fails.
    async fn resolve_user(&self, user: &str) -> Result<Option<UserProfile>, SendFailure> {
        match self.client.user_info(user).await {
            Ok(info) => Ok(Some(profile_of(user, &info))),
            Err(SendError::Rejected { code, .. }) if code == wire::code::USER_NOT_EXIST => Ok(None),
            Err(e) => Err(send_failure(e)),
        }
    }

    /// The exact username, then matching friends ([`contacts`]).
    async fn search_users(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<crate::core::connector::UserSearchResult>, SendFailure> {
        self.search_friends(query, limit).await
    }

    async fn list_chats(&self) -> Result<Vec<ChatId>, SendFailure> {
        // Joined groups (`get_groups_list`), then friends (`get_friend_list`); other single
        // chats open as messages arrive (the Web SDK has no conversation list).
        let groups = self.client.group_list().await.map_err(send_failure)?;
        let friends = self.client.friend_list().await.map_err(send_failure)?;
        Ok(groups
            .iter()
            .map(|g| ChatId::group(g.gid.to_string()))
            .chain(friends.iter().map(|f| ChatId::direct(f.as_str())))
            .collect())
    }

    /// The bytes of the attachment whose `url` is a JMessage `media_id` (`get_resource`,
    /// then a GET), at most `max_bytes`.
    async fn download(&self, media: &RemoteMedia, max_bytes: u64) -> Result<Vec<u8>, SendFailure> {
        self.client
            .download_bounded(&media.url, max_bytes)
            .await
            .map_err(media_failure)
    }

    fn as_recall(&self) -> Option<&dyn crate::core::connector::RecallAbility> {
        Some(self)
    }

    fn as_media(&self) -> Option<&dyn crate::core::connector::MediaAbility> {
        Some(self)
    }

    fn as_receipts(&self) -> Option<&dyn crate::core::connector::ReceiptAbility> {
        Some(self)
    }

    fn as_group_admin(&self) -> Option<&dyn crate::core::connector::GroupAdminAbility> {
        Some(self)
    }

    fn as_notify(&self) -> Option<&dyn crate::core::connector::NotifyAbility> {
        Some(self)
    }

    fn as_contacts(&self) -> Option<&dyn crate::core::connector::ContactsAbility> {
        Some(self)
    }

    async fn disconnect(&self, _forget: bool) {
        self.client.logout().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_in_words() {
        let SendFailure::Permanent(w) = send_failure(SendError::Rejected {
            code: 880203,
            message: "target user not exist".into(),
        }) else {
            panic!("permanent");
        };
        assert!(w.contains("recipient does not exist"), "{w}");
        assert!(matches!(
            send_failure(SendError::Timeout),
            SendFailure::Retriable(_)
        ));
        assert!(matches!(
            send_failure(SendError::SessionEnded),
            SendFailure::Permanent(_)
        ));
    }

    #[test]
    fn other_contents_go_out_as_words() {
        assert_eq!(outgoing_text(&MessageContent::text("hi")), "hi");
        let media = MessageContent::Media {
            media: RemoteMedia {
                kind: MediaKind::Image,
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
        assert!(outgoing_text(&media).starts_with("look\n[image: cat.png"));
    }

    #[test]
    fn profiles_name_by_nickname_else_username() {
        let info = |nickname: Option<&str>, avatar: Option<&str>| UserInfo {
            username: "bob".into(),
            nickname: nickname.map(str::to_owned),
            avatar: avatar.map(str::to_owned),
        };
        let p = profile_of("bob", &info(Some("Bobby"), Some("qiniu/image/a")));
        assert_eq!(p.name.as_deref(), Some("Bobby"));
        assert_eq!(p.avatar_url.as_deref(), Some("qiniu/image/a"));
        let p = profile_of("bob", &info(None, None));
        assert_eq!((p.name.as_deref(), p.avatar_url), (Some("bob"), None));
    }

    #[test]
    fn chats_map_to_users_and_numeric_groups() {
        assert_eq!(
            target_of(&ChatId::direct("bob")).ok(),
            Some(ChatTarget::User("bob"))
        );
        assert_eq!(
            target_of(&ChatId::group("10001")).ok(),
            Some(ChatTarget::Group(10001))
        );
        assert!(matches!(
            target_of(&ChatId::group("not-a-gid")),
            Err(SendFailure::Permanent(_))
        ));
        assert!(target_of(&ChatId::channel("x")).is_err());
    }

    #[test]
    fn group_info_names_members_and_owner() {
        let info = GroupInfo {
            gid: 10001,
            name: "Team".into(),
            description: "".into(),
            owner: None,
            mtime: 0,
        };
        let member = |u: &str, owner: bool| GroupMember {
            username: u.into(),
            appkey: None,
            nickname: None,
            owner,
        };
        let chat = group_chat_info(&info, &[member("bob", true), member("alice", false)]);
        assert_eq!(chat.name.as_deref(), Some("Team"));
        assert_eq!(chat.topic, None);
        assert_eq!(chat.members, vec!["bob".to_string(), "alice".to_string()]);
        assert_eq!(chat.owner.as_deref(), Some("bob"));
        assert_eq!(chat.admins, vec!["bob".to_string()]);
    }

    #[test]
    fn settings_hide_the_master_secret() {
        let s = JmessageSettings {
            app_key: "k".into(),
            master_secret: Secret::new("very-secret"),
            websocket_url: "ws://x".into(),
            report_url: "http://x".into(),
            backoff: None,
        };
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
