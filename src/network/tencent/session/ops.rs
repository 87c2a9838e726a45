//! C2C operations on sent messages, client side: the request bodies of recall
//! (`openim.msgwithdraw`), edit (`openim.modify_c2c_msg`), the read marker
//! (`openim.msgreaded`) and the typing notice (an online-only `TIMCustomElem`), and the
//! pushes that report them (`WithdrawC2cMsgNotify`, `C2cMsgModNotifys`, `C2cReadedReceipt`,
//! `ReadC2cMsgNotify`) turned into [`SessionEvent`]s.
//!
//! Shapes: captured from `@tencentcloud/chat` 3.6.6 on the wire and read in its bundle
//! (`revokeMessage`, `modifyRemoteMessage`, `setMessageRead`, `onMsgRevoked`,
//! `onMessageModified`, `onMsgReadReceipt`, `onMsgReadNotice`); the typing notice is the
//! TUIKit convention (`TIMSDK` `MessageTyping`: `businessID:"user_typing_status"`), sent
//! with `onlineUserOnly` (`MsgLifeTime:0`).

use serde_json::{json, Value};
use tracing::debug;

use super::super::elem::{from_msg_body, to_msg_body, CustomElem, Elem};
use super::{C2cMessage, Session, SessionEvent};

/// `servcmd` of a C2C recall.
pub const MSGWITHDRAW: &str = "openim.msgwithdraw";
/// `servcmd` of a C2C edit.
pub const MODIFY_C2C_MSG: &str = "openim.modify_c2c_msg";
/// `servcmd` of the C2C read marker.
pub const MSGREADED: &str = "openim.msgreaded";
/// The `businessID` of the TUIKit typing notice.
pub const TYPING_BUSINESS_ID: &str = "user_typing_status";

/// Which C2C message an operation is about: the keys the server matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct C2cRef {
    /// `From_Account`: the author.
    pub from: String,
    /// `To_Account`.
    pub to: String,
    /// `MsgSeq`.
    pub seq: u32,
    /// `MsgRandom`.
    pub random: u32,
    /// `MsgTimeStamp`, unix seconds (0 when unknown).
    pub time: u64,
    /// `MsgKey` (empty when the server left it out).
    pub key: String,
}

impl C2cRef {
    /// The reference of message `key` sent by `from` to `to`, when `key` has the service's
    /// `MsgKey` shape `"{MsgSeq}_{MsgRandom}_{MsgTimeStamp}"` (REST docs' example
    /// `"31906_833502_1572869830"`).
    pub fn from_key(from: &str, to: &str, key: &str) -> Option<Self> {
        let mut parts = key.split('_');
        let seq = parts.next()?.parse().ok()?;
        let random = parts.next()?.parse().ok()?;
        let time = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            from: from.to_owned(),
            to: to.to_owned(),
            seq,
            random,
            time,
            key: key.to_owned(),
        })
    }

    /// The message's key: `MsgKey`, else the `MsgKey` shape rebuilt from its parts.
    pub fn msg_key(&self) -> String {
        if self.key.is_empty() {
            format!("{}_{}_{}", self.seq, self.random, self.time)
        } else {
            self.key.clone()
        }
    }

    fn parse(v: &Value) -> Option<Self> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let from = s("From_Account");
        if from.is_empty() {
            return None;
        }
        Some(Self {
            from,
            to: s("To_Account"),
            seq: u32::try_from(n("MsgSeq")).ok()?,
            random: u32::try_from(n("MsgRandom")).ok()?,
            time: v
                .get("MsgTimeStamp")
                .or_else(|| v.get("MsgTime"))
                .and_then(Value::as_u64)
                .unwrap_or(0),
            key: s("MsgKey"),
        })
    }
}

/// The body of `openim.msgwithdraw` (the SDK's `revokeMessage`).
pub fn withdraw_body(m: &C2cRef) -> Value {
    json!({"MsgInfo": {
        "From_Account": m.from, "To_Account": m.to, "MsgSeq": m.seq,
        "MsgRandom": m.random, "MsgTimeStamp": m.time,
    }})
}

