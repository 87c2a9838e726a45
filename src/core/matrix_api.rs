//! The contract between the bridge core and the Matrix side, both ways: [`MatrixApi`] is what
//! the core asks of the homeserver (as the bot or as a ghost), [`MatrixEvent`] is what the
//! appservice listener hands the core, through [`MatrixEventSink`]. Identifiers are ruma types.

use async_trait::async_trait;
use ruma::{OwnedEventId, OwnedMxcUri, OwnedRoomId, OwnedUserId, RoomId, UserId};
use std::collections::HashMap;

use crate::core::connector::NotifyLevel;

mod events;
pub use events::{MatrixEvent, MatrixEventSink};

/// A Matrix client-API failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MatrixError {
    /// The homeserver answered with an error (`errcode` such as `M_FORBIDDEN`).
    #[error("homeserver error {status} {errcode}: {message}")]
    Homeserver {
        status: u16,
        errcode: String,
        message: String,
    },
    /// The request did not complete (connection refused, timeout).
    #[error("homeserver unreachable: {0}")]
    Transport(String),
    #[error("{0}")]
    Other(String),
}

impl MatrixError {
    /// Worth retrying (transport trouble, 5xx, rate limits).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Homeserver {
                status, errcode, ..
            } => *status >= 500 || *status == 429 || errcode == "M_LIMIT_EXCEEDED",
            Self::Other(_) => false,
        }
    }
}

/// What a new portal room looks like.
#[derive(Debug, Clone, Default)]
pub struct RoomSpec {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar: Option<OwnedMxcUri>,
    pub is_direct: bool,
    /// Users to invite (Matrix users and ghosts).
    pub invite: Vec<OwnedUserId>,
    /// Users with power level 100 besides the creator.
    pub admins: Vec<OwnedUserId>,
    /// Other users' power levels (a network group's owner and admins); never lowers a user
    /// the creator rules give 100.
    pub levels: Vec<(OwnedUserId, i64)>,
    /// Extra initial state events: (type, state key, content).
    pub initial_state: Vec<(String, String, serde_json::Value)>,
    /// The room type in its creation content (`m.space` for a space); `None`: a plain room.
    pub room_type: Option<String>,
}

/// A Matrix user's global profile; empty values are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatrixProfile {
    pub displayname: Option<String>,
    /// An `mxc://` URI.
    pub avatar_url: Option<String>,
}

