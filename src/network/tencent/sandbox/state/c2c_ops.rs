//! The sandbox's C2C operations on sent messages, as the official Web SDK calls and hears
//! them (shapes captured from `@tencentcloud/chat` 3.6.6 and read in its bundle):
//!
//! - recall `openim.msgwithdraw {MsgInfo:{From_Account,To_Account,MsgSeq,MsgRandom,
//!   MsgTimeStamp}}` → `C2cNotifyMsgArray[{WithdrawC2cMsgNotify:{C2cWithdrawInfoArray:[…]}}]`
//!   to the peer and the sender's other instances (the SDK raises `MESSAGE_REVOKED`; unmapped
//!   keys reach the SDK camel-cased, so `RevokerInfo.Revoker_Account` is its `revoker`).
//!   The message stays in the history marked `MsgFlagBits: 8` with its `RevokerInfo`, the
//!   SDK's `isRevoked` in `getMessageList` ([`wire::recalled`]); a marked message is not
//!   recalled, edited or reacted to again;
//! - edit `openim.modify_c2c_msg {From_Account,To_Account,MsgSeq,MsgRandom,MsgTime,MsgVersion,
//!   MsgBody,CloudCustomData}` → reply `{MsgBody,MsgVersion,CloudCustomData}` (20027 when
//!   `MsgVersion` is not the stored one) and an event item `C2cMsgModNotifys:[…]` (the SDK
//!   raises `MESSAGE_MODIFIED` when the version grew);
//! - read marker `openim.msgreaded {C2CMsgReaded:{Cookie,C2CMsgReadedItem:[{To_Account,
//!   LastedMsgTime,Receipt}]}}` → `C2cReadedReceipt {To_Account:<reader>,
//!   UinPairReadArray:[{LastReadTime}]}` to the peer (the SDK raises
//!   `MESSAGE_READ_BY_PEER`) and `ReadC2cMsgNotify {UinPairReadArray:[{From_Account:<peer>,
//!   LastReadTime}]}` to the reader's other instances;
//! - online-only sends (`MsgLifeTime:0`, the SDK's `onlineUserOnly`, used by the typing
//!   custom message): pushed to who is online, never stored.

use serde_json::{json, Value};

use super::super::super::wire::{self, code, servcmd, Head};
use super::{pair, unix_now, Out, Sandbox, State};

/// The error code for an edit made against an older version (the SDK's `MSG_MODIFY_CONFLICT`
/// path: it reads the current message from the reply).
pub const MODIFY_CONFLICT: i64 = 20027;
/// The error code for a recall or edit of a message that does not exist (or is not the
/// caller's).
pub const MSG_NOT_FOUND: i64 = 20022;

/// What a C2C send carries besides its body and parties: its ids and what is kept and
/// pushed with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendMeta {
    /// `MsgSeq` (the sender's).
    pub seq: u64,
    /// `MsgRandom`.
    pub random: u64,
    /// `CloudCustomData` (a reply's `messageReply` JSON).
    pub cloud_custom_data: String,
    /// `MsgClientTime`, unix seconds; 0: the server's time is pushed instead (the SDK builds
    /// a received message's `ID` from it: `{TinyId}-{MsgClientTime}-{MsgRandom}`).
    pub client_time: u64,
    /// `IsNeedReadReceipt: 1` in the request: the sender asks for a per-message read receipt
    /// (the SDK's `needReadReceipt`); kept on the message and pushed with it
    /// ([`super::receipts`]).
    pub need_receipt: bool,
}

impl SendMeta {
    /// From a send request (websocket `openim.sendmsg` or REST `openim/sendmsg`).
    pub fn of(req: &Value) -> Self {
        Self {
            seq: u64_of(req, "MsgSeq"),
            random: u64_of(req, "MsgRandom"),
            cloud_custom_data: str_of(req, "CloudCustomData").to_owned(),
            client_time: u64_of(req, "MsgClientTime"),
            need_receipt: u64_of(req, "IsNeedReadReceipt") == 1,
        }
    }
}

/// A `msg_push` frame carrying one `eventArray` item.
pub(super) fn push_event(item: Value) -> String {
    let head = Head {
        ver: Some("v4".into()),
        servcmd: servcmd::MSG_PUSH.into(),
        seq: Some(0),
        contenttype: Some("json".into()),
        ..Default::default()
    };
    let session_data = format!("{:016x}", rand::random::<u64>());
    let body = json!({"eventArray": [item], "NeedAck": 1, "SessionData": session_data});
    wire::encode(&head, &body)
}

