//! The optional abilities of a network login ([`NetworkLogin`]'s `as_*` accessors): each a
//! trait a connector implements when its network has the feature, so the core offers it
//! only there. Re-exported by the parent module, the connector contract.

use async_trait::async_trait;

use super::{
    ChatId, MessageContent, NotifyLevel, RemoteMessage, RemotePresence, SendFailure, SendOptions,
};
#[allow(unused_imports)] // doc links
use super::{NetworkLogin, RemoteEvent, ThreadChange};

/// Threads: side conversations hanging on one message of a group. The network reports
/// threads created elsewhere as [`RemoteEvent::Thread`] and their messages with
/// [`RemoteMessage::thread_root`] set.
#[async_trait]
pub trait ThreadAbility: Send + Sync {
    /// The longest thread name the network takes, in characters.
    fn max_thread_name_chars(&self) -> usize;
    /// Creates a thread named `name` on message `root` of `chat`; returns the thread's
    /// network id. The network reports it back as [`ThreadChange::Created`] too. On networks
    /// with one thread per message, a message that has one already (created elsewhere, or by
    /// an earlier run that crashed before it recorded it) gives that thread's id.
    async fn create_thread(
        &self,
        chat: &ChatId,
        root: &str,
        name: &str,
    ) -> Result<String, SendFailure>;
    /// Sends a message into thread `thread` (an id from [`ThreadAbility::create_thread`] or
    /// [`RemoteEvent::Thread`]) of `chat`, with [`SendOptions`] as
    /// [`NetworkLogin::send_message_with`] takes them: the transaction id goes with the
    /// message, and a replayed send ([`SendOptions::maybe_sent_since_ms`]) is looked up in the
    /// thread's own history first. Returns ids as [`NetworkLogin::send_message`] does.
    async fn send_in_thread(
        &self,
        chat: &ChatId,
        thread: &str,
        content: &MessageContent,
        options: SendOptions<'_>,
    ) -> Result<Vec<String>, SendFailure>;
    /// Edits message `target`, which lives in thread `thread` of `chat` (networks that address
    /// a thread message's edit to the thread, not the group). The core calls it instead of
    /// [`EditAbility::edit_message`] for messages it knows to be in a thread.
    async fn edit_in_thread(
        &self,
        chat: &ChatId,
        thread: &str,
        target: &str,
        content: &MessageContent,
    ) -> Result<(), SendFailure>;
    /// Recalls message `target`, which lives in thread `thread` of `chat`; the core calls it
    /// instead of [`RecallAbility::recall_message`] for messages it knows to be in a thread.
    async fn recall_in_thread(
        &self,
        chat: &ChatId,
        thread: &str,
        target: &str,
    ) -> Result<(), SendFailure>;
}

/// Editing a sent message.
#[async_trait]
pub trait EditAbility: Send + Sync {
    async fn edit_message(
        &self,
        chat: &ChatId,
        target: &str,
        content: &MessageContent,
    ) -> Result<(), SendFailure>;
}

/// Recalling (unsending) a message.
#[async_trait]
pub trait RecallAbility: Send + Sync {
    async fn recall_message(&self, chat: &ChatId, target: &str) -> Result<(), SendFailure>;
}

/// Read receipts.
#[async_trait]
pub trait ReceiptAbility: Send + Sync {
    /// The logged-in user read `chat` up to message `up_to`.
    async fn mark_read(&self, chat: &ChatId, up_to: &str) -> Result<(), SendFailure>;
    /// The logged-in user read the whole conversation (the core calls it when a Matrix read
    /// receipt lands on the room's latest message): networks with a conversation-level read
    /// state (Easemob's channel ack) clear the unread count on every device. Default: nothing
    /// more to do than [`ReceiptAbility::mark_read`].
    async fn mark_chat_read(&self, _chat: &ChatId) -> Result<(), SendFailure> {
        Ok(())
    }
}

/// Typing notifications.
#[async_trait]
pub trait TypingAbility: Send + Sync {
    async fn set_typing(&self, chat: &ChatId, active: bool) -> Result<(), SendFailure>;
}

/// Uploading an attachment before sending it in a message.
#[async_trait]
pub trait MediaAbility: Send + Sync {
    /// Uploads `data` for a message to `chat`; returns what goes into [`RemoteMedia::url`] of
    /// the [`MessageContent::Media`] then given to [`NetworkLogin::send_message`].
    async fn upload_media(
        &self,
        chat: &ChatId,
        data: Vec<u8>,
        name: &str,
        mime: &str,
    ) -> Result<String, SendFailure>;
}

