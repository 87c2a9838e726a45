//! The JMessage client session as a sans-I/O state machine: fed websocket text frames and
//! the current [`Instant`], it returns frames to write and [`SessionEvent`]s; it never
//! touches a socket or a clock itself ([`super::client`] is the thin tokio task).
//!
//! It owns (reference §B1, the Web SDK 2.5.0 bundle): the Engine.IO v3 handshake and the
//! client-side ping `pingInterval` after the last pong, with the `pingTimeout` deadline;
//! `c_init` with the md5 signature; `login` with the md5 password; every request's `rid`,
//! the server's `ack {rid}` within 5 s or a resend with the same `rid` (up to 5 times; the
//! server replays its response, so a resend is idempotent), the response within 30 s;
//! `sync_check` every 150 s; `msg_sync` → events + `msg_recv_v2` per message;
//! `sync_conversation` → events + `sync_conversation_ack`, `sync_event` (the events missed
//! while offline) → events + `sync_event_ack`, `sync_receipt` → receipt changes +
//! `sync_receipt_ack` (all optionally held until the owner stored the batch:
//! [`SessionConfig::defer_push_ack`]); `event_notification`
//! types 1 and 2 ending the session; sends queued while disconnected and resent (same
//! `rid`) after the next login.

mod config;
mod dedup;
mod events;
mod friends;
mod groups;
mod incoming;
mod media;
mod nodisturb;
mod profiles;
mod receipts;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use dedup::RecentIds;
use std::time::{Duration, Instant};

use rand::distr::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tracing::debug;

pub use config::SessionConfig;
pub use events::{EndReason, IncomingMessage, SendError, SendReceipt, SessionEvent};
pub use friends::{usernames, FriendEvent, FriendEventKind};
pub use groups::{GroupEvent, GroupEventKind, GroupInfo, GroupMember, Retraction};
pub use media::Target;
pub use nodisturb::NoDisturb;
pub use profiles::UserInfo;
pub use receipts::{MessageUnread, MsgReaders, ReceiptChange};

use super::across;
use super::eio;
use super::wire::{self, event};

/// What the session asks of its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write this websocket text frame.
    Transmit(String),
    /// Tell the owner.
    Event(Box<SessionEvent>),
    /// Close this websocket and reconnect with backoff.
    Reconnect(String),
    /// Close this websocket and stop (after an `Ended` event).
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Disconnected,
    /// Waiting for the Engine.IO open packet and the socket.io `40`.
    Handshaking,
    Initing,
    LoggingIn,
    Ready,
    Ended,
}

#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    Init,
    Login,
    SyncCheck,
    /// A send (`call: false`, answered by [`SessionEvent::SendResult`]) or another call
    /// (`call: true`, answered by [`SessionEvent::CallResult`]).
    Send {
        id: u64,
        queued_at: Instant,
        call: bool,
    },
    /// A receipt or ack the server answers; nothing waits for it.
    Notice,
}

#[derive(Debug)]
struct Request {
    event: &'static str,
    /// The body as sent (with `rid`).
    body: Value,
    purpose: Purpose,
    acked: bool,
    deadline: Instant,
    tries: u32,
}

#[derive(Debug)]
struct Queued {
    id: u64,
    event: &'static str,
    /// Answered by [`SessionEvent::CallResult`] rather than `SendResult`.
    call: bool,
    /// The `rid` of an earlier try, kept so the server replays instead of sending twice.
    rid: Option<i64>,
    body: Value,
    queued_at: Instant,
}

