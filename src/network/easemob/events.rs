//! What a client session reports to its owner: one event enum, with the decoding of
//! non-message metas (group / chat room `MUCBody`, contact `RosterBody`, `NOTIFY` JSON,
//! `STATISTIC` kick notices). Reference §1.9, §3.7, §3.11. Reaction and thread notifies
//! are decoded further in [`reaction`] and [`thread`].

use crate::core::connector::Checkpoint;
use prost::Message as _;

use super::error::{EndReason, LoginError, SendError};
use super::message::{decode_incoming, IncomingMessage, MessageDecodeError};
use super::proto::{meta, statistics_body, Meta, MucBody, RosterBody, StatisticsBody};

mod presence;
mod reaction;
mod thread;
pub use presence::{parse_presence_list, parse_presence_notify, PresenceStatus};
pub use reaction::{parse_reaction_notify, ReactionChange};
pub use thread::{
    message_thread, parse_thread_notify, MessageThread, ThreadNotify, ThreadOperation,
};

/// Everything a session tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Logged in; `resource` is this device, `token_expires_at` in ms since the epoch.
    Connected {
        resource: String,
        token_expires_at: Option<u64>,
    },
    /// The link dropped; the client reconnects by itself.
    Reconnecting { reason: String },
    /// Offline data is being pulled.
    OfflineSyncStarted,
    /// All offline queues were pulled.
    OfflineSyncFinished,
    /// A chat message, receipt, recall or edit.
    Message(IncomingMessage),
    /// A group or chat room event.
    Group(GroupEvent),
    /// A contact (roster) event.
    Contact(ContactEvent),
    /// A `NOTIFY` event (reactions, presence, threads, conversation changes), as JSON text.
    Notify { json: String },
    /// The server accepted message `local_id` as `server_id`.
    SendAcked {
        local_id: u64,
        server_id: u64,
        timestamp: u64,
    },
    /// Message `local_id` was not sent.
    SendFailed { local_id: u64, error: SendError },
    /// The token expires soon (80 % of its life is over).
    TokenWillExpire,
    /// The session is over and will not reconnect.
    Ended(EndReason),
    /// From the client (with `await_persistence`), never the session: the events before this
    /// are a pulled batch; call [`Checkpoint::done`] once they are stored, and the client
    /// acknowledges the batch to the server.
    Checkpoint(Checkpoint),
}

/// A group or chat room event (`MUCBody`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEvent {
    /// The `MUCBody.Operation` number (kept as is, also when unknown).
    pub operation: i32,
    /// The SDK's name for the operation (`"inviteToJoin"`, `"removeMember"`, …).
    pub operation_name: &'static str,
    /// Group or room id.
    pub id: String,
    pub is_chatroom: bool,
    /// Who did it.
    pub from: String,
    /// Whom it concerns.
    pub to: Vec<String>,
    pub reason: String,
    /// New name / description when the group info changed.
    pub name: Option<String>,
    pub description: Option<String>,
    pub member_count: Option<i32>,
    pub members: Vec<String>,
}

/// A contact event (`RosterBody`).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactEvent {
    /// The `RosterBody.Operation` number.
    pub operation: i32,
    /// The SDK's name for the operation (`"invited"`, `"deleted"`, …).
    pub operation_name: &'static str,
    pub from: String,
    pub to: Vec<String>,
    pub reason: String,
}

/// What one received meta means.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaEvent {
    Message(IncomingMessage),
    Group(GroupEvent),
    Contact(ContactEvent),
    Notify(String),
    /// A kick notice: the session must end.
    Kicked(EndReason),
    /// A namespace we do not handle (conference signalling, query, statistics info).
    Ignored {
        namespace: i32,
    },
}

