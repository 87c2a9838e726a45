//! Per-message read receipts, client side (the SDK's `sendMessageReadReceipt` /
//! `MESSAGE_READ_RECEIPT_RECEIVED`): the request bodies of a receipt for received messages
//! that asked for one (`needReadReceipt`), group (`group_open_http_svc.group_msg_receipt`)
//! and C2C (`openim.c2c_msg_read_receipt`), of the sender's queries
//! (`get_group_msg_receipt`, `get_group_msg_receipt_detail`), and the pushes telling a sender
//! that its messages were read, as [`SessionEvent::ReadReceipts`].
//!
//! Shapes: read in the `@tencentcloud/chat` 3.6.6 bundle — the request maps
//! `SEND_READ_RECEIPT` (`{GroupId, MsgSeqList: [{MsgSeq}]}`), `SEND_C2C_READ_RECEIPT`
//! (`{Peer_Account, C2CMsgInfo: [{From_Account, To_Account, MsgSeq, MsgRandom, MsgTime,
//! MsgClientTime}]}`), `GET_READ_RECEIPT`, `GET_READ_RECEIPT_DETAIL` (`{GroupId, MsgSeq, Flag,
//! Cursor, Num}`); the push dispatcher `onMessage`: a group receipt is an event-5 `GroupTips`
//! item whose `MsgBody.GroupMsgReceiptList` (`readReceiptList`) lists `{TinyId,
//! MsgClientTime, MsgRandom, ReadNum, UnreadNum}`; a C2C receipt is an event-16 item
//! `{Peer_Account, PeerReadTime, C2cMsgInfo: [{TinyId, MsgClientTime, MsgRandom}]}` (the
//! dispatcher builds `{userID, timestamp, readReceiptList}` from it). The SDK names a
//! message by `{TinyId}-{MsgClientTime}-{MsgRandom}` only; `MsgSeq` / `GroupId` / `MsgKey`
//! and the group reader (`From_Account` of the item) are read when present — the sandbox
//! sends them ([`crate::network::tencent::sandbox::state::receipts`]), whether the real
//! service does is not known. A sent message asks for receipts with `NeedReadReceipt: 1`
//! (group send) or `IsNeedReadReceipt: 1` (C2C send); received ones carry
//! `IsNeedReadReceipt: 1` ([`super::C2cMessage::need_receipt`],
//! [`super::GroupMessage::need_receipt`]).

use serde_json::{json, Value};
use tracing::debug;

use super::group_wire::{conversation_of, notice_conversation};
use super::{Session, SessionEvent};

/// `servcmd` of a member's receipt for group messages.
pub const GROUP_MSG_RECEIPT: &str = "group_open_http_svc.group_msg_receipt";
/// `servcmd` of the read / unread counts of the sender's group messages.
pub const GET_GROUP_MSG_RECEIPT: &str = "group_open_http_svc.get_group_msg_receipt";
/// `servcmd` of who read (or did not read) one group message.
pub const GET_GROUP_MSG_RECEIPT_DETAIL: &str = "group_open_http_svc.get_group_msg_receipt_detail";
/// `servcmd` of the receiver's receipt for C2C messages.
pub const C2C_MSG_READ_RECEIPT: &str = "openim.c2c_msg_read_receipt";
/// `event` of the C2C receipt push (the SDK's dispatcher, event 16).
pub const C2C_RECEIPT_EVENT: i64 = 16;

/// A received C2C message the receipt is for (its sender is the receipt's `Peer_Account`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct C2cReceiptFor {
    /// `From_Account`: the sender.
    pub from: String,
    /// `To_Account`: the reader (this user).
    pub to: String,
    /// `MsgSeq`.
    pub seq: u32,
    /// `MsgRandom`.
    pub random: u32,
    /// `MsgTime` (the message's `MsgTimeStamp`), unix seconds.
    pub time: u64,
    /// `MsgClientTime`, unix seconds (0 when the message had none).
    pub client_time: u64,
}

/// One message of a receipt push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptItem {
    /// `MsgSeq`, when the push gives it (groups: the message's place in the group).
    pub seq: Option<u64>,
    /// `MsgKey` (C2C), when the push gives it.
    pub key: Option<String>,
    /// The SDK's message `ID`, `{TinyId}-{MsgClientTime}-{MsgRandom}`, when given.
    pub sdk_id: Option<String>,
    /// `ReadNum`: how many members read it (groups; 1 for C2C).
    pub read: u64,
    /// `UnreadNum`: how many members did not yet (groups; 0 for C2C).
    pub unread: u64,
}

