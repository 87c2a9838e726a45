//! The sandbox's groups: Work / Public / Meeting / Community groups (topics: [`super::topics`]) with
//! members, a message sequence per group (`MsgSeq` 1, 2, … as the service numbers group
//! messages), live fan-out of `GroupMsgArray` pushes to every online member except the
//! sending instance, history paged by `group_open_http_svc.group_msg_get` (how a client
//! catches up after being offline: group messages are not queued per user), and group tips
//! (`GroupTips`, event 4: join 1 / quit 2 / kick 3 / profile change 6) pushed to members
//! ([`super::group_changes`]).
//!
//! Shapes: the REST docs' `create_group`, `add_group_member`, `delete_group_member`,
//! `modify_group_base_info`, `send_group_msg`, `get_group_info`, `get_joined_group_list`
//! bodies; the push keys are those the `@tencentcloud/chat` 3.6.6 bundle maps in its
//! `msg_push` keyMap (`GroupInfo` → groupProfile, `MsgBody` → elements, `OpType` →
//! operationType, `List_Account` → userIDList, `MsgGroupNewInfo` → newGroupProfile).
//! Tips take the group's next `MsgSeq` and stay in the history as `Event` 4 entries, as the
//! 3.6.6 SDK's `group_msg_get` reader expects (it makes a `TIMGroupTipElem` of them).
//! Live rooms (`AVChatRoom`) number their messages the same way but deliver them by long
//! polling, keep no history and are not listed as joined ([`super::live`]).

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::super::wire::{self, code, servcmd, Head};
use super::state::{unix_now, Sandbox};

/// `ErrorCode` for a group that does not exist (REST docs: 10010 "group dissolved or not
/// found").
pub const GROUP_NOT_FOUND: i64 = 10010;
/// `ErrorCode` for a sender or operator that is not a member (REST docs: 10007 no permission).
pub const NOT_A_MEMBER: i64 = 10007;
/// `ErrorCode` for a `GroupId` already in use (REST docs: 10021).
pub const GROUP_ID_TAKEN: i64 = 10021;
/// `ErrorCode` for a send by a muted member (REST error table: 10017, "muted, cannot
/// send").
pub const MEMBER_MUTED: i64 = 10017;

/// Group types the sandbox accepts (`Type` of `create_group`).
pub const GROUP_TYPES: &[&str] = &["Work", "Public", "Meeting", "Community", "AVChatRoom"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Member {
    pub(super) account: String,
    /// `Owner`, `Admin` or `Member`.
    pub(super) role: String,
    join_time: u64,
    /// The member's own message receive option (`MsgFlag`: `AcceptAndNotify`,
    /// `AcceptNotNotify`, `AcceptNotNotifyExceptAt` or `Discard`), set by
    /// `modify_group_member_info` (the SDK's `setMessageRemindType` with a `groupID`).
    #[serde(default = "accept_and_notify")]
    msg_flag: String,
    /// Muted until this unix time (`ShutUpUntil`; 0 or past: not muted).
    #[serde(default)]
    pub(super) shut_up_until: u64,
}

fn accept_and_notify() -> String {
    MSG_FLAGS[0].to_owned()
}

/// The `MsgFlag` values the sandbox takes (the SDK's `MSG_REMIND_*` constants; the first is
/// the default).
pub const MSG_FLAGS: &[&str] = &[
    "AcceptAndNotify",
    "AcceptNotNotify",
    "AcceptNotNotifyExceptAt",
    "Discard",
];

/// One message sequence: a group's, or a Community topic's (each topic numbers its own).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct MsgLog {
    /// Messages, `MsgSeq` ascending (seq n is at index n-1).
    pub(super) msgs: Vec<Value>,
    pub(super) last_msg_time: u64,
    /// `(From_Account, Random)` → `(MsgSeq, MsgTime)` of sends already stored (a retried send).
    #[serde(with = "crate::network::sandbox_store::pairs")]
    pub(super) sent: HashMap<(String, u64), (u64, u64)>,
}

impl MsgLog {
    pub(super) fn next_seq(&self) -> u64 {
        self.msgs.len() as u64 + 1
    }

