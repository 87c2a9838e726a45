//! The sandbox's live rooms (`AVChatRoom`, the group type TWebLive and TUILiveKit use):
//! joining without approval, quitting, and message delivery by long polling — what the
//! `@tencentcloud/chat` 3.6.6 bundle does (its `AVChatRoomHandler`, read in
//! `modules/group-module.js`):
//!
//! - `group_open_http_svc.apply_join_group` on an AVChatRoom answers
//!   `{JoinedStatus:"JoinedSuccess", LongPollingKey, StartSeq, HugeGroupFlag:1}` (the SDK maps
//!   `HugeGroupFlag` → `avChatRoomFlag` and starts its polling loop with the key).
//! - `group_open_long_polling_http_svc.get_msg` `{USP, StartSeq, HoldTime, Key,
//!   SimplifiedMessage}` is answered with `{Key, NextSeq, RspMsgList}` as soon as messages
//!   with `MsgSeq >= StartSeq` exist, else after the hold (at most [`MAX_HOLD`], the SDK
//!   asks 90 s); each item is a group message with `Event: 3` (the SDK's `onMessage` skips
//!   unknown events) and `ToGroupId` (→ `groupID`).
//! - Live rooms keep no offline messages: a member gets what is said from its join on,
//!   while it polls; `group_msg_get` refuses them ([`LIVE_NO_HISTORY`]) and
//!   `get_joined_group_list` leaves them out (as the REST docs say of AVChatRoom).
//! - Joins and quits are silent (no `GroupTips`): the service's default for live rooms.
//!
//! The real service also pushes AVChatRoom messages by `im_open_push.multi_msg_push_ws` to
//! some clients; the 3.6.6 Web SDK polls once it has a `LongPollingKey`, so the sandbox
//! only polls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::super::wire::{self, code, Frame};
use super::groups::{Member, GROUP_NOT_FOUND, NOT_A_MEMBER};
use super::state::{Out, Outbound, Sandbox};
use super::ws::ok;

/// The group type of live rooms.
pub const LIVE_TYPE: &str = "AVChatRoom";
/// The `servcmd` of the long poll.
pub const GET_MSG: &str = "group_open_long_polling_http_svc.get_msg";
/// The longest the sandbox holds a poll without messages (the SDK asks `HoldTime: 90`; a
/// shorter hold keeps tests quick and stays below every client's request timeout).
pub const MAX_HOLD: Duration = Duration::from_secs(10);
/// `ErrorCode` of `group_msg_get` on a live room. The sandbox's choice: the real service
/// answers with an error too (history of live rooms is a paid option), code not known.
pub const LIVE_NO_HISTORY: i64 = 10004;

/// The live-room side of the sandbox: the polling keys handed out and the signal that a
/// live room got a message.
#[derive(Default)]
pub struct LiveRooms {
    /// `LongPollingKey` → (member, group).
    keys: Mutex<HashMap<String, (String, String)>>,
    /// Woken on every live-room message (pollers re-check their room).
    pub(super) notify: Notify,
}

