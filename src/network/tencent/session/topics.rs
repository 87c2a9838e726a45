//! Community topics in the session. A topic id (`@TGS#_<group>@TOPIC#_<topic>`) starts with
//! its Community's group id; sends, fetches and cursors treat a topic as one more group
//! conversation keyed by its topic id ([`super::group`]): sends carry `GroupId` + `TopicId`,
//! pushes name the topic in `GroupInfo.TopicId`, the catch-up reads each topic's
//! `NextMsgSeq` from `million_group_open_http_svc.get_topic` at login.
//!
//! Topic pushes (the `@tencentcloud/chat` 3.6.6 bundle's `_handleTopicSystemNotice` and
//! `_onTopicProfileUpdated`): system notice (event 5) `OpType` 17 created (the topic in
//! `GroupInfo.TopicId`), 18 deleted (`TopicIdArray`); tip (event 4) `OpType` 8 profile
//! changed (`MsgTopicNewInfo`: `TopicName`, `TopicFaceUrl`, `TopicIntroduction`,
//! `TopicNotification`, `CustomString`); all with `GroupInfo.MillionGroupFlag` 2.

use std::time::Instant;

use serde_json::{json, Value};
use tracing::warn;

use super::super::wire;
use super::group::GroupPending;
use super::group_wire::group_id_of;
use super::{Pending, Session, SessionEvent};

/// What separates a topic id's group part from its own.
pub const TOPIC_MARK: &str = "@TOPIC#_";

/// `million_group_open_http_svc.get_joined_group_list`: the joined Communities.
pub const GET_JOINED_COMMUNITY_LIST: &str = "million_group_open_http_svc.get_joined_group_list";
/// `million_group_open_http_svc.create_topic`.
pub const CREATE_TOPIC: &str = "million_group_open_http_svc.create_topic";
/// `million_group_open_http_svc.destroy_topic`.
pub const DESTROY_TOPIC: &str = "million_group_open_http_svc.destroy_topic";
/// `million_group_open_http_svc.modify_topic`.
pub const MODIFY_TOPIC: &str = "million_group_open_http_svc.modify_topic";
/// `million_group_open_http_svc.get_topic`.
pub const GET_TOPIC: &str = "million_group_open_http_svc.get_topic";

/// The Community group id of a topic id; `None` for an id that is not a topic's.
pub fn topic_group(id: &str) -> Option<&str> {
    match id.find(TOPIC_MARK) {
        Some(i) if i > 0 => Some(&id[..i]),
        _ => None,
    }
}

/// The servcmd of group command `servcmd` (`group_open_http_svc.<cmd>`) for conversation
/// `id`: a Community's or a topic's (ids starting `@TGS#_`, the SDK's `isCommunityGroup`
/// test) go to `million_group_open_http_svc.<cmd>`, as the SDK sends them (captured:
/// `million_group_open_http_svc.send_group_msg` with `GroupId` + `TopicId`).
pub(super) fn servcmd_for(id: &str, servcmd: &str) -> String {
    match servcmd.strip_prefix("group_open_http_svc.") {
        Some(cmd) if id.starts_with("@TGS#_") => format!("million_group_open_http_svc.{cmd}"),
        _ => servcmd.to_owned(),
    }
}

/// Puts `GroupId` (the group part) and `TopicId` into a request `body` for conversation
/// `id` when it is a topic; leaves it alone otherwise.
pub(super) fn address(body: &mut Value, id: &str) {
    if let (Some(gid), Some(m)) = (topic_group(id), body.as_object_mut()) {
        m.insert("GroupId".into(), json!(gid));
        m.insert("TopicId".into(), json!(id));
    }
}

/// A topic's profile fields; `None` = not given / unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicProfile {
    /// `TopicName`.
    pub name: Option<String>,
    /// `Introduction` / `TopicIntroduction`.
    pub introduction: Option<String>,
    /// `Notification` / `TopicNotification`.
    pub notification: Option<String>,
    /// `FaceUrl` / `TopicFaceUrl`: the avatar URL.
    pub face_url: Option<String>,
    /// `CustomString`: app data.
    pub custom_data: Option<String>,
}