    /// The message at `seq`; `None` for a seq not taken or taken by a tip (tips cannot be
    /// recalled, edited, reacted to or receipted).
    pub(super) fn message(&self, seq: u64) -> Option<&Value> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.msgs.get(i).filter(|m| m["Event"] != 4)
    }

    /// [`MsgLog::message`], to change it.
    pub(super) fn message_mut(&mut self, seq: u64) -> Option<&mut Value> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.msgs.get_mut(i).filter(|m| m["Event"] != 4)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Group {
    pub(super) id: String,
    pub(super) kind: String,
    name: String,
    introduction: String,
    notification: String,
    face_url: String,
    pub(super) owner: String,
    create_time: u64,
    info_time: u64,
    pub(super) members: Vec<Member>,
    pub(super) log: MsgLog,
    /// A Community created with `SupportTopic: 1` (the SDK's `isSupportTopic`).
    pub(super) support_topic: bool,
    /// Its topics ([`super::topics`]), in creation order.
    pub(super) topics: Vec<super::topics::Topic>,
}

impl Member {
    /// A plain member joining now.
    pub(super) fn joining(account: &str) -> Self {
        Self {
            account: account.to_owned(),
            role: "Member".into(),
            join_time: unix_now(),
            msg_flag: accept_and_notify(),
            shut_up_until: 0,
        }
    }
}

impl Group {
    pub(super) fn is_member(&self, user: &str) -> bool {
        self.members.iter().any(|m| m.account == user)
    }

    /// The group's owner or one of its admins.
    pub(super) fn is_manager(&self, user: &str) -> bool {
        self.members
            .iter()
            .any(|m| m.account == user && (m.role == "Owner" || m.role == "Admin"))
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.log.next_seq()
    }

    /// The message log of the group itself (`topic` `None`) or of one of its topics.
    pub(super) fn log_mut(&mut self, topic: Option<&str>) -> Option<&mut MsgLog> {
        match topic {
            None => Some(&mut self.log),
            Some(t) => self
                .topics
                .iter_mut()
                .find(|x| x.id == t)
                .map(|x| &mut x.log),
        }
    }

    /// The `GroupInfo` item of `get_group_info` / `get_joined_group_list` for `viewer`.
    fn info(&self, viewer: Option<&str>, with_members: bool) -> Value {
        let mut v = json!({
            "GroupId": self.id, "Type": self.kind, "Name": self.name,
            "Introduction": self.introduction, "Notification": self.notification,
            "FaceUrl": self.face_url, "Owner_Account": self.owner,
            "CreateTime": self.create_time, "InfoSeq": self.info_time,
            "LastInfoTime": self.info_time, "LastMsgTime": self.log.last_msg_time,
            "NextMsgSeq": self.next_seq(), "MemberNum": self.members.len(),
            "MaxMemberNum": 2000, "ApplyJoinOption": "FreeAccess",
            "InviteJoinOption": "FreeAccess", "ShutUpAllMember": "Off",
            "MuteAllMember": "Off", "AppDefinedData": [], "ErrorCode": 0, "ErrorInfo": "",
            "SupportTopic": u8::from(self.support_topic),
        });
        if let (Some(me), Some(m)) = (
            viewer.and_then(|u| self.members.iter().find(|m| m.account == u)),
            v.as_object_mut(),
        ) {
            m.insert(
                "SelfInfo".into(),
                json!({"Role": me.role, "JoinTime": me.join_time, "MsgFlag": me.msg_flag,
                       "MsgSeq": 0, "UnreadMsgNum": 0, "NameCard": "", "ShutUpUntil": 0}),
            );
        }
        if with_members {
            if let Some(m) = v.as_object_mut() {
                m.insert(
                    "MemberList".into(),
                    self.members
                        .iter()
                        .map(|m| {
                            json!({"Member_Account": m.account, "Role": m.role,
                                   "JoinTime": m.join_time, "MsgSeq": 0, "MsgFlag": m.msg_flag,
                                   "LastSendMsgTime": 0, "ShutUpUntil": m.shut_up_until, "NameCard": "",
                                   "AppMemberDefinedData": []})
                        })
                        .collect(),
                );
            }
        }
        v
    }

