//! Live rooms (`AVChatRoom`, the group type of TWebLive / TUILiveKit) in the session:
//! joining (`group_open_http_svc.apply_join_group`, no approval), leaving (`quit_group`),
//! and receiving by long polling (`group_open_long_polling_http_svc.get_msg`), as the
//! `@tencentcloud/chat` 3.6.6 bundle's `AVChatRoomHandler` does (reference §A1 "Live rooms";
//! bodies read in `modules/group-module.js` and the bundle's protocol map `AV_POLLING`).
//!
//! The join reply carries a `LongPollingKey` and the `StartSeq` to poll from; each poll
//! `{USP:1, StartSeq, HoldTime, Key, SimplifiedMessage:0}` is held by the server until
//! messages come or the hold ends, and answers `{Key, NextSeq, RspMsgList}` (items with
//! `Event: 3` for messages). One poll per room is in flight at a time; the next goes out as
//! soon as one is answered. A failed or timed-out poll joins the room again after
//! [`RETRY`] (the SDK's `MAX_POLLING_INTERVAL`, 2 s), with a fresh key; every login joins
//! every room again (the server forgets the instance's polls with the connection). Live
//! rooms keep no offline messages: what was said while away is not caught up. The service
//! may also push live-room messages (`GroupMsgArray` in `im_open_push.msg_push` or
//! `multi_msg_push_ws`, `GroupType: AVChatRoom`): they are delivered the same way, and a
//! message that comes both ways is delivered once (the newest 1024 seqs per room are
//! remembered); they never reach the group catch-up ([`super::group`]). Sending uses
//! the ordinary group send ([`super::Session::send_group`]); our own sends come back in the
//! poll and are passed over.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::{debug, warn};

use super::super::wire;
use super::group_wire::parse_group_message;
use super::{GroupMessage, Pending, SendError, Session, SessionEvent};

/// The group type of live rooms.
pub const LIVE_TYPE: &str = "AVChatRoom";
/// `servcmd` of a join.
pub const APPLY_JOIN_GROUP: &str = "group_open_http_svc.apply_join_group";
/// `servcmd` of a quit.
pub const QUIT_GROUP: &str = "group_open_http_svc.quit_group";
/// `servcmd` of the long poll.
pub const GET_MSG: &str = "group_open_long_polling_http_svc.get_msg";
/// Pause before joining again after a failed poll (the SDK's `MAX_POLLING_INTERVAL`).
pub const RETRY: Duration = Duration::from_secs(2);
/// The `HoldTime` asked, seconds, at most (the SDK asks 90; ours stays below the request
/// timeout so a held poll is not taken for a lost one).
pub const MAX_HOLD_SECS: u64 = 10;

/// What a live-room request waits for.
#[derive(Debug)]
pub(super) enum LivePending {
    /// `apply_join_group`; `id` is the caller's local id (none for a rejoin).
    Join { group_id: String, id: Option<u64> },
    /// A `get_msg` poll.
    Poll { group_id: String },
}

#[derive(Debug, Default)]
struct Room {
    /// `LongPollingKey` of the current join (none while joining).
    key: Option<String>,
    /// The `StartSeq` of the next poll.
    next_seq: u64,
    /// When to join again after a failure.
    retry_at: Option<Instant>,
    /// A poll is in flight (one at a time, however many joins answered).
    polling: bool,
    /// The `StartSeq` of the first join: older messages predate it (0: not known yet).
    floor: u64,
    /// The newest seqs delivered (at most [`SEEN`]), so a message that comes both by poll
    /// and by push is delivered once.
    seen: BTreeSet<u64>,
}

/// How many delivered seqs a room remembers.
const SEEN: usize = 1024;

/// The joined live rooms.
#[derive(Debug, Default)]
pub(super) struct LiveSync {
    rooms: HashMap<String, Room>,
}

impl Session {
    /// Joins live room `group_id`; returns a local id whose [`SessionEvent::CallResult`]
    /// carries the join reply (an error when the group does not exist, or is not a live
    /// room: no `LongPollingKey`). Joining a room already joined joins it again. Only while
    /// logged in ([`SendError::QueueTimeout`] otherwise).
    pub fn join_live(&mut self, group_id: &str, now: Instant) -> Result<u64, SendError> {
        self.ready_for_call()?;
        let id = self.next_id;
        self.next_id += 1;
        // Already in: the join is asked again (the answer confirms it), polling goes on.
        self.live.rooms.entry(group_id.to_owned()).or_default();
        self.send_join(group_id, Some(id), now);
        Ok(id)
    }