/// The body of `openim.modify_c2c_msg` (the SDK's `modifyMessage`): the new elements,
/// against the message's current `version` (0 before any edit). `cloud_custom_data`
/// replaces the message's `CloudCustomData`; `None` leaves it out, which keeps it (a
/// reply's quote survives the edit), as the SDK does when the message has none.
pub fn modify_body(
    m: &C2cRef,
    version: u64,
    elems: &[Elem],
    cloud_custom_data: Option<&str>,
) -> Value {
    let mut body = json!({
        "From_Account": m.from, "To_Account": m.to, "MsgSeq": m.seq, "MsgRandom": m.random,
        "MsgTime": m.time, "MsgVersion": version, "MsgBody": to_msg_body(elems),
    });
    if let (Some(c), Some(o)) = (cloud_custom_data, body.as_object_mut()) {
        o.insert("CloudCustomData".into(), c.into());
    }
    body
}

/// The `MsgVersion` of a `modify_c2c_msg` reply (the version the message has now).
pub fn modified_version(reply: &Value) -> Option<u64> {
    reply.get("MsgVersion").and_then(Value::as_u64)
}

/// The body of `openim.msgreaded` (the SDK's `setMessageRead`): the conversation with
/// `peer` read up to `last_time` (unix seconds of the last message read).
pub fn read_body(peer: &str, last_time: u64) -> Value {
    json!({"C2CMsgReaded": {"Cookie": "", "C2CMsgReadedItem": [
        {"To_Account": peer, "LastedMsgTime": last_time, "Receipt": 1}]}})
}

/// The body of the typing notice `from` → `to`: an `openim.sendmsg` of one
/// `TIMCustomElem` carrying the TUIKit JSON, online only (`MsgLifeTime:0`).
pub fn typing_body(from: &str, to: &str, active: bool, seq: u32, random: u32) -> Value {
    let data = if active {
        json!({"businessID": TYPING_BUSINESS_ID, "typingStatus": 1, "version": 1,
               "userAction": 14, "actionParam": "EIMAMSG_InputStatus_Ing"})
    } else {
        json!({"businessID": TYPING_BUSINESS_ID, "typingStatus": 0, "version": 1,
               "userAction": 0, "actionParam": "EIMAMSG_InputStatus_End"})
    };
    let elem = Elem::Custom(CustomElem {
        data: data.to_string(),
        ..CustomElem::default()
    });
    json!({
        "From_Account": from, "To_Account": to, "MsgSeq": seq, "MsgRandom": random,
        "MsgBody": to_msg_body(&[elem]), "CloudCustomData": "", "MsgLifeTime": 0,
        "MsgClientTime": 0,
    })
}

/// `Some(typing?)` when `elems` is a typing notice: one `TIMCustomElem` whose `Data` is
/// the TUIKit JSON (`typingStatus` 1/0; older clients: `actionParam`
/// `EIMAMSG_InputStatus_Ing`/`_End`).
pub fn typing_status(elems: &[Elem]) -> Option<bool> {
    let [Elem::Custom(c)] = elems else {
        return None;
    };
    let v: Value = serde_json::from_str(&c.data).ok()?;
    if v.get("businessID").and_then(Value::as_str) != Some(TYPING_BUSINESS_ID) {
        return None;
    }
    if let Some(s) = v.get("typingStatus").and_then(Value::as_i64) {
        return Some(s == 1);
    }
    Some(v.get("actionParam").and_then(Value::as_str) == Some("EIMAMSG_InputStatus_Ing"))
}

/// The quote of a reply, as the TUIKit puts it in `CloudCustomData`:
/// `{"messageReply":{"messageID","messageAbstract","messageSender","messageType","version":1}}`
/// (captured from a TUIKit-style `sendMessage` with `@tencentcloud/chat` 3.6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageReply {
    /// The SDK's `ID` of the message replied to ([`sdk_message_id`]).
    pub message_id: String,
    /// A short preview of it.
    pub message_abstract: String,
    /// Its sender's user id.
    pub message_sender: String,
    /// Its element type (`V2TIMElemType`: 1 text, 2 custom, 3 image, 4 sound, 5 video,
    /// 6 file, 7 location, 8 face).
    pub message_type: i64,
}

