//! The sandbox's operations on group messages already sent: history (`group_msg_get`), recall
//! (`group_open_http_svc.group_msg_recall`) and the member's read marker
//! (`group_open_http_svc.msg_read_report`), with the notices the official SDK reads.
//!
//! Shapes, from `@tencentcloud/chat` 3.6.6 (`REVOKE_GRP_MSG` / `SET_GRP_MSG_READ` request maps
//! and the event-5 `GroupTips` handler, which picks an item by what its `MsgBody` holds):
//! - recall request `{GroupId, MsgSeqList: [{MsgSeq}], TopicId?}`, reply
//!   `{RecallRetList: [{MsgSeq, RetCode}]}`; every member hears an event-5 `GroupTips` item
//!   whose `MsgBody.GroupWithdrawInfoArray` lists `{GroupId, TopicId?, MsgSeq, MsgRandom}`, and
//!   whose `RevokerInfo.Revoker_Account` names who recalled; `group_msg_get` then returns the
//!   message with `IsPlaceMsg: 2` (the SDK's `isRevoked`).
//! - read request `{GroupId, MsgReadedSeq, TopicId?}`; the reader's other instances hear an
//!   event-5 item whose `MsgBody.GroupReadInfoArray` lists `{GroupId, TopicId?, LastReadMsgSeq}`.
//!
//! - edit request (servcmd `openim.modify_group_msg`, `MODIFY_GRP_MSG`) `{GroupId, TopicId?,
//!   MsgSeq, MsgVersion, MsgBody, CloudCustomData?}`; only the author edits, and only from the
//!   stored `MsgVersion` (else 20027 with the stored body and version, as for C2C); the
//!   version grows by one; every member's instance but the editing one hears a push whose
//!   `GroupMsgModNotifys` item carries the message's `From_Account`, `GroupId`, `TopicId`,
//!   `MsgSeq`, `MsgRandom`, `MsgTime`, the new `MsgBody` / `CloudCustomData` and `MsgVersion`
//!   (the SDK finds its copy by from, group, random, seq and time). The push's `event` number
//!   is not known (the SDK dispatches on the array's key); the sandbox uses 9, as for C2C.
//!
//! Who may recall: the author, the group's owner or an admin, or the REST admin. The service's
//! recall time limit (a console setting, 2 minutes by default) is not enforced here.

use rand::Rng;
use serde_json::{json, Value};

use super::groups::{push_frame, GROUP_NOT_FOUND, NOT_A_MEMBER};
use super::state::c2c_ops::{MODIFY_CONFLICT, MSG_NOT_FOUND};
use super::state::Sandbox;
use crate::network::tencent::client::unix_now;
use crate::network::tencent::wire::{self, code};

/// `RetCode` of a recall of a message that does not exist (REST error table of
/// `group_msg_recall`: 10030, "the message to recall does not exist").
pub const RECALL_NOT_FOUND: i64 = 10030;
/// `RetCode` of a recall the requester may not make (10004 in the REST table: no permission).
pub const RECALL_NOT_ALLOWED: i64 = 10004;

type Refusal = (i64, String);

/// The `(group id, topic id)` a request body names (`TopicId` set for a Community topic).
fn target(b: &Value) -> (String, Option<String>) {
    let s = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    (s("GroupId").unwrap_or_default(), s("TopicId"))
}

impl Sandbox {
    /// `group_msg_get`: the messages with `MsgSeq` in `(req_seq - n, req_seq]`, newest first
    /// (as the service answers), for a member. `req_seq` 0 means the newest.
    pub fn group_msg_get(
        &self,
        user: &str,
        group_id: &str,
        req_seq: u64,
        n: u64,
    ) -> Result<(Vec<Value>, bool), (i64, String)> {
        let (gid, topic) = super::topics::split_topic_id(group_id);
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(gid)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if user != self.cfg.admin && !g.is_member(user) {
            return Err((NOT_A_MEMBER, "not a member of the group".into()));
        }
        if g.kind == super::live::LIVE_TYPE {
            return Err((
                super::live::LIVE_NO_HISTORY,
                "live rooms (AVChatRoom) keep no message history".into(),
            ));
        }
        let log = g.log_mut(topic).ok_or((
            super::topics::TOPIC_NOT_FOUND,
            "topic does not exist".to_owned(),
        ))?;
        let top = if req_seq == 0 {
            log.msgs.len() as u64
        } else {
            req_seq.min(log.msgs.len() as u64)
        };
        let n = n.clamp(1, 20);
        let bottom = top.saturating_sub(n);
        let list: Vec<Value> = (bottom + 1..=top)
            .rev()
            .filter_map(|s| log.msgs.get(s as usize - 1).cloned())
            .collect();
        Ok((list, bottom == 0))
    }

