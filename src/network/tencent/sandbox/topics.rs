//! The sandbox's Community topics (`million_group_open_http_svc.*`): a Community created
//! with `SupportTopic: 1` holds topics, each a named conversation with its own `MsgSeq`
//! numbering (messages go through `send_group_msg` with `GroupId` + `TopicId`, history
//! through `group_msg_get` with `TopicId`, [`super::groups`]).
//!
//! Shapes are those the `@tencentcloud/chat` 3.6.6 bundle sends and maps (its protocol table
//! for `create_topic`, `destroy_topic`, `modify_topic`, `get_topic`, and the `msg_push`
//! keyMap): requests `{GroupId, TopicId?, TopicName, FaceUrl, CustomString, Notification,
//! Introduction}` / `{GroupId, TopicIdList}`; `create_topic` answers `TopicId`,
//! `destroy_topic` `DestroyResultItem [{TopicId, ErrorCode, ErrorInfo}]`, `get_topic`
//! `TopicAndSelfInfo [{TopicInfo, SelfInfo, ErrorCode, ErrorInfo}]` (`TopicInfo.GroupID`). Pushes:
//! topic created / deleted are group system notices (event 5, `GroupTips` items, `OpType`
//! 17 / 18, the deleted ids in `TopicIdArray`; the SDK's `onTopicCreated` /
//! `onTopicDeleted`), a topic's profile change a group tip (event 4, `OpType` 8 with
//! `MsgTopicNewInfo`: `TopicName`, `TopicFaceUrl`, `TopicIntroduction`, `TopicNotification`,
//! `CustomString`; the SDK's `onTopicUpdated`). Every push's `GroupInfo` carries
//! `MillionGroupFlag: 2` and the `TopicId`.

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::super::wire;
use super::groups::{push_frame, Group, MsgLog, GROUP_NOT_FOUND, NOT_A_MEMBER};
use super::state::{unix_now, Sandbox};
use super::ws::ok;

/// What separates a topic id's group part from its own (`@TGS#_…@TOPIC#_…`; the SDK's
/// `isTopicID` test).
pub const TOPIC_MARK: &str = "@TOPIC#_";

/// `ErrorCode` for a topic that does not exist. The REST docs give 10010 for a group that
/// does not exist; the sandbox answers a missing topic the same way.
pub const TOPIC_NOT_FOUND: i64 = 10010;

/// `ErrorCode` for a group that is not a topic-enabled Community (REST docs: 10004,
/// invalid parameters).
pub const NOT_A_TOPIC_COMMUNITY: i64 = 10004;

/// `OpType` of the system notice for a created topic.
pub const OP_TOPIC_CREATED: u32 = 17;
/// `OpType` of the system notice for deleted topics.
pub const OP_TOPIC_DELETED: u32 = 18;
/// `OpType` of the group tip for a topic's profile change.
pub const OP_TOPIC_PROFILE: u32 = 8;

/// `(group id, topic id)` of an id that may be a topic id.
pub fn split_topic_id(id: &str) -> (&str, Option<&str>) {
    match id.find(TOPIC_MARK) {
        Some(i) if i > 0 => (&id[..i], Some(id)),
        _ => (id, None),
    }
}

/// One topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Topic {
    pub(super) id: String,
    name: String,
    introduction: String,
    notification: String,
    face_url: String,
    custom: String,
    create_time: u64,
    pub(super) log: MsgLog,
}

impl Topic {
    /// The `TopicInfo` of `get_topic`. It names its group as `GroupID` (the SDK's
    /// `get_topic` keyMap maps `GroupID` → `groupID`, and files each topic under it).
    fn info(&self, group_id: &str) -> Value {
        json!({
            "GroupID": group_id, "TopicId": self.id, "TopicName": self.name, "Introduction": self.introduction,
            "Notification": self.notification, "FaceUrl": self.face_url,
            "CustomString": self.custom, "CreateTime": self.create_time,
            "ShutUpAllFlag": 0, "LastMsgTime": self.log.last_msg_time,
            "NextMsgSeq": self.log.next_seq(), "LastMsgSeq": self.log.msgs.len(),
        })
    }
}

/// A topic profile change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TopicChange {
    pub name: Option<String>,
    pub introduction: Option<String>,
    pub notification: Option<String>,
    pub face_url: Option<String>,
    pub custom: Option<String>,
}