/// The SDK's `ID` of a message: `{sender TinyId}-{MsgClientTime}-{MsgRandom}` (the bundle's
/// `generateMessageID`).
pub fn sdk_message_id(tiny_id: &str, client_time: u64, random: u32) -> String {
    format!("{tiny_id}-{client_time}-{random}")
}

/// The `CloudCustomData` of a reply.
pub fn reply_data(reply: &MessageReply) -> String {
    json!({"messageReply": {
        "messageID": reply.message_id, "messageAbstract": reply.message_abstract,
        "messageSender": reply.message_sender, "messageType": reply.message_type, "version": 1,
    }})
    .to_string()
}

/// The reply quote in a message's `CloudCustomData`, if any (other app data is ignored).
pub fn parse_reply(cloud_custom_data: &str) -> Option<MessageReply> {
    let v: Value = serde_json::from_str(cloud_custom_data).ok()?;
    let r = v.get("messageReply")?;
    let s = |k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let message_id = s("messageID");
    if message_id.is_empty() {
        return None;
    }
    Some(MessageReply {
        message_id,
        message_abstract: s("messageAbstract"),
        message_sender: s("messageSender"),
        message_type: r.get("messageType").and_then(Value::as_i64).unwrap_or(0),
    })
}

/// A message edited on the server (`C2cMsgModNotifys` item).
#[derive(Debug, Clone, PartialEq)]
pub struct C2cModified {
    /// Which message (as first sent).
    pub target: C2cRef,
    /// Its elements now.
    pub elems: Vec<Elem>,
    /// `CloudCustomData` now.
    pub cloud_custom_data: String,
    /// `MsgVersion` now (1 after the first edit).
    pub version: u64,
}

impl Session {
    /// The operations' part of one `eventArray` item: `C2cMsgModNotifys`.
    pub(super) fn on_ops_event(&mut self, ev: &Value) {
        for n in ev
            .get("C2cMsgModNotifys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(target) = C2cRef::parse(n) else {
                debug!("tencent: C2cMsgModNotifys item without a sender skipped");
                continue;
            };
            let (elems, _) = from_msg_body(n.get("MsgBody").unwrap_or(&Value::Null));
            let cloud = n
                .get("CloudCustomData")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.event(SessionEvent::Modified(C2cModified {
                target,
                elems,
                cloud_custom_data: cloud.to_owned(),
                version: n.get("MsgVersion").and_then(Value::as_u64).unwrap_or(0),
            }));
        }
    }

    /// The operations' part of one `C2cNotifyMsgArray` item: recalls and read markers.
    pub(super) fn on_ops_notify(&mut self, n: &Value) {
        for info in n
            .pointer("/WithdrawC2cMsgNotify/C2cWithdrawInfoArray")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = C2cRef::parse(info) {
                self.event(SessionEvent::Recalled(r));
            }
        }
        if let Some(r) = n.get("C2cReadedReceipt") {
            let peer = r
                .get("To_Account")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let time = last_read_time(r);
            if !peer.is_empty() {
                self.event(SessionEvent::PeerRead {
                    peer: peer.to_owned(),
                    time,
                });
            }
        }
        for pair in n
            .pointer("/ReadC2cMsgNotify/UinPairReadArray")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let peer = pair
                .get("From_Account")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !peer.is_empty() {
                self.event(SessionEvent::ReadElsewhere {
                    peer: peer.to_owned(),
                    time: pair
                        .get("LastReadTime")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                });
            }
        }
    }
}

/// The latest `LastReadTime` of a `C2cReadedReceipt`'s `UinPairReadArray`.
fn last_read_time(r: &Value) -> u64 {
    r.get("UinPairReadArray")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("LastReadTime").and_then(Value::as_u64))
        .max()
        .unwrap_or(0)
}

