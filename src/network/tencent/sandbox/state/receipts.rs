//! Per-message read receipts in the sandbox, group and C2C: a message sent with
//! `needReadReceipt` may be acknowledged by its readers, and its sender hears who read it.
//!
//! Shapes, from the `@tencentcloud/chat` 3.6.6 bundle (request maps `SEND_READ_RECEIPT`,
//! `SEND_C2C_READ_RECEIPT`, `GET_READ_RECEIPT`, `GET_READ_RECEIPT_DETAIL`; the sending maps
//! `needReadReceipt` → `NeedReadReceipt` (group) / `IsNeedReadReceipt` (C2C); the push
//! dispatcher `onMessage` and `updateReadReceiptInfo` of the conversation module):
//! - a sent message that asked for receipts is stored and pushed with `IsNeedReadReceipt: 1`
//!   (the `msg_push` keyMap reads that key as the message's `needReadReceipt`);
//! - group: `group_open_http_svc.group_msg_receipt {GroupId, MsgSeqList: [{MsgSeq}]}` by a
//!   member; the sender's online instances hear an event-5 `GroupTips` item whose
//!   `MsgBody.GroupMsgReceiptList` lists `{TinyId, MsgClientTime, MsgRandom, ReadNum,
//!   UnreadNum}` per message (the SDK's `readReceiptList`; it finds its message by
//!   `{TinyId}-{MsgClientTime}-{MsgRandom}` and raises `MESSAGE_READ_RECEIPT_RECEIVED` with
//!   the counts). The SDK reads no reader from it; the sandbox names the reader in the
//!   item's `From_Account` and the message in `GroupId` / `TopicId` / `MsgSeq` for our
//!   client — its own choice, what the real service puts there is not known.
//! - `get_group_msg_receipt {GroupId, MsgSeqList}` → `{GroupMsgReceiptList: [{MsgSeq,
//!   ReadNum, UnreadNum}]}`; `get_group_msg_receipt_detail {GroupId, MsgSeq, Flag: 0 read |
//!   1 unread, Cursor, Num}` → `{ReadList: [{Read_Account}] | UnreadList: [{Unread_Account}],
//!   IsFinish, Cursor}` (the response keyMap of `GET_READ_RECEIPT_DETAIL`);
//! - C2C: `openim.c2c_msg_read_receipt {Peer_Account, C2CMsgInfo: [{From_Account,
//!   To_Account, MsgSeq, MsgRandom, MsgTime, MsgClientTime}]}` by the receiver; the sender
//!   hears an event-16 item `{Peer_Account, PeerReadTime, C2cMsgInfo: [{TinyId,
//!   MsgClientTime, MsgRandom, …}]}` (the dispatcher's event 16 builds `{userID, timestamp,
//!   readReceiptList}` from it; `MsgKey`, `MsgSeq` … are added for our client), and the
//!   history keeps `IsPeerRead: 1` (`getroammsg`'s `readReceiptSentByPeer`).
//!
//! Unread counts are of the group's current members but the sender. Receipts are idempotent
//! (a second receipt by the same reader pushes nothing) and only members who did not send
//! the message may give one. The 3.6.6 SDK does not check a purchase bit before these calls
//! (the real service enables receipts per app in the console; the sandbox always does).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::c2c_ops::{fan_out, push_event, MSG_NOT_FOUND};
use super::{pair, unix_now, Sandbox};
use crate::network::tencent::sandbox::group_msg_ops::notice_item;
use crate::network::tencent::sandbox::groups::{
    push_frame, GroupSendMeta, GROUP_NOT_FOUND, NOT_A_MEMBER,
};
use crate::network::tencent::sandbox::topics::{split_topic_id, TOPIC_NOT_FOUND};
use crate::network::tencent::wire::code;

/// The `event` number of the C2C receipt push (the SDK's dispatcher reads `userID` /
/// `timestamp` beside the list only for event 16).
pub const C2C_RECEIPT_EVENT: u32 = 16;

/// A group message that asked for read receipts, and who gave one.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(in crate::network::tencent::sandbox) struct Receipt {
    sender: String,
    /// The sender's `TinyId` and `MsgClientTime`, with `random` the sender SDK's message
    /// `ID` parts.
    tiny_id: String,
    client_time: u64,
    random: u64,
    readers: Vec<String>,
}

type Refusal = (i64, String);

fn refuse(c: i64, info: &str) -> Refusal {
    (c, info.to_owned())
}

fn key(gid: &str, topic: Option<&str>, seq: u64) -> String {
    format!("group:{gid}:{}:{seq}", topic.unwrap_or_default())
}