impl TopicChange {
    /// `TopicName` / `Introduction` / `Notification` / `FaceUrl` / `CustomString` of a body.
    pub fn of(b: &Value) -> Self {
        let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_owned);
        Self {
            name: s("TopicName"),
            introduction: s("Introduction"),
            notification: s("Notification"),
            face_url: s("FaceUrl"),
            custom: s("CustomString"),
        }
    }

    fn apply(&self, t: &mut Topic) {
        let fields = [
            (&self.name, &mut t.name),
            (&self.introduction, &mut t.introduction),
            (&self.notification, &mut t.notification),
            (&self.face_url, &mut t.face_url),
            (&self.custom, &mut t.custom),
        ];
        for (new, old) in fields {
            if let Some(v) = new {
                old.clone_from(v);
            }
        }
    }

    /// `MsgTopicNewInfo` of the tip: the changed fields only.
    fn new_info(&self) -> Value {
        let mut m = Map::new();
        let fields = [
            ("TopicName", &self.name),
            ("TopicIntroduction", &self.introduction),
            ("TopicNotification", &self.notification),
            ("TopicFaceUrl", &self.face_url),
            ("CustomString", &self.custom),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }
}

type Refusal = (i64, String);

fn community<'a>(
    groups: &'a mut std::collections::HashMap<String, Group>,
    gid: &str,
    operator: &str,
    admin: &str,
) -> Result<&'a mut Group, Refusal> {
    let g = groups
        .get_mut(gid)
        .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
    if !g.support_topic {
        return Err((
            NOT_A_TOPIC_COMMUNITY,
            "the group is not a Community with topics".into(),
        ));
    }
    if operator != admin && !g.is_member(operator) {
        return Err((NOT_A_MEMBER, "not a member of the group".into()));
    }
    Ok(g)
}

/// Pushes a topic notice (`event` 5 system notice or 4 tip) with `body` to every member.
fn notice(sb: &Sandbox, g: &Group, event: u32, topic: Option<&str>, operator: &str, body: Value) {
    let time = unix_now();
    let item = json!({
        "GroupInfo": g.push_info(topic), "ToGroupId": g.id, "From_Account": operator,
        "MsgSeq": 0, "MsgRandom": rand::rng().random::<u32>(), "MsgTimeStamp": time,
        "MsgBody": body, "IsSystemMsg": 0,
    });
    let frame = push_frame(event, "GroupTips", vec![item]);
    for m in &g.members {
        sb.push_to(&m.account, &frame, None);
    }
}

impl Sandbox {
    /// Makes `group_id` a topic-enabled Community (`create_group` with `SupportTopic: 1`).
    pub fn enable_topics(&self, group_id: &str) {
        if let Some(g) = self.groups_lock().get_mut(group_id) {
            g.support_topic = g.kind == "Community";
        }
    }

    /// `create_topic`: a topic in `group_id` named `name` (`topic_id` empty picks
    /// `<group id>@TOPIC#_<random>`); system notice 17 to the members. Returns the TopicId.
    pub fn create_topic(
        &self,
        operator: &str,
        group_id: &str,
        topic_id: &str,
        change: &TopicChange,
    ) -> Result<String, Refusal> {
        let mut groups = self.groups_lock();
        let g = community(&mut groups, group_id, operator, &self.cfg.admin)?;
        let id = if topic_id.is_empty() {
            format!(
                "{group_id}{TOPIC_MARK}{:010X}",
                rand::rng().random::<u64>() & 0xff_ffff_ffff
            )
        } else if split_topic_id(topic_id).0 == group_id && topic_id.len() > group_id.len() + 8 {
            topic_id.to_owned()
        } else {
            return Err((
                wire::code::INVALID_REQUEST,
                format!("TopicId must start with {group_id}{TOPIC_MARK}"),
            ));
        };
        if g.topics.iter().any(|t| t.id == id) {
            return Err((
                super::groups::GROUP_ID_TAKEN,
                "TopicId is already used".into(),
            ));
        }
        let mut t = Topic {
            id: id.clone(),
            name: String::new(),
            introduction: String::new(),
            notification: String::new(),
            face_url: String::new(),
            custom: String::new(),
            create_time: unix_now(),
            log: MsgLog::default(),
        };
        change.apply(&mut t);
        if t.name.is_empty() {
            return Err((wire::code::INVALID_REQUEST, "TopicName is required".into()));
        }
        g.topics.push(t);
        let body = json!({"OpType": OP_TOPIC_CREATED, "Operator_Account": operator});
        notice(self, g, 5, Some(&id), operator, body);
        Ok(id)
    }

    /// `destroy_topic`: deletes `ids`; one `(TopicId, ErrorCode, ErrorInfo)` per id; system
    /// notice 18 with the deleted ones in `TopicIdArray`.
    pub fn destroy_topics(
        &self,
        operator: &str,
        group_id: &str,
        ids: &[String],
    ) -> Result<Vec<Value>, Refusal> {
        let mut groups = self.groups_lock();
        let g = community(&mut groups, group_id, operator, &self.cfg.admin)?;
        let mut results = Vec::new();
        let mut gone = Vec::new();
        for id in ids {
            let before = g.topics.len();
            g.topics.retain(|t| &t.id != id);
            if g.topics.len() < before {
                gone.push(id.clone());
                results.push(json!({"TopicId": id, "ErrorCode": 0, "ErrorInfo": ""}));
            } else {
                results.push(json!({"TopicId": id, "ErrorCode": TOPIC_NOT_FOUND,
                                    "ErrorInfo": "topic does not exist"}));
            }
        }
        if !gone.is_empty() {
            let body = json!({"OpType": OP_TOPIC_DELETED, "Operator_Account": operator,
                              "TopicIdArray": gone});
            notice(self, g, 5, None, operator, body);
        }
        Ok(results)
    }

