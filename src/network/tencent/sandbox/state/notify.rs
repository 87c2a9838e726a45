//! The sandbox's C2C message receive options (the SDK's `setMessageRemindType` with a
//! `userIDList`), shapes read in the `@tencentcloud/chat` 3.6.6 bundle:
//!
//! - `openim.set_c2c_peer_mute_notifications {Peer_Account:[…], Mute_Notifications}` sets
//!   the caller's option for each peer (at most 30 per call, the SDK's cut); the reply's
//!   `ErrorList [{Peer_Account, ErrorCode}]` names the peers refused (an unknown account,
//!   70107, the service's "account does not exist");
//! - `openim.get_c2c_peer_mute_notifications {To_Account, Peer_Account:[…]}` →
//!   `MuteNotificationsList [{Peer_Account, MuteNotifications}]` (the SDK's
//!   `muteFlagList` of `{userID, muteFlag}`).
//!
//! - account-wide (the SDK's `setAllReceiveMessageOpt` / `getAllReceiveMessageOpt`):
//!   `im_msg_db_logic.ws_set_do_not_disturb {Level, StartTime, EndTime, IsRepeated}` kept as
//!   given, `im_msg_db_logic.ws_get_do_not_disturb {To_Account}` → the same fields (all 0
//!   when never set).
//!
//! `MuteNotifications` is the SDK's `jo` map: 0 `AcceptAndNotify`, 1 `Discard`, 2
//! `AcceptNotNotify`. The option is kept with the caller's account, so persisted with it.
//! The change is pushed to the caller's other instances, one `C2cNotifyMsgArray` item per
//! peer set: `{MuteNotificationsSync: {To_Account, MuteNotifications}}` (the bundle's
//! `_onC2CNotifyMsgArray` reads an item's `muteNotificationsSync.to` / `.muteFlag`, and its
//! key map names `MuteNotifications` `muteFlag`; other keys reach it camel-cased).

use serde_json::{json, Value};

use super::super::super::wire;
use super::c2c_ops::{fan_out, push_event};
use super::Sandbox;

/// The most peers one call sets (the SDK sends `userIDList.slice(0, 30)`).
pub const MAX_PEERS: usize = 30;
/// `ErrorCode` of a peer that has no account.
pub const NO_SUCH_ACCOUNT: i64 = 70107;

fn peers(body: &Value) -> Vec<String> {
    body.get("Peer_Account")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().filter(|p| !p.is_empty()).map(str::to_owned))
        .collect()
}

impl Sandbox {
    /// `openim.set_c2c_peer_mute_notifications` by `user` (instance `conn_id`, which is
    /// not told of its own change).
    pub fn set_c2c_mute(&self, user: &str, conn_id: Option<u64>, body: &Value) -> Value {
        let flag = body
            .get("Mute_Notifications")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if flag > 2 {
            return wire::error_body(
                wire::code::INVALID_REQUEST,
                "Mute_Notifications must be 0, 1 or 2",
            );
        }
        let mut st = self.lock();
        let mut errors = Vec::new();
        let mut set = Vec::new();
        for peer in peers(body).into_iter().take(MAX_PEERS) {
            if st.accounts.contains_key(&peer) {
                set.push(peer);
            } else {
                errors.push(json!({"Peer_Account": peer, "ErrorCode": NO_SUCH_ACCOUNT}));
            }
        }
        let synced: Vec<Value> = set
            .iter()
            .map(|peer| {
                json!({"MuteNotificationsSync": {"To_Account": peer, "MuteNotifications": flag}})
            })
            .collect();
        if let Some(acc) = st.accounts.get_mut(user) {
            for peer in set {
                if flag == 0 {
                    acc.c2c_mute.remove(&peer);
                } else {
                    acc.c2c_mute.insert(peer, flag);
                }
            }
        }
        if !synced.is_empty() {
            let frame = push_event(json!({"event": 7, "C2cNotifyMsgArray": synced}));
            fan_out(&mut st, user, &frame, conn_id);
        }
        super::super::ws::ok(json!({"ErrorList": errors}))
    }

    /// `openim.get_c2c_peer_mute_notifications` by `user`: every peer asked, 0 when never set.
    pub fn get_c2c_mute(&self, user: &str, body: &Value) -> Value {
        let st = self.lock();
        let acc = st.accounts.get(user);
        let list: Vec<Value> = peers(body)
            .into_iter()
            .map(|peer| {
                let flag = acc
                    .and_then(|a| a.c2c_mute.get(&peer).copied())
                    .unwrap_or(0);
                json!({"Peer_Account": peer, "MuteNotifications": flag})
            })
            .collect();
        super::super::ws::ok(json!({"MuteNotificationsList": list}))
    }

    /// `im_msg_db_logic.ws_set_do_not_disturb` by `user`.
    pub fn set_global_dnd(&self, user: &str, body: &Value) -> Value {
        let n = |k: &str| body.get(k).and_then(Value::as_u64).unwrap_or(0);
        let opt = json!({"Level": n("Level"), "StartTime": n("StartTime"),
                         "EndTime": n("EndTime"), "IsRepeated": n("IsRepeated")});
        if let Some(acc) = self.lock().accounts.get_mut(user) {
            acc.dnd = Some(opt);
        }
        super::super::ws::ok(json!({}))
    }

    /// `im_msg_db_logic.ws_get_do_not_disturb` by `user`.
    pub fn get_global_dnd(&self, user: &str) -> Value {
        let opt = self
            .lock()
            .accounts
            .get(user)
            .and_then(|a| a.dnd.clone())
            .unwrap_or_else(|| json!({"Level": 0, "StartTime": 0, "EndTime": 0, "IsRepeated": 0}));
        super::super::ws::ok(opt)
    }

    /// `user`'s C2C option for `peer` (0 when never set).
    pub fn c2c_mute_flag(&self, user: &str, peer: &str) -> u64 {
        self.lock()
            .accounts
            .get(user)
            .and_then(|a| a.c2c_mute.get(peer).copied())
            .unwrap_or(0)
    }
}
