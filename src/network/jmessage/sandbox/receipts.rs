//! The sandbox's read receipts: `receipt_report {sessions:[{type:3, appkey, username,
//! msg_ids} | {type:4, gid, msg_ids}]}` (what the Web SDK 2.5.0 batches from
//! `addSingleReceiptReport` / `addGroupReceiptReport`) marks each message read by the
//! reporter, and the author's sockets get `receipt_change {type, appkey, username | gid,
//! receipt_msgs:[{msg_id, unread_count, mtime}]}` — the per-conversation shape the bundle
//! reads from `sync_receipt`'s `receipts[]` (the live push's shape is inferred from it; the
//! SDK hands it to `onMsgReceiptChange` unchanged). `username` is the reader in single chat.
//! An author without a socket gets it in `sync_receipt` at their next login
//! ([`super::offline`]). `msg_unread_list {msg_id}` tells the author who read it and who
//! has not.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::state::{now_ms, Sandbox};
use crate::network::jmessage::wire::{self, code, event};

impl Sandbox {
    /// `msg_unread_list` of message `msg_id` for its author `by`: `{read_list, unread_list}`
    /// of `{username, appkey, nickname, avatar}`. Another user's message, or one the ledger
    /// does not hold, is refused as not found ([`code::RETRACT_REFUSED`]'s "message not
    /// exist": the real code for this call is not documented).
    pub fn unread_list(&self, by: &str, msg_id: i64) -> Result<Value, super::state::Refusal> {
        let (receivers, unread) = {
            let book = self.book.lock().unwrap_or_else(|p| p.into_inner());
            let sent = book
                .sent
                .get(&msg_id)
                .filter(|s| s.from == by)
                .ok_or_else(|| {
                    super::groups::refusal(code::RETRACT_REFUSED, "message not exist")
                })?;
            (sent.receivers.clone(), sent.unread.clone())
        };
        let entry = |u: &String| {
            let p = self.profile(u).unwrap_or_default();
            let mut e = self.user_json(u);
            e["nickname"] = json!(p.nickname);
            e["avatar"] = json!(p.avatar);
            e
        };
        let read: Vec<Value> = receivers
            .iter()
            .filter(|u| !unread.contains(u))
            .map(entry)
            .collect();
        let unread: Vec<Value> = unread.iter().map(entry).collect();
        Ok(json!({"read_list": read, "unread_list": unread}))
    }

    /// `reader` read `msg_ids` (messages sent to them); each author learns the new unread
    /// counts. Ids that are unknown, not for `reader` or already read are ignored.
    pub fn report_read(&self, reader: &str, msg_ids: &[i64]) {
        // (author, gid) → [(msg_id, unread_count)]
        let mut changes: BTreeMap<(String, i64), Vec<(i64, usize)>> = BTreeMap::new();
        {
            let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
            for id in msg_ids {
                let Some(sent) = book.sent.get_mut(id) else {
                    continue;
                };
                let before = sent.unread.len();
                sent.unread.retain(|u| u != reader);
                if sent.unread.len() < before {
                    changes
                        .entry((sent.from.clone(), sent.gid))
                        .or_default()
                        .push((*id, sent.unread.len()));
                }
            }
        }
        let mtime = now_ms() / 1000;
        for ((author, gid), msgs) in changes {
            let receipt_msgs: Vec<Value> = msgs
                .iter()
                .map(|(id, n)| json!({"msg_id": id, "unread_count": n, "mtime": mtime}))
                .collect();
            let push = if gid == 0 {
                let mut push = self.user_json(reader);
                push["type"] = json!(wire::MSG_TYPE_SINGLE);
                push["receipt_msgs"] = json!(receipt_msgs);
                push
            } else {
                json!({"type": wire::MSG_TYPE_GROUP, "gid": gid, "receipt_msgs": receipt_msgs})
            };
            self.push_receipt(&author, &push);
        }
    }
}