impl LiveRooms {
    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String)>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `apply_join_group` / `quit_group` when the group is a live room (`None` otherwise: the
/// ordinary group commands answer).
pub fn handle(sb: &Sandbox, command: &str, user: &str, b: &Value) -> Option<Value> {
    let group_id = b.get("GroupId").and_then(Value::as_str).unwrap_or_default();
    if command == "apply_join_group" && !sb.group_exists(group_id) {
        return Some(wire::error_body(GROUP_NOT_FOUND, "group does not exist"));
    }
    if !sb.is_live_room(group_id) {
        return None;
    }
    Some(match command {
        "apply_join_group" => match sb.live_join(user, group_id) {
            Ok((key, start)) => ok(json!({
                "JoinedStatus": "JoinedSuccess", "LongPollingKey": key, "StartSeq": start,
                "HugeGroupFlag": 1, "AVChatRoomKey": "",
            })),
            Err((c, info)) => wire::error_body(c, &info),
        },
        "quit_group" => match sb.live_quit(user, group_id) {
            Ok(()) => ok(json!({})),
            Err((c, info)) => wire::error_body(c, &info),
        },
        _ => return None,
    })
}

/// Answers the long poll `frame` of `user` on `tx`: at once when messages are waiting, else
/// when one comes or the hold ends.
pub fn spawn_get_msg(sb: Arc<Sandbox>, tx: Outbound, frame: Frame, user: String) {
    tokio::spawn(async move {
        let b = &frame.body;
        let key = b.get("Key").and_then(Value::as_str).unwrap_or_default();
        let start = b.get("StartSeq").and_then(Value::as_u64).unwrap_or(0);
        let hold = b
            .get("HoldTime")
            .and_then(Value::as_u64)
            .map_or(MAX_HOLD, |s| Duration::from_secs(s).min(MAX_HOLD));
        let until = tokio::time::Instant::now() + hold;
        let body = loop {
            let notified = sb.live.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match sb.live_poll(&user, key, start) {
                Err((c, info)) => break wire::error_body(c, &info),
                Ok((list, next)) if !list.is_empty() || tokio::time::Instant::now() >= until => {
                    break ok(json!({"Key": key, "NextSeq": next, "RspMsgList": list,
                                    "NextBroadcastSeq": 1, "RspBroadcastMsgList": []}));
                }
                Ok(_) => {}
            }
            // A message came, or the hold is over: the next turn answers either way.
            let _ = tokio::time::timeout_at(until, notified).await;
        };
        let _ = tx.send(Out::Frame(wire::encode(&frame.head, &body)));
    });
}

impl Sandbox {
    /// True when group `group_id` exists.
    pub fn group_exists(&self, group_id: &str) -> bool {
        self.groups_lock().contains_key(group_id)
    }

    /// True when `group_id` is a live room.
    pub fn is_live_room(&self, group_id: &str) -> bool {
        self.groups_lock()
            .get(group_id)
            .is_some_and(|g| g.kind == LIVE_TYPE)
    }

    /// Joins `user` to live room `group_id` (anyone, no approval; joining again is fine and
    /// gives a new key). Returns `(LongPollingKey, StartSeq)`: the poll starts at the room's
    /// next message.
    pub fn live_join(&self, user: &str, group_id: &str) -> Result<(String, u64), (i64, String)> {
        if !self.exists(user) {
            return Err((
                code::ACCOUNT_NOT_FOUND,
                format!("account {user} does not exist"),
            ));
        }
        let start = self.live_member_add(user, group_id)?;
        let key = format!("{:032x}", rand::rng().random::<u128>());
        self.live
            .keys()
            .insert(key.clone(), (user.to_owned(), group_id.to_owned()));
        Ok((key, start))
    }

    /// `user` leaves live room `group_id`; its polling keys stop working.
    pub fn live_quit(&self, user: &str, group_id: &str) -> Result<(), (i64, String)> {
        self.live_member_remove(user, group_id)?;
        self.live
            .keys()
            .retain(|_, (u, g)| !(u == user && g == group_id));
        Ok(())
    }

    /// The messages of the room of `key` from seq `start` on (none when `start` is 0: from
    /// now on), and the seq to ask next.
    fn live_poll(
        &self,
        user: &str,
        key: &str,
        start: u64,
    ) -> Result<(Vec<Value>, u64), (i64, String)> {
        let Some((owner, group_id)) = self.live.keys().get(key).cloned() else {
            return Err((NOT_A_MEMBER, "LongPollingKey is not valid".into()));
        };
        if owner != user {
            return Err((
                NOT_A_MEMBER,
                "LongPollingKey belongs to another user".into(),
            ));
        }
        self.live_messages(user, &group_id, start)
    }
}

impl Sandbox {
    /// Adds `user` to live room `group_id` (silently; already a member is fine). Returns the
    /// room's next `MsgSeq`.
    fn live_member_add(&self, user: &str, group_id: &str) -> Result<u64, (i64, String)> {
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(group_id)
            .filter(|g| g.kind == super::live::LIVE_TYPE)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if !g.is_member(user) {
            g.members.push(Member::joining(user));
        }
        Ok(g.next_seq())
    }

    /// Removes `user` from live room `group_id` (silently).
    fn live_member_remove(&self, user: &str, group_id: &str) -> Result<(), (i64, String)> {
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(group_id)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if !g.is_member(user) {
            return Err((NOT_A_MEMBER, "not a member of the group".into()));
        }
        g.members.retain(|m| m.account != user);
        Ok(())
    }

    /// The messages of live room `group_id` with `MsgSeq >= start` as long-poll items
    /// (`Event: 3`), for member `user`; and the seq to ask next.
    fn live_messages(
        &self,
        user: &str,
        group_id: &str,
        start: u64,
    ) -> Result<(Vec<Value>, u64), (i64, String)> {
        let groups = self.groups_lock();
        let g = groups
            .get(group_id)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if !g.is_member(user) {
            return Err((NOT_A_MEMBER, "not a member of the group".into()));
        }
        let next = g.next_seq();
        if start == 0 {
            // No cursor yet: from now on.
            return Ok((Vec::new(), next));
        }
        let list = g
            .log
            .msgs
            .iter()
            .skip(start.saturating_sub(1) as usize)
            .map(|m| {
                let mut m = m.clone();
                if let Some(o) = m.as_object_mut() {
                    o.insert("Event".into(), json!(3));
                    o.insert("ClientTime".into(), o["MsgTimeStamp"].clone());
                }
                m
            })
            .collect();
        Ok((list, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::tencent::sandbox::SandboxConfig;

    fn sandbox() -> Sandbox {
        let sb = Sandbox::new(SandboxConfig::new(1_400_000_001, "secret"));
        for u in ["alice", "bob"] {
            sb.import(u);
        }
        sb
    }

    #[test]
    fn anyone_joins_a_live_room_and_polls_from_its_join() {
        let sb = sandbox();
        let room = sb
            .create_group(LIVE_TYPE, "live1", "Live", "administrator", &[])
            .expect("created");
        let early = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "before"}}]);
        sb.send_group("administrator", &room, 1, &early, &json!([]), None)
            .expect("admin may send");
        let (key, start) = sb.live_join("bob", &room).expect("joined");
        assert_eq!(
            start, 2,
            "the poll starts after what was said before the join"
        );
        let (list, next) = sb.live_poll("bob", &key, start).expect("polls");
        assert!(list.is_empty(), "no offline messages in a live room");
        assert!(sb.live_poll("bob", &key, 0).expect("polls").0.is_empty());
        assert_eq!(next, 2);
        let body = json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]);
        sb.send_group("bob", &room, 7, &body, &json!([]), None)
            .expect("a member sends");
        let (list, next) = sb.live_poll("bob", &key, start).expect("polls");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["Event"], 3);
        assert_eq!(list[0]["ToGroupId"], "live1");
        assert_eq!(list[0]["MsgSeq"], 2);
        assert_eq!(next, 3);
        assert!(sb.live_poll("alice", &key, 0).is_err(), "the key is bob's");
        assert!(sb.group_msg_get("bob", &room, 0, 20).is_err(), "no history");
        assert!(
            sb.joined_groups("bob").is_empty(),
            "live rooms are not listed"
        );
        sb.live_quit("bob", &room).expect("quits");
        assert!(
            sb.live_poll("bob", &key, 3).is_err(),
            "the key died with the quit"
        );
        assert!(sb.live_join("bob", &room).is_ok(), "joining again works");
        assert!(sb.live_join("nobody", &room).is_err());
        assert_eq!(
            sb.live_join("bob", "missing").map(|_| ()),
            Err((GROUP_NOT_FOUND, "group does not exist".into()))
        );
    }
}