    /// Leaves live room `group_id` (`quit_group`); polling stops at once. Returns the local
    /// id of the quit's [`SessionEvent::CallResult`].
    pub fn leave_live(&mut self, group_id: &str, now: Instant) -> Result<u64, SendError> {
        self.live.rooms.remove(group_id);
        self.call(QUIT_GROUP, json!({"GroupId": group_id}), now)
    }

    /// The live rooms this session is in (or joining).
    pub fn live_rooms(&self) -> Vec<String> {
        let mut rooms: Vec<String> = self.live.rooms.keys().cloned().collect();
        rooms.sort();
        rooms
    }

    /// After a login: every room is joined again (a new key, polling from now).
    pub(super) fn live_rejoin(&mut self, now: Instant) {
        let rooms = self.live_rooms();
        for group_id in rooms {
            if let Some(r) = self.live.rooms.get_mut(&group_id) {
                // A new key and a new start; what was delivered stays delivered.
                r.key = None;
                r.polling = false;
                r.retry_at = None;
            }
            self.send_join(&group_id, None, now);
        }
    }

    /// The earliest rejoin due.
    pub(super) fn live_deadline(&self) -> Option<Instant> {
        self.live.rooms.values().filter_map(|r| r.retry_at).min()
    }

    /// Rejoins that are due.
    pub(super) fn live_tick(&mut self, now: Instant) {
        let due: Vec<String> = self
            .live
            .rooms
            .iter()
            .filter(|(_, r)| r.retry_at.is_some_and(|t| t <= now))
            .map(|(g, _)| g.clone())
            .collect();
        for group_id in due {
            if let Some(r) = self.live.rooms.get_mut(&group_id) {
                r.retry_at = None;
            }
            self.send_join(&group_id, None, now);
        }
    }

    fn send_join(&mut self, group_id: &str, id: Option<u64>, now: Instant) {
        let body = json!({
            "GroupId": group_id, "ApplyMsg": "", "UserDefinedField": "", "WebPushFlag": 1,
        });
        let what = LivePending::Join {
            group_id: group_id.to_owned(),
            id,
        };
        self.request(APPLY_JOIN_GROUP, body, Pending::Live(what), now);
    }

    fn poll(&mut self, group_id: &str, now: Instant) {
        let Some(room) = self.live.rooms.get_mut(group_id) else {
            return;
        };
        let Some(key) = room.key.clone().filter(|_| !room.polling) else {
            return;
        };
        room.polling = true;
        let room = &*room;
        let hold = self
            .cfg
            .request_timeout
            .as_secs()
            .saturating_sub(5)
            .clamp(1, MAX_HOLD_SECS);
        let body = json!({
            "USP": 1, "StartSeq": room.next_seq, "HoldTime": hold, "Key": key,
            "SimplifiedMessage": 0,
        });
        let what = LivePending::Poll {
            group_id: group_id.to_owned(),
        };
        self.request(GET_MSG, body, Pending::Live(what), now);
    }

    pub(super) fn on_live_reply(&mut self, what: LivePending, body: &Value, now: Instant) {
        match what {
            LivePending::Join { group_id, id } => self.on_join(&group_id, id, body, now),
            LivePending::Poll { group_id } => self.on_poll(&group_id, body, now),
        }
    }

    /// A live request got no reply in time: join again after [`RETRY`] (a first join is
    /// reported failed).
    pub(super) fn on_live_timeout(&mut self, what: LivePending, now: Instant) {
        let (group_id, id) = match what {
            LivePending::Join { group_id, id } => (group_id, id),
            LivePending::Poll { group_id } => (group_id, None),
        };
        if let Some(id) = id {
            self.live.rooms.remove(&group_id);
            self.event(SessionEvent::CallResult {
                id,
                result: Err(SendError::Timeout),
            });
            return;
        }
        warn!(group = %group_id, "tencent live room request timed out; joining again");
        if let Some(r) = self.live.rooms.get_mut(&group_id) {
            r.key = None;
            r.polling = false;
            r.retry_at = Some(now + RETRY);
        }
    }