/// One topic of a Community (`get_topic` `TopicAndSelfInfo[].TopicInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// `TopicId` (`@TGS#_…@TOPIC#_…`).
    pub topic_id: String,
    /// Name, introduction, notification, avatar, custom data.
    pub profile: TopicProfile,
    /// `NextMsgSeq`: the seq the topic's next message will get.
    pub next_msg_seq: u64,
}

/// A topic change pushed by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicEvent {
    /// A topic was created (system notice `OpType` 17).
    Created {
        group_id: String,
        topic_id: String,
        operator: String,
    },
    /// Topics were deleted (system notice `OpType` 18).
    Deleted {
        group_id: String,
        topic_ids: Vec<String>,
        operator: String,
    },
    /// A topic's profile changed (tip `OpType` 8); only the changed fields are `Some`.
    ProfileChanged {
        group_id: String,
        topic_id: String,
        operator: String,
        profile: TopicProfile,
    },
}

fn opt(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// Reads a topic notice or tip (`GroupTips` item); `None` for anything else.
pub(super) fn parse_topic_notice(m: &Value) -> Option<TopicEvent> {
    let info = m.get("GroupInfo")?;
    if info.get("MillionGroupFlag").and_then(Value::as_i64) != Some(2) {
        return None;
    }
    let body = m.get("MsgBody")?;
    let op = body.get("OpType").and_then(Value::as_i64)?;
    let group_id = group_id_of(m);
    let topic_id = opt(info, "TopicId").unwrap_or_default();
    let operator = opt(body, "Operator_Account").unwrap_or_default();
    if group_id.is_empty() {
        return None;
    }
    match op {
        17 if !topic_id.is_empty() => Some(TopicEvent::Created {
            group_id,
            topic_id,
            operator,
        }),
        18 => Some(TopicEvent::Deleted {
            group_id,
            topic_ids: body
                .get("TopicIdArray")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            operator,
        }),
        8 if !topic_id.is_empty() => {
            let n = body.get("MsgTopicNewInfo").unwrap_or(&Value::Null);
            Some(TopicEvent::ProfileChanged {
                group_id,
                topic_id,
                operator,
                profile: TopicProfile {
                    name: opt(n, "TopicName"),
                    introduction: opt(n, "TopicIntroduction"),
                    notification: opt(n, "TopicNotification"),
                    face_url: opt(n, "TopicFaceUrl"),
                    custom_data: opt(n, "CustomString"),
                },
            })
        }
        _ => None,
    }
}

/// The topics of a `get_topic` reply (items with an `ErrorCode` are left out).
pub fn parse_topic_list(body: &Value) -> Vec<TopicInfo> {
    body.get("TopicAndSelfInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("ErrorCode").and_then(Value::as_i64).unwrap_or(0) == 0)
        .filter_map(|i| {
            let t = i.get("TopicInfo")?;
            let topic_id = opt(t, "TopicId").filter(|s| !s.is_empty())?;
            Some(TopicInfo {
                topic_id,
                profile: TopicProfile {
                    name: opt(t, "TopicName"),
                    introduction: opt(t, "Introduction"),
                    notification: opt(t, "Notification"),
                    face_url: opt(t, "FaceUrl"),
                    custom_data: opt(t, "CustomString"),
                },
                next_msg_seq: t.get("NextMsgSeq").and_then(Value::as_u64).unwrap_or(0),
            })
        })
        .collect()
}

impl Session {
    /// Reads the topics of Community `group_id` (login catch-up, a created topic).
    pub(super) fn request_topics(&mut self, group_id: &str, now: Instant) {
        if !self.groups.topic_lists.insert(group_id.to_owned()) {
            return;
        }
        self.request(
            GET_TOPIC,
            json!({"GroupId": group_id, "MemberInfoFilter": ["NoUnreadSeqList"]}),
            Pending::Group(GroupPending::Topics {
                group_id: group_id.to_owned(),
            }),
            now,
        );
    }

    /// A `get_topic` reply: the list is reported, then each topic caught up like a group.
    pub(super) fn on_topic_list(&mut self, group_id: &str, body: &Value, now: Instant) {
        self.groups.topic_lists.remove(group_id);
        if let Err(e) = wire::check_reply(body) {
            warn!(group = %group_id, error = %e, "tencent get_topic failed");
            self.maybe_sync_done();
            return;
        }
        let topics = parse_topic_list(body);
        for t in &topics {
            self.catch_up(&t.topic_id, t.next_msg_seq, now);
        }
        self.event(SessionEvent::TopicList {
            group_id: group_id.to_owned(),
            topics,
        });
        self.maybe_sync_done();
    }

    /// A topic notice: reported; a new topic's messages start at its first seq.
    pub(super) fn on_topic_notice(&mut self, ev: TopicEvent, _now: Instant) {
        match &ev {
            TopicEvent::Created { topic_id, .. } => self.groups.start_new(topic_id),
            TopicEvent::Deleted { topic_ids, .. } => {
                for t in topic_ids {
                    self.groups.forget(t);
                }
            }
            TopicEvent::ProfileChanged { .. } => {}
        }
        self.event(SessionEvent::Topic(ev));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(flag: i64, topic: &str, body: Value) -> Value {
        json!({"GroupInfo": {"GroupId": "@TGS#_g", "MillionGroupFlag": flag, "TopicId": topic},
               "MsgBody": body})
    }

    #[test]
    fn topic_notices_are_read_and_other_tips_left_alone() {
        let t = "@TGS#_g@TOPIC#_t";
        assert_eq!(
            parse_topic_notice(&item(2, t, json!({"OpType": 17, "Operator_Account": "a"}))),
            Some(TopicEvent::Created {
                group_id: "@TGS#_g".into(),
                topic_id: t.into(),
                operator: "a".into()
            })
        );
        let deleted = json!({"OpType": 18, "TopicIdArray": [t, "x"]});
        assert!(matches!(
            parse_topic_notice(&item(2, "", deleted)),
            Some(TopicEvent::Deleted { topic_ids, .. }) if topic_ids == [t, "x"]
        ));
        let renamed = json!({"OpType": 8, "MsgTopicNewInfo": {"TopicName": "n"}});
        assert!(matches!(
            parse_topic_notice(&item(2, t, renamed)),
            Some(TopicEvent::ProfileChanged { profile, .. })
                if profile.name.as_deref() == Some("n") && profile.face_url.is_none()
        ));
        // Not a topic Community, or a group-level tip: the group tip parser's business.
        assert_eq!(parse_topic_notice(&item(0, t, json!({"OpType": 17}))), None);
        assert_eq!(parse_topic_notice(&item(2, "", json!({"OpType": 1}))), None);
    }

    #[test]
    fn topic_ids_address_their_group() {
        assert_eq!(topic_group("@TGS#_g@TOPIC#_t"), Some("@TGS#_g"));
        assert_eq!(topic_group("@TGS#_g"), None);
        assert_eq!(topic_group("@TOPIC#_t"), None);
        let mut body = json!({"GroupId": "@TGS#_g@TOPIC#_t"});
        address(&mut body, "@TGS#_g@TOPIC#_t");
        assert_eq!(
            body,
            json!({"GroupId": "@TGS#_g", "TopicId": "@TGS#_g@TOPIC#_t"})
        );
        assert_eq!(
            servcmd_for("@TGS#_g", "group_open_http_svc.send_group_msg"),
            "million_group_open_http_svc.send_group_msg"
        );
        assert_eq!(
            servcmd_for("@TGS#abc", "group_open_http_svc.send_group_msg"),
            "group_open_http_svc.send_group_msg"
        );
    }
}
