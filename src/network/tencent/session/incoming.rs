//! Inbound traffic of the session: server pushes (`im_open_push.msg_push`: messages,
//! kick-outs, with their `ws_msg_push_ack`) and `openim.getmsg` sync pages, delivered in
//! order without duplicates.

use std::time::Instant;

use serde_json::{json, Value};
use tracing::{debug, warn};

use super::super::elem::from_msg_body;
use super::super::wire::{self, recalled, servcmd, Frame};
use super::{C2cMessage, EndReason, KickType, Pending, Session, SessionEvent};

impl Session {
    pub(super) fn on_getmsg_reply(&mut self, body: &Value, now: Instant) {
        if let Err(e) = wire::check_reply(body) {
            warn!(error = %e, "tencent openim.getmsg failed; sync stops until the next login");
            self.syncing = None;
            return;
        }
        let list = body
            .get("MsgList")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // A recalled message's placeholder, should a sync page carry one, is no message.
        for m in &list {
            if let Some(msg) = parse_c2c(m, true).filter(|m| !m.revoked) {
                self.deliver(msg);
            }
        }
        if let Some(c) = body.get("Cookie").and_then(Value::as_str) {
            self.cookie = c.to_owned();
        }
        let flag = body.get("SyncFlag").and_then(Value::as_i64).unwrap_or(2);
        if (flag == 0 || flag == 1) && !self.cookie.is_empty() {
            self.getmsg(flag, now);
        } else if let Some(count) = self.syncing.take() {
            self.event(SessionEvent::SyncCompleted { count });
        }
    }

    pub(super) fn on_push(&mut self, frame: Frame, now: Instant) {
        let body = &frame.body;
        match frame.head.servcmd.as_str() {
            // `multi_msg_push_ws`: the same `eventArray`, used for live rooms.
            servcmd::MSG_PUSH | servcmd::MULTI_MSG_PUSH | "im_open_status.stat_forceoffline" => {}
            other => {
                debug!(servcmd = other, "tencent: unexpected frame ignored");
                return;
            }
        }
        let session_data = body
            .get("SessionData")
            .filter(|_| body.get("NeedAck").and_then(Value::as_i64).unwrap_or(1) != 0)
            .cloned();
        let delivered_before = self.delivered;
        self.batch_keys = Some(Vec::new());
        let events = body
            .get("eventArray")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut kicked = None;
        let mut notifies: Vec<Value> = Vec::new();
        for ev in &events {
            for m in ev
                .get("C2cMsgArray")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(msg) = parse_c2c(m, false).filter(|m| !m.revoked) {
                    self.deliver(msg);
                }
            }
            self.on_ops_event(ev);
            self.on_profile_event(ev);
            self.on_reaction_event(ev);
            self.on_receipt_event(ev);
            self.on_group_push_event(ev, now);
            notifies.extend(
                ev.get("C2cNotifyMsgArray")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        notifies.extend(
            body.get("C2cNotifyMsgArray")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        for n in notifies {
            self.on_ops_notify(&n);
            if let Some((peer, flag)) = super::notify::mute_synced(&n) {
                self.event(SessionEvent::MuteSynced { peer, flag });
            }
            if let Some(k) = n.get("KickoutMsgNotify") {
                kicked = Some(KickType::from_code(
                    k.get("KickType").and_then(Value::as_i64).unwrap_or(0),
                ));
            }
        }
        if let Some(session_data) = session_data {
            if self.cfg.defer_push_ack && self.delivered > delivered_before {
                let token = self.next_id;
                self.next_id += 1;
                self.push_acks.insert(token, session_data);
                let keys = self.batch_keys.take().unwrap_or_default();
                self.push_keys.insert(token, keys);
                self.event(SessionEvent::PushBatch { token });
            } else {
                self.request(
                    servcmd::PUSH_ACK,
                    json!({"SessionData": session_data}),
                    Pending::Other,
                    now,
                );
            }
        }
        self.batch_keys = None;
        if let Some(kick) = kicked {
            self.end(EndReason::Kicked(kick));
        }
    }

    /// The owner did not store the messages of push `token` ([`SessionEvent::PushBatch`];
    /// its store refused one): the push stays unacknowledged, its C2C messages are forgotten
    /// by the duplicate filter, and an `openim.getmsg` from the current cookie fetches them
    /// again (the server's log holds every message after the cookie), so they reach the
    /// owner again instead of being dropped as seen. Not while a sync already runs (its
    /// pages bring them). Group messages in the push are not fetched again (their `MsgSeq`
    /// cursor has moved on).
    pub fn push_not_stored(&mut self, token: u64, now: Instant) {
        self.push_acks.remove(&token);
        let Some(keys) = self.push_keys.remove(&token) else {
            return;
        };
        for key in &keys {
            self.seen.forget(key);
        }
        if !keys.is_empty() && self.phase == super::Phase::Ready && self.syncing.is_none() {
            self.getmsg(0, now);
        }
    }

    fn deliver(&mut self, mut msg: C2cMessage) {
        // Our own message from another instance: From/To come swapped (the SDK swaps them
        // back when `IsSyncMsg` is 1).
        if msg.is_sync && msg.from != self.cfg.identifier {
            std::mem::swap(&mut msg.from, &mut msg.to);
        }
        let key = msg.dedup_key();
        if !self.seen.insert(key.clone()) {
            return;
        }
        // The other identity of the same message.
        let other = format!("{}\u{0}{}\u{0}{}", msg.from, msg.seq, msg.random);
        self.seen.insert(other.clone());
        if let Some(batch) = self.batch_keys.as_mut() {
            batch.push(key);
            batch.push(other);
        }
        self.delivered += 1;
        if let Some(n) = self.syncing.as_mut() {
            if msg.offline {
                *n += 1;
            }
        }
        self.event(SessionEvent::Message(msg));
    }
}

/// Reads one C2C message (`C2cMsgArray` item or `MsgList` item); `None` without a sender.
pub(super) fn parse_c2c(m: &Value, offline: bool) -> Option<C2cMessage> {
    let s = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
    let from = s("From_Account");
    if from.is_empty() {
        return None;
    }
    let (elems, bad) = from_msg_body(m.get("MsgBody").unwrap_or(&Value::Null));
    if bad > 0 {
        debug!(bad, "tencent: message elements skipped");
    }
    Some(C2cMessage {
        from,
        to: s("To_Account"),
        seq: u32::try_from(n("MsgSeq")).unwrap_or(0),
        random: u32::try_from(n("MsgRandom")).unwrap_or(0),
        time: n("MsgTimeStamp"),
        key: s("MsgKey"),
        elems,
        cloud_custom_data: s("CloudCustomData"),
        tiny_id: match m.get("TinyId") {
            Some(Value::Number(t)) => t.to_string(),
            _ => s("TinyId"),
        },
        client_time: n("MsgClientTime"),
        is_sync: n("IsSyncMsg") == 1,
        need_receipt: n("IsNeedReadReceipt") == 1,
        offline,
        version: n("MsgVersion"),
        revoked: n("MsgFlagBits") == recalled::MSG_FLAG_BITS
            || n("IsPlaceMsg") == recalled::IS_PLACE_MSG,
        peer_read: n("IsPeerRead") == 1,
        revoker: m
            .get("RevokerInfo")
            .and_then(|r| r.get("Revoker_Account"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}
