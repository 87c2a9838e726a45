//! Groups and recall in the session: the group calls and `msg_retract` as queued requests
//! (same `rid` across resends and reconnects, like sends), `send_group_msg` text, the typed
//! shapes of their answers ([`GroupInfo`], [`GroupMember`]), and the `event_notification`s
//! they cause (group types 8–12 → [`SessionEvent::Group`], 55 → [`SessionEvent::Retracted`]).
//!
//! Event names and request fields are the Web SDK 2.5.0 bundle's (`EVENTS`, the message
//! builder: group messages carry `target_gid` as a string and `content.target_type:"group"`);
//! event types from the Web SDK guide's event table and iOS `JMSGEventNotificationType`.

use std::time::Instant;

use serde_json::{json, Value};

use super::{Phase, SendError, Session, SessionEvent};
use crate::network::jmessage::across;
use crate::network::jmessage::wire::{event, event_type};

/// A group as `get_group_info` (`group_info`) and `get_groups_list` (`group_list[]`) give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub gid: i64,
    pub name: String,
    /// `desc`.
    pub description: String,
    /// The owner, when the server says (`owner_username`, of the group's `appkey`), named as
    /// [`across`] does.
    pub owner: Option<String>,
    /// Last change, seconds since the epoch (`mtime`), 0 when absent.
    pub mtime: i64,
}

impl GroupInfo {
    /// Reads one group object as a user of app `own_app` sees it; `None` without a numeric
    /// `gid`.
    pub fn from_value(v: &Value, own_app: &str) -> Option<Self> {
        Some(Self {
            gid: gid_of(&v["gid"])?,
            name: str_of(&v["name"]),
            description: str_of(&v["desc"]),
            owner: v["owner_username"]
                .as_str()
                .filter(|o| !o.is_empty())
                .map(|o| across::name(o, v["appkey"].as_str(), own_app)),
            mtime: v["mtime"].as_i64().unwrap_or(0),
        })
    }
}

/// A member as `get_group_members` gives it (`member_list[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Named as [`across`] does (`username/appkey` for a member of another app).
    pub username: String,
    /// The member's appkey (cross-app members differ from ours).
    pub appkey: Option<String>,
    pub nickname: Option<String>,
    /// `flag` 1: the owner.
    pub owner: bool,
}

impl GroupMember {
    /// Reads one member object as a user of app `own_app` sees it; `None` without a
    /// `username`.
    pub fn from_value(v: &Value, own_app: &str) -> Option<Self> {
        v["username"].as_str().filter(|s| !s.is_empty())?;
        Some(Self {
            username: across::from_json(v, own_app)?,
            appkey: v["appkey"].as_str().map(str::to_owned),
            nickname: v["nickname"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            owner: v["flag"].as_i64() == Some(1),
        })
    }
}

/// What happened in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEventKind {
    /// Type 8: the group was created (to the creator).
    Created,
    /// Type 9: `from_username` left.
    Exited,
    /// Type 10: `to_usernames` were added by `from_username`.
    MembersAdded,
    /// Type 11: `to_usernames` were removed by `from_username`.
    MembersRemoved,
    /// Type 12: `from_username` changed the name or description.
    InfoUpdated,
}

impl GroupEventKind {
    /// The kind of `event_type`, if it is a group event.
    pub fn from_event_type(t: i64) -> Option<Self> {
        Some(match t {
            event_type::GROUP_CREATED => Self::Created,
            event_type::GROUP_EXITED => Self::Exited,
            event_type::GROUP_MEMBERS_ADDED => Self::MembersAdded,
            event_type::GROUP_MEMBERS_REMOVED => Self::MembersRemoved,
            event_type::GROUP_INFO_UPDATED => Self::InfoUpdated,
            _ => return None,
        })
    }
}

/// A group `event_notification`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEvent {
    pub kind: GroupEventKind,
    pub event_id: i64,
    pub gid: i64,
    /// Who did it (empty for the admin REST API).
    pub from_username: String,
    /// Whom it concerns (`to_usernames`, objects `{username, appkey}` or strings).
    pub to_usernames: Vec<String>,
    /// The group's name when the server includes it (`group_name`).
    pub group_name: Option<String>,
    /// Milliseconds.
    pub ctime_ms: i64,
}