    /// `group_msg_recall` by `user` (the admin for a REST call): recalls each `MsgSeq` of
    /// `MsgSeqList` that exists and `user` may recall, and notifies every member's online
    /// instances but the recalling one (`except_conn`). The reply lists a `RetCode` per seq.
    pub fn recall_group(
        &self,
        user: &str,
        except_conn: Option<u64>,
        b: &Value,
    ) -> Result<Value, Refusal> {
        let (gid, topic) = target(b);
        let seqs: Vec<u64> = b
            .get("MsgSeqList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("MsgSeq").and_then(Value::as_u64))
            .collect();
        let admin = user == self.cfg.admin;
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(&gid)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if !admin && !g.is_member(user) {
            return Err((NOT_A_MEMBER, "not a member of the group".into()));
        }
        let manager = admin || g.is_manager(user);
        let info = g.push_info(topic.as_deref());
        let members: Vec<String> = g.members.iter().map(|m| m.account.clone()).collect();
        let log = g.log_mut(topic.as_deref()).ok_or((
            super::topics::TOPIC_NOT_FOUND,
            "topic does not exist".to_owned(),
        ))?;
        let mut results = Vec::new();
        let mut withdrawn = Vec::new();
        for seq in seqs {
            let slot = log.message_mut(seq);
            let code = match slot {
                Some(m) if m["IsPlaceMsg"] == 2 => RECALL_NOT_FOUND,
                Some(m) if !manager && m["From_Account"] != user => RECALL_NOT_ALLOWED,
                Some(m) => {
                    m["IsPlaceMsg"] = json!(2);
                    let mut w = json!({"GroupId": gid, "MsgSeq": seq, "MsgRandom": m["MsgRandom"]});
                    if let Some(t) = &topic {
                        w["TopicId"] = json!(t);
                    }
                    withdrawn.push(w);
                    0
                }
                None => RECALL_NOT_FOUND,
            };
            results.push(json!({"MsgSeq": seq, "RetCode": code}));
        }
        drop(groups);
        if !withdrawn.is_empty() {
            let item = notice_item(
                &info,
                &gid,
                user,
                json!({"GroupWithdrawInfoArray": withdrawn}),
                Some(json!({"Revoker_Account": user, "Reason": ""})),
            );
            let frame = push_frame(5, "GroupTips", vec![item]);
            for m in members {
                self.push_to(&m, &frame, except_conn);
            }
        }
        Ok(json!({"RecallRetList": results}))
    }

    /// `openim.modify_group_msg` by `user` (see the module docs); the reply body (the stored
    /// `MsgBody`, `MsgVersion` and `CloudCustomData`, or the refusal).
    pub fn modify_group_msg(&self, user: &str, except_conn: Option<u64>, b: &Value) -> Value {
        match self.modify_group_inner(user, except_conn, b) {
            Ok(v) | Err(v) => v,
        }
    }

    fn modify_group_inner(
        &self,
        user: &str,
        except_conn: Option<u64>,
        b: &Value,
    ) -> Result<Value, Value> {
        let refuse = |(c, info): Refusal| wire::error_body(c, &info);
        let (gid, topic) = target(b);
        let seq = b.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0);
        let version = b.get("MsgVersion").and_then(Value::as_u64).unwrap_or(0);
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(&gid)
            .ok_or_else(|| refuse((GROUP_NOT_FOUND, "group does not exist".into())))?;
        if !g.is_member(user) {
            return Err(refuse((NOT_A_MEMBER, "not a member of the group".into())));
        }
        let members: Vec<String> = g.members.iter().map(|m| m.account.clone()).collect();
        let info = g.push_info(topic.as_deref());
        let log = g.log_mut(topic.as_deref()).ok_or_else(|| {
            refuse((
                super::topics::TOPIC_NOT_FOUND,
                "topic does not exist".into(),
            ))
        })?;
        let msg = log
            .message_mut(seq)
            .filter(|m| m["IsPlaceMsg"] != 2)
            .ok_or_else(|| refuse((MSG_NOT_FOUND, "message not found".into())))?;
        if msg["From_Account"] != user {
            return Err(wire::error_body(
                code::INVALID_REQUEST,
                "only the sender may edit",
            ));
        }
        let stored = msg.get("MsgVersion").and_then(Value::as_u64).unwrap_or(0);
        if version != stored {
            let mut e = wire::error_body(MODIFY_CONFLICT, "message was modified by someone else");
            e["MsgBody"] = msg["MsgBody"].clone();
            e["MsgVersion"] = stored.into();
            e["CloudCustomData"] = msg["CloudCustomData"].clone();
            return Err(e);
        }
        if let Some(body) = b
            .get("MsgBody")
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        {
            msg["MsgBody"] = body.clone();
        }
        if let Some(c) = b.get("CloudCustomData").filter(|c| c.is_string()) {
            msg["CloudCustomData"] = c.clone();
        }
        msg["MsgVersion"] = (stored + 1).into();
        let mut notify = json!({
            "From_Account": msg["From_Account"], "GroupId": gid, "GroupInfo": info,
            "MsgSeq": seq, "MsgRandom": msg["MsgRandom"], "MsgTime": msg["MsgTime"],
            "MsgTimeStamp": msg["MsgTimeStamp"], "MsgBody": msg["MsgBody"],
            "CloudCustomData": msg["CloudCustomData"], "MsgVersion": msg["MsgVersion"],
        });
        if let Some(t) = &topic {
            notify["TopicId"] = json!(t);
        }
        let reply = json!({"ErrorCode": 0, "ErrorInfo": "", "MsgBody": msg["MsgBody"],
                           "MsgVersion": msg["MsgVersion"], "CloudCustomData": msg["CloudCustomData"]});
        drop(groups);
        let frame = push_frame(9, "GroupMsgModNotifys", vec![notify]);
        for m in members {
            self.push_to(&m, &frame, except_conn);
        }
        Ok(reply)
    }