    /// The `GroupInfo` object pushes carry; for a topic-enabled Community
    /// `MillionGroupFlag: 2` (the SDK's `communityType`) and the `TopicId` (`topicID`) when
    /// the push concerns one topic (the SDK then files it under that topic's conversation).
    pub(super) fn push_info(&self, topic: Option<&str>) -> Value {
        let mut v = json!({"GroupId": self.id, "GroupType": self.kind, "GroupName": self.name,
               "GroupFaceUrl": self.face_url, "MemberNum": self.members.len()});
        if let (true, Some(m)) = (self.support_topic, v.as_object_mut()) {
            m.insert("MillionGroupFlag".into(), json!(2));
            if let Some(t) = topic {
                m.insert("TopicId".into(), json!(t));
            }
        }
        v
    }
}

/// All groups of the sandbox.
#[derive(Default)]
pub struct Groups {
    groups: Mutex<HashMap<String, Group>>,
}

/// What a group send produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDelivered {
    /// The group's `MsgSeq` for the message.
    pub seq: u64,
    /// `MsgTime`, unix seconds.
    pub time: u64,
}

/// What a group send carries besides its body: ids, mentions and the read-receipt request.
#[derive(Debug, Clone, Default)]
pub struct GroupSendMeta {
    /// `Random` (the sender's; a retry repeats it).
    pub random: u64,
    /// `GroupAtInfo` (`[]` for none).
    pub at_info: Value,
    /// `NeedReadReceipt: 1` (the SDK's `needReadReceipt` on a group send): members may send
    /// a per-message read receipt ([`super::state::receipts`]). Never for live rooms.
    pub need_receipt: bool,
    /// `MsgClientTime`, the sender's clock (part of the sender SDK's message `ID`).
    pub client_time: u64,
    /// `CloudCustomData` (a TUIKit reply quote), passed on as it came.
    pub cloud_custom_data: String,
}

/// A group profile change (`modify_group_base_info`); `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub introduction: Option<String>,
    pub notification: Option<String>,
    pub face_url: Option<String>,
}

pub(super) fn push_frame(event: u32, key: &str, items: Vec<Value>) -> String {
    let head = Head {
        ver: Some("v4".into()),
        servcmd: servcmd::MSG_PUSH.into(),
        seq: Some(0),
        contenttype: Some("json".into()),
        ..Default::default()
    };
    let session_data = format!("{:016x}", rand::rng().random::<u64>());
    let body = json!({
        "eventArray": [{"event": event, key: items}],
        "NeedAck": 1, "SessionData": session_data,
    });
    wire::encode(&head, &body)
}

