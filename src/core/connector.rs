//! The contract between the bridge core and a network connector (the mautrix bridgev2 shape):
//! a small required part ([`NetworkConnector`] to log in, [`NetworkLogin`] to send and
//! receive), optional abilities as separate traits reached through `as_*` accessors (in
//! [`abilities`], re-exported here), one
//! [`RemoteEvent`] enum for everything that comes from the network, and [`Capabilities`]
//! each connector publishes. Nothing here names a network.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use super::checkpoint::{Checkpoint, CheckpointWait};
pub use super::login_flow::{
    LoginDisplay, LoginFlow, LoginInput, LoginInputField, LoginInputFieldType, LoginProcess,
    LoginStep,
};

mod abilities;
pub use abilities::{
    AvatarImage, ChannelAbility, ContactsAbility, EditAbility, GroupAdminAbility, HistoryAbility,
    MediaAbility, NotifyAbility, OwnProfileAbility, PresenceAbility, ReactionAbility,
    RecallAbility, ReceiptAbility, ThreadAbility, TypingAbility,
};

/// What kind of conversation a chat is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    /// One-to-one.
    Direct,
    /// A group with a member list.
    Group,
    /// A channel / chat room people join and leave freely.
    Channel,
}

/// A remote conversation, as the network identifies it. For direct chats `id` is the other
/// user's id (the chat is the same for every login that talks to that user, seen from each side).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatId {
    pub kind: ChatKind,
    pub id: String,
}

impl ChatId {
    pub fn direct(id: impl Into<String>) -> Self {
        Self {
            kind: ChatKind::Direct,
            id: id.into(),
        }
    }
    pub fn group(id: impl Into<String>) -> Self {
        Self {
            kind: ChatKind::Group,
            id: id.into(),
        }
    }
    /// A channel (chat room) the user joins and leaves at will.
    pub fn channel(id: impl Into<String>) -> Self {
        Self {
            kind: ChatKind::Channel,
            id: id.into(),
        }
    }
}

/// Kind of a media attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    File,
}

/// A media attachment on the remote side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteMedia {
    pub kind: MediaKind,
    /// Where the connector can fetch it (opaque to the core).
    pub url: String,
    pub name: String,
    pub mime: Option<String>,
    pub size: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// A still image standing for the attachment (a video's snapshot): Matrix
    /// `info.thumbnail_url` / `thumbnail_info` both ways. From the network, the core fetches
    /// it as it fetches the attachment (an [`MediaKind::Image`] download of its URL); from
    /// Matrix, a video's thumbnail is uploaded through [`MediaAbility::upload_media`] and its
    /// URL given here. A thumbnail that cannot be fetched or uploaded is left out, never the
    /// attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<RemoteThumbnail>,
}

/// The thumbnail of a [`RemoteMedia`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteThumbnail {
    /// Where the connector can fetch it, or what [`MediaAbility::upload_media`] returned.
    pub url: String,
    pub mime: Option<String>,
    /// Bytes.
    pub size: Option<u64>,
    /// Pixels.
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl RemoteThumbnail {
    /// The thumbnail as an image attachment, for [`NetworkLogin::download`].
    pub fn as_media(&self) -> RemoteMedia {
        RemoteMedia {
            kind: MediaKind::Image,
            url: self.url.clone(),
            name: "thumbnail".into(),
            mime: self.mime.clone(),
            size: self.size,
            width: self.width,
            height: self.height,
            duration_ms: None,
            thumbnail: None,
        }
    }
}

/// What a message carries, in a network-neutral form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    /// Text; `html` when it has formatting. Mentions are given as remote user ids.
    Text {
        body: String,
        html: Option<String>,
        /// Remote ids of the users mentioned.
        mentions: Vec<String>,
        /// The whole chat is mentioned (`@all`, Matrix `@room`).
        #[serde(default)]
        mentions_room: bool,
    },
    /// An emote (`/me`).
    Emote { body: String },
    /// An attachment with an optional caption.
    Media {
        media: RemoteMedia,
        caption: Option<String>,
    },
    /// A location.
    Location {
        latitude: f64,
        longitude: f64,
        description: String,
    },
    /// Something this bridge cannot show yet; `description` says what, in words.
    Unsupported { description: String },
    /// A short notice about the sender that is not a message they typed (a like or a gift in
    /// a live room, a stream that stopped): bridged as an `m.notice` from the sender.
    Notice { body: String },
}

