//! Groups in the session: sending (`group_open_http_svc.send_group_msg`, through the same
//! outbox and reply matching as C2C sends), `GroupMsgArray` pushes and `GroupTips` (event 4
//! tips, 6 profile notices) from `im_open_push.msg_push`, the joined-group list
//! (`get_joined_group_list`) and the catch-up with `group_msg_get`.
//!
//! Group messages are not queued per user by the service: a member that was away pulls them
//! by `MsgSeq` (reference §A1 "Catch-up after a reconnect"). The session keeps the last
//! `MsgSeq` delivered per group (the cursor; the owner may persist it and hand it back with
//! [`Session::set_group_cursor`]); at every login it reads the joined list and fetches what
//! lies between the cursor and `NextMsgSeq - 1`, in pages of 20, oldest first; a live push
//! that skips seqs triggers the same fetch (the push itself is then delivered by the fetch,
//! in order). A seq at or below the cursor is a duplicate and dropped. Seqs of our own sends
//! (the server does not push them back to the sending instance) are passed over. A group the
//! session has no cursor for starts at its current `NextMsgSeq`, less
//! [`super::SessionConfig::group_catch_up`] messages fetched at once.
//! Tips are delivered live only (they take no `MsgSeq`). A Community topic is one more
//! conversation here, keyed by its topic id ([`super::topics`]).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::{json, Value};
use tracing::{debug, warn};

use super::super::elem::{from_msg_body, to_msg_body, Elem};
use super::super::wire::{self, servcmd};
use super::{Pending, Session, SessionEvent};

/// `GroupAt_Account` value the SDK uses for "@all" (`TYPES.MSG_AT_ALL` in
/// `@tencentcloud/chat`).
pub const AT_ALL: &str = "__kImSDK_MesssageAtALL__";

/// Messages per `group_msg_get` page (the service's maximum is 20).
const PAGE: u64 = 20;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A one-to-one conversation with this user.
    C2c(String),
    /// A group, with its @-mentions (`GroupAtInfo`).
    Group {
        group_id: String,
        mentions: Vec<GroupAt>,
    },
}

/// One @-mention of a group message (`GroupAtInfo` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAt {
    /// @all (`GroupAtAllFlag: 1`).
    All,
    /// @user (`GroupAt_Account`).
    User(String),
}

impl GroupAt {
    fn to_wire(&self) -> Value {
        match self {
            GroupAt::All => json!({"GroupAtAllFlag": 1, "GroupAt_Account": AT_ALL}),
            GroupAt::User(u) => json!({"GroupAtAllFlag": 0, "GroupAt_Account": u}),
        }
    }

    fn from_wire(v: &Value) -> Option<Self> {
        let account = v.get("GroupAt_Account").and_then(Value::as_str);
        if v.get("GroupAtAllFlag").and_then(Value::as_i64) == Some(1) || account == Some(AT_ALL) {
            return Some(GroupAt::All);
        }
        account
            .filter(|a| !a.is_empty())
            .map(|a| GroupAt::User(a.to_owned()))
    }
}

/// One group message, pushed live (`GroupMsgArray`) or fetched (`group_msg_get`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMessage {
    /// `GroupId`; for a message in a Community topic, the topic id (`@TGS#_…@TOPIC#_…`,
    /// `GroupInfo.TopicId`), which starts with the group's id.
    pub group_id: String,
    /// `From_Account` (ourselves for a message sent by another of our instances).
    pub from: String,
    /// `MsgSeq`: the group's sequence number, 1, 2, … per group.
    pub seq: u64,
    /// `MsgRandom` / `Random`.
    pub random: u32,
    /// `MsgTimeStamp`, unix seconds.
    pub time: u64,
    /// The elements that parsed.
    pub elems: Vec<Elem>,
    /// `GroupAtInfo`: who is mentioned.
    pub mentions: Vec<GroupAt>,
    /// Came from the catch-up fetch rather than a live push.
    pub offline: bool,
}

