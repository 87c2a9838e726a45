//! The Tencent Cloud Chat client session as a sans-I/O state machine.
//!
//! It is fed websocket frames and the current [`Instant`], and returns frames to send and
//! [`SessionEvent`]s; it never touches a socket or a clock itself. [`super::client`] is the
//! thin tokio task that moves the bytes.
//!
//! It owns (reference §A1): `wslogin` with the UserSig, then `a2`/`tinyid` in every head;
//! `heartbeat.alive` after 10 s idle with a 3 s reply deadline; `wshello` every
//! `HelloInterval`; requests matched on `servcmd`+`seq` with per-request timeouts (15 s,
//! login 90 s); `im_open_push.msg_push` → events + `openim.ws_msg_push_ack`; kick-outs; the
//! `openim.getmsg` catch-up at login (`Cookie`/`SyncFlag` until 2), in order and without
//! duplicates; the outbox of sends queued while disconnected; live rooms ([`live`]).

mod config;
mod dedup;
mod events;
mod group;
pub mod group_admin;
pub mod group_wire;
pub mod history;
mod incoming;
pub mod live;
mod login;
pub mod notify;
pub mod ops;
pub mod profile;
pub mod reactions;
pub mod receipts;
mod sends;
#[cfg(test)]
mod test_frames;
#[cfg(test)]
mod tests;
pub mod topics;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tracing::debug;

pub use config::SessionConfig;
use dedup::RecentKeys;
pub use events::{C2cMessage, EndReason, KickType, SendError, SendReceipt, SessionEvent};
pub use group::{
    GroupAt, GroupMessage, GroupModified, GroupNotice, GroupProfile, GroupSummary, GroupTip,
    GroupTipKind, Target, AT_ALL,
};
pub use topics::{topic_group, TopicEvent, TopicInfo, TopicProfile};

use super::elem::{to_msg_body, Elem};
use super::wire::{self, servcmd, Frame, Head, WireError};

/// The `websdkappid` the Web SDK announces in every head.
pub const WEB_SDK_APP_ID: u64 = 537_048_168;
/// The `websdkversion` the Web SDK announces.
pub const WEB_SDK_VERSION: &str = "1.7.3";
/// The SDK version we announce in the connection URL (the protocol level we speak).
pub const SDK_VERSION: &str = "3.6.6";

/// What the session asks of its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this JSON text (as a binary frame on `/binfo`, a text frame on `/info`).
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
    LoggingIn,
    Ready,
    Ended,
}

#[derive(Debug)]
enum Pending {
    Login,
    Ping,
    Hello,
    GetMsg,
    /// A caller's request ([`Session::call`]) with its local id.
    Call(u64),
    Send {
        id: u64,
        seq: u32,
        random: u32,
        to: Target,
        elems: Vec<Elem>,
        cloud_custom_data: String,
    },
    /// A group request ([`group`]).
    Group(group::GroupPending),
    /// A live-room request ([`live`]).
    Live(live::LivePending),
    Other,
}

#[derive(Debug)]
struct InFlight {
    servcmd: String,
    what: Pending,
    deadline: Instant,
}

#[derive(Debug)]
struct Queued {
    id: u64,
    /// `MsgSeq`/`MsgRandom` of an earlier try (kept so the server can drop the duplicate).
    ids: Option<(u32, u32)>,
    to: Target,
    elems: Vec<Elem>,
    /// `CloudCustomData` (a reply's `messageReply`), `""` for none.
    cloud_custom_data: String,
    queued_at: Instant,
}

/// One user's session, across reconnects.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    phase: Phase,
    rng: StdRng,
    seq: u64,
    msg_seq: u32,
    next_id: u64,
    a2: Option<String>,
    tiny_id: Option<String>,
    inst_id: u64,
    hello_interval: Option<Duration>,
    next_hello: Option<Instant>,
    last_activity: Instant,
    ping: Option<u64>,
    in_flight: HashMap<u64, InFlight>,
    outbox: VecDeque<Queued>,
    cookie: String,
    syncing: Option<usize>,
    seen: RecentKeys,
    /// `SessionData` of pushes waiting for [`Session::ack_push`], by token.
    push_acks: HashMap<u64, Value>,
    /// The C2C dedup keys each such push delivered, forgotten if the owner did not store
    /// them ([`Session::push_not_stored`]).
    push_keys: HashMap<u64, Vec<String>>,
    /// The keys delivered by the push being handled.
    batch_keys: Option<Vec<String>>,
    /// Messages delivered so far (to tell whether a push carried any new one).
    delivered: u64,
    /// Group cursors and catch-up ([`group`]).
    groups: group::GroupSync,
    /// Joined live rooms ([`live`]).
    live: live::LiveSync,
    outputs: VecDeque<Output>,
}

