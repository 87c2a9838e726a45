//! What the appservice listener hands the core: [`MatrixEvent`], parsed from a transaction,
//! and the [`MatrixEventSink`] it is put into.

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

/// An event from the homeserver that the core acts on (parsed from a transaction). Its
/// `Debug` leaves message content out: a management-room message may carry a password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatrixEvent {
    /// `m.room.message` (also `m.sticker`); `content` is the raw event content.
    Message {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        content: serde_json::Value,
        origin_server_ts: u64,
    },
    /// `m.room.redaction`.
    Redaction {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        redacts: OwnedEventId,
    },
    /// `m.reaction`.
    Reaction {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        target: OwnedEventId,
        key: String,
    },
    /// `m.room.member` change.
    Membership {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        target: OwnedUserId,
        membership: String,
        is_direct: bool,
    },
    /// A read receipt (`m.receipt`, `m.read`).
    Receipt {
        room: OwnedRoomId,
        user: OwnedUserId,
        event_id: OwnedEventId,
    },
    /// Typing users in a room (`m.typing`).
    Typing {
        room: OwnedRoomId,
        users: Vec<OwnedUserId>,
    },
    /// A user's presence (`m.presence`, `presence` in Matrix's spelling).
    Presence {
        user: OwnedUserId,
        presence: String,
        #[serde(default)]
        status_msg: Option<String>,
    },
    /// `m.room.tombstone`: the room was upgraded and continues as `replacement_room`.
    Tombstone {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        replacement_room: OwnedRoomId,
    },
    /// `m.room.name` (`name` set) or `m.room.topic` (`topic` set) state event; an empty
    /// string clears it.
    RoomMeta {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        name: Option<String>,
        topic: Option<String>,
    },
    /// `m.room.power_levels` state event: its content and, when the homeserver gave it
    /// (`unsigned.prev_content`), the content it replaced.
    PowerLevels {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        content: serde_json::Value,
        #[serde(default)]
        prev_content: Option<serde_json::Value>,
    },
    /// `m.room.pinned_events` state event: its content (`pinned`: event ids) and, when the
    /// homeserver gave it (`unsigned.prev_content`), the content it replaced.
    PinnedEvents {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        content: serde_json::Value,
        #[serde(default)]
        prev_content: Option<serde_json::Value>,
    },
    /// Something the bridge cannot read because the room is end-to-end encrypted: an
    /// `m.room.encrypted` event, or the `m.room.encryption` state event turning it on.
    Encrypted {
        room: OwnedRoomId,
        sender: OwnedUserId,
        event_id: OwnedEventId,
        /// The `m.room.encryption` state event (not a message the sender meant to deliver).
        #[serde(default)]
        turned_on: bool,
    },
}

impl MatrixEvent {
    /// The event id of a timeline event (`None` for receipts and typing, which have none).
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Self::Message { event_id, .. }
            | Self::Redaction { event_id, .. }
            | Self::Reaction { event_id, .. }
            | Self::Membership { event_id, .. }
            | Self::Tombstone { event_id, .. }
            | Self::RoomMeta { event_id, .. }
            | Self::PowerLevels { event_id, .. }
            | Self::PinnedEvents { event_id, .. }
            | Self::Encrypted { event_id, .. } => Some(event_id.as_str()),
            Self::Receipt { .. } | Self::Typing { .. } | Self::Presence { .. } => None,
        }
    }

    /// Who the event is from: the sender, the user of a receipt; `None` for typing (an
    /// ephemeral event about several users).
    pub fn sender(&self) -> Option<&UserId> {
        match self {
            Self::Message { sender, .. }
            | Self::Redaction { sender, .. }
            | Self::Reaction { sender, .. }
            | Self::Membership { sender, .. }
            | Self::Tombstone { sender, .. }
            | Self::RoomMeta { sender, .. }
            | Self::PowerLevels { sender, .. }
            | Self::PinnedEvents { sender, .. }
            | Self::Encrypted { sender, .. } => Some(sender),
            Self::Receipt { user, .. } | Self::Presence { user, .. } => Some(user),
            Self::Typing { .. } => None,
        }
    }
}

