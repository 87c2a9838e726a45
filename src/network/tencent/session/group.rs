//! Groups in the session: sending (`group_open_http_svc.send_group_msg`, through the same
//! outbox and reply matching as C2C sends), `GroupMsgArray` pushes and `GroupTips` (event 4
//! tips, 5 message notices — recall and read elsewhere —, 6 profile notices) from
//! `im_open_push.msg_push`, the joined-group list
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
//! Tips (event 4) take a `MsgSeq` like messages and stay in the history (`Event` 4 entries
//! of `group_msg_get`), so they go through the same cursor: delivered once, in order with the
//! messages, and fetched with them after time away. A tip without a seq (an online-only
//! notice) is delivered as it comes. A Community topic is one more conversation here, keyed
//! by its topic id ([`super::topics`]).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::{json, Value};
use tracing::{debug, warn};

use super::super::elem::Elem;
use super::super::wire::{self, servcmd};
use super::group_wire::{
    is_history_tip, parse_group_message, parse_modified, parse_notices, parse_summary, parse_tip,
};
pub use super::group_wire::{
    GroupAt, GroupMessage, GroupModified, GroupNotice, GroupProfile, GroupSummary, GroupTip,
    GroupTipKind, Target, AT_ALL,
};
use super::{Pending, Session, SessionEvent};

/// Messages per `group_msg_get` page (the service's maximum is 20).
const PAGE: u64 = 20;

/// What takes a place in a group's `MsgSeq` order: a message or a tip.
#[derive(Debug)]
enum Sequenced {
    Message(GroupMessage),
    Tip(GroupTip),
}

impl Sequenced {
    fn seq(&self) -> u64 {
        match self {
            Self::Message(m) => m.seq,
            Self::Tip(t) => t.seq,
        }
    }

    fn group_id(&self) -> &str {
        match self {
            Self::Message(m) => &m.group_id,
            Self::Tip(t) => &t.group_id,
        }
    }
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

    /// True (and forgotten) when seq `seq` of `group_id` is one of our own sends.
    pub(super) fn take_own(&mut self, group_id: &str, seq: u64) -> bool {
        self.own.remove(&(group_id.to_owned(), seq))
    }

    pub(super) fn with_cursors(cursors: &HashMap<String, u64>) -> Self {
        Self {
            cursors: cursors.clone(),
            ..Default::default()
        }
    }
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
        let mut msgs: Vec<Sequenced> = body
            .get("RspMsgList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                if is_history_tip(m) {
                    parse_tip(m).map(Sequenced::Tip)
                } else {
                    parse_group_message(m, group_id, true).map(Sequenced::Message)
                }
            })
            .filter(|m| m.group_id() == group_id && m.seq() > 0 && m.seq() <= upper)
            .collect();
        msgs.sort_by_key(Sequenced::seq);
        // Recalled while we were away: the page has their placeholders (`IsPlaceMsg: 2`, as
        // the SDK's history shows them revoked); the core removes those it bridged (idempotent).
        for notice in super::group_wire::recalled_placeholders(body, group_id, upper) {
            self.event(SessionEvent::GroupNotice(notice));
        }
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
    fn deliver_group(&mut self, m: Sequenced) {
        let gid = m.group_id().to_owned();
        let seq = m.seq();
        let cursor = self.groups.cursors.entry(gid.clone()).or_insert(0);
        if seq <= *cursor {
            return;
        }
        *cursor = seq;
        let own = self.groups.own.remove(&(gid.clone(), seq));
        match m {
            Sequenced::Message(m) if !own => {
                self.delivered += 1;
                if let (Some(n), true) = (self.groups.syncing.as_mut(), m.offline) {
                    *n += 1;
                }
                self.event(SessionEvent::GroupMessage(m));
            }
            Sequenced::Message(_) => {}
            Sequenced::Tip(tip) => {
                self.delivered += 1;
                self.event(SessionEvent::GroupTip(tip));
            }
        }
        self.pass_own(&gid);
    }

    /// A pushed message or tip with a seq: delivered when it is the next one, fetched in
    /// order with what it skipped when it is past a gap (or a fetch is under way), dropped
    /// when at or below the cursor.
    fn sequenced_push(&mut self, item: Sequenced, now: Instant) {
        let gid = item.group_id().to_owned();
        let seq = item.seq();
        let cursor = match self.groups.cursors.get(&gid) {
            Some(c) => *c,
            // A group we just joined: start at this one.
            None => seq - 1,
        };
        self.groups.cursors.entry(gid.clone()).or_insert(cursor);
        if seq <= cursor {
            return;
        }
        if seq == cursor + 1 && !self.groups.fetching.contains_key(&gid) {
            self.deliver_group(item);
        } else {
            // A gap (or a fetch under way): fetch in order, this one included.
            self.fetch_group(&gid, seq, now);
        }
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
            let live_type = m
                .get("GroupInfo")
                .and_then(|g| g.get("GroupType"))
                .and_then(Value::as_str)
                == Some(super::live::LIVE_TYPE);
            if live_type || self.is_live_room(&gid) {
                // Live rooms are no group portals: delivered as live-room messages, once.
                self.live_pushed(msg);
                continue;
            }
            self.sequenced_push(Sequenced::Message(msg), now);
        }
        for n in ev
            .get("GroupMsgModNotifys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match parse_modified(n) {
                Some(m) => {
                    self.delivered += 1;
                    self.event(SessionEvent::GroupModified(m));
                }
                None => {
                    debug!("tencent: GroupMsgModNotifys item without group, author or seq skipped")
                }
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
                    if let Some(r) = super::receipts::parse_group_receipt(t) {
                        self.event(SessionEvent::ReadReceipts(r));
                        continue;
                    }
                    for n in parse_notices(t) {
                        self.delivered += 1;
                        self.event(SessionEvent::GroupNotice(n));
                    }
                    continue;
                }
                let live_type = t
                    .get("GroupInfo")
                    .and_then(|g| g.get("GroupType"))
                    .and_then(Value::as_str)
                    == Some(super::live::LIVE_TYPE);
                if let Some(tip) = parse_tip(t) {
                    if live_type || self.is_live_room(&tip.group_id) {
                        // A live room's audience coming and going is not bridged.
                        continue;
                    }
                    // Event 4 tips are in the history, in seq order; event 6 ones are
                    // online only (the SDK marks them `_onlineOnlyFlag`).
                    if event == 4 && tip.seq > 0 {
                        self.sequenced_push(Sequenced::Tip(tip), now);
                    } else {
                        self.delivered += 1;
                        self.event(SessionEvent::GroupTip(tip));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