impl MessageContent {
    /// Plain text.
    pub fn text(body: impl Into<String>) -> Self {
        Self::Text {
            body: body.into(),
            html: None,
            mentions: Vec::new(),
            mentions_room: false,
        }
    }
}

/// A message from the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteMessage {
    /// The network's message id (unique within the network).
    pub id: String,
    pub chat: ChatId,
    pub sender: String,
    /// Sent by the logged-in user themselves (from another device, or the echo of ours).
    pub from_self: bool,
    pub timestamp_ms: u64,
    pub content: MessageContent,
    /// The message this one replies to.
    pub reply_to: Option<String>,
    /// The thread it belongs to, as the network id of the thread's root (parent) message;
    /// `None` for messages of the main timeline (Matrix `m.thread` rooted at that message).
    #[serde(default)]
    pub thread_root: Option<String>,
    /// May be dropped unbridged when its channel portal is busy (a live room's like): the
    /// network marks what a high-traffic channel can lose. Unmarked messages are never
    /// dropped; in chats that are not channels the flag has no effect.
    #[serde(default)]
    pub droppable: bool,
    /// Fields added as they are to the Matrix event's content (mautrix's
    /// `ConvertedMessagePart.Extra`): what the network's message carries that Matrix has no
    /// field for (JMessage `extras`), under keys the connector names in the Java-package style
    /// (`net.imbridge.…`). A key the core sets itself or of the Matrix namespace (`m.…`) is
    /// not taken ([`crate::core::convert::merge_extra`]).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// How many edits `content` already includes (mautrix's `Message.EditCount`), for
    /// networks that number a message's edits (Tencent's `MsgVersion`): a message read again
    /// after it was edited comes with its latest content and count. The core keeps the count
    /// with the message, so a [`RemoteEvent::Edit`] whose `edit_count` is not above it is
    /// known to be in Matrix already and is not bridged. 0 for an unedited message and for
    /// networks that do not number edits.
    #[serde(default)]
    pub edit_count: u64,
    /// Another id the network's clients name this message by, when it has one besides `id`
    /// (Tencent's SDK message `ID`, which the TUIKit's reply quotes carry, next to the
    /// `MsgKey` the server's operations use). The core keeps it with the message, so a later
    /// `reply_to` naming the message by it resolves, also after a restart, and a [`ReplyTo`]
    /// to the message carries it ([`ReplyTo::alt_id`]). `None` for most networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_id: Option<String>,
}

/// What happened to a thread (a side conversation rooted at one message of a group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ThreadChange {
    /// The thread was created, with its name when it has one.
    Created { name: Option<String> },
    /// The thread was renamed.
    Renamed { name: String },
    /// The thread was deleted (its messages are gone on the network).
    Deleted,
}

/// Connection state of one login, as shown to its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoginState {
    Connecting,
    Connected,
    TransientDisconnect { reason: String },
    BadCredentials { reason: String },
    LoggedOut { reason: String },
    UnknownError { reason: String },
}

/// The state in words for its user (`ping`, `list-logins`): `connected`, `disconnected for
/// now (<reason>)`, …
impl std::fmt::Display for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Connected => f.write_str("connected"),
            Self::TransientDisconnect { reason } => {
                write!(f, "disconnected for now, reconnecting ({reason})")
            }
            Self::BadCredentials { reason } => write!(f, "bad credentials ({reason})"),
            Self::LoggedOut { reason } => write!(f, "logged out ({reason})"),
            Self::UnknownError { reason } => write!(f, "error ({reason})"),
        }
    }
}

