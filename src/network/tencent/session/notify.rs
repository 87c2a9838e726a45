//! Message receive options (the SDK's `setMessageRemindType`, "do not disturb"), as the
//! `@tencentcloud/chat` 3.6.6 bundle sends and reads them:
//!
//! - C2C, per peer: `openim.set_c2c_peer_mute_notifications {Peer_Account:[…] (at most 30),
//!   Mute_Notifications}` (reply `ErrorList [{Peer_Account, ErrorCode}]` for the peers
//!   refused) and `openim.get_c2c_peer_mute_notifications {To_Account, Peer_Account:[…]}` →
//!   `MuteNotificationsList [{Peer_Account, MuteNotifications}]`; `MuteNotifications` is 0
//!   (`AcceptAndNotify`), 1 (`Discard`) or 2 (`AcceptNotNotify`), the bundle's `jo` map;
//! - groups, per member: `group_open_http_svc.modify_group_member_info {GroupId,
//!   Member_Account, MsgFlag}` with `MsgFlag` one of `AcceptAndNotify`, `AcceptNotNotify`,
//!   `AcceptNotNotifyExceptAt` (notified of @-mentions only) or `Discard`, read back from
//!   `get_group_info`'s `SelfInfo.MsgFlag` (the SDK asks `MemberInfoFilter: ["MsgFlag"]`
//!   and reads its own member's);
//! - a C2C option set on another instance is pushed as a `C2cNotifyMsgArray` item
//!   `MuteNotificationsSync` ([`mute_synced`]).

use serde_json::{json, Value};

/// The `(peer, MuteNotifications)` of a `C2cNotifyMsgArray` item telling this user's other
/// instances of a C2C option set (`{MuteNotificationsSync: {To_Account, MuteNotifications}}`,
/// the bundle's `muteNotificationsSync.to` / `.muteFlag`); `None` for another item or one
/// without a peer.
pub fn mute_synced(item: &Value) -> Option<(String, u64)> {
    let sync = item.get("MuteNotificationsSync")?;
    let peer = sync.get("To_Account").and_then(Value::as_str)?;
    let flag = sync.get("MuteNotifications").and_then(Value::as_u64)?;
    (!peer.is_empty()).then(|| (peer.to_owned(), flag))
}

/// Sets C2C options.
pub const SET_C2C: &str = "openim.set_c2c_peer_mute_notifications";
/// Reads C2C options.
pub const GET_C2C: &str = "openim.get_c2c_peer_mute_notifications";
/// Sets the caller's option in a group (among other member fields).
pub const SET_GROUP: &str = "group_open_http_svc.modify_group_member_info";
/// Reads group info, the caller's `SelfInfo` with it.
pub const GET_GROUP: &str = "group_open_http_svc.get_group_info";
/// The most peers one [`SET_C2C`] takes (the SDK cuts its list there).
pub const MAX_C2C_PEERS: usize = 30;

/// C2C `MuteNotifications`: notified of every message.
pub const C2C_NOTIFY: u64 = 0;
/// C2C `MuteNotifications`: messages not received at all.
pub const C2C_DISCARD: u64 = 1;
/// C2C `MuteNotifications`: received without notification.
pub const C2C_NO_NOTIFY: u64 = 2;

/// Group `MsgFlag`: notified of every message.
pub const GROUP_NOTIFY: &str = "AcceptAndNotify";
/// Group `MsgFlag`: received without notification.
pub const GROUP_NO_NOTIFY: &str = "AcceptNotNotify";
/// Group `MsgFlag`: received, notified of @-mentions only.
pub const GROUP_MENTIONS_ONLY: &str = "AcceptNotNotifyExceptAt";
/// Group `MsgFlag`: messages not received.
pub const GROUP_DISCARD: &str = "Discard";

/// The body of [`SET_C2C`] for `peers` (at most [`MAX_C2C_PEERS`] are sent).
pub fn set_c2c_body(peers: &[String], flag: u64) -> Value {
    let peers: Vec<&String> = peers.iter().take(MAX_C2C_PEERS).collect();
    json!({"Peer_Account": peers, "Mute_Notifications": flag})
}

/// The body of [`GET_C2C`] by `own` for `peers`.
pub fn get_c2c_body(own: &str, peers: &[String]) -> Value {
    json!({"To_Account": own, "Peer_Account": peers})
}