/// Answers `receipt_report` of logged-in `user`; `None` for other events.
pub(super) fn handle(sandbox: &Sandbox, user: &str, name: &str, data: &Value) -> Option<Value> {
    if name == event::MSG_UNREAD_LIST {
        return Some(match data["msg_id"].as_i64() {
            Some(id) => match sandbox.unread_list(user, id).or_else(|r| {
                // The author's message to another app is in this app's ledger; a message of
                // another app's group is in that app's.
                sandbox
                    .peer_apps()
                    .iter()
                    .find_map(|app| {
                        app.unread_list(&app.name_of(user, &sandbox.cfg.app_key), id)
                            .ok()
                    })
                    .ok_or(r)
            }) {
                Ok(list) => json!({"code": 0, "message": "success", "msg_unread_list": list}),
                Err(r) => json!({"code": r.code, "message": r.message}),
            },
            None => json!({"code": code::INVALID_PARAMETER, "message": "invalid parameter"}),
        });
    }
    if name != event::RECEIPT_REPORT {
        return None;
    }
    let Some(sessions) = data["sessions"].as_array() else {
        return Some(json!({"code": code::INVALID_PARAMETER, "message": "invalid parameter"}));
    };
    let ids: Vec<i64> = sessions
        .iter()
        .filter_map(|s| s["msg_ids"].as_array())
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    sandbox.report_read(user, &ids);
    // Messages of other apps' users (cross-app chats, other apps' groups) are in their
    // ledgers; ids are unique across the federation, and unknown ones are ignored.
    for app in sandbox.peer_apps() {
        app.report_read(&app.name_of(user, &sandbox.cfg.app_key), &ids);
    }
    Some(json!({"code": 0, "message": "success"}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::jmessage::sandbox::SandboxConfig;
    use crate::network::jmessage::wire::Content;

    #[test]
    fn the_author_learns_who_read_and_nobody_else_does() {
        let sb = Sandbox::new(SandboxConfig::new("key", "secret"));
        for u in ["alice", "bob", "carol"] {
            sb.register(u, "pw");
        }
        let gid = sb.create_group("alice", "team", "").unwrap();
        sb.add_group_members("alice", gid, &["bob".into(), "carol".into()])
            .unwrap();
        let content: Content = serde_json::from_value(json!({"target_type": "group",
            "target_id": gid.to_string(), "from_id": "alice", "msg_type": "text",
            "msg_body": {"text": "hi"}}))
        .unwrap();
        let (id, _) = sb.send_group("alice", gid, content).unwrap();
        sb.report_read("bob", &[id]);
        let list = sb.unread_list("alice", id).unwrap();
        assert_eq!(list["read_list"][0]["username"], "bob");
        assert_eq!(list["unread_list"][0]["username"], "carol");
        assert_eq!(list["read_list"].as_array().map(Vec::len), Some(1));
        assert!(sb.unread_list("bob", id).is_err());
        assert!(sb.unread_list("alice", 42).is_err());
        let answer = handle(&sb, "alice", event::MSG_UNREAD_LIST, &json!({"msg_id": id}));
        assert_eq!(answer.as_ref().map(|a| a["code"].clone()), Some(json!(0)));
        let bad = handle(&sb, "alice", event::MSG_UNREAD_LIST, &json!({}));
        assert_ne!(bad.map(|a| a["code"].clone()), Some(json!(0)));
    }

    #[test]
    fn reports_count_down_once_per_reader_and_bad_ones_are_refused() {
        let sb = Sandbox::new(SandboxConfig::new("key", "secret"));
        for u in ["alice", "bob", "carol"] {
            sb.register(u, "pw");
        }
        let gid = sb.create_group("alice", "g", "").unwrap();
        sb.add_group_members("alice", gid, &["bob".into(), "carol".into()])
            .unwrap();
        let content: Content = serde_json::from_value(json!({"target_type":"group",
            "target_id":"0","from_id":"alice","msg_type":"text","msg_body":{"text":"x"}}))
        .unwrap();
        let (id, _) = sb.send_group("alice", gid, content).unwrap();
        let unread = |sb: &Sandbox| sb.book.lock().unwrap().sent[&id].unread.len();
        assert_eq!(unread(&sb), 2);
        sb.report_read("bob", &[id, id, 999]);
        sb.report_read("bob", &[id]);
        assert_eq!(unread(&sb), 1);
        sb.report_read("alice", &[id]); // the author is no receiver
        assert_eq!(unread(&sb), 1);
        let r = handle(&sb, "carol", "receipt_report", &json!({"sessions": "x"})).unwrap();
        assert_eq!(r["code"], code::INVALID_PARAMETER);
        let r = handle(
            &sb,
            "carol",
            "receipt_report",
            &json!({"sessions": [{"type": 4, "gid": gid, "msg_ids": [id, "x"]}]}),
        )
        .unwrap();
        assert_eq!(r["code"], 0);
        assert_eq!(unread(&sb), 0);
    }
}