/// Sends `frame` to every online instance of `user` but `except_conn`.
pub(super) fn fan_out(st: &mut State, user: &str, frame: &str, except_conn: Option<u64>) {
    if let Some(acc) = st.accounts.get_mut(user) {
        acc.online.retain(|i| !i.tx.is_closed());
        for i in acc.online.iter().filter(|i| Some(i.conn_id) != except_conn) {
            let _ = i.tx.send(Out::Frame(frame.to_owned()));
        }
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn u64_of(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// Whether a stored C2C message was recalled (kept marked in the history).
pub(super) fn is_recalled(m: &Value) -> bool {
    u64_of(m, "MsgFlagBits") == wire::recalled::MSG_FLAG_BITS
}

/// Finds the stored message `(from, MsgSeq, MsgRandom)` of the `from`–`to` conversation, not
/// recalled.
fn find<'a>(
    st: &'a mut State,
    from: &str,
    to: &str,
    seq: u64,
    random: u64,
) -> Option<&'a mut Value> {
    st.history.get_mut(&pair(from, to))?.iter_mut().find(|m| {
        str_of(m, "From_Account") == from
            && u64_of(m, "MsgSeq") == seq
            && u64_of(m, "MsgRandom") == random
            && !is_recalled(m)
    })
}

impl Sandbox {
    /// `openim.msgwithdraw` by `user` (instance `conn_id`): only the author recalls. The
    /// message leaves the peer's offline store and stays in the history marked recalled;
    /// online instances of the peer and the author's other instances hear
    /// `WithdrawC2cMsgNotify`.
    pub fn recall_c2c(&self, user: &str, conn_id: Option<u64>, body: &Value) -> Value {
        let info = body.get("MsgInfo").unwrap_or(&Value::Null);
        let (from, to) = (str_of(info, "From_Account"), str_of(info, "To_Account"));
        let (seq, random) = (u64_of(info, "MsgSeq"), u64_of(info, "MsgRandom"));
        if from != user || to.is_empty() {
            return wire::error_body(code::INVALID_REQUEST, "only the sender may recall");
        }
        let mut st = self.lock();
        let revoker = json!({"Revoker_Account": user, "Reason": ""});
        let Some(stored) = find(&mut st, from, to, seq, random) else {
            return wire::error_body(MSG_NOT_FOUND, "message not found");
        };
        let msg = stored.clone();
        stored["MsgFlagBits"] = json!(wire::recalled::MSG_FLAG_BITS);
        stored["RevokerInfo"] = revoker.clone();
        if let Some(acc) = st.accounts.get_mut(to) {
            acc.offline.retain(|s| s.msg != msg);
        }
        let info = json!({
            "From_Account": from, "To_Account": to, "MsgSeq": seq, "MsgRandom": random,
            "MsgTimeStamp": msg["MsgTimeStamp"], "MsgKey": msg["MsgKey"],
            "RevokerInfo": revoker,
        });
        let frame = push_event(json!({"event": 7, "C2cNotifyMsgArray": [
            {"WithdrawC2cMsgNotify": {"C2cWithdrawInfoArray": [info]}}]}));
        fan_out(&mut st, to, &frame, None);
        if from != to {
            fan_out(&mut st, from, &frame, conn_id);
        }
        super::super::ws::ok(json!({}))
    }

    /// `openim.modify_c2c_msg` by `user`: only the author edits, and only from the stored
    /// `MsgVersion`; the version grows by one and both sides (but the editing instance) hear
    /// `C2cMsgModNotifys`.
    pub fn modify_c2c(&self, user: &str, conn_id: Option<u64>, body: &Value) -> Value {
        let (from, to) = (str_of(body, "From_Account"), str_of(body, "To_Account"));
        let (seq, random) = (u64_of(body, "MsgSeq"), u64_of(body, "MsgRandom"));
        let version = u64_of(body, "MsgVersion");
        let new_body = body
            .get("MsgBody")
            .filter(|b| b.as_array().is_some_and(|a| !a.is_empty()));
        if from != user || to.is_empty() {
            return wire::error_body(code::INVALID_REQUEST, "only the sender may edit");
        }
        let mut st = self.lock();
        let Some(msg) = find(&mut st, from, to, seq, random) else {
            return wire::error_body(MSG_NOT_FOUND, "message not found");
        };
        let stored = u64_of(msg, "MsgVersion");
        if version != stored {
            let mut e = wire::error_body(MODIFY_CONFLICT, "message was modified by someone else");
            if let Some(m) = e.as_object_mut() {
                m.insert("MsgBody".into(), msg["MsgBody"].clone());
                m.insert("MsgVersion".into(), stored.into());
                m.insert("CloudCustomData".into(), msg["CloudCustomData"].clone());
            }
            return e;
        }
        if let Some(b) = new_body {
            msg["MsgBody"] = b.clone();
        }
        if let Some(c) = body.get("CloudCustomData").filter(|c| c.is_string()) {
            msg["CloudCustomData"] = c.clone();
        }
        msg["MsgVersion"] = (stored + 1).into();
        let msg = msg.clone();
        if let Some(acc) = st.accounts.get_mut(to) {
            for s in acc.offline.iter_mut().filter(|s| {
                s.msg["MsgSeq"] == msg["MsgSeq"] && s.msg["MsgRandom"] == msg["MsgRandom"]
            }) {
                s.msg = msg.clone();
            }
        }
        let notify = json!({
            "From_Account": from, "To_Account": to, "MsgSeq": seq, "MsgRandom": random,
            "MsgTimeStamp": msg["MsgTimeStamp"], "MsgTime": msg["MsgTimeStamp"],
            "MsgKey": msg["MsgKey"], "MsgBody": msg["MsgBody"],
            "CloudCustomData": msg["CloudCustomData"], "MsgVersion": msg["MsgVersion"],
        });
        let frame = push_event(json!({"event": 9, "C2cMsgModNotifys": [notify]}));
        fan_out(&mut st, to, &frame, None);
        if from != to {
            fan_out(&mut st, from, &frame, conn_id);
        }
        super::super::ws::ok(json!({
            "MsgBody": msg["MsgBody"], "MsgVersion": msg["MsgVersion"],
            "CloudCustomData": msg["CloudCustomData"],
        }))
    }

    /// `openim.msgreaded` by `user`: each item's peer is read up to `LastedMsgTime` (now
    /// when absent); the peer hears `C2cReadedReceipt`, the reader's other instances
    /// `ReadC2cMsgNotify`. The older `{Peer_Account}` shape is taken too.
    pub fn read_c2c(&self, user: &str, conn_id: Option<u64>, body: &Value) -> Value {
        let mut items: Vec<(String, u64)> = body
            .pointer("/C2CMsgReaded/C2CMsgReadedItem")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    str_of(i, "To_Account").to_owned(),
                    u64_of(i, "LastedMsgTime"),
                )
            })
            .collect();
        if let Some(peer) = body.get("Peer_Account").and_then(Value::as_str) {
            items.push((peer.to_owned(), 0));
        }
        let mut st = self.lock();
        for (peer, time) in items.into_iter().filter(|(p, _)| !p.is_empty()) {
            let time = if time == 0 { unix_now() } else { time };
            st.unread.remove(&(user.to_owned(), peer.clone()));
            st.read_time.insert((user.to_owned(), peer.clone()), time);
            if peer == user {
                continue;
            }
            let to_peer = push_event(
                json!({"event": 7, "C2cNotifyMsgArray": [{"C2cReadedReceipt": {
                    "To_Account": user, "From_Account": peer,
                    "UinPairReadArray": [{"LastReadTime": time, "From_Account": user, "To_Account": peer}],
                }}]}),
            );
            fan_out(&mut st, &peer, &to_peer, None);
            let to_self = push_event(
                json!({"event": 7, "C2cNotifyMsgArray": [{"ReadC2cMsgNotify": {
                    "UinPairReadArray": [{"From_Account": peer, "LastReadTime": time}],
                }}]}),
            );
            fan_out(&mut st, user, &to_self, conn_id);
        }
        super::super::ws::ok(json!({}))
    }

    /// `openim.get_peer_read_time`: when each of `To_Account` last read `user`'s messages
    /// (0 when never).
    pub fn peer_read_times(&self, user: &str, body: &Value) -> Value {
        let st = self.lock();
        let times: Vec<u64> = body
            .get("To_Account")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|peer| {
                st.read_time
                    .get(&(peer.to_owned(), user.to_owned()))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
        super::super::ws::ok(json!({"ReadTime": times}))
    }

    /// An online-only C2C send (`MsgLifeTime:0`): pushed to the online instances of `to`
    /// and the sender's other instances, neither stored nor counted as unread. `None` when
    /// `to` does not exist.
    pub fn send_online_only(
        &self,
        from: &str,
        to: &str,
        b: &Value,
        except_conn: Option<u64>,
    ) -> Option<super::Delivered> {
        let mut st = self.lock();
        if !st.accounts.contains_key(to) {
            return None;
        }
        let (seq, random) = (u64_of(b, "MsgSeq"), u64_of(b, "MsgRandom"));
        let time = unix_now();
        let key = format!("{seq}_{random}_{time}");
        let msg = |is_sync: u8| {
            let (f, t) = if is_sync == 1 { (to, from) } else { (from, to) };
            json!({
                "From_Account": f, "To_Account": t, "MsgSeq": seq, "MsgRandom": random,
                "ClientSeq": seq, "MsgTimeStamp": time, "MsgKey": key, "MsgBody": b["MsgBody"],
                "IsSyncMsg": is_sync, "CloudCustomData": str_of(b, "CloudCustomData"),
                "MsgFlagBits": 0, "MsgLifeTime": 0, "From_AccountNick": "", "From_AccountHeadurl": "",
            })
        };
        let live = push_event(json!({"event": 9, "C2cMsgArray": [msg(0)]}));
        fan_out(&mut st, to, &live, None);
        if from != to {
            let sync = push_event(json!({"event": 9, "C2cMsgArray": [msg(1)]}));
            fan_out(&mut st, from, &sync, except_conn);
        }
        Some(super::Delivered { time, key })
    }
}