impl std::fmt::Debug for MatrixEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Message {
                room,
                sender,
                event_id,
                content,
                origin_server_ts,
            } => f
                .debug_struct("Message")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("msgtype", &content["msgtype"].as_str().unwrap_or("?"))
                .field("content", &"<not logged>")
                .field("origin_server_ts", origin_server_ts)
                .finish(),
            Self::Redaction {
                room,
                sender,
                event_id,
                redacts,
            } => f
                .debug_struct("Redaction")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("redacts", redacts)
                .finish(),
            Self::Reaction {
                room,
                sender,
                event_id,
                target,
                key,
            } => f
                .debug_struct("Reaction")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("target", target)
                .field("key", key)
                .finish(),
            Self::Membership {
                room,
                sender,
                event_id,
                target,
                membership,
                is_direct,
            } => f
                .debug_struct("Membership")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("target", target)
                .field("membership", membership)
                .field("is_direct", is_direct)
                .finish(),
            Self::Receipt {
                room,
                user,
                event_id,
            } => f
                .debug_struct("Receipt")
                .field("room", room)
                .field("user", user)
                .field("event_id", event_id)
                .finish(),
            Self::Typing { room, users } => f
                .debug_struct("Typing")
                .field("room", room)
                .field("users", users)
                .finish(),
            Self::Presence { user, presence, .. } => f
                .debug_struct("Presence")
                .field("user", user)
                .field("presence", presence)
                .field("status_msg", &"<not logged>")
                .finish(),
            Self::RoomMeta {
                room,
                sender,
                event_id,
                name,
                topic,
            } => f
                .debug_struct("RoomMeta")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("name", name)
                .field("topic", topic)
                .finish(),
            Self::PinnedEvents {
                room,
                sender,
                event_id,
                content,
                prev_content,
            } => f
                .debug_struct("PinnedEvents")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("content", content)
                .field("prev_content", prev_content)
                .finish(),
            Self::PowerLevels {
                room,
                sender,
                event_id,
                content,
                prev_content,
            } => f
                .debug_struct("PowerLevels")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("users", &content["users"])
                .field("had_prev", &prev_content.is_some())
                .finish(),
            Self::Tombstone {
                room,
                sender,
                event_id,
                replacement_room,
            } => f
                .debug_struct("Tombstone")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("replacement_room", replacement_room)
                .finish(),
            Self::Encrypted {
                room,
                sender,
                event_id,
                turned_on,
            } => f
                .debug_struct("Encrypted")
                .field("room", room)
                .field("sender", sender)
                .field("event_id", event_id)
                .field("turned_on", turned_on)
                .finish(),
        }
    }
}

/// Where the appservice listener puts parsed events. `enqueue` returns once the events are
/// durably queued (they will be processed even if the bridge restarts now); it must not wait
/// for the IM side. An event whose id was queued before is dropped (delivered twice), so a
/// transaction replayed under another id doubles nothing.
#[async_trait]
pub trait MatrixEventSink: Send + Sync + 'static {
    async fn enqueue(&self, events: Vec<MatrixEvent>) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_message_content_out() {
        let event = MatrixEvent::Message {
            room: ruma::owned_room_id!("!r:x"),
            sender: ruma::owned_user_id!("@u:x"),
            event_id: ruma::owned_event_id!("$e"),
            content: serde_json::json!({"msgtype": "m.text", "body": "login alice s3cret-pass"}),
            origin_server_ts: 1,
        };
        let shown = format!("{event:?}");
        assert!(!shown.contains("s3cret-pass"), "{shown}");
        assert!(shown.contains("m.text") && shown.contains("$e"), "{shown}");
    }
}