/// A receipt push: someone read messages of this user that asked for receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptNotice {
    /// Group messages were read; `group_id` is the topic id for a Community topic.
    Group {
        group_id: String,
        /// Who read, when the push names them (`From_Account`; the SDK does not read it).
        reader: Option<String>,
        messages: Vec<ReceiptItem>,
    },
    /// `reader` (`Peer_Account`) read C2C messages at `time` (`PeerReadTime`, unix seconds).
    C2c {
        reader: String,
        time: u64,
        messages: Vec<ReceiptItem>,
    },
}

fn text(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn item(v: &Value, c2c: bool) -> ReceiptItem {
    let (tiny, time, random) = (
        text(v, "TinyId"),
        text(v, "MsgClientTime"),
        text(v, "MsgRandom"),
    );
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    ReceiptItem {
        seq: n("MsgSeq"),
        key: Some(text(v, "MsgKey")).filter(|k| !k.is_empty()),
        sdk_id: (!tiny.is_empty() && !random.is_empty()).then(|| format!("{tiny}-{time}-{random}")),
        read: n("ReadNum").unwrap_or(u64::from(c2c)),
        unread: n("UnreadNum").unwrap_or(0),
    }
}

/// The group receipt of an event-5 `GroupTips` item, when it is one.
pub fn parse_group_receipt(tip: &Value) -> Option<ReceiptNotice> {
    let list = tip
        .get("MsgBody")
        .and_then(|b| b.get("GroupMsgReceiptList"))
        .and_then(Value::as_array)?;
    let fallback = conversation_of(tip);
    let group_id = list
        .first()
        .map(|i| notice_conversation(i, &fallback))
        .unwrap_or(fallback);
    if group_id.is_empty() {
        return None;
    }
    let reader = Some(text(tip, "From_Account")).filter(|r| !r.is_empty());
    Some(ReceiptNotice::Group {
        group_id,
        reader,
        messages: list.iter().map(|i| item(i, false)).collect(),
    })
}

/// The C2C receipt of an `eventArray` item, when it is one (event 16 with `C2cMsgInfo`).
pub fn parse_c2c_receipt(ev: &Value) -> Option<ReceiptNotice> {
    if ev.get("event").and_then(Value::as_i64) != Some(C2C_RECEIPT_EVENT) {
        return None;
    }
    let list = ev.get("C2cMsgInfo").and_then(Value::as_array)?;
    let reader = text(ev, "Peer_Account");
    if reader.is_empty() {
        return None;
    }
    Some(ReceiptNotice::C2c {
        reader,
        time: ev.get("PeerReadTime").and_then(Value::as_u64).unwrap_or(0),
        messages: list.iter().map(|i| item(i, true)).collect(),
    })
}

/// The receipt of this user for group (or topic) `group_id`'s messages `seqs`:
/// `(servcmd, body)`.
pub fn group_receipt_request(group_id: &str, seqs: &[u64]) -> (&'static str, Value) {
    let list: Vec<Value> = seqs.iter().map(|s| json!({"MsgSeq": s})).collect();
    (
        GROUP_MSG_RECEIPT,
        json!({"GroupId": group_id, "MsgSeqList": list}),
    )
}

/// The receipt of this user for C2C messages `msgs`, all from `peer`: `(servcmd, body)`.
pub fn c2c_receipt_request(peer: &str, msgs: &[C2cReceiptFor]) -> (&'static str, Value) {
    let list: Vec<Value> = msgs
        .iter()
        .map(|m| {
            json!({"From_Account": m.from, "To_Account": m.to, "MsgSeq": m.seq,
                   "MsgRandom": m.random, "MsgTime": m.time, "MsgClientTime": m.client_time})
        })
        .collect();
    (
        C2C_MSG_READ_RECEIPT,
        json!({"Peer_Account": peer, "C2CMsgInfo": list}),
    )
}

/// Who read (`unread` false) or did not read one group message: `(servcmd, body)`, a page
/// of up to `num` users from `cursor` (`""` first).
pub fn receipt_detail_request(
    group_id: &str,
    seq: u64,
    unread: bool,
    cursor: &str,
    num: u32,
) -> (&'static str, Value) {
    (
        GET_GROUP_MSG_RECEIPT_DETAIL,
        json!({"GroupId": group_id, "MsgSeq": seq, "Flag": u8::from(unread),
               "Cursor": cursor, "Num": num}),
    )
}

/// The users of a `get_group_msg_receipt_detail` reply (`ReadList` / `UnreadList`), and
/// whether the list is complete (`IsFinish: 1`).
pub fn detail_users(reply: &Value) -> (Vec<String>, bool) {
    let mut users = Vec::new();
    for (list, account) in [
        ("ReadList", "Read_Account"),
        ("UnreadList", "Unread_Account"),
    ] {
        users.extend(
            reply
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|u| text(u, account))
                .filter(|u| !u.is_empty()),
        );
    }
    (
        users,
        reply.get("IsFinish").and_then(Value::as_u64) == Some(1),
    )
}