/// `(peer, MuteNotifications)` of a [`GET_C2C`] reply (items without a peer skipped).
pub fn c2c_options(reply: &Value) -> Vec<(String, u64)> {
    reply
        .get("MuteNotificationsList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let peer = i.get("Peer_Account").and_then(Value::as_str)?;
            let flag = i
                .get("MuteNotifications")
                .and_then(Value::as_u64)
                .unwrap_or(C2C_NOTIFY);
            Some((peer.to_owned(), flag))
        })
        .collect()
}

/// The peers a [`SET_C2C`] reply says were refused, with their codes.
pub fn c2c_refused(reply: &Value) -> Vec<(String, i64)> {
    reply
        .get("ErrorList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let peer = i.get("Peer_Account").and_then(Value::as_str)?;
            Some((peer.to_owned(), i.get("ErrorCode")?.as_i64()?))
        })
        .collect()
}

/// The body of [`SET_GROUP`]: `own`'s option in `group_id`.
pub fn set_group_body(group_id: &str, own: &str, flag: &str) -> Value {
    json!({"GroupId": group_id, "Member_Account": own, "MsgFlag": flag})
}

/// The body of [`GET_GROUP`] for `groups`, asking for the caller's `MsgFlag`.
pub fn get_group_body(groups: &[String]) -> Value {
    json!({"GroupIdList": groups,
           "ResponseFilter": {"MemberInfoFilter": ["MsgFlag"], "SelfInfoFilter": ["MsgFlag"]}})
}

/// `(group, MsgFlag)` of a [`GET_GROUP`] reply for `own`: `SelfInfo.MsgFlag`, else `own`'s
/// item of `MemberList`; groups answered with an error or without it are left out.
pub fn group_options(reply: &Value, own: &str) -> Vec<(String, String)> {
    reply
        .get("GroupInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|g| g.get("ErrorCode").and_then(Value::as_i64).unwrap_or(0) == 0)
        .filter_map(|g| {
            let id = g.get("GroupId").and_then(Value::as_str)?;
            let flag = g
                .pointer("/SelfInfo/MsgFlag")
                .and_then(Value::as_str)
                .or_else(|| {
                    g.get("MemberList")
                        .and_then(Value::as_array)?
                        .iter()
                        .find(|m| m.get("Member_Account").and_then(Value::as_str) == Some(own))?
                        .get("MsgFlag")
                        .and_then(Value::as_str)
                })?;
            Some((id.to_owned(), flag.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_from_replies() {
        let c2c = json!({"MuteNotificationsList": [
            {"Peer_Account": "bob", "MuteNotifications": 2},
            {"Peer_Account": "carol"},
            {"MuteNotifications": 1},
        ]});
        assert_eq!(
            c2c_options(&c2c),
            [("bob".to_owned(), 2), ("carol".to_owned(), 0)]
        );
        let refused = json!({"ErrorList": [{"Peer_Account": "nobody", "ErrorCode": 70107}]});
        assert_eq!(c2c_refused(&refused), [("nobody".to_owned(), 70107)]);
        let groups = json!({"GroupInfo": [
            {"GroupId": "g1", "SelfInfo": {"MsgFlag": "AcceptNotNotify"}},
            {"GroupId": "g2", "MemberList": [
                {"Member_Account": "bob", "MsgFlag": "Discard"},
                {"Member_Account": "alice", "MsgFlag": "AcceptNotNotifyExceptAt"}]},
            {"GroupId": "g3", "ErrorCode": 10010},
        ]});
        assert_eq!(
            group_options(&groups, "alice"),
            [
                ("g1".to_owned(), GROUP_NO_NOTIFY.to_owned()),
                ("g2".to_owned(), GROUP_MENTIONS_ONLY.to_owned())
            ]
        );
        let body = set_c2c_body(&(0..40).map(|i| i.to_string()).collect::<Vec<_>>(), 2);
        assert_eq!(body["Peer_Account"].as_array().map(Vec::len), Some(30));
    }

    #[test]
    fn an_option_set_elsewhere_is_read_from_its_push_item() {
        let item = json!({"MuteNotificationsSync": {"To_Account": "bob", "MuteNotifications": 2}});
        assert_eq!(mute_synced(&item), Some(("bob".to_owned(), 2)));
        let no_peer = json!({"MuteNotificationsSync": {"To_Account": "", "MuteNotifications": 2}});
        assert_eq!(mute_synced(&no_peer), None);
        assert_eq!(
            mute_synced(&json!({"KickoutMsgNotify": {"KickType": 1}})),
            None
        );
    }
}
