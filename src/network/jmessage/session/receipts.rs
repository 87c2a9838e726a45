//! Read receipts in the session: reporting messages read (`receipt_report`, as the Web SDK
//! 2.5.0 batches `addSingleReceiptReport` / `addGroupReceiptReport`) and the author's side,
//! `receipt_change {type, appkey, username | gid, receipt_msgs:[{msg_id, unread_count,
//! mtime}]}` → [`SessionEvent::ReceiptChange`]; `msg_unread_list` → [`MsgReaders`].

use std::time::Instant;

use serde_json::{json, Value};

use super::{SendError, Session, SessionEvent};
use crate::network::jmessage::across;
use crate::network::jmessage::wire::{event, MSG_TYPE_GROUP, MSG_TYPE_SINGLE};

/// How many receivers have not read one of our messages yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageUnread {
    pub msg_id: i64,
    /// Receivers that have not reported it read (0: everyone read it).
    pub unread_count: i64,
    /// When it changed, seconds since the epoch (0 when absent).
    pub mtime: i64,
}

/// Who has read one of our messages (`msg_unread_list`): usernames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MsgReaders {
    /// `read_list`.
    pub read: Vec<String>,
    /// `unread_list`.
    pub unread: Vec<String>,
}

impl MsgReaders {
    /// From a `msg_unread_list` answer (`{msg_unread_list: {read_list, unread_list}}`, each
    /// entry `{username, …}`); `None` without the object.
    /// Users are named as [`across`] does for a user of app `own_app`.
    pub fn from_value(v: &Value, own_app: &str) -> Option<Self> {
        let list = v.get("msg_unread_list")?.as_object()?;
        let names = |key: &str| -> Vec<String> {
            list.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| across::from_json(e, own_app))
                .collect()
        };
        Some(Self {
            read: names("read_list"),
            unread: names("unread_list"),
        })
    }
}

/// A `receipt_change` push: our messages in one conversation were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptChange {
    /// The group (`type` 4), `None` in single chat.
    pub gid: Option<i64>,
    /// The peer who read them (`type` 3).
    pub username: Option<String>,
    pub receipts: Vec<MessageUnread>,
}

impl Session {
    /// Reports `msg_ids` (received from `username` in single chat) read; the answer comes as
    /// [`SessionEvent::CallResult`].
    pub fn report_read_single(
        &mut self,
        username: &str,
        msg_ids: &[i64],
        now: Instant,
    ) -> Result<u64, SendError> {
        let mut session = across::to_json(username, &self.cfg.app_key);
        session["type"] = json!(MSG_TYPE_SINGLE);
        session["msg_ids"] = json!(msg_ids);
        self.call(event::RECEIPT_REPORT, json!({ "sessions": [session] }), now)
    }

    /// Reports `msg_ids` of group `gid` read.
    pub fn report_read_group(
        &mut self,
        gid: i64,
        msg_ids: &[i64],
        now: Instant,
    ) -> Result<u64, SendError> {
        let session = json!({"type": MSG_TYPE_GROUP, "gid": gid, "msg_ids": msg_ids});
        self.call(event::RECEIPT_REPORT, json!({ "sessions": [session] }), now)
    }

    /// Asks who read our message `msg_id` and who has not (`msg_unread_list`, the SDK's
    /// `msgUnreadList`); the answer comes as [`SessionEvent::CallResult`] (read it with
    /// [`MsgReaders::from_value`]).
    pub fn msg_unread_list(&mut self, msg_id: i64, now: Instant) -> Result<u64, SendError> {
        self.call(event::MSG_UNREAD_LIST, json!({ "msg_id": msg_id }), now)
    }

    /// A `receipt_change` push, live or in a `sync_receipt` hand-over (ignored when it names
    /// no message); true when it became an event.
    pub(super) fn on_receipt_change(&mut self, data: &Value) -> bool {
        let receipts: Vec<MessageUnread> = data["receipt_msgs"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|r| {
                        Some(MessageUnread {
                            msg_id: r["msg_id"].as_i64()?,
                            unread_count: r["unread_count"].as_i64().unwrap_or(0),
                            mtime: r["mtime"].as_i64().unwrap_or(0),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if receipts.is_empty() {
            return false;
        }
        let group = data["type"].as_i64() == Some(MSG_TYPE_GROUP);
        self.event(SessionEvent::ReceiptChange(ReceiptChange {
            gid: if group { data["gid"].as_i64() } else { None },
            username: if group {
                None
            } else {
                across::from_json(data, &self.cfg.app_key)
            },
            receipts,
        }));
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::super::tests::{drain, logged_in, respond};
    use super::*;

    #[test]
    fn reads_who_read_as_jchat_reads_it() {
        let v = json!({"code": 0, "msg_unread_list": {
            "read_list": [{"username": "bob", "appkey": "k", "nickname": "Bob", "avatar": ""}],
            "unread_list": [{"username": "carol"}, {"nickname": "no name"}]}});
        let r = MsgReaders::from_value(&v, "k").expect("the shape");
        assert_eq!(r.read, ["bob"]);
        assert_eq!(r.unread, ["carol"]);
        assert_eq!(MsgReaders::from_value(&json!({"code": 0}), "k"), None);
    }

    #[test]
    fn reports_are_built_as_the_sdk_batches_them_and_changes_are_typed() {
        let now = Instant::now();
        let mut s = logged_in(now);
        s.report_read_single("bob", &[1, 2], now).unwrap();
        s.report_read_group(42, &[3], now).unwrap();
        let (sent, _, _) = drain(&mut s);
        assert_eq!(sent[0].0, "receipt_report");
        assert_eq!(
            sent[0].1["sessions"][0],
            json!({"type": 3, "appkey": "appkey", "username": "bob", "msg_ids": [1, 2]})
        );
        assert_eq!(
            sent[1].1["sessions"][0],
            json!({"type": 4, "gid": 42, "msg_ids": [3]})
        );
        respond(
            &mut s,
            "receipt_change",
            json!({"type": 4, "gid": 42, "receipt_msgs": [{"msg_id": 3, "unread_count": 1, "mtime": 9}]}),
            now,
        );
        for bad in [
            json!({"type": 3}),
            json!({"receipt_msgs": [{"msg_id": "x"}]}),
            json!(7),
        ] {
            respond(&mut s, "receipt_change", bad, now);
        }
        let (_, events, _) = drain(&mut s);
        assert_eq!(
            events,
            vec![SessionEvent::ReceiptChange(ReceiptChange {
                gid: Some(42),
                username: None,
                receipts: vec![MessageUnread {
                    msg_id: 3,
                    unread_count: 1,
                    mtime: 9
                }],
            })]
        );
    }
}