fn seqs(b: &Value) -> Vec<u64> {
    b.get("MsgSeqList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("MsgSeq").and_then(Value::as_u64))
        .collect()
}

impl Sandbox {
    /// Records that group message `seq` (of `gid`, or its topic `topic`) by `from` asked for
    /// read receipts.
    pub(in crate::network::tencent::sandbox) fn expect_group_receipt(
        &self,
        from: &str,
        gid: &str,
        topic: Option<&str>,
        seq: u64,
        meta: &GroupSendMeta,
    ) {
        let mut st = self.lock();
        let tiny_id = st.accounts.get(from).map_or(0, |a| a.tiny_id).to_string();
        st.receipts.insert(
            key(gid, topic, seq),
            Receipt {
                sender: from.to_owned(),
                tiny_id,
                client_time: meta.client_time,
                random: meta.random,
                readers: Vec::new(),
            },
        );
    }

    /// `group_msg_receipt`, `get_group_msg_receipt` or `get_group_msg_receipt_detail`
    /// (`command`) by member `user` on `group_id` (a group or topic id): the reply body.
    pub fn group_receipt_call(
        &self,
        command: &str,
        user: &str,
        group_id: &str,
        b: &Value,
    ) -> Result<Value, Refusal> {
        let (gid, topic) = split_topic_id(group_id);
        let (members, info) = {
            let mut groups = self.groups_lock();
            let g = groups
                .get_mut(gid)
                .ok_or_else(|| refuse(GROUP_NOT_FOUND, "group does not exist"))?;
            if !g.is_member(user) {
                return Err(refuse(NOT_A_MEMBER, "not a member of the group"));
            }
            if g.log_mut(topic).is_none() {
                return Err(refuse(TOPIC_NOT_FOUND, "topic does not exist"));
            }
            let members: Vec<String> = g.members.iter().map(|m| m.account.clone()).collect();
            (members, g.push_info(topic))
        };
        match command {
            "group_msg_receipt" => {
                let list = seqs(b);
                if list.is_empty() {
                    return Err(refuse(code::INVALID_REQUEST, "MsgSeqList is empty"));
                }
                self.read_group_msgs(user, gid, topic, &list, &members, &info)?;
                Ok(json!({}))
            }
            "get_group_msg_receipt" => {
                let st = self.lock();
                let list: Vec<Value> = seqs(b)
                    .into_iter()
                    .map(|seq| match st.receipts.get(&key(gid, topic, seq)) {
                        Some(r) => {
                            let (read, unread) = counts(r, &members);
                            json!({"MsgSeq": seq, "ReadNum": read, "UnreadNum": unread,
                                   "ErrorCode": 0})
                        }
                        None => json!({"MsgSeq": seq, "ErrorCode": MSG_NOT_FOUND,
                                       "ErrorInfo": "no read receipt requested"}),
                    })
                    .collect();
                Ok(json!({"GroupMsgReceiptList": list}))
            }
            _ => self.receipt_detail(gid, topic, b, &members),
        }
    }

    fn read_group_msgs(
        &self,
        user: &str,
        gid: &str,
        topic: Option<&str>,
        list: &[u64],
        members: &[String],
        info: &Value,
    ) -> Result<(), Refusal> {
        let mut st = self.lock();
        // Every seq is checked before any is recorded: a bad list changes nothing.
        for seq in list {
            let r = st.receipts.get(&key(gid, topic, *seq)).ok_or_else(|| {
                refuse(
                    MSG_NOT_FOUND,
                    &format!("message {seq} does not exist or asked for no read receipt"),
                )
            })?;
            if r.sender == user {
                return Err(refuse(
                    code::INVALID_REQUEST,
                    "a sender gives no read receipt for its own message",
                ));
            }
        }
        let mut pushes: Vec<(String, Value)> = Vec::new();
        for seq in list {
            let Some(r) = st.receipts.get_mut(&key(gid, topic, *seq)) else {
                continue;
            };
            if r.readers.iter().any(|u| u == user) {
                continue;
            }
            r.readers.push(user.to_owned());
            let (read, unread) = counts(r, members);
            let mut item = json!({
                "GroupId": gid, "MsgSeq": seq, "TinyId": r.tiny_id,
                "MsgClientTime": r.client_time, "MsgRandom": r.random,
                "ReadNum": read, "UnreadNum": unread,
            });
            if let Some(t) = topic {
                item["TopicId"] = json!(t);
            }
            pushes.push((r.sender.clone(), item));
        }
        drop(st);
        for (sender, item) in pushes {
            let tip = notice_item(
                info,
                gid,
                user,
                json!({"GroupMsgReceiptList": [item]}),
                None,
            );
            self.push_to(&sender, &push_frame(5, "GroupTips", vec![tip]), None);
        }
        Ok(())
    }

    fn receipt_detail(
        &self,
        gid: &str,
        topic: Option<&str>,
        b: &Value,
        members: &[String],
    ) -> Result<Value, Refusal> {
        let seq = b.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0);
        let unread = b.get("Flag").and_then(Value::as_u64) == Some(1);
        let num = b
            .get("Num")
            .and_then(Value::as_u64)
            .filter(|n| (1..=100).contains(n))
            .unwrap_or(100) as usize;
        let from = b
            .get("Cursor")
            .and_then(Value::as_str)
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0);
        let st = self.lock();
        let r = st
            .receipts
            .get(&key(gid, topic, seq))
            .ok_or_else(|| refuse(MSG_NOT_FOUND, "no read receipt requested for the message"))?;
        let users: Vec<&String> = if unread {
            members
                .iter()
                .filter(|m| **m != r.sender && !r.readers.contains(m))
                .collect()
        } else {
            r.readers.iter().collect()
        };
        let page: Vec<&&String> = users.iter().skip(from).take(num).collect();
        let end = from + page.len();
        let finished = end >= users.len();
        let (list_key, account) = if unread {
            ("UnreadList", "Unread_Account")
        } else {
            ("ReadList", "Read_Account")
        };
        let items: Vec<Value> = page.iter().map(|u| json!({account: u})).collect();
        Ok(json!({
            list_key: items, "IsFinish": u8::from(finished),
            "Cursor": if finished { String::new() } else { end.to_string() },
        }))
    }

    /// `openim.c2c_msg_read_receipt` by `user`, the receiver of the listed messages (see the
    /// module docs); the reply body.
    pub fn c2c_receipt(&self, user: &str, b: &Value) -> Value {
        match self.c2c_receipt_inner(user, b) {
            Ok(()) => json!({"ErrorCode": 0, "ErrorInfo": ""}),
            Err((c, info)) => crate::network::tencent::wire::error_body(c, &info),
        }
    }

    fn c2c_receipt_inner(&self, user: &str, b: &Value) -> Result<(), Refusal> {
        let s = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let peer = s(b, "Peer_Account");
        let infos: Vec<Value> = b
            .get("C2CMsgInfo")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if peer.is_empty() || infos.is_empty() {
            return Err(refuse(
                code::INVALID_REQUEST,
                "Peer_Account and C2CMsgInfo are required",
            ));
        }
        let mut st = self.lock();
        let history = st
            .history
            .get_mut(&pair(user, &peer))
            .ok_or_else(|| refuse(MSG_NOT_FOUND, "no conversation with Peer_Account"))?;
        let mut found = Vec::new();
        for i in &infos {
            if s(i, "From_Account") != peer || s(i, "To_Account") != user {
                return Err(refuse(
                    code::INVALID_REQUEST,
                    "only the receiver of a message from Peer_Account gives its receipt",
                ));
            }
            let at = history
                .iter()
                .position(|m| {
                    m["From_Account"] == peer.as_str()
                        && n(m, "MsgSeq") == n(i, "MsgSeq")
                        && n(m, "MsgRandom") == n(i, "MsgRandom")
                })
                .ok_or_else(|| refuse(MSG_NOT_FOUND, "message not found"))?;
            if history[at]["IsNeedReadReceipt"] != 1 {
                return Err(refuse(
                    code::INVALID_REQUEST,
                    "the message asked for no read receipt",
                ));
            }
            found.push(at);
        }
        let mut items = Vec::new();
        for at in found {
            let m = &mut history[at];
            if m["IsPeerRead"] == 1 {
                continue;
            }
            m["IsPeerRead"] = json!(1);
            items.push(json!({
                "From_Account": m["From_Account"], "To_Account": m["To_Account"],
                "MsgKey": m["MsgKey"], "MsgSeq": m["MsgSeq"], "MsgRandom": m["MsgRandom"],
                "MsgTime": m["MsgTimeStamp"], "TinyId": m["TinyId"],
                "MsgClientTime": m["MsgClientTime"],
            }));
        }
        if !items.is_empty() {
            let frame = push_event(json!({
                "event": C2C_RECEIPT_EVENT, "Peer_Account": user, "PeerReadTime": unix_now(),
                "C2cMsgInfo": items,
            }));
            fan_out(&mut st, &peer, &frame, None);
        }
        Ok(())
    }
}

