//! What the session tells its owner, and why it can end.

use super::super::elem::Elem;
use super::super::wire::ServerError;

/// Who pushed a kick-out (`KickoutMsgNotify.KickType`, reference §A1 "Kick-outs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickType {
    /// 1: the same account logged in elsewhere (multi-account policy).
    OtherAccount,
    /// 2: another device of this account took over (multi-device policy).
    OtherDevice,
    /// 3: the app's backend kicked the user (REST `im_open_login_svc/kick`).
    RestApi,
    /// Any other value.
    Other(i64),
}

impl KickType {
    /// From the wire number.
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => KickType::OtherAccount,
            2 => KickType::OtherDevice,
            3 => KickType::RestApi,
            n => KickType::Other(n),
        }
    }

    /// The wire number.
    pub fn code(self) -> i64 {
        match self {
            KickType::OtherAccount => 1,
            KickType::OtherDevice => 2,
            KickType::RestApi => 3,
            KickType::Other(n) => n,
        }
    }
}

/// Why the session ended for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The UserSig expired (70001): a fresh one is needed.
    UserSigExpired,
    /// The login was refused (bad UserSig, wrong app or identifier, unknown account, …).
    LoginRefused(ServerError),
    /// The login got no answer within the login timeout.
    LoginTimeout,
    /// Kicked out by the server.
    Kicked(KickType),
    /// [`super::Session::logout`] was called.
    LoggedOut,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The server refused it (`ErrorCode`/`ErrorInfo`).
    #[error("server refused the message: {0}")]
    Server(ServerError),
    /// No reply within the request timeout (15 s, as the SDK).
    #[error("no reply from the server in time")]
    Timeout,
    /// It waited for a connection longer than the queue timeout.
    #[error("not connected in time")]
    QueueTimeout,
    /// The session has ended.
    #[error("the session has ended")]
    SessionEnded,
    /// The reply did not have the expected fields.
    #[error("malformed reply: {0}")]
    Malformed(String),
}

/// The server's answer to a C2C send (`openim.sendmsg` reply plus what we sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// `MsgSeq` (chosen by the sender, echoed by the server).
    pub msg_seq: u32,
    /// `MsgRandom`.
    pub msg_random: u32,
    /// `MsgKey`, the server's id for the message.
    pub msg_key: String,
    /// `MsgTime`, unix seconds.
    pub msg_time: u64,
}

/// One C2C message, received live (`C2cMsgArray`) or by sync (`openim.getmsg`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct C2cMessage {
    /// `From_Account`: the author (for a sync of our own message from another instance,
    /// this is us).
    pub from: String,
    /// `To_Account`.
    pub to: String,
    /// `MsgSeq`.
    pub seq: u32,
    /// `MsgRandom`.
    pub random: u32,
    /// `MsgTimeStamp`, unix seconds.
    pub time: u64,
    /// `MsgKey` (may be empty on servers that omit it).
    pub key: String,
    /// The elements that parsed.
    pub elems: Vec<Elem>,
    /// `CloudCustomData`: app data riding along (a reply's `messageReply` JSON), `""` if none.
    pub cloud_custom_data: String,
    /// `TinyId` of the sender, when the server gave it (part of the SDK's message `ID`).
    pub tiny_id: String,
    /// `MsgClientTime`: the sender's clock at sending, unix seconds (0 when not given).
    pub client_time: u64,
    /// Our own message sent from another instance (`IsSyncMsg:1`).
    pub is_sync: bool,
    /// The sender asked for a per-message read receipt (`IsNeedReadReceipt: 1`, the SDK's
    /// `needReadReceipt`; [`super::receipts`]).
    pub need_receipt: bool,
    /// Came from the catch-up sync rather than a live push.
    pub offline: bool,
    /// `MsgVersion`: how many times the message was edited (`modify_c2c_msg`); 0 when never
    /// or not given. A message read again (history) comes with its latest body.
    pub version: u64,
    /// Recalled: a history (`openim.getroammsg`) item kept where a recalled message was
    /// ([`crate::network::tencent::wire::recalled`]).
    pub revoked: bool,
    /// Who recalled it (`RevokerInfo.Revoker_Account`, the SDK's `revoker`); `""` when not
    /// given or not recalled.
    pub revoker: String,
    /// The receiver has sent its per-message read receipt for it (`IsPeerRead: 1`, a
    /// history item's; the SDK's `readReceiptSentByPeer`).
    pub peer_read: bool,
}