    /// `modify_topic`: changes a topic's profile; tip 8 with `MsgTopicNewInfo`.
    pub fn modify_topic(
        &self,
        operator: &str,
        group_id: &str,
        topic_id: &str,
        change: &TopicChange,
    ) -> Result<(), Refusal> {
        let mut groups = self.groups_lock();
        let g = community(&mut groups, group_id, operator, &self.cfg.admin)?;
        let t = g
            .topics
            .iter_mut()
            .find(|t| t.id == topic_id)
            .ok_or((TOPIC_NOT_FOUND, "topic does not exist".to_owned()))?;
        change.apply(t);
        let body = json!({"OpType": OP_TOPIC_PROFILE, "Operator_Account": operator,
                          "MsgTopicNewInfo": change.new_info()});
        notice(self, g, 4, Some(topic_id), operator, body);
        Ok(())
    }

    /// `get_topic`: `TopicAndSelfInfo` items of `ids` (all topics when empty).
    pub fn get_topics(
        &self,
        viewer: &str,
        group_id: &str,
        ids: &[String],
    ) -> Result<Vec<Value>, Refusal> {
        let mut groups = self.groups_lock();
        let g = community(&mut groups, group_id, viewer, &self.cfg.admin)?;
        let self_info = |t: &Topic| json!({"MsgFlag": "AcceptAndNotify", "MsgSeq": t.log.msgs.len(), "ShutUpTime": 0});
        let item = |t: &Topic| {
            json!({"TopicInfo": t.info(group_id), "SelfInfo": self_info(t),
                   "ErrorCode": 0, "ErrorInfo": ""})
        };
        Ok(if ids.is_empty() {
            g.topics.iter().map(item).collect()
        } else {
            ids.iter()
                .map(|id| match g.topics.iter().find(|t| &t.id == id) {
                    Some(t) => item(t),
                    None => json!({"TopicInfo": {"TopicId": id}, "ErrorCode": TOPIC_NOT_FOUND,
                                   "ErrorInfo": "topic does not exist"}),
                })
                .collect()
        })
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// A Community command (`million_group_open_http_svc.<command>`: the topic calls and the
/// joined Communities; the group calls on Communities are [`super::group_cmds::handle`]'s) from
/// the REST admin API
/// (`user` `None`; `From_Account` may name the operator) or a logged-in instance. `None`
/// when the command is not one of these.
pub fn handle(sb: &Sandbox, command: &str, user: Option<&str>, b: &Value) -> Option<Value> {
    let admin = sb.cfg.admin.clone();
    let me = user
        .or_else(|| b.get("From_Account").and_then(Value::as_str))
        .unwrap_or(&admin)
        .to_owned();
    let gid = b.get("GroupId").and_then(Value::as_str).unwrap_or_default();
    let err = |(c, info): Refusal| wire::error_body(c, &info);
    let tid = b.get("TopicId").and_then(Value::as_str).unwrap_or_default();
    Some(match command {
        "create_topic" => match sb.create_topic(&me, gid, tid, &TopicChange::of(b)) {
            Ok(id) => ok(json!({"TopicId": id})),
            Err(e) => err(e),
        },
        "destroy_topic" => match sb.destroy_topics(&me, gid, &strings(b.get("TopicIdList"))) {
            Ok(list) => ok(json!({"DestroyResultItem": list})),
            Err(e) => err(e),
        },
        "modify_topic" => match sb.modify_topic(&me, gid, tid, &TopicChange::of(b)) {
            Ok(()) => ok(json!({})),
            Err(e) => err(e),
        },
        "get_topic" => match sb.get_topics(&me, gid, &strings(b.get("TopicIdList"))) {
            Ok(list) => ok(json!({"TopicAndSelfInfo": list})),
            Err(e) => err(e),
        },
        "get_joined_group_list" => {
            // `SupportTopic` 1: the Communities with topics, 0: those without (the SDK asks
            // for each); absent: all Communities.
            let topics = b.get("SupportTopic").and_then(Value::as_u64);
            let who = b
                .get("Member_Account")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(&me);
            let list: Vec<Value> = sb
                .joined_groups(who)
                .into_iter()
                .filter(|g| g["Type"] == "Community")
                .filter(|g| topics.is_none_or(|t| g["SupportTopic"] == t))
                .collect();
            ok(json!({"GroupIdList": list, "TotalCount": list.len()}))
        }
        _ => return None,
    })
}
