//! The records kept in the store. Field names are the on-disk JSON names: renaming one is a
//! schema change. Optional fields default when missing, so adding one needs no migration.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Matrix user's login on the remote network (`logins` tree, keyed by MXID).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginRecord {
    /// The Matrix user.
    pub mxid: String,
    /// The network's short name (`easemob`).
    pub network: String,
    /// The user's id on the network.
    pub remote_id: String,
    /// What the connector needs to resume (password, token, device resource). Never logged:
    /// `Debug` redacts it.
    pub secrets: serde_json::Value,
    /// The user's management room (DM with the bot), if known.
    #[serde(default)]
    pub management_room: Option<String>,
    /// When the login was made (ms since the epoch).
    #[serde(default)]
    pub created_ms: u64,
}

impl fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRecord")
            .field("mxid", &self.mxid)
            .field("network", &self.network)
            .field("remote_id", &self.remote_id)
            .field("secrets", &"<redacted>")
            .field("management_room", &self.management_room)
            .field("created_ms", &self.created_ms)
            .finish()
    }
}

/// A remote user's Matrix puppet (`ghosts` tree, keyed by remote user id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GhostRecord {
    pub remote_id: String,
    pub mxid: String,
    /// The display name last set on Matrix.
    #[serde(default)]
    pub displayname: Option<String>,
    /// The remote avatar URL the Matrix avatar was made from.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// The Matrix avatar (`mxc://`).
    #[serde(default)]
    pub avatar_mxc: Option<String>,
    /// True once registered on the homeserver.
    #[serde(default)]
    pub registered: bool,
    /// When the profile was last refreshed (ms since the epoch).
    #[serde(default)]
    pub updated_ms: u64,
}

/// A remote chat bridged to a Matrix room (`portals` tree, keyed by a caller-defined key such
/// as `group:123`; `room_portals` maps the room back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalRecord {
    pub key: String,
    /// The Matrix room (empty while not created yet).
    pub room_id: String,
    /// Caller-defined kind (`dm`, `group`, …).
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub avatar_mxc: Option<String>,
    /// The logins (MXIDs) that see this chat.
    #[serde(default)]
    pub receivers: Vec<String>,
    #[serde(default)]
    pub is_direct: bool,
    #[serde(default)]
    pub created_ms: u64,
}

/// One Matrix event of a bridged remote message (`messages` tree, keyed by portal key, remote
/// message id and part; `message_events` maps the event back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub room_id: String,
    pub event_id: String,
    /// The remote message id.
    pub remote_id: String,
    /// The sender (remote user id or MXID, as the caller chooses).
    pub sender: String,
    pub timestamp_ms: u64,
    /// Index of this event when one remote message became several (caption + media): 0 first.
    #[serde(default)]
    pub part: u32,
    /// How many edits the Matrix side shows of this message: those bridged from the network
    /// and those made in Matrix (mautrix's `EditCount`; see
    /// [`crate::core::connector::RemoteMessage::edit_count`]).
    #[serde(default)]
    pub edit_count: u64,
    /// The message's other network id, when it has one
    /// ([`crate::core::connector::RemoteMessage::alt_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_id: Option<String>,
}

/// One bridged reaction (`reactions` tree, keyed by portal key, target remote message, remote
/// sender and key; `reaction_events` maps the Matrix event back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionRecord {
    pub room_id: String,
    /// The Matrix `m.reaction` event.
    pub event_id: String,
    /// The remote id of the message reacted to.
    pub target: String,
    /// The remote user who reacted.
    pub sender: String,
    /// The reaction itself (an emoji).
    pub key: String,
}