impl GroupMessage {
    /// The text of the message's text elements, concatenated.
    pub fn text(&self) -> String {
        self.elems
            .iter()
            .filter_map(|e| match e {
                Elem::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// What a group tip reports (`OpType`, the SDK's `GRP_TIP_*`, reference §A1 "Groups").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupTipKind {
    /// 1: members joined or were added.
    MemberJoined,
    /// 2: a member left.
    MemberQuit,
    /// 3: members were removed.
    MemberKicked,
    /// 4: members became admins.
    AdminSet,
    /// 5: members are no longer admins.
    AdminCancelled,
    /// 6: the group's profile changed (see [`GroupTip::profile`]).
    ProfileChanged,
    /// 7: a member's group profile changed.
    MemberInfoChanged,
    /// Any other value.
    Other(i64),
}

impl GroupTipKind {
    /// From the wire number.
    pub fn from_code(code: i64) -> Self {
        match code {
            1 => Self::MemberJoined,
            2 => Self::MemberQuit,
            3 => Self::MemberKicked,
            4 => Self::AdminSet,
            5 => Self::AdminCancelled,
            6 => Self::ProfileChanged,
            7 => Self::MemberInfoChanged,
            n => Self::Other(n),
        }
    }
}

/// The group profile fields a tip or the joined list carries; `None` = not given/unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupProfile {
    /// `Name` / `GroupName`.
    pub name: Option<String>,
    /// `Introduction` / `GroupIntroduction`.
    pub introduction: Option<String>,
    /// `Notification` / `GroupNotification` (the group's announcement).
    pub notification: Option<String>,
    /// `FaceUrl` / `GroupFaceUrl`: the avatar URL.
    pub face_url: Option<String>,
}

/// A group tip (`GroupTips` item).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupTip {
    /// `GroupId`.
    pub group_id: String,
    /// `OpType`.
    pub kind: GroupTipKind,
    /// `Operator_Account`: who did it.
    pub operator: String,
    /// `List_Account`: whom it concerns (members added/removed, …).
    pub users: Vec<String>,
    /// `MemberNum` after the change, when given.
    pub member_num: Option<u64>,
    /// `MsgGroupNewInfo`: the changed profile fields ([`GroupTipKind::ProfileChanged`]).
    pub profile: GroupProfile,
    /// `MsgTimeStamp`, unix seconds.
    pub time: u64,
}

/// One joined group (`get_joined_group_list` `GroupIdList` item).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// `GroupId`.
    pub group_id: String,
    /// `Type`: `Work`, `Public`, `Meeting`, `Community`, `AVChatRoom`.
    pub kind: String,
    /// Name, introduction, notification, avatar.
    pub profile: GroupProfile,
    /// `Owner_Account`.
    pub owner: String,
    /// `MemberNum`.
    pub member_num: u64,
    /// `NextMsgSeq`: the seq the next message will get.
    pub next_msg_seq: u64,
    /// `SupportTopic: 1`: a Community with topics (its messages live in the topics).
    pub support_topic: bool,
}

/// What a group request waits for.
#[derive(Debug)]
pub(super) enum GroupPending {
    /// `get_joined_group_list` at login (groups, or Communities with topics).
    List,
    /// A `group_msg_get` page of seqs `(upper - n, upper]` (`group_id` may be a topic id).
    MsgGet { group_id: String, upper: u64 },
    /// `million_group_open_http_svc.get_topic` of a Community ([`super::topics`]).
    Topics { group_id: String },
}

/// The per-group catch-up state.
#[derive(Debug, Default)]
pub(super) struct GroupSync {
    /// Last `MsgSeq` delivered (or passed over) per group.
    cursors: HashMap<String, u64>,
    /// Seqs of our own sends beyond the cursor, to pass over.
    own: HashSet<(String, u64)>,
    /// Groups being fetched, with the seq to fetch up to.
    fetching: HashMap<String, u64>,
    /// Messages delivered by the login catch-up so far (`Some` while it runs).
    syncing: Option<usize>,
    /// Communities whose topic list is being read.
    pub(super) topic_lists: HashSet<String>,
    /// Joined-list replies still awaited at login (groups, Communities with topics).
    lists_pending: u8,
}