impl Session {
    /// A new, disconnected session; `seed` seeds `seq`, `MsgSeq` and `MsgRandom`.
    pub fn new(cfg: SessionConfig, now: Instant, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let groups = group::GroupSync::with_cursors(&cfg.group_cursors);
        let seen = RecentKeys {
            capacity: cfg.dedup_window,
            ..Default::default()
        };
        Self {
            seq: rng.random_range(1..(1u64 << 31)),
            msg_seq: rng.random_range(1..(1u32 << 30)),
            cfg,
            phase: Phase::Disconnected,
            rng,
            next_id: 1,
            a2: None,
            tiny_id: None,
            inst_id: 0,
            hello_interval: None,
            next_hello: None,
            last_activity: now,
            ping: None,
            in_flight: HashMap::new(),
            outbox: VecDeque::new(),
            cookie: String::new(),
            syncing: None,
            seen,
            push_acks: HashMap::new(),
            push_keys: HashMap::new(),
            batch_keys: None,
            delivered: 0,
            groups,
            live: live::LiveSync::default(),
            outputs: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// True once logged in on the current websocket.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// True once the session has ended for good.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Replaces the UserSig (after [`EndReason::UserSigExpired`], before a new session).
    pub fn set_user_sig(&mut self, user_sig: &str) {
        self.cfg.user_sig = user_sig.to_owned();
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Session::on_tick`] must next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for f in self.in_flight.values() {
            at(f.deadline);
        }
        if self.phase == Phase::Ready {
            if self.ping.is_none() {
                at(self.last_activity + self.cfg.idle_ping);
            }
            if let Some(h) = self.next_hello {
                at(h);
            }
        }
        if let Some(q) = self.outbox.front() {
            at(q.queued_at + self.cfg.queue_timeout);
        }
        if let (Phase::Ready, Some(t)) = (self.phase, self.live_deadline()) {
            at(t);
        }
        next
    }

    /// A new websocket is open: send `wslogin` with the UserSig.
    pub fn on_connected(&mut self, now: Instant) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::LoggingIn;
        self.a2 = None;
        self.ping = None;
        self.next_hello = None;
        self.last_activity = now;
        let body = json!({"State": "Online", "is_web_uniapp": 0, "InstType": 0, "CustomInfo": ""});
        self.request(servcmd::WSLOGIN, body, Pending::Login, now);
    }

    /// The websocket closed or failed. Sends waiting for a reply go back to the front of the
    /// outbox with the same `MsgSeq`/`MsgRandom`, so a server that stored the first try can
    /// recognise the retry.
    pub fn on_disconnected(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Ended | Phase::Disconnected) {
            return;
        }
        self.phase = Phase::Disconnected;
        self.push_acks.clear();
        self.requeue_sends(now);
    }

    /// The owner stored the messages of push `token` ([`SessionEvent::PushBatch`]): its
    /// `ws_msg_push_ack` goes out now, if the connection it came on is still up (after a
    /// reconnect it is dropped: the server keeps what was not acknowledged).
    pub fn ack_push(&mut self, token: u64, now: Instant) {
        self.push_keys.remove(&token);
        let Some(session_data) = self.push_acks.remove(&token) else {
            return;
        };
        if self.phase == Phase::Ready {
            self.request(
                servcmd::PUSH_ACK,
                json!({"SessionData": session_data}),
                Pending::Other,
                now,
            );
        }
    }

    /// Logs out (`wslogout`) and ends the session.
    pub fn logout(&mut self, now: Instant) {
        if self.phase == Phase::Ready {
            self.request(
                servcmd::WSLOGOUT,
                json!({"wslogout_type": 0, "is_web_uniapp": 0}),
                Pending::Other,
                now,
            );
        }
        self.end(EndReason::LoggedOut);
    }

    /// Time passed: heartbeats, hellos and timeouts.
    pub fn on_tick(&mut self, now: Instant) {
        let expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        for seq in expired {
            let Some(f) = self.in_flight.remove(&seq) else {
                continue;
            };
            debug!(servcmd = %f.servcmd, seq, "tencent request timed out");
            match f.what {
                Pending::Login => {
                    self.link_lost("login timed out", now);
                    return;
                }
                Pending::Ping => {
                    self.link_lost("no reply to heartbeat.alive", now);
                    return;
                }
                Pending::GetMsg => {
                    self.link_lost("openim.getmsg timed out", now);
                    return;
                }
                Pending::Send { id, .. } => self.event(SessionEvent::SendResult {
                    id,
                    result: Err(SendError::Timeout),
                }),
                Pending::Call(id) => self.event(SessionEvent::CallResult {
                    id,
                    result: Err(SendError::Timeout),
                }),
                Pending::Group(g) => self.on_group_timeout(g),
                Pending::Live(l) => self.on_live_timeout(l, now),
                Pending::Hello | Pending::Other => {}
            }
        }
        while let Some(q) = self.outbox.front() {
            if q.queued_at + self.cfg.queue_timeout > now {
                break;
            }
            if let Some(q) = self.outbox.pop_front() {
                self.event(SessionEvent::SendResult {
                    id: q.id,
                    result: Err(SendError::QueueTimeout),
                });
            }
        }
        if self.phase != Phase::Ready {
            return;
        }
        self.live_tick(now);
        if self.ping.is_none() && now >= self.last_activity + self.cfg.idle_ping {
            let seq = self.request(servcmd::ALIVE, json!({}), Pending::Ping, now);
            self.ping = Some(seq);
        }
        if let (Some(at), Some(every)) = (self.next_hello, self.hello_interval) {
            if now >= at {
                self.request(
                    servcmd::WSHELLO,
                    json!({"is_web_uniapp": 0}),
                    Pending::Hello,
                    now,
                );
                self.next_hello = Some(now + every);
            }
        }
    }

    /// A frame from the server.
    pub fn on_frame(&mut self, data: &[u8], now: Instant) -> Result<(), WireError> {
        let frame = wire::decode(data)?;
        self.last_activity = now;
        let seq = frame.head.seq.unwrap_or(0);
        let matched = match self.in_flight.get(&seq) {
            Some(f) if f.servcmd == frame.head.servcmd => self.in_flight.remove(&seq),
            _ => None,
        };
        match matched {
            Some(f) => self.on_reply(f.what, frame, now),
            None => self.on_push(frame, now),
        }
        Ok(())
    }

    fn on_reply(&mut self, what: Pending, frame: Frame, now: Instant) {
        let body = frame.body;
        match what {
            Pending::Login => self.on_login_reply(&body, now),
            Pending::Ping => self.ping = None,
            Pending::Hello | Pending::Other => {
                if let Err(e) = wire::check_reply(&body) {
                    debug!(servcmd = %frame.head.servcmd, error = %e, "tencent request failed");
                }
            }
            Pending::GetMsg => self.on_getmsg_reply(&body, now),
            Pending::Group(g) => self.on_group_reply(g, &body, now),
            Pending::Live(l) => self.on_live_reply(l, &body, now),
            Pending::Call(id) => {
                let result = wire::check_reply(&body)
                    .map(|()| body)
                    .map_err(SendError::Server);
                self.event(SessionEvent::CallResult { id, result });
            }
            Pending::Send {
                id,
                seq,
                random,
                to,
                ..
            } => {
                let result = wire::check_reply(&body)
                    .map_err(SendError::Server)
                    .and_then(|()| {
                        let time = body.get("MsgTime").and_then(Value::as_u64);
                        let time = time.ok_or_else(|| SendError::Malformed("no MsgTime".into()))?;
                        Ok(SendReceipt {
                            msg_seq: body
                                .get("MsgSeq")
                                .and_then(Value::as_u64)
                                .and_then(|s| u32::try_from(s).ok())
                                .unwrap_or(seq),
                            msg_random: random,
                            msg_key: body
                                .get("MsgKey")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            msg_time: time,
                        })
                    });
                if let (Ok(r), Target::Group { group_id, .. }) = (&result, &to) {
                    self.group_sent(group_id, u64::from(r.msg_seq));
                } else if let Ok(r) = &result {
                    // Our own message may come back by sync; do not report it as new.
                    if !r.msg_key.is_empty() {
                        self.seen.insert(r.msg_key.clone());
                    }
                    self.seen.insert(format!(
                        "{}\u{0}{}\u{0}{}",
                        self.cfg.identifier, seq, random
                    ));
                }
                self.event(SessionEvent::SendResult { id, result });
            }
        }
    }

    fn getmsg(&mut self, sync_flag: i64, now: Instant) {
        let body = json!({
            "Cookie": self.cookie, "SyncFlag": sync_flag, "NeedAbstract": 1,
            "IsOnlineSync": 0, "NeedSignaling": 1, "NeedCachedMsg": 1,
        });
        self.request(servcmd::GETMSG, body, Pending::GetMsg, now);
    }

    fn request(&mut self, cmd: &str, body: Value, what: Pending, now: Instant) -> u64 {
        self.seq = (self.seq + 1) & 0xffff_ffff;
        let seq = self.seq;
        let mut head = Head {
            ver: Some("v4".into()),
            platform: Some(self.cfg.platform),
            sdkappid: Some(self.cfg.sdk_app_id),
            contenttype: Some("json".into()),
            seq: Some(seq),
            servcmd: cmd.to_owned(),
            ..Default::default()
        };
        head.extra
            .insert("websdkappid".into(), WEB_SDK_APP_ID.into());
        head.extra
            .insert("websdkversion".into(), WEB_SDK_VERSION.into());
        head.extra
            .insert("status_instid".into(), self.inst_id.into());
        // Media signing goes with the UserSig, not the A2Key, even when logged in (the SDK's
        // `genCosSpecifiedHead` for `im_cos_msg.*` / `im_cos_sign_svr.*`).
        let cos = cmd.starts_with("im_cos_msg.") || cmd.starts_with("im_cos_sign_svr.");
        match (&self.a2, &self.tiny_id) {
            (Some(a2), Some(tiny)) if cmd != servcmd::WSLOGIN && !cos => {
                head.a2 = Some(a2.clone());
                head.tinyid = Some(tiny.clone());
            }
            _ => {
                head.identifier = Some(self.cfg.identifier.clone());
                head.usersig = Some(self.cfg.user_sig.clone());
            }
        }
        let timeout = match what {
            Pending::Login => self.cfg.login_timeout,
            Pending::Ping => self.cfg.ping_timeout,
            _ => self.cfg.request_timeout,
        };
        let tracked = !(cmd == servcmd::PUSH_ACK || cmd == servcmd::WSLOGOUT);
        if tracked {
            self.in_flight.insert(
                seq,
                InFlight {
                    servcmd: cmd.to_owned(),
                    what,
                    deadline: now + timeout,
                },
            );
        }
        self.last_activity = now;
        self.outputs
            .push_back(Output::Transmit(wire::encode(&head, &body)));
        seq
    }

    fn link_lost(&mut self, reason: &str, now: Instant) {
        self.event(SessionEvent::LinkLost {
            reason: reason.to_owned(),
        });
        self.outputs.push_back(Output::Reconnect(reason.to_owned()));
        self.phase = Phase::Disconnected;
        self.push_acks.clear();
        self.requeue_sends(now);
    }

    fn end(&mut self, reason: EndReason) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        let mut ids: Vec<u64> = self
            .in_flight
            .drain()
            .filter_map(|(_, f)| match f.what {
                Pending::Send { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        ids.extend(self.outbox.drain(..).map(|q| q.id));
        for id in ids {
            self.event(SessionEvent::SendResult {
                id,
                result: Err(SendError::SessionEnded),
            });
        }
        self.event(SessionEvent::Ended(reason));
        self.outputs.push_back(Output::Close);
    }

    fn event(&mut self, e: SessionEvent) {
        self.outputs.push_back(Output::Event(Box::new(e)));
    }
}
