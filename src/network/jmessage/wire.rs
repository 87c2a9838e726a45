//! The JMessage events on top of socket.io: event names, error codes, the `c_init`
//! signature, md5 passwords, and the message shapes both sides exchange.
//!
//! Facts from /work/shared/reference/tencent-jmessage-protocol.md part B1 (read in the JMessage
//! Web SDK 2.5.0 bundle: `EVENTS`, `ACK_TIMEOUT`, `RESP_TIMEOUT`, `RETRY_TIMES`,
//! `SYNC_INTERVAL`, the message builder) and the public "IM Web ErrorCode" table
//! (docs.jiguang.cn/jmessage/client/im_errorcode_js).

use std::time::Duration;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Socket.io event names (the SDK's `EVENTS` table).
pub mod event {
    /// The server's receipt of a request: `{rid}`, before the response.
    pub const ACK: &str = "ack";
    /// App-level handshake with the signature.
    pub const INIT: &str = "c_init";
    pub const LOGIN: &str = "login";
    pub const REGISTER: &str = "register";
    /// Send to one user (same app or another app).
    pub const S_SINGLE_TEXT: &str = "s_across_single_text";
    pub const SEND_GROUP_MSG: &str = "send_group_msg";
    /// Server push of live messages.
    pub const MSG_SYNC: &str = "msg_sync";
    /// The client's receipt of each pushed message.
    pub const MSG_RECV_V2: &str = "msg_recv_v2";
    pub const EVENT_NOTIFICATION: &str = "event_notification";
    /// Every `SYNC_INTERVAL` after login: asks for offline messages, events and receipts.
    pub const SYNC_CHECK: &str = "sync_check";
    pub const SYNC_CONVERSATION: &str = "sync_conversation";
    pub const SYNC_CONVERSATION_ACK: &str = "sync_conversation_ack";
    pub const SYNC_EVENT: &str = "sync_event";
    pub const SYNC_EVENT_ACK: &str = "sync_event_ack";
    pub const SYNC_RECEIPT: &str = "sync_receipt";
    pub const SYNC_RECEIPT_ACK: &str = "sync_receipt_ack";
    pub const RECEIPT_CHANGE: &str = "receipt_change";
    /// Groups (the SDK's `createGroup`, `getGroupInfo`, `getGroups`, `getGroupMembers`,
    /// `addGroupMembers`, `delGroupMembers`, `updateGroupInfo`, `exitGroup`).
    pub const CREATE_GROUP: &str = "create_group";
    pub const GET_GROUP_INFO: &str = "get_group_info";
    pub const GET_GROUPS_LIST: &str = "get_groups_list";
    pub const GET_GROUP_MEMBERS: &str = "get_group_members";
    pub const ADD_ACROSS_GROUP_MEMBER: &str = "add_across_group_member";
    pub const DEL_ACROSS_GROUP_MEMBER: &str = "del_across_group_member";
    pub const UPDATE_GROUP_INFO: &str = "update_group_info";
    pub const EXIT_GROUP: &str = "exit_group";
    /// Read reports (the SDK's `addSingleReceiptReport` / `addGroupReceiptReport`, batched
    /// every 2 s or at 50): `{sessions:[{type:3, appkey, username, msg_ids} | {type:4, gid,
    /// msg_ids}]}`.
    pub const RECEIPT_REPORT: &str = "receipt_report";
    /// Who read one of our messages (the SDK's `msgUnreadList {msg_id}`): the answer is
    /// `{msg_unread_list: {read_list: [{username, appkey, nickname, avatar}], unread_list:
    /// […]}}` (the shape jpush/jchat-web reads).
    pub const MSG_UNREAD_LIST: &str = "msg_unread_list";
    /// Media: `get_upload_token {}` → `{uptoken}`, `get_resource {media_id}` → `{url}`.
    pub const GET_UPLOAD_TOKEN: &str = "get_upload_token";
    pub const GET_RESOURCE: &str = "get_resource";
    /// Recall (the SDK's `msgRetract {msg_id}`).
    pub const MSG_RETRACT: &str = "msg_retract";
    /// Profiles: `get_across_user_info {username, appkey}` → `{user_info: {username, appkey,
    /// nickname, avatar (a media_id), signature, gender, mtime, …}}` (the SDK's `getUserInfo`;
    /// it drops `uid`), and `update_self_info {nickname?, signature?, …, avatar?}` (the SDK's
    /// `updateSelfInfo` / `updateSelfAvatar`, the avatar a media_id of an `image` upload).
    pub const GET_ACROSS_USER_INFO: &str = "get_across_user_info";
    pub const UPDATE_SELF_INFO: &str = "update_self_info";
    /// No-disturb (the SDK's `getNoDisturb`, `add|delSingleNoDisturb {target_name, appkey?}`,
    /// `add|delGroupNoDisturb {gid}`, `add|delGlobalNoDisturb`, each with `version: 0`):
    /// `no_disturb` → `{no_disturb: {global: 0|1, users: [{username, appkey, …}], groups:
    /// [{gid, name, …}]}}`.
    pub const NO_DISTURB: &str = "no_disturb";
    pub const ADD_NO_DISTURB_SINGLE: &str = "add_msg_no_disturb_single";
    pub const DELETE_NO_DISTURB_SINGLE: &str = "delete_msg_no_disturb_single";
    pub const ADD_NO_DISTURB_GROUP: &str = "add_msg_no_disturb_group";
    pub const DELETE_NO_DISTURB_GROUP: &str = "delete_msg_no_disturb_group";
    pub const ADD_NO_DISTURB_GLOBAL: &str = "add_msg_no_disturb_global";
    pub const DELETE_NO_DISTURB_GLOBAL: &str = "delete_msg_no_disturb_global";
    /// Friends (the Web SDK 2.5.0's `addFriend {target_name, why, appkey?}` sends
    /// `from_type: 1`; `acceptFriend {target_name, appkey?}` sends `why: "yes"`, `from_type:
    /// 2`; `declineFriend {target_name, why?, appkey?}` sends `from_type: 2` and `why`
    /// (default `"no"`): accept and refuse differ only by `why`), `del_friend {target_name,
    /// appkey?}` (`delFriend`), `get_friend_list {}` → `{friend_list: [{uid, username,
    /// nickname, appkey, memo_name, mtime (s)}]}` (`getFriendList`; the SDK drops `uid`).
    pub const ADD_FRIEND: &str = "add_friend";
    pub const DEL_FRIEND: &str = "del_friend";
    pub const GET_FRIEND_LIST: &str = "get_friend_list";
    /// Blacklist (the SDK's `addSingleBlacks` / `delSingleBlacks {member_usernames:
    /// [{username, appkey?}]}`, `getBlacks` sends `{version: 0}` → `{black_list: [{uid,
    /// username, appkey, nickname}]}`; the SDK drops `uid`).
    pub const ADD_BLACK_LIST: &str = "add_black_list";
    pub const DEL_BLACK_LIST: &str = "del_black_list";
    pub const GET_BLACK_LIST: &str = "get_black_list";
}

/// `from_type` of `add_friend`: 1 invites, 2 answers an invitation (the SDK's
/// `FRIEND_INVITE` / `FRIEND_INVITED`).
pub const FRIEND_INVITE: i64 = 1;
/// `from_type` of `add_friend` answering an invitation.
pub const FRIEND_INVITED: i64 = 2;
/// The `why` with which the SDK's `acceptFriend` accepts (any other answer refuses).
pub const FRIEND_ACCEPT_WHY: &str = "yes";

/// Error codes (`code` in a response; 0 is success), from the public Web error table.
pub mod code {
    pub const OK: i64 = 0;
    pub const MISSING: i64 = 880001;
    pub const INVALID_PARAMETER: i64 = 880002;
    pub const APPKEY_NOT_EXIST: i64 = 880101;
    pub const SIGNATURE_FAIL: i64 = 880102;
    pub const USER_NOT_EXIST: i64 = 880103;
    pub const INVALID_PASSWORD: i64 = 880104;
    pub const SIGNATURE_EXPIRED: i64 = 880106;
    pub const ALREADY_LOGGED_IN: i64 = 880107;
    pub const TARGET_USER_NOT_EXIST: i64 = 880203;
    pub const MESSAGE_TOO_LONG: i64 = 880206;
    /// Send to a group that does not exist (also the sandbox's answer for any group call
    /// on an unknown `gid`).
    pub const TARGET_GROUP_NOT_EXIST: i64 = 880204;
    /// Send (or update) by a user who is not a member.
    pub const USER_NOT_IN_GROUP: i64 = 880205;
    /// `create_group` name over the limit.
    pub const GROUP_NAME_TOO_LONG: i64 = 880404;
    /// `create_group` description over the limit.
    pub const GROUP_DESC_TOO_LONG: i64 = 880405;
    /// `exit_group` by a non-member.
    pub const EXIT_NOT_IN_GROUP: i64 = 880502;
    /// `add_across_group_member` with an empty list.
    pub const ADD_ZERO_MEMBER: i64 = 880602;
    /// `add_across_group_member` by a non-member.
    pub const ADD_NOT_IN_GROUP: i64 = 880603;
    /// `del_across_group_member` naming a non-member.
    pub const DEL_NOT_IN_GROUP: i64 = 880703;
    /// `del_across_group_member` by someone other than the owner.
    pub const DEL_NOT_PERMITTED: i64 = 880704;
    /// `update_group_info` name over the limit.
    pub const UPDATE_NAME_TOO_LONG: i64 = 880803;
    /// `update_group_info` description over the limit.
    pub const UPDATE_DESC_TOO_LONG: i64 = 880804;
    /// A member list names an unregistered user.
    pub const MEMBER_NOT_EXIST: i64 = 881002;
    /// `msg_retract` later than [`super::RETRACT_WINDOW_MS`] after the send ("发送时间过长，
    /// 不能撤回", as JChat Android handles it).
    pub const RETRACT_TOO_LATE: i64 = 855001;
    /// `msg_retract` of a message that does not exist or is not the caller's (sandbox
    /// choice: the public tables list no code for these).
    pub const RETRACT_REFUSED: i64 = 855002;
    /// A single message to a user who put the sender on their blacklist (the public Web
    /// error table's "用户被对方拉黑"; the mobile SDKs say 803008).
    pub const SENDER_BLACKLISTED: i64 = 880207;
    /// A friend answer with no invitation pending, or an invitation to an existing friend
    /// or to oneself (sandbox choice: the public tables list no code for these).
    pub const FRIEND_REFUSED: i64 = 805002;
    /// `del_friend` of someone who is not a friend (sandbox choice).
    pub const NOT_FRIEND: i64 = 805003;
}

/// `event_type` values of `event_notification` that end the session (the SDK's
/// `LOGIN_OUT_EVENT`): 1 = logged in elsewhere, 2 = password changed.
pub mod event_type {
    pub const LOGGED_IN_ELSEWHERE: i64 = 1;
    pub const PASSWORD_CHANGED: i64 = 2;
    /// Group created (to the creator). Types 8–12 from the Web SDK guide's event table and
    /// iOS `JMSGEventNotificationType`.
    pub const GROUP_CREATED: i64 = 8;
    /// A member left (`from_username` = who left; to every remaining member).
    pub const GROUP_EXITED: i64 = 9;
    /// Members added (`to_usernames` = the new members; to every member, new ones too).
    pub const GROUP_MEMBERS_ADDED: i64 = 10;
    /// Members removed (`to_usernames` = the removed; to the removed and the remaining).
    pub const GROUP_MEMBERS_REMOVED: i64 = 11;
    /// Group info updated (to every member).
    pub const GROUP_INFO_UPDATED: i64 = 12;
    /// A message was retracted (`msg_ids`; `from_gid` 0 for single chat).
    pub const MSG_RETRACTED: i64 = 55;
    /// A friend invitation or its answer (the Web SDK guide's event table; iOS splits it
    /// into `ReceiveFriendInvitation` / `AcceptedFriendInvitation` /
    /// `DeclinedFriendInvitation`): `extra` 1 = an invitation from `from_username` (the reason
    /// in `description`), 2 = `from_username`'s answer to ours (`return_code` 0 accepted,
    /// anything else refused; the reason in `description`).
    pub const FRIEND_INVITATION: i64 = 5;
    /// `from_username` removed us from their friends.
    pub const FRIEND_DELETED: i64 = 6;
}

/// `extra` of a [`event_type::FRIEND_INVITATION`]: an invitation received.
pub const FRIEND_EXTRA_INVITED: i64 = 1;
/// `extra` of a [`event_type::FRIEND_INVITATION`]: the answer to ours.
pub const FRIEND_EXTRA_ANSWERED: i64 = 2;

/// How long after sending its author may retract a message: 3 minutes (the JMessage client
/// guides; error [`code::RETRACT_TOO_LATE`]).
pub const RETRACT_WINDOW_MS: i64 = 3 * 60 * 1000;
/// The longest group name (bytes; the IM REST v1 group docs).
pub const MAX_GROUP_NAME_BYTES: usize = 64;
/// The longest group description (bytes; the IM REST v1 group docs).
pub const MAX_GROUP_DESC_BYTES: usize = 250;

/// `msg_type` of a pushed message: 3 single, 4 group.
pub const MSG_TYPE_SINGLE: i64 = 3;
/// `msg_type` of a pushed group message.
pub const MSG_TYPE_GROUP: i64 = 4;

/// The SDK version announced at login.
pub const SDK_VERSION: &str = "2.5.0";
/// The SDK's `fromPlatForm` in `c_init`.
pub const FROM_PLATFORM: &str = "j";
/// How long the SDK waits for the server's `ack` before resending (same `rid`).
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the SDK waits for the response.
pub const RESP_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times the SDK resends a request.
pub const RETRY_TIMES: u32 = 5;
/// The SDK's `sync_check` cadence.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(150);
/// How long a `c_init` signature is valid (reference §B1).
pub const SIGNATURE_TTL_MS: i64 = 10 * 60 * 1000;
/// The largest message body the service takes (7 KiB, error 880206).
pub const MAX_CONTENT_BYTES: usize = 7 * 1024;

/// Lower-case hex md5 of `data`.
pub fn md5_hex(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `c_init` signature:
/// `md5hex("appkey={appkey}&timestamp={ts}&random_str={rs}&key={masterSecret}")`.
pub fn signature(
    app_key: &str,
    timestamp_ms: i64,
    random_str: &str,
    master_secret: &str,
) -> String {
    md5_hex(
        format!(
            "appkey={app_key}&timestamp={timestamp_ms}&random_str={random_str}&key={master_secret}"
        )
        .as_bytes(),
    )
}

/// The `c_init` request body (without `rid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Init {
    pub appkey: String,
    pub random_str: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub signature: String,
    /// 1: roaming sync on, 0: off.
    #[serde(default)]
    pub flag: i64,
    #[serde(
        default,
        rename = "fromPlatForm",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_platform: Option<String>,
}

/// A message's `content` (the same object the sender builds and the receiver gets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    #[serde(default = "one")]
    pub version: i64,
    /// `single` or `group`.
    pub target_type: String,
    #[serde(default)]
    pub from_platform: String,
    pub target_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_appkey: Option<String>,
    pub from_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_appkey: Option<String>,
    /// `user` (or `admin` for REST sends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_type: Option<String>,
    /// Milliseconds.
    #[serde(default)]
    pub create_time: i64,
    /// `text`, `image`, `file`, `location`, `custom` (and `voice` from mobile SDKs).
    pub msg_type: String,
    /// Per type; text is `{text, extras?}`.
    pub msg_body: Value,
    /// The sender's profile (user info) time, seconds, set by the server: the Web SDK fires
    /// `onUserInfUpdate` when it is newer than the one it knew for that sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sui_mtime: Option<i64>,
}

