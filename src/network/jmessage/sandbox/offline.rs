//! What the sandbox keeps for users who are offline besides messages, and hands over at their
//! next login like the service (reference §B1, the Web SDK 2.5.0's `_onSyncEvent` /
//! `_onSyncMsgReceipt`): the `event_notification`s they missed (group events, retractions)
//! in `sync_event {sync_key, events:[…]}`, acked with `sync_event_ack {sync_key}`, and the
//! `receipt_change`s of their messages in `sync_receipt {sync_key, receipts:[…]}`, acked with
//! `sync_receipt_ack {sync_key}`. Both are pushed after every `sync_check` while unacked (as
//! `sync_conversation` is), and kept until acked: a client that drops the link first gets them
//! again. The events and receipts have the live pushes' shapes. Logout events (types 1, 2) are
//! never kept: they concern the sockets that were there.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::state::Sandbox;
use crate::network::jmessage::wire::event;

/// The most events (and receipts) kept per user; the oldest go first beyond it.
pub const MAX_KEPT: usize = 1000;

/// Kept items per username, each under a sandbox-wide id (the sequence of message ids).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Pending {
    events: HashMap<String, VecDeque<(i64, Value)>>,
    receipts: HashMap<String, VecDeque<(i64, Value)>>,
}

fn keep(map: &mut HashMap<String, VecDeque<(i64, Value)>>, user: &str, id: i64, v: &Value) {
    let list = map.entry(user.to_owned()).or_default();
    list.push_back((id, v.clone()));
    while list.len() > MAX_KEPT {
        list.pop_front();
    }
}

fn take_ids(map: &mut HashMap<String, VecDeque<(i64, Value)>>, user: &str, ids: &[i64]) {
    if let Some(list) = map.get_mut(user) {
        list.retain(|(id, _)| !ids.contains(id));
        if list.is_empty() {
            map.remove(user);
        }
    }
}

fn listed(map: &HashMap<String, VecDeque<(i64, Value)>>, user: &str) -> (Vec<Value>, Vec<i64>) {
    map.get(user)
        .map(|l| {
            (
                l.iter().map(|(_, v)| v.clone()).collect(),
                l.iter().map(|(id, _)| *id).collect(),
            )
        })
        .unwrap_or_default()
}

impl Sandbox {
    /// Keeps `note` (an `event_notification` body) for each of the offline users `away`.
    pub(super) fn keep_events(&self, away: &[String], note: &Value) {
        if away.is_empty() {
            return;
        }
        let id = self.next_id();
        let mut book = self.book();
        for user in away {
            keep(&mut book.pending.events, user, id, note);
        }
    }

    /// Pushes `receipt_change` `push` to `author`'s sockets, or keeps it for their next login
    /// when they have none.
    pub(super) fn push_receipt(&self, author: &str, push: &Value) {
        if let super::apps::Whose::There(app, user) = self.whose(author) {
            return app.push_receipt(user, push);
        }
        if self.sessions_of(author) > 0 {
            self.push_to(author, event::RECEIPT_CHANGE, push);
            return;
        }
        if !self.has_user(author) {
            return;
        }
        let id = self.next_id();
        keep(&mut self.book().pending.receipts, author, id, push);
    }

    /// The events kept for `user`, oldest first, with their ids.
    pub fn pending_events(&self, user: &str) -> (Vec<Value>, Vec<i64>) {
        listed(&self.book().pending.events, user)
    }

    /// The receipt changes kept for `user`, oldest first, with their ids.
    pub fn pending_receipts(&self, user: &str) -> (Vec<Value>, Vec<i64>) {
        listed(&self.book().pending.receipts, user)
    }
}

/// One connection's hand-overs awaiting their acks, by the `sync_key` they went out under.
#[derive(Debug, Default)]
pub(super) struct Handed {
    event_key: i64,
    events: HashMap<i64, Vec<i64>>,
    receipt_key: i64,
    receipts: HashMap<i64, Vec<i64>>,
}

impl Handed {
    /// After a `sync_check` of `user`: what is kept for them, as `sync_event` and
    /// `sync_receipt` pushes (`(event name, body)`, none when nothing is kept).
    pub(super) fn pushes(&mut self, sandbox: &Sandbox, user: &str) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        let (events, ids) = sandbox.pending_events(user);
        if !ids.is_empty() {
            self.event_key += 1;
            self.events.insert(self.event_key, ids);
            out.push((
                event::SYNC_EVENT,
                json!({ "sync_key": self.event_key, "events": events }),
            ));
        }
        let (receipts, ids) = sandbox.pending_receipts(user);
        if !ids.is_empty() {
            self.receipt_key += 1;
            self.receipts.insert(self.receipt_key, ids);
            out.push((
                event::SYNC_RECEIPT,
                json!({ "sync_key": self.receipt_key, "receipts": receipts }),
            ));
        }
        out
    }

    /// `user` acked `sync_event` (`receipts` false) or `sync_receipt` (true) `key`: what
    /// went out under it is dropped.
    pub(super) fn acked(&mut self, sandbox: &Sandbox, user: &str, receipts: bool, key: i64) {
        let handed = if receipts {
            self.receipts.remove(&key)
        } else {
            self.events.remove(&key)
        };
        let Some(ids) = handed else {
            return;
        };
        let mut book = sandbox.book();
        let map = if receipts {
            &mut book.pending.receipts
        } else {
            &mut book.pending.events
        };
        take_ids(map, user, &ids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::jmessage::sandbox::SandboxConfig;

    #[test]
    fn kept_for_the_offline_until_acked_and_bounded() {
        let sb = Sandbox::new(SandboxConfig::new("k", "s"));
        assert!(sb.register("alice", "pw"));
        sb.keep_events(&["alice".into()], &json!({"event_type": 10}));
        sb.push_receipt("alice", &json!({"type": 3, "receipt_msgs": []}));
        sb.push_receipt("nobody", &json!({"type": 3}));
        let mut handed = Handed::default();
        let pushes = handed.pushes(&sb, "alice");
        assert_eq!(pushes.len(), 2);
        assert_eq!(pushes[0].0, "sync_event");
        assert_eq!(pushes[0].1["events"][0]["event_type"], 10);
        assert_eq!(pushes[1].0, "sync_receipt");
        // Unacked: handed over again at the next sync_check.
        assert_eq!(handed.pushes(&sb, "alice").len(), 2);
        handed.acked(&sb, "alice", false, 1);
        handed.acked(&sb, "alice", true, 99);
        assert!(sb.pending_events("alice").1.is_empty());
        assert_eq!(sb.pending_receipts("alice").1.len(), 1);
        handed.acked(&sb, "alice", true, 2);
        assert!(handed.pushes(&sb, "alice").is_empty());
        assert!(sb.pending_receipts("nobody").1.is_empty());
        for i in 0..(MAX_KEPT + 5) {
            sb.keep_events(&["alice".into()], &json!({ "n": i }));
        }
        let (events, _) = sb.pending_events("alice");
        assert_eq!(events.len(), MAX_KEPT);
        assert_eq!(events[0]["n"], 5);
    }
}
