//! What the JMessage session tells its owner: logins, messages, send results and the end,
//! with typed errors.

use serde_json::Value;

use crate::network::jmessage::across;
use crate::network::jmessage::wire::{code, PushedMessage};

/// A message received (live in `msg_sync`, or offline in `sync_conversation`).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingMessage {
    /// The server's message id (unique per app).
    pub msg_id: i64,
    /// The sender (`content.from_id`), named as [`across`] does: a user of another app
    /// (`from_appkey`) is `username/appkey`.
    pub from: String,
    /// The sender's appkey (cross-app messages differ from ours).
    pub from_appkey: Option<String>,
    /// `content.target_id`: the receiver for single messages (named as [`across`] does, by
    /// `target_appkey`), the gid (as text) for group messages.
    pub target: String,
    /// The group (`from_gid`) of a group message (`msg_type` 4); `None` for single chat.
    pub gid: Option<i64>,
    /// Server time in milliseconds.
    pub ctime_ms: i64,
    /// `text`, `image`, `file`, `location`, `custom`, `voice`.
    pub msg_type: String,
    /// The text of a text message.
    pub text: Option<String>,
    /// `msg_body.extras`, when present.
    pub extras: Option<Value>,
    /// The whole `msg_body`.
    pub body: Value,
    /// True when it came in the login-time offline hand-over.
    pub offline: bool,
    /// The sender's profile time (`content.sui_mtime`, seconds): a newer one than seen
    /// before means their nickname or avatar changed.
    pub sui_mtime: Option<i64>,
}

impl IncomingMessage {
    /// From a pushed message, seen by a user of app `own_app`.
    pub fn from_pushed(m: &PushedMessage, offline: bool, own_app: &str) -> Self {
        let body = m.content.msg_body.clone();
        let group = m.msg_type == crate::network::jmessage::wire::MSG_TYPE_GROUP;
        let c = &m.content;
        Self {
            msg_id: m.msg_id,
            from: across::name(&c.from_id, c.from_appkey.as_deref(), own_app),
            from_appkey: c.from_appkey.clone(),
            target: if group {
                c.target_id.clone()
            } else {
                across::name(&c.target_id, c.target_appkey.as_deref(), own_app)
            },
            gid: group.then_some(m.from_gid),
            ctime_ms: m.ctime_ms,
            msg_type: m.content.msg_type.clone(),
            text: body.get("text").and_then(Value::as_str).map(str::to_owned),
            extras: body.get("extras").cloned(),
            body,
            offline,
            sui_mtime: m.content.sui_mtime,
        }
    }
}

/// A send accepted by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    pub msg_id: i64,
    /// Server time in milliseconds.
    pub ctime_ms: i64,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server refused it (e.g. 880203 target user not exist, 880206 too long).
    #[error("refused by the server: {code} {message}")]
    Rejected { code: i64, message: String },
    /// No response after every retry.
    #[error("no response from the server")]
    Timeout,
    /// Waited in the outbox longer than the queue timeout.
    #[error("not sent: no connection for too long")]
    QueueTimeout,
    /// The session ended first.
    #[error("the session ended")]
    SessionEnded,
}

/// Why the session ended (it does not reconnect after these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// `c_init` refused: a wrong signature / masterSecret (880102), an expired signature
    /// (880106) or an unknown appkey (880101).
    InitRefused { code: i64, message: String },
    /// Login refused: 880104.
    WrongPassword,
    /// Login refused: 880103.
    UserNotFound,
    /// Login refused otherwise.
    LoginRefused { code: i64, message: String },
    /// `event_notification` type 1.
    LoggedInElsewhere,
    /// `event_notification` type 2.
    PasswordChanged,
    /// We logged out.
    LoggedOut,
}

impl EndReason {
    /// The reason for a refused login code.
    pub fn login_refused(c: i64, message: &str) -> Self {
        match c {
            code::INVALID_PASSWORD => Self::WrongPassword,
            code::USER_NOT_EXIST => Self::UserNotFound,
            _ => Self::LoginRefused {
                code: c,
                message: message.to_owned(),
            },
        }
    }
}

/// An event for the owner.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// Logged in (after every reconnect).
    LoggedIn { username: String },
    /// A message for us (duplicates by `msg_id` are dropped).
    Message(IncomingMessage),
    /// The result of [`super::Session::send_single_text`] number `id`.
    SendResult {
        id: u64,
        result: Result<SendReceipt, SendError>,
    },
    /// The result of a call (group operations, recall) number `id`: the response's fields
    /// (`{code:0, message, …}`; e.g. `gid` for `create_group`) or why it failed.
    CallResult {
        id: u64,
        result: Result<Value, SendError>,
    },
    /// A group event (`event_notification` types 8–12).
    Group(super::GroupEvent),
    /// A friend invitation, answer or removal (`event_notification` types 5 and 6).
    Friend(super::FriendEvent),
    /// A message was retracted by its author (`event_notification` type 55).
    Retracted(super::Retraction),
    /// Some of our messages were read (`receipt_change`).
    ReceiptChange(super::ReceiptChange),
    /// The messages just delivered came in one push; with
    /// [`super::SessionConfig::defer_push_ack`] its receipts wait for
    /// [`super::Session::ack_push`] with `token`.
    PushBatch { token: u64 },
    /// The session is over.
    Ended(EndReason),
}