fn one() -> i64 {
    1
}

/// A message as pushed in `msg_sync` (and in `sync_conversation`'s `msgs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushedMessage {
    pub msg_id: i64,
    /// [`MSG_TYPE_SINGLE`] or [`MSG_TYPE_GROUP`].
    pub msg_type: i64,
    #[serde(default)]
    pub from_uid: i64,
    #[serde(default)]
    pub from_gid: i64,
    /// Milliseconds.
    #[serde(default)]
    pub ctime_ms: i64,
    #[serde(default)]
    pub msg_level: i64,
    pub content: Content,
}

/// The client's receipt of one pushed message (`msg_recv_v2`).
pub fn recv_receipt(m: &PushedMessage) -> Value {
    serde_json::json!({
        "msg_id": m.msg_id,
        "msg_type": m.msg_type,
        "from_uid": m.from_uid,
        "from_gid": m.from_gid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_reference_vector() {
        // Reference §B1, checked by the fake server in the experiment.
        assert_eq!(
            signature(
                "testappkey000000000000aa",
                1_700_000_000_000,
                "abcdefghij0123456789xyz",
                "testmastersecret00000000"
            ),
            "96ae1d587347bd052518404939ffcd8e"
        );
    }

    #[test]
    fn md5_of_a_password_is_lower_hex() {
        assert_eq!(md5_hex(b"password"), "5f4dcc3b5aa765d61d8327deb882cf99");
    }

    #[test]
    fn content_reads_what_the_sdk_builds() {
        let v = serde_json::json!({"version":1,"target_type":"single","from_platform":"web",
            "target_id":"bob","from_id":"alice","create_time":1,"msg_type":"text",
            "msg_body":{"text":"hi","extras":{"k":"v"}}});
        let c: Content = serde_json::from_value(v).unwrap();
        assert_eq!(c.msg_body["extras"]["k"], "v");
        assert_eq!(c.target_type, "single");
    }
}