impl LoginState {
    /// Every state's [`LoginState::kind`], in declaration order.
    pub const KINDS: [&'static str; 6] = [
        "connecting",
        "connected",
        "transient_disconnect",
        "bad_credentials",
        "logged_out",
        "unknown_error",
    ];

    /// The state without its reason, as a short name (metrics label, stored last-told state).
    pub fn kind(&self) -> &'static str {
        let i = match self {
            Self::Connecting => 0,
            Self::Connected => 1,
            Self::TransientDisconnect { .. } => 2,
            Self::BadCredentials { .. } => 3,
            Self::LoggedOut { .. } => 4,
            Self::UnknownError { .. } => 5,
        };
        Self::KINDS[i]
    }
}

mod events;
mod sending;
pub use events::{
    ChatInfoChange, ContactUpdate, NotifyLevel, PresenceState, ReactionUsers, RemoteEvent,
    RemoteEventReceiver, RemoteEventSender, RemotePresence,
};
pub use sending::{QuotedKind, ReplyTo, SendOptions};

/// Full info of a chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatInfo {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar_url: Option<String>,
    pub members: Vec<String>,
    pub admins: Vec<String>,
    pub owner: Option<String>,
    /// Members muted in the group (empty when the network has no mutes or did not tell).
    #[serde(default)]
    pub muted: Vec<String>,
    /// The chat is a space: it holds other chats (its children name it as `parent`) and
    /// carries no messages of its own. Its room is a Matrix space (`m.space` room type), as
    /// mautrix bridgev2's `RoomTypeSpace`.
    #[serde(default)]
    pub is_space: bool,
    /// The space chat this chat belongs to, if any: its room is an `m.space.child` of the
    /// space's room and names it in `m.space.parent` (mautrix bridgev2's `ChatInfo.ParentID`).
    #[serde(default)]
    pub parent: Option<ChatId>,
}

/// One user found by [`NetworkLogin::search_users`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSearchResult {
    /// The remote user id.
    pub id: String,
    pub profile: UserProfile,
}

/// A user's public profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    pub name: Option<String>,
    pub avatar_url: Option<String>,
}

/// What a connector can do, published so the core (and clients) know what to offer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    pub formatted_text: bool,
    pub media: bool,
    pub max_media_bytes: u64,
    pub edits: bool,
    /// Edits allowed this long after sending (0 = no limit).
    pub edit_window_secs: u64,
    pub recall: bool,
    pub recall_window_secs: u64,
    pub reactions: bool,
    pub read_receipts: bool,
    pub delivery_receipts: bool,
    pub typing: bool,
    pub group_management: bool,
    /// The longest text one message may carry, in UTF-8 bytes (0: no limit). Longer Matrix
    /// texts are split into several messages at paragraph, line or word breaks.
    #[serde(default)]
    pub max_text_bytes: usize,
    /// Threads (side conversations on one message of a group): messages may carry
    /// [`RemoteMessage::thread_root`], the network reports [`RemoteEvent::Thread`] and logins
    /// offer [`ThreadAbility`].
    #[serde(default)]
    pub threads: bool,
    /// Channels (public chat rooms joined with `join-chatroom`): logins offer
    /// [`ChannelAbility`] and chats may be [`ChatKind::Channel`].
    #[serde(default)]
    pub channels: bool,
    /// The network has chats holding chats ([`ChatInfo::is_space`], [`ChatInfo::parent`]),
    /// bridged as Matrix spaces with the children as rooms in them.
    #[serde(default)]
    pub spaces: bool,
}

/// Why logging in failed, in words for the user. The words are the flow's: a password flow
/// says "wrong user name or password", a token flow "the token is invalid or expired: get a
/// new one".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginFailure {
    /// The credentials were refused (wrong, expired, revoked); the text says which and what to
    /// send instead.
    #[error("{0}")]
    BadCredentials(String),
    /// Refused for another reason (the text says why).
    #[error("{0}")]
    Refused(String),
    #[error("the IM service cannot be reached: {0}")]
    Unreachable(String),
}