/// The `C2cRef` of a received message (for recalling or editing it).
impl From<&C2cMessage> for C2cRef {
    fn from(m: &C2cMessage) -> Self {
        Self {
            from: m.from.clone(),
            to: m.to.clone(),
            seq: m.seq,
            random: m.random,
            time: m.time,
            key: m.key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::elem::TextElem;

    #[test]
    fn msg_keys_parse_into_the_server_match_keys() {
        let r = C2cRef::from_key("alice", "bob", "31906_833502_1572869830").expect("parses");
        assert_eq!((r.seq, r.random, r.time), (31906, 833502, 1572869830));
        assert_eq!(r.msg_key(), "31906_833502_1572869830");
        assert_eq!(
            withdraw_body(&r),
            json!({"MsgInfo": {"From_Account": "alice", "To_Account": "bob", "MsgSeq": 31906,
                               "MsgRandom": 833502, "MsgTimeStamp": 1572869830u64}})
        );
        for bad in [
            "",
            "1_2",
            "a_2_3",
            "1_2_3_4",
            "alice-1-2",
            "99999999999_1_1",
        ] {
            assert!(C2cRef::from_key("a", "b", bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn reply_quotes_round_trip_and_other_data_is_no_reply() {
        let r = MessageReply {
            message_id: sdk_message_id("144115", 1700000000, 42),
            message_abstract: "hi".into(),
            message_sender: "alice".into(),
            message_type: 1,
        };
        assert_eq!(r.message_id, "144115-1700000000-42");
        assert_eq!(parse_reply(&reply_data(&r)), Some(r));
        assert_eq!(parse_reply(""), None);
        assert_eq!(parse_reply(r#"{"order":1}"#), None);
        assert_eq!(parse_reply(r#"{"messageReply":{"messageID":""}}"#), None);
        assert_eq!(parse_reply("not json"), None);
    }

    #[test]
    fn modify_and_read_bodies_match_the_sdk() {
        let r = C2cRef::from_key("alice", "bob", "2_3_4").unwrap();
        let b = modify_body(&r, 1, &[Elem::text("new")], None);
        assert!(b.get("CloudCustomData").is_none());
        assert_eq!(modify_body(&r, 1, &[], Some("x"))["CloudCustomData"], "x");
        assert_eq!(b["MsgVersion"], 1);
        assert_eq!(b["MsgTime"], 4);
        assert_eq!(b["MsgBody"][0]["MsgContent"]["Text"], "new");
        let b = read_body("bob", 77);
        assert_eq!(
            b["C2CMsgReaded"]["C2CMsgReadedItem"][0]["To_Account"],
            "bob"
        );
        assert_eq!(
            b["C2CMsgReaded"]["C2CMsgReadedItem"][0]["LastedMsgTime"],
            77
        );
    }

    #[test]
    fn typing_notices_round_trip_and_other_customs_are_not_typing() {
        for active in [true, false] {
            let b = typing_body("alice", "bob", active, 1, 2);
            assert_eq!(b["MsgLifeTime"], 0);
            let (elems, bad) = from_msg_body(&b["MsgBody"]);
            assert_eq!(bad, 0);
            assert_eq!(typing_status(&elems), Some(active));
        }
        let old = Elem::Custom(CustomElem {
            data: r#"{"businessID":"user_typing_status","actionParam":"EIMAMSG_InputStatus_Ing"}"#
                .into(),
            ..CustomElem::default()
        });
        assert_eq!(typing_status(&[old]), Some(true));
        let other = Elem::Custom(CustomElem {
            data: r#"{"businessID":"order"}"#.into(),
            ..CustomElem::default()
        });
        assert_eq!(typing_status(&[other]), None);
        let text = Elem::Text(TextElem { text: "{}".into() });
        assert_eq!(typing_status(&[text]), None);
    }

    /// A logged-in session fed the operations' pushes (shapes as the sandbox sends them).
    #[test]
    fn session_reports_recalls_edits_and_read_markers_and_acks_them() {
        use super::super::{Output, SessionConfig};
        use crate::network::tencent::wire::{self, servcmd, Head};
        use std::time::Instant;
        let now = Instant::now();
        let mut s = Session::new(SessionConfig::new(1, "alice", "SIG"), now, 1);
        s.on_connected(now);
        let login = match s.poll_output() {
            Some(Output::Transmit(t)) => wire::decode(t.as_bytes()).unwrap(),
            other => panic!("login expected: {other:?}"),
        };
        let ok = json!({"ErrorCode": 0, "A2Key": "A2", "TinyId": "9", "HelloInterval": 30});
        s.on_frame(wire::encode(&login.head, &ok).as_bytes(), now)
            .unwrap();
        while s.poll_output().is_some() {}
        let head = Head {
            servcmd: servcmd::MSG_PUSH.into(),
            seq: Some(0),
            ..Default::default()
        };
        let info = json!({"From_Account": "bob", "To_Account": "alice", "MsgSeq": 5,
                          "MsgRandom": 6, "MsgTimeStamp": 7});
        let pushes = [
            json!({"eventArray": [{"event": 7, "C2cNotifyMsgArray": [
                {"WithdrawC2cMsgNotify": {"C2cWithdrawInfoArray": [info]}}]}],
                   "NeedAck": 1, "SessionData": "s1"}),
            json!({"eventArray": [{"event": 9, "C2cMsgModNotifys": [{
                "From_Account": "bob", "To_Account": "alice", "MsgSeq": 5, "MsgRandom": 6,
                "MsgTimeStamp": 7, "MsgVersion": 2, "CloudCustomData": "",
                "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "new"}}]}]}],
                   "NeedAck": 1, "SessionData": "s2"}),
            json!({"eventArray": [{"event": 7, "C2cNotifyMsgArray": [
                {"C2cReadedReceipt": {"To_Account": "bob",
                                      "UinPairReadArray": [{"LastReadTime": 70}]}},
                {"ReadC2cMsgNotify": {"UinPairReadArray": [
                    {"From_Account": "carol", "LastReadTime": 80}]}},
                {"WithdrawC2cMsgNotify": {"C2cWithdrawInfoArray": [{"MsgSeq": 1}]}}]}],
                   "NeedAck": 1, "SessionData": "s3"}),
        ];
        let mut events = Vec::new();
        let mut acks = Vec::new();
        for p in pushes {
            s.on_frame(wire::encode(&head, &p).as_bytes(), now).unwrap();
            while let Some(o) = s.poll_output() {
                match o {
                    Output::Event(e) => events.push(*e),
                    Output::Transmit(t) => {
                        let f = wire::decode(t.as_bytes()).unwrap();
                        assert_eq!(f.head.servcmd, servcmd::PUSH_ACK);
                        acks.push(f.body["SessionData"].clone());
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        assert_eq!(acks, [json!("s1"), json!("s2"), json!("s3")]);
        let want_ref = C2cRef::from_key("bob", "alice", "5_6_7").unwrap();
        let mut bare = want_ref.clone();
        bare.key = String::new();
        assert_eq!(events[0], SessionEvent::Recalled(bare));
        let SessionEvent::Modified(m) = &events[1] else {
            panic!("an edit: {:?}", events[1]);
        };
        assert_eq!((m.target.msg_key(), m.version), (want_ref.msg_key(), 2));
        assert_eq!(m.elems, vec![Elem::text("new")]);
        assert_eq!(
            events[2],
            SessionEvent::PeerRead {
                peer: "bob".into(),
                time: 70
            }
        );
        assert_eq!(
            events[3],
            SessionEvent::ReadElsewhere {
                peer: "carol".into(),
                time: 80
            }
        );
        // The recall without a sender was skipped, not reported.
        assert_eq!(events.len(), 4);

        // A reply goes out with its quote as `CloudCustomData`.
        let quote = reply_data(&MessageReply {
            message_id: "1-2-3".into(),
            message_abstract: "hi".into(),
            message_sender: "bob".into(),
            message_type: 1,
        });
        s.send_c2c_with("bob", vec![Elem::text("re")], quote.clone(), now)
            .unwrap();
        let Some(Output::Transmit(t)) = s.poll_output() else {
            panic!("the send goes out");
        };
        let f = wire::decode(t.as_bytes()).unwrap();
        assert_eq!(f.head.servcmd, servcmd::SENDMSG);
        assert_eq!(f.body["CloudCustomData"], quote.as_str());
        assert_eq!(f.body["MsgBody"][0]["MsgContent"]["Text"], "re");
    }
}
