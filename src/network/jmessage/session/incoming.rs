//! What the server sends a logged-in (or logging-in) session: the Engine.IO packets, the
//! `ack {rid}` receipts, the responses matched to their requests by `rid` (`c_init` →
//! `login` → ready), the pushes (`msg_sync`, `sync_conversation`, `sync_event` with the
//! events missed while offline, `sync_receipt` with the receipt changes missed) with their
//! receipts, and `event_notification` (events deduplicated by `event_id`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::debug;

use super::{
    EndReason, IncomingMessage, Output, Phase, Purpose, SendError, SendReceipt, Session,
    SessionEvent,
};
use crate::network::jmessage::eio::{self, EioPacket, SioPacket};
use crate::network::jmessage::wire::{self, event, event_type, PushedMessage};

impl Session {
    /// Handles one websocket text frame.
    pub fn on_frame(&mut self, frame: &str, now: Instant) -> Result<(), eio::EioError> {
        if matches!(self.phase, Phase::Ended | Phase::Disconnected) {
            return Ok(());
        }
        match eio::decode(frame)? {
            EioPacket::Open(hs) => {
                // Bounded so a hostile handshake cannot make us ping in a busy loop.
                self.ping_interval = Duration::from_millis(hs.ping_interval.clamp(100, 600_000));
                self.ping_timeout = Duration::from_millis(hs.ping_timeout.clamp(100, 600_000));
                self.next_ping = Some(now + self.ping_interval);
            }
            EioPacket::Pong(_) => {
                if self.pong_deadline.take().is_some() {
                    self.next_ping = Some(now + self.ping_interval);
                }
            }
            EioPacket::Ping(data) => self.out.push_back(Output::Transmit(format!("3{data}"))),
            EioPacket::Close => self.reconnect("closed by the server (engine.io close)"),
            EioPacket::Upgrade | EioPacket::Noop => {}
            EioPacket::Message(SioPacket::Connect { nsp }) if nsp == "/" => {
                if self.phase == Phase::Handshaking {
                    self.handshake_deadline = None;
                    self.phase = Phase::Initing;
                    self.send_init(now);
                }
            }
            EioPacket::Message(SioPacket::Disconnect { nsp }) if nsp == "/" => {
                self.reconnect("disconnected by the server")
            }
            EioPacket::Message(SioPacket::Error { data, .. }) => {
                self.reconnect(&format!("socket.io error: {data}"))
            }
            EioPacket::Message(SioPacket::Event { name, args, id, .. }) => {
                if let Some(id) = id {
                    // The server asked for a socket.io ack: give it (JMessage does not).
                    self.out
                        .push_back(Output::Transmit(eio::encode_ack(id, &[])));
                }
                let data = args.into_iter().next().unwrap_or(Value::Null);
                self.on_event(&name, data, now);
            }
            EioPacket::Message(_) => {}
        }
        Ok(())
    }