impl Sandbox {
    pub(super) fn groups_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        self.groups.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `create_group`: a group of `kind` owned by `owner` (may be the admin, then not a
    /// member) with `members`. `group_id` empty picks `@TGS#…`. Returns the GroupId.
    pub fn create_group(
        &self,
        kind: &str,
        group_id: &str,
        name: &str,
        owner: &str,
        members: &[String],
    ) -> Result<String, (i64, String)> {
        // The REST docs' older names: Private is now Work, ChatRoom is now Meeting.
        let kind = match kind {
            "Private" => "Work",
            "ChatRoom" => "Meeting",
            k => k,
        };
        if !GROUP_TYPES.contains(&kind) {
            return Err((
                code::INVALID_REQUEST,
                format!("unknown group Type {kind:?}"),
            ));
        }
        if name.is_empty() {
            return Err((code::INVALID_REQUEST, "Name is required".into()));
        }
        for m in members.iter().chain(std::iter::once(&owner.to_owned())) {
            if m != &self.cfg.admin && !self.exists(m) {
                return Err((
                    code::ACCOUNT_NOT_FOUND,
                    format!("account {m} does not exist"),
                ));
            }
        }
        let mut groups = self.groups_lock();
        let id = if group_id.is_empty() {
            let prefix = if kind == "Community" {
                "@TGS#_"
            } else {
                "@TGS#"
            };
            format!(
                "{prefix}{:010X}",
                rand::rng().random::<u64>() & 0xff_ffff_ffff
            )
        } else {
            group_id.to_owned()
        };
        if groups.contains_key(&id) {
            return Err((GROUP_ID_TAKEN, "GroupId is already used".into()));
        }
        let now = unix_now();
        let mut list = Vec::new();
        if owner != self.cfg.admin {
            list.push(Member {
                account: owner.to_owned(),
                role: "Owner".into(),
                join_time: now,
                msg_flag: accept_and_notify(),
                shut_up_until: 0,
            });
        }
        for m in members {
            if !list.iter().any(|x: &Member| &x.account == m) {
                list.push(Member {
                    account: m.clone(),
                    role: "Member".into(),
                    join_time: now,
                    msg_flag: accept_and_notify(),
                    shut_up_until: 0,
                });
            }
        }
        groups.insert(
            id.clone(),
            Group {
                id: id.clone(),
                kind: kind.to_owned(),
                name: name.to_owned(),
                introduction: String::new(),
                notification: String::new(),
                face_url: String::new(),
                owner: owner.to_owned(),
                create_time: now,
                info_time: now,
                members: list,
                log: MsgLog::default(),
                support_topic: false,
                topics: Vec::new(),
            },
        );
        Ok(id)
    }

    /// Sets the introduction/notification/avatar at creation, without a tip.
    pub fn init_group_profile(&self, group_id: &str, change: &ProfileChange) {
        if let Some(g) = self.groups_lock().get_mut(group_id) {
            apply(g, change);
        }
    }

    /// `send_group_msg`: stores the message as the group's next `MsgSeq` and pushes it to
    /// every online instance of every member except `except_conn` (the sending instance).
    /// A retry with the same `(from, Random)` answers as the first time without storing twice.
    /// `group_id` may be a Community topic id (`@TGS#_…@TOPIC#_…`): the message then takes the
    /// topic's next `MsgSeq` and its push names the topic ([`Group::push_info`]).
    pub fn send_group(
        &self,
        from: &str,
        group_id: &str,
        random: u64,
        body: &Value,
        at_info: &Value,
        except_conn: Option<u64>,
    ) -> Result<GroupDelivered, (i64, String)> {
        let meta = GroupSendMeta {
            random,
            at_info: at_info.clone(),
            ..Default::default()
        };
        self.send_group_with(from, group_id, body, &meta, except_conn)
    }

    /// [`Sandbox::send_group`] with everything the request carried ([`GroupSendMeta`]).
    pub fn send_group_with(
        &self,
        from: &str,
        group_id: &str,
        body: &Value,
        meta: &GroupSendMeta,
        except_conn: Option<u64>,
    ) -> Result<GroupDelivered, (i64, String)> {
        let (random, at_info) = (meta.random, &meta.at_info);
        let (gid, topic) = super::topics::split_topic_id(group_id);
        let tiny_id = self.tiny_id_of(from);
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(gid)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if from != self.cfg.admin && !g.is_member(from) {
            return Err((
                NOT_A_MEMBER,
                "the sender is not a member of the group".into(),
            ));
        }
        let now = unix_now();
        if g.members
            .iter()
            .any(|m| m.account == from && m.shut_up_until > now)
        {
            return Err((MEMBER_MUTED, "the sender is muted in the group".into()));
        }
        let info = g.push_info(topic);
        let live = g.kind == super::live::LIVE_TYPE;
        let members: Vec<String> = g.members.iter().map(|m| m.account.clone()).collect();
        let log = g.log_mut(topic).ok_or((
            super::topics::TOPIC_NOT_FOUND,
            "topic does not exist".to_owned(),
        ))?;
        if let Some((seq, time)) = log.sent.get(&(from.to_owned(), random)) {
            return Ok(GroupDelivered {
                seq: *seq,
                time: *time,
            });
        }
        let seq = log.next_seq();
        let time = unix_now();
        let mut msg = json!({
            "From_Account": from, "GroupInfo": info, "ToGroupId": gid,
            "MsgSeq": seq, "MsgRandom": random, "Random": random, "MsgTimeStamp": time,
            "MsgTime": time, "MsgBody": body, "GroupAtInfo": at_info, "MsgPriority": 1,
            "ClientSeq": 0, "CloudCustomData": meta.cloud_custom_data, "IsPlaceMsg": 0,
            "IsSystemMsg": 0, "TinyId": tiny_id.to_string(),
            "From_AccountNick": "", "From_AccountHeadurl": "", "MsgFrom_AccountExtraInfo": {},
            "OnlineOnlyFlag": 0,
            // The sender's clock and `TinyId`, the SDK's message `ID` (`tinyID-clientTime-random`);
            // without it a receiving SDK takes its own clock, and ids made elsewhere (a
            // reaction's push) would not match across a second boundary.
            "MsgClientTime": if meta.client_time > 0 { meta.client_time } else { time },
        });
        let receipt = meta.need_receipt && !live;
        if receipt {
            // The receiving shape (the SDK's `msg_push` keyMap reads `IsNeedReadReceipt`).
            msg["IsNeedReadReceipt"] = json!(1);
        }
        log.msgs.push(msg.clone());
        log.last_msg_time = time;
        log.sent.insert((from.to_owned(), random), (seq, time));
        let frame = push_frame(3, "GroupMsgArray", vec![msg]);
        drop(groups);
        if receipt {
            self.expect_group_receipt(from, gid, topic, seq, meta);
        }
        if live {
            // Live rooms deliver by long polling ([`super::live`]), not by push.
            self.live.notify.notify_waiters();
            return Ok(GroupDelivered { seq, time });
        }
        for m in members {
            self.push_to(&m, &frame, except_conn);
        }
        Ok(GroupDelivered { seq, time })
    }

    /// The groups `user` is a member of, as `get_joined_group_list` items.
    pub fn joined_groups(&self, user: &str) -> Vec<Value> {
        let groups = self.groups_lock();
        // Live rooms are not listed (REST docs: AVChatRoom is left out unless asked for).
        let mut list: Vec<&Group> = groups
            .values()
            .filter(|g| g.is_member(user) && g.kind != super::live::LIVE_TYPE)
            .collect();
        list.sort_by_key(|g| g.create_time);
        list.iter().map(|g| g.info(Some(user), false)).collect()
    }

    /// `get_group_info` items for `ids` (an unknown id gets its own `ErrorCode`).
    /// `modify_group_member_info` of `MsgFlag`: members set their own option only.
    pub fn set_msg_flag(
        &self,
        user: &str,
        group_id: &str,
        member: &str,
        flag: &str,
    ) -> Result<(), (i64, String)> {
        if member != user {
            return Err((NOT_A_MEMBER, "a member sets only their own MsgFlag".into()));
        }
        if !MSG_FLAGS.contains(&flag) {
            return Err((code::INVALID_REQUEST, format!("unknown MsgFlag {flag:?}")));
        }
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(group_id)
            .ok_or_else(|| (GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        let m = g
            .members
            .iter_mut()
            .find(|m| m.account == member)
            .ok_or_else(|| (NOT_A_MEMBER, "not a member of the group".to_owned()))?;
        m.msg_flag = flag.to_owned();
        Ok(())
    }

    pub fn group_info(&self, viewer: Option<&str>, ids: &[String]) -> Vec<Value> {
        let groups = self.groups_lock();
        ids.iter()
            .map(|id| match groups.get(id) {
                Some(g) => g.info(viewer, true),
                None => json!({"GroupId": id, "ErrorCode": GROUP_NOT_FOUND,
                               "ErrorInfo": "group does not exist"}),
            })
            .collect()
    }
}

/// Applies a profile change to `g` (its fields set, its info time now).
pub(super) fn apply(g: &mut Group, c: &ProfileChange) {
    g.info_time = unix_now();
    if let Some(v) = &c.name {
        g.name = v.clone();
    }
    if let Some(v) = &c.introduction {
        g.introduction = v.clone();
    }
    if let Some(v) = &c.notification {
        g.notification = v.clone();
    }
    if let Some(v) = &c.face_url {
        g.face_url = v.clone();
    }
}