/// One user's session, across reconnects.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    phase: Phase,
    rng: StdRng,
    next_id: u64,
    /// Wall clock at `on_connected`, and the instant it was read.
    clock: Option<(i64, Instant)>,
    handshake_deadline: Option<Instant>,
    ping_interval: Duration,
    ping_timeout: Duration,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    next_sync: Option<Instant>,
    requests: HashMap<i64, Request>,
    outbox: VecDeque<Queued>,
    sync_key: i64,
    sync_event_key: i64,
    msg_receipt_key: i64,
    seen: RecentIds,
    /// Event ids seen (`event_notification`, `sync_event`), to drop duplicates.
    seen_events: RecentIds,
    /// Receipts of pushes waiting for [`Session::ack_push`], by token.
    push_acks: HashMap<u64, Vec<(&'static str, Value)>>,
    /// Messages, events and receipt changes delivered so far (to tell whether a push carried
    /// a new one).
    delivered: u64,
    out: VecDeque<Output>,
}

impl Session {
    /// A new, disconnected session; `seed` seeds the `rid` and `random_str` generator.
    pub fn new(cfg: SessionConfig, seed: u64) -> Self {
        let capacity = cfg.dedup_window;
        Self {
            cfg,
            phase: Phase::Disconnected,
            rng: StdRng::seed_from_u64(seed),
            next_id: 0,
            clock: None,
            handshake_deadline: None,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            next_ping: None,
            pong_deadline: None,
            next_sync: None,
            requests: HashMap::new(),
            outbox: VecDeque::new(),
            sync_key: 0,
            sync_event_key: 0,
            msg_receipt_key: 0,
            seen: RecentIds {
                capacity,
                ..RecentIds::default()
            },
            seen_events: RecentIds {
                capacity,
                ..RecentIds::default()
            },
            push_acks: HashMap::new(),
            delivered: 0,
            out: VecDeque::new(),
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.cfg.username
    }

    /// True once the session ended (no reconnect).
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// True while logged in.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Session::on_tick`] must be called next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let requests = self.requests.values().map(|r| r.deadline);
        let queued = self
            .outbox
            .front()
            .map(|q| q.queued_at + self.cfg.queue_timeout);
        [
            self.handshake_deadline,
            self.next_ping,
            self.pong_deadline,
            self.next_sync,
            queued,
        ]
        .into_iter()
        .flatten()
        .chain(requests)
        .min()
    }