    fn on_join(&mut self, group_id: &str, id: Option<u64>, body: &Value, now: Instant) {
        let key = body
            .get("LongPollingKey")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty());
        let result = match (wire::check_reply(body), key) {
            (Err(e), _) => Err(SendError::Server(e)),
            (Ok(()), None) => Err(SendError::Malformed(format!(
                "{group_id} is not a live room (no LongPollingKey)"
            ))),
            (Ok(()), Some(key)) => Ok(key.to_owned()),
        };
        let Some(room) = self.live.rooms.get_mut(group_id) else {
            // Left meanwhile.
            if let Some(id) = id {
                self.event(SessionEvent::CallResult {
                    id,
                    result: result.map(|_| body.clone()),
                });
            }
            return;
        };
        match result {
            Ok(key) => {
                if room.key.is_none() {
                    let start = body.get("StartSeq").and_then(Value::as_u64).unwrap_or(0);
                    room.next_seq = room.next_seq.max(start);
                    if room.floor == 0 {
                        room.floor = start;
                    }
                }
                room.key = Some(key);
                room.retry_at = None;
                if let Some(id) = id {
                    self.event(SessionEvent::CallResult {
                        id,
                        result: Ok(body.clone()),
                    });
                }
                self.poll(group_id, now);
            }
            Err(e) => {
                if let Some(id) = id {
                    self.live.rooms.remove(group_id);
                    self.event(SessionEvent::CallResult { id, result: Err(e) });
                } else {
                    warn!(group = %group_id, error = %e, "tencent live room rejoin failed");
                    room.retry_at = Some(now + RETRY);
                }
            }
        }
    }

    fn on_poll(&mut self, group_id: &str, body: &Value, now: Instant) {
        let Some(room) = self.live.rooms.get_mut(group_id) else {
            return;
        };
        room.polling = false;
        if let Err(e) = wire::check_reply(body) {
            debug!(group = %group_id, error = %e, "tencent live poll failed; joining again");
            room.key = None;
            room.retry_at = Some(now + RETRY);
            return;
        }
        if let Some(k) = body
            .get("Key")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
        {
            room.key = Some(k.to_owned());
        }
        if let Some(next) = body.get("NextSeq").and_then(Value::as_u64) {
            room.next_seq = room.next_seq.max(next);
        }
        let mut msgs: Vec<GroupMessage> = body
            .get("RspMsgList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|m| m.get("Event").and_then(Value::as_i64).unwrap_or(3) == 3)
            .filter_map(|m| parse_group_message(m, group_id, false))
            .filter(|m| m.group_id == group_id)
            .collect();
        msgs.sort_by_key(|m| m.seq);
        for m in msgs {
            self.deliver_live(m);
        }
        self.poll(group_id, now);
    }

    /// True when `group_id` is a joined live room.
    pub(super) fn is_live_room(&self, group_id: &str) -> bool {
        self.live.rooms.contains_key(group_id)
    }

    /// A live-room message that came by push (`GroupMsgArray` of `msg_push` or
    /// `multi_msg_push_ws`, which the service also uses for live rooms): delivered like a
    /// polled one, once; dropped when the room is not joined.
    pub(super) fn live_pushed(&mut self, m: GroupMessage) {
        self.deliver_live(m);
    }

    /// Delivers `m` unless it predates the join, was delivered already, or is our own send;
    /// moves the room's next `StartSeq` past it.
    fn deliver_live(&mut self, m: GroupMessage) {
        let Some(room) = self.live.rooms.get_mut(&m.group_id) else {
            return;
        };
        let too_old = room.seen.len() >= SEEN && room.seen.first().is_some_and(|&f| m.seq < f);
        if m.seq < room.floor || too_old || !room.seen.insert(m.seq) {
            return;
        }
        while room.seen.len() > SEEN {
            room.seen.pop_first();
        }
        room.next_seq = room.next_seq.max(m.seq + 1);
        if self.groups.take_own(&m.group_id, m.seq)
            || (m.from == self.cfg.identifier && self.sending_to(&m.group_id, m.random))
        {
            return;
        }
        self.delivered += 1;
        self.event(SessionEvent::LiveMessage(m));
    }

    /// True when a send to `group_id` with `MsgRandom` `random` awaits its reply (its echo
    /// in a poll may come first).
    fn sending_to(&self, group_id: &str, random: u32) -> bool {
        self.in_flight.values().any(|f| {
            matches!(&f.what, Pending::Send { to: super::Target::Group { group_id: g, .. }, random: r, .. }
                if g == group_id && *r == random)
        })
    }

    fn ready_for_call(&self) -> Result<(), SendError> {
        if self.is_ended() {
            return Err(SendError::SessionEnded);
        }
        if !self.is_ready() {
            return Err(SendError::QueueTimeout);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