/// The client API, as the bridge bot or any ghost.
#[async_trait]
pub trait MatrixApi: Send + Sync + 'static {
    /// The bridge bot's user id.
    fn bot(&self) -> &UserId;
    /// Registers a ghost (idempotent: `M_USER_IN_USE` is success).
    async fn ensure_registered(&self, user: &UserId) -> Result<(), MatrixError>;
    /// Sets a user's display name.
    async fn set_displayname(&self, user: &UserId, name: &str) -> Result<(), MatrixError>;
    /// A user's global profile (`GET /profile/{user}`), read as the bot. (Default: empty,
    /// for stand-ins that keep no profiles.)
    async fn profile(&self, _user: &UserId) -> Result<MatrixProfile, MatrixError> {
        Ok(MatrixProfile::default())
    }
    /// Sets a user's avatar.
    async fn set_avatar(&self, user: &UserId, avatar: &OwnedMxcUri) -> Result<(), MatrixError>;
    /// Uploads media as `user`.
    async fn upload(
        &self,
        user: &UserId,
        bytes: Vec<u8>,
        mime: &str,
        name: &str,
    ) -> Result<OwnedMxcUri, MatrixError>;
    /// Downloads media (authenticated media first, then the legacy endpoint), at most `max_bytes`.
    async fn download(&self, mxc: &str, max_bytes: u64) -> Result<(Vec<u8>, String), MatrixError>;
    /// Creates a room as `creator`.
    async fn create_room(
        &self,
        creator: &UserId,
        spec: &RoomSpec,
    ) -> Result<OwnedRoomId, MatrixError>;
    /// `by` invites `user`.
    async fn invite(&self, room: &RoomId, by: &UserId, user: &UserId) -> Result<(), MatrixError>;
    /// `user` joins (after an invite, or a public room).
    async fn join(&self, room: &RoomId, user: &UserId) -> Result<(), MatrixError>;
    /// `user` leaves.
    async fn leave(&self, room: &RoomId, user: &UserId) -> Result<(), MatrixError>;
    /// `user` leaves, or rejects an invite, saying why (the reason shows in the membership
    /// event). Default: leaves without a reason, for stand-ins.
    async fn leave_with_reason(
        &self,
        room: &RoomId,
        user: &UserId,
        _reason: &str,
    ) -> Result<(), MatrixError> {
        self.leave(room, user).await
    }
    /// `by` kicks `user`.
    async fn kick(
        &self,
        room: &RoomId,
        by: &UserId,
        user: &UserId,
        reason: &str,
    ) -> Result<(), MatrixError>;
    /// `by` bans `user` (they leave and may not come back until unbanned). The default
    /// refuses, for stand-ins.
    async fn ban(
        &self,
        room: &RoomId,
        by: &UserId,
        user: &UserId,
        reason: &str,
    ) -> Result<(), MatrixError> {
        let _ = (room, by, user, reason);
        Err(MatrixError::Other("banning is not supported here".into()))
    }
    /// `by` lifts `user`'s ban. The default refuses, for stand-ins.
    async fn unban(&self, room: &RoomId, by: &UserId, user: &UserId) -> Result<(), MatrixError> {
        let _ = (room, by, user);
        Err(MatrixError::Other("unbanning is not supported here".into()))
    }
    /// Sends a message-like event as `user`; `txn_id` makes retries idempotent.
    async fn send_event(
        &self,
        room: &RoomId,
        user: &UserId,
        event_type: &str,
        txn_id: &str,
        content: &serde_json::Value,
    ) -> Result<OwnedEventId, MatrixError>;
    /// Like [`MatrixApi::send_event`], dated `timestamp_ms` (appservice timestamp massaging,
    /// for history brought in later). Default: undated.
    async fn send_event_at(
        &self,
        room: &RoomId,
        user: &UserId,
        event_type: &str,
        txn_id: &str,
        content: &serde_json::Value,
        _timestamp_ms: u64,
    ) -> Result<OwnedEventId, MatrixError> {
        self.send_event(room, user, event_type, txn_id, content)
            .await
    }
    /// Sends a state event as `user`.
    async fn send_state(
        &self,
        room: &RoomId,
        user: &UserId,
        event_type: &str,
        state_key: &str,
        content: &serde_json::Value,
    ) -> Result<OwnedEventId, MatrixError>;
    /// The content of a room's state event, read as the bot; `None` when there is none.
    /// (Default: none, for stand-ins that keep no state.)
    async fn room_state(
        &self,
        _room: &RoomId,
        _event_type: &str,
        _state_key: &str,
    ) -> Result<Option<serde_json::Value>, MatrixError> {
        Ok(None)
    }
    /// One event of a room as JSON (`type`, `sender`, `content`, …), read as the bot; `None`
    /// when the homeserver does not have it or will not show it. (Default: none, for
    /// stand-ins that keep no timeline.)
    async fn room_event(
        &self,
        _room: &RoomId,
        _event: &ruma::EventId,
    ) -> Result<Option<serde_json::Value>, MatrixError> {
        Ok(None)
    }
    /// The newest message-like event of a room (`m.room.message`, `m.sticker` or
    /// `m.room.encrypted`; state and reactions do not count), read as the bot: where the
    /// room's conversation ends. `None` when the homeserver shows none. (Default: none, for
    /// stand-ins that keep no timeline.)
    async fn latest_message_event(
        &self,
        _room: &RoomId,
    ) -> Result<Option<ruma::OwnedEventId>, MatrixError> {
        Ok(None)
    }
    /// Sets `user`'s presence (`PUT /presence/{user}/status`), as that user (a ghost).
    /// (Default: nothing, for stand-ins that keep no presence.)
    async fn set_presence(
        &self,
        _user: &UserId,
        _presence: &str,
        _status_msg: Option<&str>,
    ) -> Result<(), MatrixError> {
        Ok(())
    }
    /// Redacts an event as `user`.
    async fn redact(
        &self,
        room: &RoomId,
        user: &UserId,
        event: &ruma::EventId,
        txn_id: &str,
        reason: Option<&str>,
    ) -> Result<OwnedEventId, MatrixError>;
    /// Current members (joined) of a room.
    async fn joined_members(&self, room: &RoomId) -> Result<Vec<OwnedUserId>, MatrixError>;
    /// Sends a read receipt for `event` as `user`.
    async fn read_receipt(
        &self,
        room: &RoomId,
        user: &UserId,
        event: &ruma::EventId,
    ) -> Result<(), MatrixError>;
    /// Sets `user` typing (or not) in `room`.
    async fn typing(&self, room: &RoomId, user: &UserId, active: bool) -> Result<(), MatrixError>;

    /// `user`'s ignored users (`m.ignored_user_list`), read as the user (double puppeting).
    /// The default refuses.
    async fn ignored_users(&self, user: &UserId) -> Result<Vec<OwnedUserId>, MatrixError> {
        let _ = user;
        Err(MatrixError::Other(
            "account data needs double puppeting".into(),
        ))
    }

    /// Replaces `user`'s ignored users, as the user. The default refuses.
    async fn set_ignored_users(
        &self,
        user: &UserId,
        users: &[OwnedUserId],
    ) -> Result<(), MatrixError> {
        let _ = (user, users);
        Err(MatrixError::Other(
            "account data needs double puppeting".into(),
        ))
    }

    /// `user`'s notification level of each room whose push rules say other than "all
    /// messages", read as the user (double puppeting). The default refuses.
    async fn room_notify_levels(
        &self,
        user: &UserId,
    ) -> Result<HashMap<OwnedRoomId, NotifyLevel>, MatrixError> {
        let _ = user;
        Err(MatrixError::Other(
            "push rules need double puppeting".into(),
        ))
    }

    /// Whether `user` turned every notification off (the `.m.rule.master` push rule is
    /// enabled), read as the user. The default refuses.
    async fn notifications_muted(&self, user: &UserId) -> Result<bool, MatrixError> {
        let _ = user;
        Err(MatrixError::Other(
            "push rules need double puppeting".into(),
        ))
    }

    /// Turns every notification of `user` off (`muted`) or on again, with `.m.rule.master`.
    /// The default refuses.
    async fn set_notifications_muted(&self, user: &UserId, muted: bool) -> Result<(), MatrixError> {
        let _ = (user, muted);
        Err(MatrixError::Other(
            "push rules need double puppeting".into(),
        ))
    }

    /// Sets `user`'s notification level of `room` through their push rules, as the user. The
    /// default refuses.
    async fn set_room_notify_level(
        &self,
        user: &UserId,
        room: &RoomId,
        level: NotifyLevel,
    ) -> Result<(), MatrixError> {
        let _ = (user, room, level);
        Err(MatrixError::Other(
            "push rules need double puppeting".into(),
        ))
    }

    /// Double puppeting: from now on, requests made as `user` (a real Matrix user, not a
    /// ghost) use `auth`; `None` stops it. Setting checks the credentials first (`whoami` must
    /// answer `user`): a wrong or expired token is an error and nothing changes. The default
    /// refuses (a client without double puppeting).
    async fn set_puppet(&self, user: &UserId, auth: Option<PuppetAuth>) -> Result<(), MatrixError> {
        let _ = (user, auth);
        Err(MatrixError::Other(
            "double puppeting is not supported by this Matrix client".into(),
        ))
    }

    /// True when requests as `user` go through a double puppet ([`MatrixApi::set_puppet`]).
    fn has_puppet(&self, user: &UserId) -> bool {
        let _ = user;
        false
    }
}

/// How the bridge acts as a real Matrix user (double puppeting). `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct PuppetAuth {
    /// The user's own access token, or the `as_token` of the double puppeting registration.
    pub token: String,
    /// True for the appservice method: `token` is an `as_token` and requests assert the user's
    /// identity (`?user_id=`).
    pub appservice: bool,
    /// The user's homeserver (client-server API base URL, no trailing slash); `None`: the
    /// bridge's own homeserver.
    pub homeserver: Option<String>,
}

impl std::fmt::Debug for PuppetAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PuppetAuth")
            .field("token", &"<redacted>")
            .field("appservice", &self.appservice)
            .field("homeserver", &self.homeserver)
            .finish()
    }
}