/// A retracted message (`event_notification` type 55).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retraction {
    pub event_id: i64,
    /// The author, who retracted it.
    pub from_username: String,
    /// The group (`from_gid`), `None` in single chat (`from_gid` 0).
    pub gid: Option<i64>,
    /// The retracted messages' ids.
    pub msg_ids: Vec<i64>,
    /// Milliseconds.
    pub ctime_ms: i64,
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A gid: a number, or a string of digits (the SDK sends `target_gid` as text).
fn gid_of(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// `member_usernames` for users named as [`across`] does by a user of app `own_app`: a
/// member of another app carries its `appkey`.
fn member_list(usernames: &[String], own_app: &str) -> Value {
    let entry = |u: &String| match across::split(u, own_app) {
        (name, app) if app != own_app => json!({ "username": name, "appkey": app }),
        _ => json!({ "username": u }),
    };
    Value::Array(usernames.iter().map(entry).collect())
}

impl Session {
    /// Queues call `name` with `body`; its answer comes as [`SessionEvent::CallResult`] with
    /// the returned id. Waits in the outbox while disconnected.
    pub fn call(
        &mut self,
        name: &'static str,
        body: Value,
        now: Instant,
    ) -> Result<u64, SendError> {
        if self.phase == Phase::Ended {
            return Err(SendError::SessionEnded);
        }
        Ok(self.enqueue(name, body, true, now))
    }

    /// `create_group {group_name, group_description}` → `{gid}`.
    pub fn create_group(
        &mut self,
        name: &str,
        description: &str,
        now: Instant,
    ) -> Result<u64, SendError> {
        let body = json!({ "group_name": name, "group_description": description });
        self.call(event::CREATE_GROUP, body, now)
    }

    /// `get_group_info {gid}` → `{group_info}` ([`GroupInfo::from_value`]).
    pub fn group_info(&mut self, gid: i64, now: Instant) -> Result<u64, SendError> {
        self.call(event::GET_GROUP_INFO, json!({ "gid": gid }), now)
    }

    /// `get_groups_list {}` → `{group_list}`: the groups we are in.
    pub fn group_list(&mut self, now: Instant) -> Result<u64, SendError> {
        self.call(event::GET_GROUPS_LIST, json!({}), now)
    }

    /// `get_group_members {gid}` → `{member_list}` ([`GroupMember::from_value`]).
    pub fn group_members(&mut self, gid: i64, now: Instant) -> Result<u64, SendError> {
        self.call(event::GET_GROUP_MEMBERS, json!({ "gid": gid }), now)
    }

    /// `add_across_group_member {gid, member_usernames:[{username, appkey?}]}` (`appkey` for
    /// members of another app, named as [`across`] does).
    pub fn add_group_members(
        &mut self,
        gid: i64,
        usernames: &[String],
        now: Instant,
    ) -> Result<u64, SendError> {
        let body =
            json!({ "gid": gid, "member_usernames": member_list(usernames, &self.cfg.app_key) });
        self.call(event::ADD_ACROSS_GROUP_MEMBER, body, now)
    }

    /// `del_across_group_member {gid, member_usernames:[{username}]}`.
    pub fn del_group_members(
        &mut self,
        gid: i64,
        usernames: &[String],
        now: Instant,
    ) -> Result<u64, SendError> {
        let body =
            json!({ "gid": gid, "member_usernames": member_list(usernames, &self.cfg.app_key) });
        self.call(event::DEL_ACROSS_GROUP_MEMBER, body, now)
    }

    /// `update_group_info {gid, group_name?, group_description?}`.
    pub fn update_group_info(
        &mut self,
        gid: i64,
        name: Option<&str>,
        description: Option<&str>,
        now: Instant,
    ) -> Result<u64, SendError> {
        let mut body = json!({ "gid": gid });
        if let Some(n) = name {
            body["group_name"] = json!(n);
        }
        if let Some(d) = description {
            body["group_description"] = json!(d);
        }
        self.call(event::UPDATE_GROUP_INFO, body, now)
    }

    /// `exit_group {gid}`.
    pub fn exit_group(&mut self, gid: i64, now: Instant) -> Result<u64, SendError> {
        self.call(event::EXIT_GROUP, json!({ "gid": gid }), now)
    }

    /// `msg_retract {msg_id}`: only the author, within 3 minutes (refusals 855001 too late).
    pub fn retract(&mut self, msg_id: i64, now: Instant) -> Result<u64, SendError> {
        self.call(event::MSG_RETRACT, json!({ "msg_id": msg_id }), now)
    }

    /// Sends a group text (with `extras` when given) to `gid` as the SDK's `sendGroupMsg`
    /// builds it; the result comes as [`SessionEvent::SendResult`] with the returned id.
    pub fn send_group_text(
        &mut self,
        gid: i64,
        text: &str,
        extras: Option<Value>,
        now: Instant,
    ) -> Result<u64, SendError> {
        if self.phase == Phase::Ended {
            return Err(SendError::SessionEnded);
        }
        let mut msg_body = json!({ "text": text });
        if let Some(extras) = extras {
            msg_body["extras"] = extras;
        }
        let body = json!({
            "content": {
                "version": 1,
                "target_type": "group",
                "from_platform": "web",
                "target_id": gid.to_string(),
                "from_id": self.cfg.username,
                "create_time": self.unix_ms(now),
                "msg_type": "text",
                "msg_body": msg_body,
            },
            "target_gid": gid.to_string(),
            "appkey": self.cfg.app_key,
            "no_offline": false,
            "no_notification": false,
        });
        Ok(self.enqueue(event::SEND_GROUP_MSG, body, false, now))
    }

    /// A group or retract `event_notification`: emits its typed event; false when `data` is
    /// neither (or lacks the fields that make it one).
    pub(super) fn on_group_notification(&mut self, data: &Value) -> bool {
        let Some(t) = data["event_type"].as_i64() else {
            return false;
        };
        let event_id = data["event_id"].as_i64().unwrap_or(0);
        // Named as `across` does: a user of another app is `username/appkey`.
        let from_username = match str_of(&data["from_username"]) {
            f if f.is_empty() => f,
            f => across::name(&f, data["from_appkey"].as_str(), &self.cfg.app_key),
        };
        let ctime_ms = data["ctime_ms"].as_i64().unwrap_or(0);
        if t == event_type::MSG_RETRACTED {
            let msg_ids: Vec<i64> = data["msg_ids"]
                .as_array()
                .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            if msg_ids.is_empty() {
                return false;
            }
            let gid = gid_of(&data["from_gid"]).filter(|g| *g != 0);
            self.event(SessionEvent::Retracted(Retraction {
                event_id,
                from_username,
                gid,
                msg_ids,
                ctime_ms,
            }));
            return true;
        }
        let (Some(kind), Some(gid)) = (GroupEventKind::from_event_type(t), gid_of(&data["gid"]))
        else {
            return false;
        };
        let to_usernames = data["to_usernames"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|u| across::from_json(u, &self.cfg.app_key))
                    .collect()
            })
            .unwrap_or_default();
        self.event(SessionEvent::Group(GroupEvent {
            kind,
            event_id,
            gid,
            from_username,
            to_usernames,
            group_name: data["group_name"].as_str().map(str::to_owned),
            ctime_ms,
        }));
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::{json, Value};

    use super::super::tests::{drain, logged_in, respond, rid, OPEN};
    use super::*;
    use crate::network::jmessage::session::SendReceipt;

    #[test]
    fn group_text_is_built_as_the_sdk_builds_it_and_answered_as_a_send() {
        let now = Instant::now();
        let mut s = logged_in(now);
        let id = s
            .send_group_text(10_000_001, "hi", Some(json!({"k": 1})), now)
            .unwrap();
        let (sent, _, _) = drain(&mut s);
        let (name, body) = &sent[0];
        assert_eq!(name, "send_group_msg");
        assert_eq!(body["target_gid"], "10000001");
        assert_eq!(body["content"]["target_type"], "group");
        assert_eq!(body["content"]["target_id"], "10000001");
        assert_eq!(
            body["content"]["msg_body"],
            json!({"text": "hi", "extras": {"k": 1}})
        );
        respond(
            &mut s,
            "send_group_msg",
            json!({"rid": rid(body), "code": 0, "msg_id": 5, "ctime_ms": 9}),
            now,
        );
        let (_, events, _) = drain(&mut s);
        assert_eq!(
            events,
            vec![SessionEvent::SendResult {
                id,
                result: Ok(SendReceipt {
                    msg_id: 5,
                    ctime_ms: 9
                })
            }]
        );
    }

    #[test]
    fn calls_answer_with_their_fields_or_the_service_code() {
        let now = Instant::now();
        let mut s = logged_in(now);
        let a = s.create_group("team", "d", now).unwrap();
        let b = s.retract(77, now).unwrap();
        let (sent, _, _) = drain(&mut s);
        assert_eq!(sent[0].0, "create_group");
        assert_eq!(
            (&sent[0].1["group_name"], &sent[0].1["group_description"]),
            (&json!("team"), &json!("d"))
        );
        assert_eq!(
            (sent[1].0.as_str(), &sent[1].1["msg_id"]),
            ("msg_retract", &json!(77))
        );
        respond(
            &mut s,
            "create_group",
            json!({"rid": rid(&sent[0].1), "code": 0, "gid": 42}),
            now,
        );
        respond(
            &mut s,
            "msg_retract",
            json!({"rid": rid(&sent[1].1), "code": 855001, "message": "too late"}),
            now,
        );
        let (_, events, _) = drain(&mut s);
        match &events[0] {
            SessionEvent::CallResult { id, result: Ok(v) } => {
                assert_eq!((*id, &v["gid"]), (a, &json!(42)))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            events[1],
            SessionEvent::CallResult {
                id: b,
                result: Err(SendError::Rejected {
                    code: 855001,
                    message: "too late".into()
                })
            }
        );
    }

    #[test]
    fn calls_wait_across_a_reconnect_with_their_rid() {
        let now = Instant::now();
        let mut s = logged_in(now);
        s.exit_group(9, now).unwrap();
        let (sent, _, _) = drain(&mut s);
        let first = rid(&sent[0].1);
        s.on_disconnected(now);
        s.on_connected(now, 1_700_000_000_000);
        s.on_frame(OPEN, now).unwrap();
        s.on_frame("40", now).unwrap();
        let (sent, _, _) = drain(&mut s);
        respond(
            &mut s,
            "c_init",
            json!({"rid": rid(&sent[0].1), "code": 0}),
            now,
        );
        let (sent, _, _) = drain(&mut s);
        respond(
            &mut s,
            "login",
            json!({"rid": rid(&sent[0].1), "code": 0}),
            now,
        );
        let (sent, _, _) = drain(&mut s);
        let again = sent.iter().find(|(n, _)| n == "exit_group").unwrap();
        assert_eq!(rid(&again.1), first);
    }

    #[test]
    fn group_and_retract_notifications_are_typed() {
        let now = Instant::now();
        let mut s = logged_in(now);
        respond(
            &mut s,
            "event_notification",
            json!({"event_id": 1, "event_type": 10, "from_username": "alice", "gid": 42,
                "to_usernames": [{"username": "bob", "appkey": "k"}, "carol",
                    {"username": "dan", "appkey": "appkey"}], "ctime_ms": 5}),
            now,
        );
        respond(
            &mut s,
            "event_notification",
            json!({"event_id": 2, "event_type": 55, "from_username": "alice", "from_gid": 0,
                "gid": 0, "msg_ids": [7], "ctime_ms": 6}),
            now,
        );
        let (_, events, _) = drain(&mut s);
        assert_eq!(
            events,
            vec![
                SessionEvent::Group(GroupEvent {
                    kind: GroupEventKind::MembersAdded,
                    event_id: 1,
                    gid: 42,
                    from_username: "alice".into(),
                    // `k` is another app (ours is `appkey`): its bob is named with it.
                    to_usernames: vec!["bob/k".into(), "carol".into(), "dan".into()],
                    group_name: None,
                    ctime_ms: 5,
                }),
                SessionEvent::Retracted(Retraction {
                    event_id: 2,
                    from_username: "alice".into(),
                    gid: None,
                    msg_ids: vec![7],
                    ctime_ms: 6,
                }),
            ]
        );
    }

    #[test]
    fn malformed_notifications_and_answers_do_not_panic() {
        let now = Instant::now();
        let mut s = logged_in(now);
        for bad in [
            json!({"event_type": 10}),
            json!({"event_type": 10, "gid": "x", "to_usernames": 3}),
            json!({"event_type": 55, "msg_ids": "7"}),
            json!({"event_type": "55"}),
            json!([1, 2]),
            Value::Null,
        ] {
            respond(&mut s, "event_notification", bad, now);
        }
        let (_, events, _) = drain(&mut s);
        assert!(events.is_empty(), "{events:?}");
        assert!(GroupInfo::from_value(&json!({"gid": "12", "name": 5}), "k").is_some());
        assert!(GroupInfo::from_value(&json!({"name": "x"}), "k").is_none());
        let other = json!({"gid": 3, "owner_username": "carol", "appkey": "o"});
        let info = GroupInfo::from_value(&other, "k").expect("a group");
        assert_eq!(
            info.owner.as_deref(),
            Some("carol/o"),
            "another app's group's owner"
        );
        assert!(GroupMember::from_value(&json!({"username": ""}), "k").is_none());
    }
}