/// `(ReadNum, UnreadNum)` of `r` among the group's `members`.
fn counts(r: &Receipt, members: &[String]) -> (usize, usize) {
    let unread = members
        .iter()
        .filter(|m| **m != r.sender && !r.readers.contains(m))
        .count();
    (r.readers.len(), unread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::sandbox::state::{SandboxConfig, SendMeta};

    fn group(sb: &Sandbox) -> String {
        for u in ["alice", "bob", "carol"] {
            sb.import(u);
        }
        let members = ["bob".to_owned(), "carol".to_owned()];
        sb.create_group("Work", "", "Team", "alice", &members)
            .unwrap_or_default()
    }

    #[test]
    fn group_receipts_count_members_once_and_refuse_bad_input() {
        let sb = Sandbox::new(SandboxConfig::new(1_400_000_001, "key"));
        let gid = group(&sb);
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "read me"}}]);
        let meta = GroupSendMeta {
            random: 5,
            at_info: json!([]),
            need_receipt: true,
            client_time: 77,
            cloud_custom_data: String::new(),
        };
        let asked = sb.send_group_with("alice", &gid, &body, &meta, None);
        let plain = sb.send_group("alice", &gid, 6, &body, &json!([]), None);
        let (asked, plain) = match (asked, plain) {
            (Ok(a), Ok(p)) => (a, p),
            other => panic!("sends: {other:?} to {gid}"),
        };
        let read = |user: &str, seq: u64| {
            sb.group_receipt_call(
                "group_msg_receipt",
                user,
                &gid,
                &json!({"GroupId": gid, "MsgSeqList": [{"MsgSeq": seq}]}),
            )
        };
        assert!(read("bob", asked.seq).is_ok());
        assert!(read("bob", asked.seq).is_ok(), "idempotent");
        assert_eq!(
            read("alice", asked.seq).map_err(|e| e.0),
            Err(code::INVALID_REQUEST)
        );
        assert_eq!(read("bob", plain.seq).map_err(|e| e.0), Err(MSG_NOT_FOUND));
        assert_eq!(
            read("mallory", asked.seq).map_err(|e| e.0),
            Err(NOT_A_MEMBER)
        );
        assert_eq!(read("bob", 99).map_err(|e| e.0), Err(MSG_NOT_FOUND));
        let got = sb
            .group_receipt_call(
                "get_group_msg_receipt",
                "alice",
                &gid,
                &json!({"MsgSeqList": [{"MsgSeq": asked.seq}]}),
            )
            .unwrap_or_default();
        assert_eq!(got["GroupMsgReceiptList"][0]["ReadNum"], 1);
        assert_eq!(got["GroupMsgReceiptList"][0]["UnreadNum"], 1);
        let detail = |flag: u64| {
            sb.group_receipt_call(
                "get_group_msg_receipt_detail",
                "alice",
                &gid,
                &json!({"MsgSeq": asked.seq, "Flag": flag, "Cursor": "", "Num": 10}),
            )
            .unwrap_or_default()
        };
        assert_eq!(detail(0)["ReadList"], json!([{"Read_Account": "bob"}]));
        assert_eq!(
            detail(1)["UnreadList"],
            json!([{"Unread_Account": "carol"}])
        );
        assert_eq!(detail(1)["IsFinish"], 1);
    }

    #[test]
    fn c2c_receipts_only_by_the_receiver_of_a_message_that_asked() {
        let sb = Sandbox::new(SandboxConfig::new(1_400_000_001, "key"));
        sb.import("alice");
        sb.import("bob");
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}]);
        let asked = SendMeta {
            seq: 1,
            random: 2,
            need_receipt: true,
            ..Default::default()
        };
        let plain = SendMeta {
            seq: 3,
            random: 4,
            ..Default::default()
        };
        assert!(sb.send_c2c("alice", "bob", &body, &asked, None).is_some());
        assert!(sb.send_c2c("alice", "bob", &body, &plain, None).is_some());
        let receipt = |user: &str, peer: &str, seq: u64, random: u64| {
            sb.c2c_receipt(
                user,
                &json!({"Peer_Account": peer, "C2CMsgInfo": [{"From_Account": "alice",
                        "To_Account": "bob", "MsgSeq": seq, "MsgRandom": random}]}),
            )["ErrorCode"]
                .as_i64()
        };
        assert_eq!(receipt("bob", "alice", 1, 2), Some(0));
        assert_eq!(receipt("bob", "alice", 1, 2), Some(0), "idempotent");
        assert_eq!(receipt("bob", "alice", 3, 4), Some(code::INVALID_REQUEST));
        assert_eq!(receipt("alice", "bob", 1, 2), Some(code::INVALID_REQUEST));
        assert_eq!(receipt("bob", "alice", 9, 9), Some(MSG_NOT_FOUND));
        assert_eq!(
            sb.c2c_receipt("bob", &json!({}))["ErrorCode"].as_i64(),
            Some(code::INVALID_REQUEST)
        );
        let (history, _) = sb.roam("alice", "bob", "", 10);
        assert_eq!(history[0]["IsPeerRead"], 1);
        assert_eq!(history[0]["IsNeedReadReceipt"], 1);
        assert!(history[1].get("IsNeedReadReceipt").is_none());
    }
}