/// Reacting to messages. The network reports reactions back as
/// [`RemoteEvent::Reaction`] / [`RemoteEvent::ReactionRemove`], those of this login too.
#[async_trait]
pub trait ReactionAbility: Send + Sync {
    /// Adds reaction `key` (an emoji) to message `target`. Adding one this login already
    /// added succeeds without a change: the core sends a reaction again when it is replayed
    /// after a crash that may have come before or after the first call.
    async fn react(&self, chat: &ChatId, target: &str, key: &str) -> Result<(), SendFailure>;
    /// Removes this login's reaction `key` from message `target`.
    async fn unreact(&self, chat: &ChatId, target: &str, key: &str) -> Result<(), SendFailure>;
}

/// Reading a chat's past messages.
#[async_trait]
pub trait HistoryAbility: Send + Sync {
    /// The chat's latest messages, at most `limit`, oldest first (what the network keeps).
    async fn history(&self, chat: &ChatId, limit: u32) -> Result<Vec<RemoteMessage>, SendFailure>;
}

/// Managing a group as the logged-in user: what the network allows that user decides (a
/// refusal is a [`SendFailure::Permanent`] whose text says why). The network reports the
/// changes back as [`RemoteEvent::ChatInfoChange`], which the core applies idempotently.
#[async_trait]
pub trait GroupAdminAbility: Send + Sync {
    /// Renames the group.
    async fn set_group_name(&self, chat: &ChatId, name: &str) -> Result<(), SendFailure>;
    /// Sets the group's description (the Matrix topic).
    async fn set_group_description(
        &self,
        chat: &ChatId,
        description: &str,
    ) -> Result<(), SendFailure>;
    /// Adds remote user `user` to the group (success when already a member).
    async fn add_group_member(&self, chat: &ChatId, user: &str) -> Result<(), SendFailure>;
    /// Removes remote user `user` from the group.
    async fn remove_group_member(&self, chat: &ChatId, user: &str) -> Result<(), SendFailure>;
    /// Makes remote user `user` an admin of the group (`admin`) or a plain member again.
    async fn set_group_admin(
        &self,
        _chat: &ChatId,
        _user: &str,
        _admin: bool,
    ) -> Result<(), SendFailure> {
        Err(unsupported("group admins"))
    }
    /// Mutes remote user `user` in the group (`muted`: they may not send) or unmutes them.
    async fn set_group_muted(
        &self,
        _chat: &ChatId,
        _user: &str,
        _muted: bool,
    ) -> Result<(), SendFailure> {
        Err(unsupported("muting group members"))
    }
    /// Bans remote user `user` from the group (`banned`: removed and kept out, with the
    /// network's block list) or lifts the ban.
    async fn set_group_banned(
        &self,
        _chat: &ChatId,
        _user: &str,
        _banned: bool,
    ) -> Result<(), SendFailure> {
        Err(unsupported("banning group members"))
    }
    /// Sets the group's announcement (`""` removes it). The network reports it back as
    /// [`ChatInfoChange::announcement`](crate::core::connector::ChatInfoChange).
    async fn set_group_announcement(&self, _chat: &ChatId, _text: &str) -> Result<(), SendFailure> {
        Err(unsupported("group announcements"))
    }
    /// Creates a group named `name` owned by the logged-in user, with the remote users
    /// `members`; returns the new group's chat.
    async fn create_group(&self, _name: &str, _members: &[String]) -> Result<ChatId, SendFailure> {
        Err(unsupported("creating groups"))
    }
    /// The logged-in user leaves the group.
    async fn leave_group(&self, _chat: &ChatId) -> Result<(), SendFailure> {
        Err(unsupported("leaving groups"))
    }
    /// Answers an invitation into group `chat` ([`RemoteEvent::GroupInvitation`]): `accept`
    /// joins it (the network then reports the membership), otherwise it is declined. No
    /// pending invitation is the network's [`SendFailure::Permanent`] refusal.
    async fn answer_group_invitation(
        &self,
        _chat: &ChatId,
        _accept: bool,
    ) -> Result<(), SendFailure> {
        Err(unsupported("group invitations"))
    }
}

/// The logged-in user's contacts (friends, the roster) and block list. Refusals (no such
/// user, nothing pending) are [`SendFailure::Permanent`] in the network's words.
#[async_trait]
pub trait ContactsAbility: Send + Sync {
    /// Asks remote user `user` to become a contact, with an optional message.
    async fn add_contact(&self, user: &str, message: Option<&str>) -> Result<(), SendFailure>;
    /// Answers `from`'s contact request ([`RemoteEvent::ContactRequest`]).
    async fn answer_contact_request(&self, from: &str, accept: bool) -> Result<(), SendFailure>;
    /// Removes `user` from the contacts (both sides lose the contact).
    async fn remove_contact(&self, user: &str) -> Result<(), SendFailure>;
    /// Blocks (`blocked`) or unblocks `user`: a blocked user's messages do not reach the
    /// logged-in user.
    async fn set_blocked(&self, user: &str, blocked: bool) -> Result<(), SendFailure>;
    /// The users the logged-in user has blocked.
    async fn blocked_users(&self) -> Result<Vec<String>, SendFailure>;
}

