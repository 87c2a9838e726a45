//! The sandbox's operations on group messages already sent: recall
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
//! Who may recall: the author, the group's owner or an admin, or the REST admin. The service's
//! recall time limit (a console setting, 2 minutes by default) is not enforced here.

use rand::Rng;
use serde_json::{json, Value};

use super::groups::{push_frame, GROUP_NOT_FOUND, NOT_A_MEMBER};
use super::state::Sandbox;
use crate::network::tencent::client::unix_now;

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
            let slot = seq
                .checked_sub(1)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| log.msgs.get_mut(i));
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
fn notice_item(info: &Value, gid: &str, from: &str, body: Value, revoker: Option<Value>) -> Value {
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
