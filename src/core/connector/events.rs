//! Everything that comes from the network for one login: the [`RemoteEvent`] enum and the
//! types its variants carry (reaction lists, presence, contact updates, notify levels,
//! partial chat info), and the channel a connector sends them through.

use serde::{Deserialize, Serialize};

use super::{
    ChatId, Checkpoint, LoginState, MessageContent, RemoteMessage, ThreadChange, UserProfile,
};
/// Where a connector sends one login's [`RemoteEvent`]s (boxed in the channel, so an idle
/// login's channel stays small; see [`super::event_channel`]).
pub type RemoteEventSender = crate::core::event_channel::BoxedSender<RemoteEvent>;
/// The core's end of a login's [`RemoteEvent`] stream.
pub type RemoteEventReceiver = crate::core::event_channel::BoxedReceiver<RemoteEvent>;

/// One reaction key of a [`RemoteEvent::ReactionSync`] and who reacted with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionUsers {
    /// The reaction (an emoji, or the network's own reaction id).
    pub key: String,
    /// The remote users who reacted with it (may be empty: nobody any more).
    pub senders: Vec<String>,
    /// `senders` is everyone (networks may list only the first few of a popular reaction).
    pub complete: bool,
}

/// Everything that can come from the network, for one login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RemoteEvent {
    Message(RemoteMessage),
    /// `target`'s content is now `content`.
    Edit {
        chat: ChatId,
        sender: String,
        target: String,
        content: MessageContent,
        timestamp_ms: u64,
        /// The message's edit count with this edit (1 for the first), for networks that
        /// number edits ([`RemoteMessage::edit_count`]): an edit the core has bridged already
        /// (its count at or below the one stored with the message, as when a catch-up reads
        /// an edited message again) is dropped. `None`: always bridged, and the stored count
        /// grows by one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edit_count: Option<u64>,
    },
    /// A recall / delete of a message.
    Remove {
        chat: ChatId,
        sender: String,
        target: String,
    },
    Reaction {
        chat: ChatId,
        sender: String,
        target: String,
        key: String,
    },
    ReactionRemove {
        chat: ChatId,
        sender: String,
        target: String,
        key: String,
    },
    /// Who reacted to `target`, per reaction key: for networks that report a message's
    /// reaction summary rather than single additions and removals (mautrix bridgev2's
    /// `RemoteReactionSync`). The core compares each listed key with the reactions it bridged
    /// on that message: a listed sender's missing reaction is added; when the entry is
    /// `complete`, a bridged reaction with that key by a sender not listed is removed. Keys not
    /// listed are left as they are, unless `all_keys`.
    ReactionSync {
        chat: ChatId,
        target: String,
        reactions: Vec<ReactionUsers>,
        /// `reactions` lists every key the message has (a full read of its reactions, as
        /// after a reconnect): a bridged reaction whose key is not listed is removed too.
        /// False for networks that report only what changed.
        #[serde(default)]
        all_keys: bool,
    },
    /// `sender` read the chat up to `up_to` (everything when `None`).
    ReadReceipt {
        chat: ChatId,
        sender: String,
        up_to: Option<String>,
    },
    DeliveryReceipt {
        chat: ChatId,
        sender: String,
        target: String,
    },
    Typing {
        chat: ChatId,
        sender: String,
        active: bool,
    },
    /// Name, topic, avatar or membership changed; `None` fields are unchanged.
    ChatInfoChange {
        chat: ChatId,
        sender: Option<String>,
        /// Boxed: it is the largest change, and rare next to messages.
        change: Box<ChatInfoChange>,
    },
    /// The chat is gone (group destroyed, user removed from it).
    ChatDelete {
        chat: ChatId,
    },
    /// The chat's newest message on the network is `latest` (mautrix bridgev2's `ChatResync`
    /// with its latest message), sent after a connection's catch-up by networks whose
    /// offline delivery can miss messages: Tencent hands a one-to-one offline message to
    /// the first instance of the account that syncs, so what the user's phone took while
    /// the bridge was away never reaches it. When the chat has a portal and `latest` was not
    /// bridged, the core reads the chat's newest messages (at most
    /// `bridge.max_catchup_messages`, [`super::HistoryAbility`]) and bridges, oldest first,
    /// those after the last one it had; a chat without a portal is left alone (its next
    /// message opens it, with its history).
    ChatResync {
        chat: ChatId,
        latest: String,
    },
    /// `inviter` invites the logged-in user into group `chat`, and the network waits for the
    /// user to accept ([`GroupAdminAbility::answer_group_invitation`]) before they join.
    GroupInvitation {
        chat: ChatId,
        inviter: String,
        /// The inviter's words, when any.
        #[serde(default)]
        reason: Option<String>,
    },
    /// `from` asks the logged-in user to become contacts; the user answers with
    /// [`ContactsAbility::answer_contact_request`].
    ContactRequest {
        from: String,
        /// The requester's words, when any.
        #[serde(default)]
        reason: Option<String>,
    },
    /// The logged-in user's contact list changed on the network's side (`user` answered the
    /// user's request, or removed them).
    ContactUpdate {
        user: String,
        update: ContactUpdate,
    },
    /// A user's presence changed (or was read when subscribing). Ephemeral: never stored.
    Presence {
        user: String,
        presence: RemotePresence,
    },
    /// A thread of the chat was created, renamed or deleted. `root` is the network id of the
    /// message the thread hangs on, `thread` the network's id of the thread itself (what
    /// [`ThreadAbility::send_in_thread`] takes).
    Thread {
        chat: ChatId,
        sender: Option<String>,
        root: String,
        thread: String,
        change: ThreadChange,
    },
    /// The logged-in user changed `chat`'s do-not-disturb setting on another device, for
    /// networks that push it (the change is otherwise read by polling,
    /// [`super::NotifyAbility`]). The core carries it to the room's push rules at once, as
    /// a change on the network side, when the user has double puppeting and settings sync
    /// is on. Never stored: the next comparison reads the setting again anyway.
    NotifyChange {
        chat: ChatId,
        level: NotifyLevel,
    },
    /// A user's profile changed.
    ProfileChange {
        user: String,
        profile: UserProfile,
    },
    /// The login's connection state changed.
    State(LoginState),
    /// Offline sync (catch-up) finished: everything missed while away has been delivered.
    CatchUpDone,
    /// Everything sent before this is one batch the connector will acknowledge to the server
    /// once the core has stored it: the core calls [`Checkpoint::done`] when it has. Never
    /// stored itself.
    #[serde(skip)]
    Checkpoint(Checkpoint),
}