/// Why sending failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// Worth retrying later (timeout, disconnected).
    #[error("temporary failure: {0}")]
    Retriable(String),
    /// Will not work (refused, unsupported).
    #[error("{0}")]
    Permanent(String),
}

/// What a login stores to resume after a restart. `secrets` are kept in the store only.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginData {
    pub remote_id: String,
    pub secrets: serde_json::Value,
}

impl std::fmt::Debug for LoginData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginData")
            .field("remote_id", &self.remote_id)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// A network: logs users in.
#[async_trait]
pub trait NetworkConnector: Send + Sync + 'static {
    /// Short name for logs and `version` (`"easemob"`).
    fn name(&self) -> &'static str;
    /// What this network supports.
    fn capabilities(&self) -> Capabilities;
    /// The ways of logging in, the default one first (used by `login <user> …` without a
    /// flow id). Never empty.
    fn login_flows(&self) -> Vec<LoginFlow>;
    /// A new login process for the flow `flow_id` (one of [`NetworkConnector::login_flows`]);
    /// [`LoginFailure::Refused`] for an unknown id.
    fn create_login(&self, flow_id: &str) -> Result<Box<dyn LoginProcess>, LoginFailure>;
    /// A new login process for `flow_id`, started by Matrix user `matrix_user`
    /// (`@alice:example.org`), whom the login will belong to: for flows whose right to log in
    /// depends on who asks (a bridge that signs credentials itself for users whose Matrix id
    /// maps onto the network id). Default: [`NetworkConnector::create_login`].
    fn create_login_for(
        &self,
        flow_id: &str,
        matrix_user: &str,
    ) -> Result<Box<dyn LoginProcess>, LoginFailure> {
        let _ = matrix_user;
        self.create_login(flow_id)
    }
    /// Starts (or resumes) a session; its events go to `events`, in order.
    async fn connect(
        &self,
        data: &LoginData,
        events: RemoteEventSender,
    ) -> Result<Box<dyn NetworkLogin>, LoginFailure>;
    /// Creating accounts (`register`), when the network and the app allow it.
    fn as_registration(&self) -> Option<&dyn super::registration::RegistrationAbility> {
        None
    }
}