    /// `msg_read_report` by member `user`: its read marker in the group (or topic) moves to
    /// `MsgReadedSeq`, and its other online instances (all but `except_conn`) hear it.
    pub fn read_group(
        &self,
        user: &str,
        except_conn: Option<u64>,
        b: &Value,
    ) -> Result<(), Refusal> {
        let (gid, topic) = target(b);
        let seq = b.get("MsgReadedSeq").and_then(Value::as_u64).unwrap_or(0);
        let groups = self.groups_lock();
        let g = groups
            .get(&gid)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if !g.is_member(user) {
            return Err((NOT_A_MEMBER, "not a member of the group".into()));
        }
        let info = g.push_info(topic.as_deref());
        drop(groups);
        let mut read = json!({"GroupId": gid, "LastReadMsgSeq": seq});
        if let Some(t) = &topic {
            read["TopicId"] = json!(t);
        }
        let item = notice_item(
            &info,
            &gid,
            user,
            json!({"GroupReadInfoArray": [read]}),
            None,
        );
        self.push_to(user, &push_frame(5, "GroupTips", vec![item]), except_conn);
        Ok(())
    }
}

/// An event-5 `GroupTips` item (a group system notice) carrying `body`.
pub(super) fn notice_item(
    info: &Value,
    gid: &str,
    from: &str,
    body: Value,
    revoker: Option<Value>,
) -> Value {
    let mut item = json!({
        "GroupInfo": info, "ToGroupId": gid, "From_Account": from, "MsgSeq": 0,
        "MsgRandom": rand::rng().random::<u32>(), "MsgTimeStamp": unix_now(),
        "MsgBody": body, "IsSystemMsg": 0,
    });
    if let Some(r) = revoker {
        item["RevokerInfo"] = r;
    }
    item
}