/// Whether someone is there, in Matrix's three states (`m.presence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Online,
    /// Connected but away (Matrix `unavailable`).
    Unavailable,
    Offline,
}

impl PresenceState {
    /// The Matrix spelling (`online`, `unavailable`, `offline`).
    pub fn as_matrix(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Unavailable => "unavailable",
            Self::Offline => "offline",
        }
    }

    /// From the Matrix spelling; `None` for anything else.
    pub fn from_matrix(s: &str) -> Option<Self> {
        match s {
            "online" => Some(Self::Online),
            "unavailable" => Some(Self::Unavailable),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// A user's presence on either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemotePresence {
    pub state: PresenceState,
    /// A custom status text, when set.
    #[serde(default)]
    pub status_msg: Option<String>,
}

/// What happened to one contact of the logged-in user ([`RemoteEvent::ContactUpdate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactUpdate {
    /// They accepted the user's contact request: they are contacts now.
    Accepted,
    /// They declined the user's contact request.
    Declined,
    /// They removed the user from their contacts (both sides lose the contact).
    Removed,
}

/// How the logged-in user is notified of a chat's messages (their do-not-disturb setting
/// for it): Matrix clients' "All messages" / "Mentions & keywords" / "Mute", the Easemob
/// SDK's remind types `ALL` / `AT` / `NONE` (`DEFAULT` counts as `All`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    All,
    MentionsOnly,
    Muted,
}

/// A partial update of a chat's info.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatInfoChange {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar_url: Option<String>,
    pub members_added: Vec<String>,
    pub members_removed: Vec<String>,
    pub admins_added: Vec<String>,
    pub admins_removed: Vec<String>,
    /// Members muted in the group (they may not send until unmuted).
    #[serde(default)]
    pub muted_added: Vec<String>,
    /// Members no longer muted.
    #[serde(default)]
    pub muted_removed: Vec<String>,
    /// The group was handed to this member: the new owner (the old one keeps only what the
    /// network says of them elsewhere; on most networks a plain member).
    #[serde(default)]
    pub owner: Option<String>,
    /// The group's announcement (a notice pinned for every member) changed: the new text,
    /// `""` when it was removed.
    #[serde(default)]
    pub announcement: Option<String>,
    /// Members banned: removed and kept out of the group until unbanned (the sender banned
    /// them; `reason` says why when the network tells).
    #[serde(default)]
    pub members_banned: Vec<String>,
    /// Members no longer banned (they may join again; they are not members yet).
    #[serde(default)]
    pub members_unbanned: Vec<String>,
    /// The network's words on why `members_removed` / `members_banned` were removed, when
    /// it gave some (the sender is then whoever removed them).
    #[serde(default)]
    pub reason: Option<String>,
}