/// One logged-in user's session on the network.
#[async_trait]
pub trait NetworkLogin: Send + Sync {
    /// The remote user id of this login.
    fn remote_id(&self) -> &str;
    /// Sends a message; returns the network's ids for what it became: the main message first,
    /// then any extra message it took (a caption sent apart from its attachment, say), so the
    /// core maps every one of them and does not take their echoes for new messages. Never
    /// empty on success. Texts longer than [`Capabilities::max_text_bytes`] are split by the
    /// core before this is called.
    async fn send_message(
        &self,
        chat: &ChatId,
        content: &MessageContent,
        reply_to: Option<&ReplyTo>,
    ) -> Result<Vec<String>, SendFailure>;
    /// Sends a message with [`SendOptions`]: [`NetworkLogin::send_message`] plus a
    /// transaction id, and a look-up of what was sent before when the message may have gone
    /// out already (see [`SendOptions::maybe_sent_since_ms`]). Returns what
    /// [`NetworkLogin::send_message`] returns; the ids of messages found instead of sent
    /// count as sent. Default: [`NetworkLogin::send_message`], ignoring the key (delivery
    /// at least once).
    async fn send_message_with(
        &self,
        chat: &ChatId,
        content: &MessageContent,
        options: SendOptions<'_>,
    ) -> Result<Vec<String>, SendFailure> {
        self.send_message(chat, content, options.reply_to).await
    }
    /// The other id ([`RemoteMessage::alt_id`]) of message `id`, which this login has just
    /// sent to `chat`, when the network has one: the core asks right after a send and keeps
    /// it with the message. Default: `None`.
    fn sent_alt_id(&self, chat: &ChatId, id: &str) -> Option<String> {
        let _ = (chat, id);
        None
    }
    /// Info of one chat.
    async fn chat_info(&self, chat: &ChatId) -> Result<ChatInfo, SendFailure>;
    /// A user's profile.
    async fn user_profile(&self, user: &str) -> Result<UserProfile, SendFailure>;
    /// The id the network's events use for the user a Matrix user typed as `user` (mautrix's
    /// `ResolveIdentifier` answers with it too), so a command or an invite naming them another
    /// way opens the same chat and ghost. Default: `user` unchanged.
    fn canonical_user_id(&self, user: &str) -> String {
        user.to_owned()
    }
    /// Looks a user up: `Ok(None)` when the network has no such user. Default: their profile
    /// (for networks that cannot tell).
    async fn resolve_user(&self, user: &str) -> Result<Option<UserProfile>, SendFailure> {
        self.user_profile(user).await.map(Some)
    }
    /// Users matching `query` (mautrix's `search`), best first, at most `limit`: the network's
    /// user search where it has one. Default: the user whose id is exactly `query`, if any.
    async fn search_users(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<Vec<UserSearchResult>, SendFailure> {
        let _ = limit;
        Ok(self
            .resolve_user(query)
            .await?
            .map(|profile| UserSearchResult {
                id: query.to_owned(),
                profile,
            })
            .into_iter()
            .collect())
    }
    /// The chats to create portals for (`sync`): recent conversations first, newest first,
    /// then contacts and joined groups; bounded by the connector.
    async fn list_chats(&self) -> Result<Vec<ChatId>, SendFailure>;
    /// Fetches a media attachment's bytes (bounded by `max_bytes`).
    async fn download(&self, media: &RemoteMedia, max_bytes: u64) -> Result<Vec<u8>, SendFailure>;
    /// Ends the session for real: the connection closes, nothing more is received or sent,
    /// and the event stream handed to [`NetworkConnector::connect`] ends (after what was
    /// already received). With `forget` the network is also told to log out (the `logout`
    /// command); without, the server keeps what it holds for the next login (restart, login
    /// replaced).
    async fn disconnect(&self, forget: bool);

    /// Edits, when supported.
    fn as_edit(&self) -> Option<&dyn EditAbility> {
        None
    }
    /// Recall (the remote side of a redaction), when supported.
    fn as_recall(&self) -> Option<&dyn RecallAbility> {
        None
    }
    /// Read receipts, when supported.
    fn as_receipts(&self) -> Option<&dyn ReceiptAbility> {
        None
    }
    /// Typing notifications, when supported.
    fn as_typing(&self) -> Option<&dyn TypingAbility> {
        None
    }
    /// Uploading attachments (Matrix media to the network), when supported.
    fn as_media(&self) -> Option<&dyn MediaAbility> {
        None
    }
    /// Reactions, when supported.
    fn as_reactions(&self) -> Option<&dyn ReactionAbility> {
        None
    }
    /// Past messages of a chat (backfill of new portals), when supported.
    fn as_history(&self) -> Option<&dyn HistoryAbility> {
        None
    }
    /// Managing groups (name, description, members) as this login, when supported.
    fn as_group_admin(&self) -> Option<&dyn GroupAdminAbility> {
        None
    }
    /// The user's contacts (friends) and block list, when the network has them.
    fn as_contacts(&self) -> Option<&dyn ContactsAbility> {
        None
    }
    /// Presence both ways, when the network has it.
    fn as_presence(&self) -> Option<&dyn PresenceAbility> {
        None
    }
    /// Threads (creating one on a message, sending into it), when supported.
    fn as_threads(&self) -> Option<&dyn ThreadAbility> {
        None
    }
    /// Setting the user's own name and avatar on the network, when supported.
    fn as_own_profile(&self) -> Option<&dyn OwnProfileAbility> {
        None
    }
    /// Per-chat do-not-disturb settings, when the network keeps them.
    fn as_notify(&self) -> Option<&dyn NotifyAbility> {
        None
    }
    /// Joining and leaving channels (public chat rooms), when the network has them.
    fn as_channels(&self) -> Option<&dyn ChannelAbility> {
        None
    }
}