impl GroupSync {
    /// A conversation created just now (a new topic): its messages start at seq 1.
    pub(super) fn start_new(&mut self, id: &str) {
        self.cursors.entry(id.to_owned()).or_insert(0);
    }

    /// Drops what is kept about conversation `id` (a deleted topic).
    pub(super) fn forget(&mut self, id: &str) {
        self.cursors.remove(id);
        self.fetching.remove(id);
        self.own.retain(|(g, _)| g != id);
    }

    pub(super) fn with_cursors(cursors: &HashMap<String, u64>) -> Self {
        Self {
            cursors: cursors.clone(),
            ..Default::default()
        }
    }
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn opt(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// The conversation a message belongs to: its topic id (`GroupInfo.TopicId`, a Community
/// topic) when it has one, else its group id.
fn conversation_of(m: &Value) -> String {
    match m
        .get("GroupInfo")
        .and_then(|g| g.get("TopicId"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        Some(t) => t.to_owned(),
        None => group_id_of(m),
    }
}

pub(super) fn group_id_of(m: &Value) -> String {
    m.get("GroupInfo")
        .and_then(|g| g.get("GroupId"))
        .and_then(Value::as_str)
        .or_else(|| m.get("ToGroupId").and_then(Value::as_str))
        .or_else(|| m.get("GroupId").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// Reads a group message; `None` without a group, sender or seq.
fn parse_group_message(m: &Value, group_hint: &str, offline: bool) -> Option<GroupMessage> {
    let mut group_id = conversation_of(m);
    if group_id.is_empty() {
        group_id = group_hint.to_owned();
    }
    let from = s(m, "From_Account");
    let seq = m.get("MsgSeq").and_then(Value::as_u64).unwrap_or(0);
    if group_id.is_empty() || from.is_empty() || seq == 0 {
        return None;
    }
    let (elems, bad) = from_msg_body(m.get("MsgBody").unwrap_or(&Value::Null));
    if bad > 0 {
        debug!(bad, "tencent: group message elements skipped");
    }
    let random = m
        .get("MsgRandom")
        .or_else(|| m.get("Random"))
        .and_then(Value::as_u64)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(0);
    Some(GroupMessage {
        group_id,
        from,
        seq,
        random,
        time: m
            .get("MsgTimeStamp")
            .or_else(|| m.get("MsgTime"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        elems,
        mentions: m
            .get("GroupAtInfo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(GroupAt::from_wire)
            .collect(),
        offline,
    })
}

/// Reads a group tip; `None` without a group or `OpType`.
fn parse_tip(m: &Value) -> Option<GroupTip> {
    let group_id = group_id_of(m);
    let body = m.get("MsgBody").unwrap_or(m);
    let op = body.get("OpType").and_then(Value::as_i64)?;
    if group_id.is_empty() {
        return None;
    }
    let info = body.get("MsgGroupNewInfo").unwrap_or(&Value::Null);
    Some(GroupTip {
        group_id,
        kind: GroupTipKind::from_code(op),
        operator: s(body, "Operator_Account"),
        users: body
            .get("List_Account")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect(),
        member_num: body.get("MemberNum").and_then(Value::as_u64),
        profile: GroupProfile {
            name: opt(info, "GroupName"),
            introduction: opt(info, "GroupIntroduction"),
            notification: opt(info, "GroupNotification"),
            face_url: opt(info, "GroupFaceUrl"),
        },
        time: m.get("MsgTimeStamp").and_then(Value::as_u64).unwrap_or(0),
    })
}

fn parse_summary(g: &Value) -> Option<GroupSummary> {
    let group_id = s(g, "GroupId");
    if group_id.is_empty() {
        return None;
    }
    Some(GroupSummary {
        group_id,
        kind: s(g, "Type"),
        profile: GroupProfile {
            name: opt(g, "Name"),
            introduction: opt(g, "Introduction"),
            notification: opt(g, "Notification"),
            face_url: opt(g, "FaceUrl"),
        },
        owner: s(g, "Owner_Account"),
        member_num: g.get("MemberNum").and_then(Value::as_u64).unwrap_or(0),
        next_msg_seq: g.get("NextMsgSeq").and_then(Value::as_u64).unwrap_or(0),
        support_topic: g.get("SupportTopic").and_then(Value::as_u64) == Some(1),
    })
}

/// The `send_group_msg` body of a group send.
/// A topic id (`…@TOPIC#_…`) names its group in `GroupId` and itself in `TopicId`, as the
/// SDK sends to a topic.
pub(super) fn send_body(
    from: &str,
    group_id: &str,
    mentions: &[GroupAt],
    client_seq: u32,
    random: u32,
    elems: &[Elem],
) -> Value {
    let mut body = json!({
        "From_Account": from, "GroupId": group_id, "Random": random, "ClientSeq": client_seq,
        "MsgPriority": "Normal", "MsgBody": to_msg_body(elems), "OnlineOnlyFlag": 0,
        "GroupAtInfo": mentions.iter().map(GroupAt::to_wire).collect::<Vec<_>>(),
        "MsgClientTime": 0,
    });
    super::topics::address(&mut body, group_id);
    body
}

impl Session {
    /// Queues a message to group `group_id` mentioning `mentions`; returns its local id. The
    /// outcome arrives as [`SessionEvent::SendResult`] with that id; its
    /// [`super::SendReceipt::msg_seq`] is the group's `MsgSeq`.
    pub fn send_group(
        &mut self,
        group_id: &str,
        elems: Vec<Elem>,
        mentions: Vec<GroupAt>,
        now: Instant,
    ) -> Result<u64, super::SendError> {
        self.send_to(
            Target::Group {
                group_id: group_id.to_owned(),
                mentions,
            },
            elems,
            now,
        )
    }

    /// Sets the last `MsgSeq` of `group_id` the owner has (e.g. kept across a restart): the
    /// next login fetches what came after it.
    pub fn set_group_cursor(&mut self, group_id: &str, seq: u64) {
        self.groups.cursors.insert(group_id.to_owned(), seq);
    }

    /// The last `MsgSeq` delivered per group.
    pub fn group_cursors(&self) -> &HashMap<String, u64> {
        &self.groups.cursors
    }

    /// After a login: read the joined list, then catch up every group.
    pub(super) fn group_login_sync(&mut self, now: Instant) {
        self.groups.fetching.clear();
        self.groups.syncing = Some(0);
        let body = json!({
            "Member_Account": self.cfg.identifier, "Limit": 1000, "Offset": 0,
            "ResponseFilter": {
                "GroupBaseInfoFilter": ["Type", "Name", "Introduction", "Notification", "FaceUrl",
                                        "Owner_Account", "MemberNum", "NextMsgSeq",
                                        "SupportTopic"],
            },
        });
        self.groups.lists_pending = 2;
        self.request(
            servcmd::GET_JOINED_GROUP_LIST,
            body.clone(),
            Pending::Group(GroupPending::List),
            now,
        );
        // Communities with topics are listed by their own service (as the SDK asks).
        let mut body = body;
        if let Some(m) = body.as_object_mut() {
            m.insert("SupportTopic".into(), json!(1));
        }
        self.request(
            super::topics::GET_JOINED_COMMUNITY_LIST,
            body,
            Pending::Group(GroupPending::List),
            now,
        );
    }

    /// A successful group send: its seq is ours, not to be delivered back.
    pub(super) fn group_sent(&mut self, group_id: &str, seq: u64) {
        self.groups.own.insert((group_id.to_owned(), seq));
        self.pass_own(group_id);
    }

    pub(super) fn on_group_reply(&mut self, what: GroupPending, body: &Value, now: Instant) {
        match what {
            GroupPending::List => self.on_joined_list(body, now),
            GroupPending::MsgGet { group_id, upper } => {
                self.on_msg_get(&group_id, upper, body, now)
            }
            GroupPending::Topics { group_id } => self.on_topic_list(&group_id, body, now),
        }
    }

    /// A group request got no reply in time: the catch-up of that group stops until the
    /// next push or login.
    pub(super) fn on_group_timeout(&mut self, what: GroupPending) {
        match what {
            GroupPending::List => {
                warn!("tencent get_joined_group_list timed out");
                self.groups.lists_pending = self.groups.lists_pending.saturating_sub(1);
            }
            GroupPending::MsgGet { group_id, .. } => {
                warn!(group = %group_id, "tencent group_msg_get timed out");
                self.groups.fetching.remove(&group_id);
            }
            GroupPending::Topics { group_id } => {
                warn!(group = %group_id, "tencent get_topic timed out");
                self.groups.topic_lists.remove(&group_id);
            }
        }
        self.maybe_sync_done();
    }

    fn on_joined_list(&mut self, body: &Value, now: Instant) {
        self.groups.lists_pending = self.groups.lists_pending.saturating_sub(1);
        if let Err(e) = wire::check_reply(body) {
            warn!(error = %e, "tencent get_joined_group_list failed");
            self.maybe_sync_done();
            return;
        }
        let list: Vec<GroupSummary> = body
            .get("GroupIdList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(parse_summary)
            .collect();
        for g in &list {
            if g.support_topic {
                self.request_topics(&g.group_id, now);
            }
            self.catch_up(&g.group_id, g.next_msg_seq, now);
        }
        self.event(SessionEvent::GroupList(list));
        self.maybe_sync_done();
    }

    /// Fetches what lies between the cursor of conversation `id` (a group or a topic) and
    /// `next_msg_seq - 1`; a conversation without a cursor starts
    /// [`super::SessionConfig::group_catch_up`] messages back.
    pub(super) fn catch_up(&mut self, id: &str, next_msg_seq: u64, now: Instant) {
        let top = next_msg_seq.saturating_sub(1);
        match self.groups.cursors.get(id) {
            Some(&c) if top > c => self.fetch_group(id, top, now),
            Some(_) => {}
            None => {
                let start = top.saturating_sub(self.cfg.group_catch_up);
                self.groups.cursors.insert(id.to_owned(), start);
                if top > start {
                    self.fetch_group(id, top, now);
                }
            }
        }
    }

    pub(super) fn maybe_sync_done(&mut self) {
        if self.groups.fetching.is_empty()
            && self.groups.topic_lists.is_empty()
            && self.groups.lists_pending == 0
        {
            if let Some(count) = self.groups.syncing.take() {
                self.event(SessionEvent::GroupSyncCompleted { count });
            }
        }
    }

    /// Fetches `group_id` up to seq `target` (or extends a running fetch).
    pub(super) fn fetch_group(&mut self, group_id: &str, target: u64, now: Instant) {
        if let Some(t) = self.groups.fetching.get_mut(group_id) {
            *t = (*t).max(target);
            return;
        }
        self.groups.fetching.insert(group_id.to_owned(), target);
        self.fetch_page(group_id, now);
    }

    fn fetch_page(&mut self, group_id: &str, now: Instant) {
        let cursor = self.groups.cursors.get(group_id).copied().unwrap_or(0);
        let Some(&target) = self.groups.fetching.get(group_id) else {
            return;
        };
        if target <= cursor {
            self.groups.fetching.remove(group_id);
            self.maybe_sync_done();
            return;
        }
        let upper = target.min(cursor + PAGE);
        let mut body = json!({
            "GroupId": group_id, "ReqMsgSeq": upper, "ReqMsgNumber": upper - cursor,
            "WithRecalledMsg": 1,
        });
        super::topics::address(&mut body, group_id);
        self.request(
            &super::topics::servcmd_for(group_id, servcmd::GROUP_MSG_GET),
            body,
            Pending::Group(GroupPending::MsgGet {
                group_id: group_id.to_owned(),
                upper,
            }),
            now,
        );
    }

    fn on_msg_get(&mut self, group_id: &str, upper: u64, body: &Value, now: Instant) {
        if let Err(e) = wire::check_reply(body) {
            warn!(group = %group_id, error = %e, "tencent group_msg_get failed");
            self.groups.fetching.remove(group_id);
            self.maybe_sync_done();
            return;
        }
        let mut msgs: Vec<GroupMessage> = body
            .get("RspMsgList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| parse_group_message(m, group_id, true))
            .filter(|m| m.group_id == group_id && m.seq <= upper)
            .collect();
        msgs.sort_by_key(|m| m.seq);
        for m in msgs {
            self.deliver_group(m);
        }
        // Seqs the server did not return (deleted, or not visible to us) are passed over.
        let c = self.groups.cursors.entry(group_id.to_owned()).or_insert(0);
        *c = (*c).max(upper);
        self.pass_own(group_id);
        self.fetch_page(group_id, now);
    }

    /// Delivers `m` if it is past the cursor; advances the cursor.
    fn deliver_group(&mut self, m: GroupMessage) {
        let cursor = self.groups.cursors.entry(m.group_id.clone()).or_insert(0);
        if m.seq <= *cursor {
            return;
        }
        *cursor = m.seq;
        let own = self.groups.own.remove(&(m.group_id.clone(), m.seq));
        let gid = m.group_id.clone();
        if !own {
            self.delivered += 1;
            if let (Some(n), true) = (self.groups.syncing.as_mut(), m.offline) {
                *n += 1;
            }
            self.event(SessionEvent::GroupMessage(m));
        }
        self.pass_own(&gid);
    }

    /// Moves the cursor of `group_id` over our own sends right after it.
    fn pass_own(&mut self, group_id: &str) {
        let Some(cursor) = self.groups.cursors.get_mut(group_id) else {
            return;
        };
        while self.groups.own.remove(&(group_id.to_owned(), *cursor + 1)) {
            *cursor += 1;
        }
        let c = *cursor;
        self.groups.own.retain(|(g, s)| g != group_id || *s > c);
    }

    /// The group parts of one `eventArray` item of a push.
    pub(super) fn on_group_push_event(&mut self, ev: &Value, now: Instant) {
        for m in ev
            .get("GroupMsgArray")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(msg) = parse_group_message(m, "", false) else {
                debug!("tencent: group message without group, sender or seq skipped");
                continue;
            };
            let gid = msg.group_id.clone();
            let cursor = match self.groups.cursors.get(&gid) {
                Some(c) => *c,
                // A group we just joined: start at this message.
                None => msg.seq - 1,
            };
            self.groups.cursors.entry(gid.clone()).or_insert(cursor);
            if msg.seq <= cursor {
                continue;
            }
            if msg.seq == cursor + 1 && !self.groups.fetching.contains_key(&gid) {
                self.deliver_group(msg);
            } else {
                // A gap (or a fetch under way): fetch in order, this one included.
                self.fetch_group(&gid, msg.seq, now);
            }
        }
        let event = ev.get("event").and_then(Value::as_i64).unwrap_or(0);
        if event == 4 || event == 5 || event == 6 {
            for t in ev
                .get("GroupTips")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(topic) = super::topics::parse_topic_notice(t) {
                    self.delivered += 1;
                    self.on_topic_notice(topic, now);
                    continue;
                }
                if event == 5 {
                    continue;
                }
                if let Some(tip) = parse_tip(t) {
                    self.delivered += 1;
                    self.event(SessionEvent::GroupTip(tip));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