impl Session {
    /// The C2C receipt part of one `eventArray` item.
    pub(super) fn on_receipt_event(&mut self, ev: &Value) {
        if ev.get("C2cMsgInfo").is_none() {
            return;
        }
        match parse_c2c_receipt(ev) {
            Some(r) => self.event(SessionEvent::ReadReceipts(r)),
            None => debug!("tencent: C2cMsgInfo item that is no read receipt skipped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_c2c_receipt_pushes_parse() {
        let tip = json!({"GroupInfo": {"GroupId": "@TGS#1"}, "From_Account": "bob",
            "MsgBody": {"GroupMsgReceiptList": [{"GroupId": "@TGS#1", "MsgSeq": 4,
                "TinyId": "144", "MsgClientTime": 10, "MsgRandom": 9, "ReadNum": 1, "UnreadNum": 2}]}});
        assert_eq!(
            parse_group_receipt(&tip),
            Some(ReceiptNotice::Group {
                group_id: "@TGS#1".into(),
                reader: Some("bob".into()),
                messages: vec![ReceiptItem {
                    seq: Some(4),
                    key: None,
                    sdk_id: Some("144-10-9".into()),
                    read: 1,
                    unread: 2,
                }],
            })
        );
        // The SDK's shape alone: no reader, no seq, the group from `GroupInfo`.
        let bare = json!({"GroupInfo": {"GroupId": "g", "TopicId": "g@TOPIC#_t"},
            "MsgBody": {"GroupMsgReceiptList": [{"TinyId": 1, "MsgClientTime": 2, "MsgRandom": 3}]}});
        let Some(ReceiptNotice::Group {
            group_id,
            reader,
            messages,
        }) = parse_group_receipt(&bare)
        else {
            panic!("a group receipt");
        };
        assert_eq!((group_id.as_str(), reader), ("g@TOPIC#_t", None));
        assert_eq!(
            (messages[0].seq, messages[0].sdk_id.as_deref()),
            (None, Some("1-2-3"))
        );
        assert_eq!(
            parse_group_receipt(&json!({"MsgBody": {"GroupReadInfoArray": []}})),
            None
        );

        let ev = json!({"event": 16, "Peer_Account": "bob", "PeerReadTime": 99,
            "C2cMsgInfo": [{"MsgKey": "1_2_3", "MsgSeq": 1, "TinyId": "7", "MsgClientTime": 3, "MsgRandom": 2}]});
        let Some(ReceiptNotice::C2c {
            reader,
            time,
            messages,
        }) = parse_c2c_receipt(&ev)
        else {
            panic!("a C2C receipt");
        };
        assert_eq!((reader.as_str(), time), ("bob", 99));
        assert_eq!(messages[0].key.as_deref(), Some("1_2_3"));
        assert_eq!(messages[0].sdk_id.as_deref(), Some("7-3-2"));
        assert_eq!((messages[0].read, messages[0].unread), (1, 0));
        // Another event, or no reader: not a receipt.
        assert_eq!(
            parse_c2c_receipt(&json!({"event": 9, "C2cMsgInfo": []})),
            None
        );
        assert_eq!(
            parse_c2c_receipt(&json!({"event": 16, "C2cMsgInfo": []})),
            None
        );
    }

    #[test]
    fn requests_have_the_sdk_shapes() {
        let (cmd, body) = group_receipt_request("g", &[3, 5]);
        assert_eq!(cmd, GROUP_MSG_RECEIPT);
        assert_eq!(
            body,
            json!({"GroupId": "g", "MsgSeqList": [{"MsgSeq": 3}, {"MsgSeq": 5}]})
        );
        let m = C2cReceiptFor {
            from: "bob".into(),
            to: "alice".into(),
            seq: 1,
            random: 2,
            time: 3,
            client_time: 4,
        };
        let (cmd, body) = c2c_receipt_request("bob", &[m]);
        assert_eq!(cmd, C2C_MSG_READ_RECEIPT);
        assert_eq!(
            body,
            json!({"Peer_Account": "bob", "C2CMsgInfo": [{"From_Account": "bob", "To_Account": "alice",
                   "MsgSeq": 1, "MsgRandom": 2, "MsgTime": 3, "MsgClientTime": 4}]})
        );
        let (_, body) = receipt_detail_request("g", 3, true, "", 50);
        assert_eq!(body["Flag"], 1);
        let (users, done) =
            detail_users(&json!({"ReadList": [{"Read_Account": "a"}], "IsFinish": 1}));
        assert_eq!((users, done), (vec!["a".to_owned()], true));
    }
}