impl C2cMessage {
    /// The identity used to drop duplicates: `MsgKey`, else `(From_Account, MsgSeq, MsgRandom)`.
    pub fn dedup_key(&self) -> String {
        if self.key.is_empty() {
            format!("{}\u{0}{}\u{0}{}", self.from, self.seq, self.random)
        } else {
            self.key.clone()
        }
    }

    /// The text of the message's text elements, concatenated.
    pub fn text(&self) -> String {
        self.elems
            .iter()
            .filter_map(|e| match e {
                Elem::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// `wslogin` succeeded.
    LoggedIn {
        /// `TinyId`, the server's numeric id of the user.
        tiny_id: String,
        /// `InstId` of this instance.
        inst_id: u64,
        /// `HelloInterval`, seconds.
        hello_interval: u64,
        /// `TimeStamp`: the server's clock, unix seconds.
        server_time: u64,
        /// `RichMsgAuthKey`: the key media downloads from the service's hosts carry as
        /// `authKey` (the SDK's `setDowloadFileAuthKey`; [`crate::network::tencent::cos`]);
        /// empty when not given.
        rich_msg_auth_key: crate::config::Secret,
    },
    /// A message arrived (in order, duplicates dropped).
    Message(C2cMessage),
    /// A message was recalled (`WithdrawC2cMsgNotify`): by its author, who may be this user
    /// on another instance.
    Recalled(super::ops::C2cRef),
    /// A message was edited (`C2cMsgModNotifys`), by its author.
    Modified(super::ops::C2cModified),
    /// `peer` read this user's messages up to `time` (`C2cReadedReceipt`).
    PeerRead { peer: String, time: u64 },
    /// This user read `peer`'s messages up to `time` on another instance
    /// (`ReadC2cMsgNotify`).
    ReadElsewhere { peer: String, time: u64 },
    /// This user set the receive option (`MuteNotifications`, [`super::notify`]) for DM
    /// `peer` on another instance (`MuteNotificationsSync`).
    MuteSynced { peer: String, flag: u64 },
    /// The catch-up sync after a login is complete (`SyncFlag:2`); `count` messages came.
    SyncCompleted { count: usize },
    /// A group message arrived (per group in `MsgSeq` order, duplicates dropped).
    GroupMessage(super::GroupMessage),
    /// A message of a joined live room (`AVChatRoom`, [`super::live`]) arrived: per room in
    /// `MsgSeq` order, from the join on, our own sends left out.
    LiveMessage(super::GroupMessage),
    /// A group tip (membership or profile change) arrived.
    GroupTip(super::GroupTip),
    /// A group message notice: messages recalled, or the user's read marker moved elsewhere.
    GroupNotice(super::GroupNotice),
    /// A group message was edited (by its author, maybe on another of our instances).
    GroupModified(super::GroupModified),
    /// Someone read this user's messages that asked for read receipts
    /// ([`super::receipts`]).
    ReadReceipts(super::receipts::ReceiptNotice),
    /// Reactions of a message changed ([`super::reactions`]).
    Reactions(super::reactions::ReactionNotice),
    /// A user's profile changed (`ProfileDataMod`).
    ProfileChanged(super::profile::ProfileChanged),
    /// The joined groups, read at every login.
    GroupList(Vec<super::GroupSummary>),
    /// A Community topic was created, deleted or changed.
    Topic(super::topics::TopicEvent),
    /// The topics of Community `group_id`, read at every login.
    TopicList {
        group_id: String,
        topics: Vec<super::topics::TopicInfo>,
    },
    /// The group catch-up after a login is complete; `count` messages came.
    GroupSyncCompleted { count: usize },
    /// The answer to [`super::Session::send_c2c`] or [`super::Session::send_group`] with local id `id`.
    SendResult {
        id: u64,
        result: Result<SendReceipt, SendError>,
    },
    /// The answer to [`super::Session::call`] with local id `id`: the reply body.
    CallResult {
        id: u64,
        result: Result<serde_json::Value, SendError>,
    },
    /// The messages of one push were reported (just before this); with
    /// [`super::SessionConfig::defer_push_ack`] its acknowledgement waits for
    /// [`super::Session::ack_push`] with `token`.
    PushBatch { token: u64 },
    /// The link is dead (no reply to a heartbeat, login timeout); the driver reconnects.
    LinkLost { reason: String },
    /// The session ended for good.
    Ended(EndReason),
}