    /// A websocket is open; `unix_ms` is the wall clock now (for the `c_init` timestamp).
    pub fn on_connected(&mut self, now: Instant, unix_ms: i64) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Handshaking;
        self.clock = Some((unix_ms, now));
        self.handshake_deadline = Some(now + self.cfg.handshake_timeout);
    }

    /// The websocket is gone: requests in flight are dropped, except sends, which go back to
    /// the front of the outbox with their `rid`.
    pub fn on_disconnected(&mut self, _now: Instant) {
        if self.phase != Phase::Ended {
            self.phase = Phase::Disconnected;
        }
        self.handshake_deadline = None;
        self.next_ping = None;
        self.pong_deadline = None;
        self.next_sync = None;
        // Receipts belong to the link the pushes came on; the server sends again what was
        // not receipted.
        self.push_acks.clear();
        let mut sends: Vec<(i64, Request)> = self
            .requests
            .drain()
            .filter(|(_, r)| matches!(r.purpose, Purpose::Send { .. }))
            .collect();
        sends.sort_by_key(|(_, r)| match r.purpose {
            Purpose::Send { id, .. } => std::cmp::Reverse(id),
            _ => std::cmp::Reverse(0),
        });
        for (rid, r) in sends {
            if let Purpose::Send {
                id,
                queued_at,
                call,
            } = r.purpose
            {
                self.outbox.push_front(Queued {
                    id,
                    event: r.event,
                    call,
                    rid: Some(rid),
                    body: r.body,
                    queued_at,
                });
            }
        }
    }

    /// Sends a single-chat text message to `to` (with `extras` when given); the result comes
    /// as [`SessionEvent::SendResult`] with the returned id. While disconnected the message
    /// waits in the outbox.
    pub fn send_single_text(
        &mut self,
        to: &str,
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
        let create_time = self.unix_ms(now);
        let mut body = json!({
            "content": {
                "version": 1,
                "target_type": "single",
                "from_platform": "web",
                "from_id": self.cfg.username,
                "create_time": create_time,
                "msg_type": "text",
                "msg_body": msg_body,
            },
            "no_offline": false,
            "no_notification": false,
        });
        self.address_single(&mut body, to);
        Ok(self.enqueue(event::S_SINGLE_TEXT, body, false, now))
    }

    /// Addresses an `s_across_single_text` body to `to` (named as [`across`] does) as the
    /// SDK's message builder does: `target_id` and `appkey` (the receiver's app) beside the
    /// content, and for a user of another app `content.target_appkey` / `from_appkey` too.
    pub(super) fn address_single(&self, body: &mut Value, to: &str) {
        let (target, appkey) = across::split(to, &self.cfg.app_key);
        body["content"]["target_id"] = json!(target);
        if appkey != self.cfg.app_key {
            body["content"]["target_appkey"] = json!(appkey);
            body["content"]["from_appkey"] = json!(self.cfg.app_key);
        }
        body["target_id"] = json!(target);
        body["appkey"] = json!(appkey);
    }

    /// Queues request `name` with `body` (sent at once when logged in, else after the next
    /// login; resent with the same `rid` across reconnects); returns its id.
    fn enqueue(&mut self, name: &'static str, body: Value, call: bool, now: Instant) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.outbox.push_back(Queued {
            id,
            event: name,
            call,
            rid: None,
            body,
            queued_at: now,
        });
        if self.phase == Phase::Ready {
            self.flush_outbox(now);
        }
        id
    }

    /// Ends the session (the driver closes the websocket).
    pub fn logout(&mut self) {
        self.end(EndReason::LoggedOut);
    }

    /// Handles timers: the ping cadence and pong deadline, handshake, request resends and
    /// timeouts, the `sync_check` cadence, outbox expiry.
    pub fn on_tick(&mut self, now: Instant) {
        if self.phase == Phase::Ended {
            return;
        }
        while let Some(q) = self.outbox.front() {
            if now < q.queued_at + self.cfg.queue_timeout {
                break;
            }
            if let Some(q) = self.outbox.pop_front() {
                self.fail(q.id, q.call, SendError::QueueTimeout);
            }
        }
        if self.phase == Phase::Disconnected {
            return;
        }
        if self.handshake_deadline.is_some_and(|d| now >= d) {
            self.reconnect("handshake timeout");
            return;
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            self.reconnect("ping timeout");
            return;
        }
        if self.next_ping.is_some_and(|d| now >= d) {
            // As engine.io-client 3: one ping in flight; the next one goes pingInterval after
            // its pong.
            self.out.push_back(Output::Transmit(eio::PING.to_owned()));
            self.pong_deadline = Some(now + self.ping_timeout);
            self.next_ping = None;
        }
        if self.next_sync.is_some_and(|d| now >= d) {
            self.sync_check(now);
        }
        let due: Vec<i64> = self
            .requests
            .iter()
            .filter(|(_, r)| now >= r.deadline)
            .map(|(rid, _)| *rid)
            .collect();
        for rid in due {
            self.retry(rid, now);
        }
    }

    fn retry(&mut self, rid: i64, now: Instant) {
        let Some(r) = self.requests.get_mut(&rid) else {
            return;
        };
        if r.tries < self.cfg.retry_times {
            r.tries += 1;
            r.acked = false;
            r.deadline = now + self.cfg.ack_timeout;
            let frame = eio::encode_event(r.event, &r.body, None);
            debug!(event = r.event, rid, tries = r.tries, "jmessage resend");
            self.out.push_back(Output::Transmit(frame));
            return;
        }
        let Some(r) = self.requests.remove(&rid) else {
            return;
        };
        match r.purpose {
            Purpose::Send { id, call, .. } => self.fail(id, call, SendError::Timeout),
            Purpose::Init | Purpose::Login => self.reconnect("no response to login"),
            Purpose::SyncCheck | Purpose::Notice => {}
        }
    }

    fn send_init(&mut self, now: Instant) {
        let random_str: String = (&mut self.rng)
            .sample_iter(Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let timestamp = self.unix_ms(now);
        let signature = wire::signature(
            &self.cfg.app_key,
            timestamp,
            &random_str,
            &self.cfg.master_secret,
        );
        let body = serde_json::to_value(wire::Init {
            appkey: self.cfg.app_key.clone(),
            random_str,
            timestamp,
            signature,
            flag: i64::from(self.cfg.roaming),
            from_platform: Some(wire::FROM_PLATFORM.to_owned()),
        })
        .unwrap_or(Value::Null);
        self.request(event::INIT, body, Purpose::Init, None, now);
    }

    fn sync_check(&mut self, now: Instant) {
        self.next_sync = Some(now + self.cfg.sync_interval);
        let body = json!({
            "sync_key": self.sync_key,
            "sync_type": i64::from(self.cfg.roaming),
            "sync_event_key": self.sync_event_key,
            "msg_receipt_key": self.msg_receipt_key,
        });
        self.request(event::SYNC_CHECK, body, Purpose::SyncCheck, None, now);
    }

    fn notice(&mut self, name: &'static str, body: Value, now: Instant) {
        self.request(name, body, Purpose::Notice, None, now);
    }

    fn flush_outbox(&mut self, now: Instant) {
        while let Some(q) = self.outbox.pop_front() {
            let purpose = Purpose::Send {
                id: q.id,
                queued_at: q.queued_at,
                call: q.call,
            };
            self.request(q.event, q.body, purpose, q.rid, now);
        }
    }

    /// Sends `name` with a fresh (or the given) `rid` and tracks it.
    fn request(
        &mut self,
        name: &'static str,
        mut body: Value,
        purpose: Purpose,
        rid: Option<i64>,
        now: Instant,
    ) {
        let rid = rid.unwrap_or_else(|| self.fresh_rid());
        if let Some(obj) = body.as_object_mut() {
            obj.insert("rid".into(), json!(rid));
        }
        self.out
            .push_back(Output::Transmit(eio::encode_event(name, &body, None)));
        self.requests.insert(
            rid,
            Request {
                event: name,
                body,
                purpose,
                acked: false,
                deadline: now + self.cfg.ack_timeout,
                tries: 0,
            },
        );
    }

    /// A positive 31-bit request id not in flight (the SDK draws from 1..2^31-1).
    fn fresh_rid(&mut self) -> i64 {
        loop {
            let rid = self.rng.random_range(1..i64::from(i32::MAX));
            if !self.requests.contains_key(&rid) {
                return rid;
            }
        }
    }

    fn unix_ms(&self, now: Instant) -> i64 {
        match self.clock {
            Some((ms, at)) => {
                ms + i64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(0)
            }
            None => 0,
        }
    }

    /// Reports request `id` failed, as a `SendResult` or (`call`) a `CallResult`.
    fn fail(&mut self, id: u64, call: bool, e: SendError) {
        self.event(if call {
            SessionEvent::CallResult { id, result: Err(e) }
        } else {
            SessionEvent::SendResult { id, result: Err(e) }
        });
    }

    fn event(&mut self, e: SessionEvent) {
        self.out.push_back(Output::Event(Box::new(e)));
    }

    fn reconnect(&mut self, reason: &str) {
        if self.phase == Phase::Ended {
            return;
        }
        self.out.push_back(Output::Reconnect(reason.to_owned()));
        self.phase = Phase::Disconnected;
    }

    fn end(&mut self, reason: EndReason) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        let ids: Vec<(u64, bool)> = self
            .requests
            .drain()
            .filter_map(|(_, r)| match r.purpose {
                Purpose::Send { id, call, .. } => Some((id, call)),
                _ => None,
            })
            .chain(self.outbox.drain(..).map(|q| (q.id, q.call)))
            .collect();
        for (id, call) in ids {
            self.fail(id, call, SendError::SessionEnded);
        }
        self.event(SessionEvent::Ended(reason));
        self.out.push_back(Output::Close);
    }
}