    fn on_event(&mut self, name: &str, data: Value, now: Instant) {
        match name {
            event::ACK => {
                if let Some(r) = data["rid"]
                    .as_i64()
                    .and_then(|rid| self.requests.get_mut(&rid))
                {
                    if !r.acked {
                        r.acked = true;
                        r.deadline = now + self.cfg.response_timeout;
                    }
                }
            }
            event::MSG_SYNC => {
                let before = self.delivered;
                let messages = data["messages"].as_array().cloned().unwrap_or_default();
                let mut receipts = Vec::new();
                for m in messages {
                    match serde_json::from_value::<PushedMessage>(m) {
                        Ok(m) => {
                            receipts.push((event::MSG_RECV_V2, wire::recv_receipt(&m)));
                            self.deliver(&m, false);
                        }
                        Err(e) => debug!(error = %e, "unreadable msg_sync message"),
                    }
                }
                self.receipt(receipts, before, now);
            }
            event::SYNC_CONVERSATION => {
                let before = self.delivered;
                let conversations = data["messages"].as_array().cloned().unwrap_or_default();
                for c in conversations {
                    for m in c["msgs"].as_array().cloned().unwrap_or_default() {
                        match serde_json::from_value::<PushedMessage>(m) {
                            Ok(m) => self.deliver(&m, true),
                            Err(e) => debug!(error = %e, "unreadable sync_conversation message"),
                        }
                    }
                }
                if let Some(key) = data["sync_key"].as_i64() {
                    self.sync_key = key;
                }
                let ack = json!({ "sync_key": self.sync_key });
                self.receipt(vec![(event::SYNC_CONVERSATION_ACK, ack)], before, now);
            }
            event::SYNC_EVENT => {
                // The events missed while offline, in the live `event_notification` shape
                // (the SDK's `_onSyncEvent` hands them to `onSyncEvent`).
                let before = self.delivered;
                for e in data["events"].as_array().cloned().unwrap_or_default() {
                    self.on_synced_event(&e);
                }
                if let Some(key) = data["sync_key"].as_i64() {
                    self.sync_event_key = key;
                }
                let ack = json!({ "sync_key": self.sync_event_key });
                self.receipt(vec![(event::SYNC_EVENT_ACK, ack)], before, now);
            }
            event::SYNC_RECEIPT => {
                // The `receipt_change`s missed while offline (`_onSyncMsgReceipt`).
                let before = self.delivered;
                for r in data["receipts"].as_array().cloned().unwrap_or_default() {
                    if self.on_receipt_change(&r) {
                        self.delivered += 1;
                    }
                }
                if let Some(key) = data["sync_key"].as_i64() {
                    self.msg_receipt_key = key;
                }
                let ack = json!({ "sync_key": self.msg_receipt_key });
                self.receipt(vec![(event::SYNC_RECEIPT_ACK, ack)], before, now);
            }
            event::EVENT_NOTIFICATION => self.on_notification(&data, now),
            event::RECEIPT_CHANGE => {
                self.on_receipt_change(&data);
            }
            _ => self.on_response(name, data, now),
        }
    }

    fn on_notification(&mut self, data: &Value, now: Instant) {
        match data["event_type"].as_i64() {
            Some(event_type::LOGGED_IN_ELSEWHERE) => {
                // The SDK answers type 1 with the event's ids before logging out.
                let reply = json!({
                    "event_id": data["event_id"],
                    "event_type": data["event_type"],
                    "from_uid": data["from_uid"],
                    "gid": data["gid"],
                });
                self.notice(event::EVENT_NOTIFICATION, reply, now);
                self.end(EndReason::LoggedInElsewhere);
            }
            Some(event_type::PASSWORD_CHANGED) => self.end(EndReason::PasswordChanged),
            other => {
                if !self.fresh_event(data) {
                    return;
                }
                if !self.on_group_notification(data) && !self.on_friend_notification(data) {
                    debug!(event_type = ?other, "event_notification not handled");
                }
            }
        }
    }

    /// One event of a `sync_event` hand-over: group events and retractions as the live ones
    /// (counted as delivered, so the hand-over's ack waits for the owner like messages');
    /// logout events (types 1, 2) concern the sockets that were there and are skipped, as
    /// are events already seen.
    fn on_synced_event(&mut self, data: &Value) {
        if matches!(
            data["event_type"].as_i64(),
            Some(event_type::LOGGED_IN_ELSEWHERE | event_type::PASSWORD_CHANGED) | None
        ) || !self.fresh_event(data)
        {
            return;
        }
        if self.on_group_notification(data) || self.on_friend_notification(data) {
            self.delivered += 1;
        } else {
            debug!(event_type = ?data["event_type"].as_i64(), "synced event not handled");
        }
    }

    /// False when the event's `event_id` was seen before (live or handed over again).
    fn fresh_event(&mut self, data: &Value) -> bool {
        match data["event_id"].as_i64().filter(|id| *id != 0) {
            Some(id) => self.seen_events.insert(id),
            None => true,
        }
    }