/// Presence both ways. The network tells changes of subscribed users as
/// [`RemoteEvent::Presence`].
#[async_trait]
pub trait PresenceAbility: Send + Sync {
    /// Subscribes to the presence of `users` (network ids); returns the current presence of
    /// those the network took, which may be fewer than asked when its subscription limit is
    /// reached (the connector keeps within it). Subscribing again to a user is harmless.
    async fn subscribe_presence(
        &self,
        users: &[String],
    ) -> Result<Vec<(String, RemotePresence)>, SendFailure>;
    /// Publishes the logged-in user's own presence (from their Matrix presence).
    async fn set_presence(&self, presence: &RemotePresence) -> Result<(), SendFailure>;
}

/// An image for [`OwnProfileAbility::set_own_profile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarImage {
    pub data: Vec<u8>,
    /// A file name for the upload (`avatar.png`).
    pub name: String,
    /// MIME type (`image/png`).
    pub mime: String,
}

/// Setting the logged-in user's own profile on the network (Easemob's `updateOwnUserInfo`,
/// Tencent's `setMyProfile`).
#[async_trait]
pub trait OwnProfileAbility: Send + Sync {
    /// Sets the user's display name (`name`) and / or avatar (`avatar`); `None` leaves it as
    /// it is. A refusal (a name too long, say) is [`SendFailure::Permanent`] in the network's
    /// words.
    async fn set_own_profile(
        &self,
        name: Option<&str>,
        avatar: Option<AvatarImage>,
    ) -> Result<(), SendFailure>;
}

/// The logged-in user's per-chat notification settings (do-not-disturb) as the network
/// keeps them for all their devices. Read by polling; a network that pushes a change made
/// on another device also sends [`RemoteEvent::NotifyChange`](super::RemoteEvent::NotifyChange).
#[async_trait]
pub trait NotifyAbility: Send + Sync {
    /// The most chats one [`NotifyAbility::notify_levels`] call takes.
    fn max_chats_per_read(&self) -> usize {
        100
    }
    /// Whether the network keeps [`NotifyLevel::MentionsOnly`] as a setting of its own for
    /// `chat`. Where the setting is only on or off (`false`), the network is told "mentions
    /// only" as [`NotifyLevel::Muted`], its nearest, and the core compares a Matrix room set
    /// to mentions only as muted, so the room keeps the user's choice instead of being turned
    /// to muted at the next comparison.
    fn supports_mentions_only(&self, chat: &ChatId) -> bool {
        let _ = chat;
        true
    }
    /// The settings of `chats` (at most [`NotifyAbility::max_chats_per_read`]), in any order;
    /// a chat the network does not answer for is left out, and the core then leaves its
    /// room's setting alone.
    async fn notify_levels(
        &self,
        chats: &[ChatId],
    ) -> Result<Vec<(ChatId, NotifyLevel)>, SendFailure>;
    /// Sets the setting of `chat`.
    async fn set_notify_level(&self, chat: &ChatId, level: NotifyLevel) -> Result<(), SendFailure>;
    /// The account-wide setting (for every chat without one of its own).
    async fn global_notify_level(&self) -> Result<NotifyLevel, SendFailure>;
    /// Sets the account-wide setting.
    async fn set_global_notify_level(&self, level: NotifyLevel) -> Result<(), SendFailure>;
}

/// Channels: public, high-traffic rooms (chat rooms, live rooms) anyone joins and leaves at
/// will, without a member list the user keeps. Their messages are [`RemoteMessage`]s with a
/// [`ChatKind::Channel`](super::ChatKind::Channel) chat. Membership is the connection's: the
/// network may drop it when the connection ends (Easemob does), so the core joins the
/// user's remembered channels again after every (re)connection; joining a channel the login
/// is already in must therefore succeed. Networks keep no offline messages of a channel for
/// members who were away: what was said meanwhile is not caught up.
#[async_trait]
pub trait ChannelAbility: Send + Sync {
    /// Joins channel `id` (the network's room id); returns the channel's chat. A channel
    /// that does not exist, or a refusal, is a [`SendFailure::Permanent`] in the network's
    /// words.
    async fn join_channel(&self, id: &str) -> Result<ChatId, SendFailure>;
    /// Leaves channel `chat`; the network stops sending its messages to this login.
    async fn leave_channel(&self, chat: &ChatId) -> Result<(), SendFailure>;
}

/// The refusal of a group action this network does not offer.
fn unsupported(what: &str) -> SendFailure {
    SendFailure::Permanent(format!("the IM service does not support {what} from here"))
}