/// Error decoding a meta payload.
#[derive(Debug, thiserror::Error)]
pub enum MetaDecodeError {
    #[error(transparent)]
    Message(#[from] MessageDecodeError),
    #[error("payload is not valid protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// The SDK's operation names for `MUCBody.Operation` (reference §3.11).
pub fn muc_operation_name(op: i32) -> &'static str {
    const NAMES: [&str; 46] = [
        "create",
        "destroy",
        "join",
        "leave",
        "requestToJoin",
        "acceptRequest",
        "joinPublicGroupDeclined",
        "inviteToJoin",
        "acceptInvite",
        "rejectInvite",
        "removeMember",
        "getBlackList",
        "ban",
        "unblockMember",
        "updateInfo",
        "block",
        "unblock",
        "memberPresence",
        "memberAbsence",
        "directJoined",
        "changeOwner",
        "setAdmin",
        "removeAdmin",
        "muteMember",
        "unmuteMember",
        "updateAnnouncement",
        "deleteAnnouncement",
        "uploadFile",
        "deleteFile",
        "addUserToAllowlist",
        "removeAllowlistMember",
        "muteAllMembers",
        "unmuteAllMembers",
        "chatThreadCreate",
        "chatThreadDestroy",
        "chatThreadJoin",
        "chatThreadLeave",
        "chatThreadUserRemove",
        "chatThreadUpdate",
        "chatThreadPresence",
        "chatThreadAbsence",
        "chatThreadNotify",
        "updateChatRoomAttributes",
        "removeChatRoomAttributes",
        "memberAttributesUpdate",
        "unknown45",
    ];
    usize::try_from(op)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("unknown")
}

/// The SDK's names for `RosterBody.Operation`.
pub fn roster_operation_name(op: i32) -> &'static str {
    match op {
        0 => "getRoster",
        1 => "getBlacklist",
        2 => "invited",
        3 => "deleted",
        4 => "added",
        5 => "refused",
        6 => "banned",
        7 => "allowed",
        8 => "agreed",
        9 => "refusedByPeer",
        _ => "unknown",
    }
}

fn name_of(jid: &Option<super::proto::Jid>) -> String {
    jid.as_ref()
        .and_then(|j| j.name.clone())
        .unwrap_or_default()
}

/// Decodes one received meta by namespace.
pub fn decode_meta(meta: &Meta) -> Result<MetaEvent, MetaDecodeError> {
    let ns = meta.ns.unwrap_or(0);
    let payload = meta.payload.as_deref().unwrap_or_default();
    Ok(match meta::NameSpace::try_from(ns) {
        Ok(meta::NameSpace::Chat) => MetaEvent::Message(decode_incoming(meta)?),
        Ok(meta::NameSpace::Muc) => {
            let body = MucBody::decode(payload)?;
            let op = body.operation.unwrap_or(0);
            let setting = body.setting.as_ref();
            MetaEvent::Group(GroupEvent {
                operation: op,
                operation_name: muc_operation_name(op),
                id: name_of(&body.muc_id),
                is_chatroom: body.is_chatroom.unwrap_or(false),
                from: name_of(&body.from),
                to: body.to.iter().filter_map(|j| j.name.clone()).collect(),
                reason: body.reason.clone().unwrap_or_default(),
                name: setting.and_then(|s| s.name.clone()),
                description: setting.and_then(|s| s.desc.clone()),
                member_count: body.muc_member_count,
                members: body.members.clone(),
            })
        }
        Ok(meta::NameSpace::Roster) => {
            let body = RosterBody::decode(payload)?;
            let op = body.operation.unwrap_or(0);
            MetaEvent::Contact(ContactEvent {
                operation: op,
                operation_name: roster_operation_name(op),
                from: name_of(&body.from),
                to: body.to.iter().filter_map(|j| j.name.clone()).collect(),
                reason: body.reason.clone().unwrap_or_default(),
            })
        }
        Ok(meta::NameSpace::Notify) => {
            MetaEvent::Notify(String::from_utf8_lossy(payload).into_owned())
        }
        Ok(meta::NameSpace::Statistic) => {
            let body = StatisticsBody::decode(payload)?;
            use statistics_body::Operation;
            match Operation::try_from(body.operation.unwrap_or(0)) {
                Ok(Operation::UserRemoved) => MetaEvent::Kicked(EndReason::UserRemoved),
                Ok(Operation::UserLoginAnotherDevice) => {
                    MetaEvent::Kicked(EndReason::LoggedInElsewhere {
                        custom_ext: body.reason.clone().unwrap_or_default(),
                    })
                }
                Ok(Operation::UserKickedByChangePassword) => {
                    MetaEvent::Kicked(EndReason::PasswordChanged)
                }
                Ok(Operation::UserKickedByOtherDevice) => {
                    MetaEvent::Kicked(EndReason::KickedByOtherDevice)
                }
                _ => MetaEvent::Ignored { namespace: ns },
            }
        }
        _ => MetaEvent::Ignored { namespace: ns },
    })
}

/// Login failure as a session event.
pub fn login_failed(error: LoginError) -> SessionEvent {
    SessionEvent::Ended(EndReason::LoginFailed(error))
}