    fn on_response(&mut self, name: &str, data: Value, now: Instant) {
        let Some(rid) = data["rid"].as_i64() else {
            debug!(event = name, "unsolicited event ignored");
            return;
        };
        let Some(r) = self.requests.get(&rid) else {
            return; // a replayed response to a request already answered
        };
        if r.event != name {
            return;
        }
        let Some(r) = self.requests.remove(&rid) else {
            return;
        };
        let code = data["code"].as_i64().unwrap_or(0);
        let message = data["message"].as_str().unwrap_or_default().to_owned();
        match r.purpose {
            Purpose::Init => {
                if code != 0 {
                    self.end(EndReason::InitRefused { code, message });
                } else {
                    self.phase = Phase::LoggingIn;
                    let body = json!({
                        "username": self.cfg.username,
                        "password": wire::md5_hex(self.cfg.password.as_bytes()),
                        "version": wire::SDK_VERSION,
                    });
                    self.request(event::LOGIN, body, Purpose::Login, None, now);
                }
            }
            Purpose::Login => {
                if code != 0 {
                    self.end(EndReason::login_refused(code, &message));
                } else {
                    self.phase = Phase::Ready;
                    self.event(SessionEvent::LoggedIn {
                        username: self.cfg.username.clone(),
                    });
                    self.sync_check(now);
                    self.flush_outbox(now);
                }
            }
            Purpose::SyncCheck => {
                if code == 0 {
                    for (field, key) in [
                        ("sync_key", &mut self.sync_key),
                        ("sync_event_key", &mut self.sync_event_key),
                        ("msg_receipt_key", &mut self.msg_receipt_key),
                    ] {
                        if let Some(v) = data[field].as_i64() {
                            *key = v;
                        }
                    }
                }
            }
            Purpose::Send { id, call: true, .. } => {
                let result = if code == 0 {
                    Ok(data)
                } else {
                    Err(SendError::Rejected { code, message })
                };
                self.event(SessionEvent::CallResult { id, result });
            }
            Purpose::Send { id, .. } => {
                let result = if code == 0 {
                    Ok(SendReceipt {
                        msg_id: data["msg_id"].as_i64().unwrap_or(0),
                        ctime_ms: data["ctime_ms"].as_i64().unwrap_or(0),
                    })
                } else {
                    Err(SendError::Rejected { code, message })
                };
                self.event(SessionEvent::SendResult { id, result });
            }
            Purpose::Notice => {}
        }
    }

    /// Sends a push's receipts now, or (with [`SessionConfig::defer_push_ack`], when the
    /// push delivered something new since `before`) keeps them for [`Session::ack_push`]. A
    /// push of nothing new while a batch awaits the owner waits with the newest such batch:
    /// it may repeat messages of that batch, and receipting it first would tell the server
    /// they are stored before they are.
    fn receipt(&mut self, receipts: Vec<(&'static str, Value)>, before: u64, now: Instant) {
        if self.cfg.defer_push_ack && self.delivered > before {
            self.next_id += 1;
            let token = self.next_id;
            self.push_acks.insert(token, receipts);
            self.event(SessionEvent::PushBatch { token });
        } else if let Some(waiting) = self
            .push_acks
            .iter_mut()
            .max_by_key(|(token, _)| **token)
            .map(|(_, r)| r)
        {
            waiting.extend(receipts);
        } else {
            for (name, body) in receipts {
                self.notice(name, body, now);
            }
        }
    }

    /// The owner stored the messages of push `token` ([`SessionEvent::PushBatch`]): its
    /// receipts go out now, if the link it came on is still up (after a reconnect they are
    /// dropped: the server hands over again what was not receipted).
    pub fn ack_push(&mut self, token: u64, now: Instant) {
        let Some(receipts) = self.push_acks.remove(&token) else {
            return;
        };
        if self.phase == Phase::Ready {
            for (name, body) in receipts {
                self.notice(name, body, now);
            }
        }
    }

    fn deliver(&mut self, m: &PushedMessage, offline: bool) {
        if !self.seen.insert(m.msg_id) {
            return;
        }
        self.delivered += 1;
        let message = IncomingMessage::from_pushed(m, offline, &self.cfg.app_key);
        self.event(SessionEvent::Message(message));
    }
}
