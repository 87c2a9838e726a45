//! The msync client session as a sans-I/O state machine.
//!
//! It is fed websocket frames and the current time, and returns frames to send and
//! [`SessionEvent`]s; it never touches a socket or a clock itself, so it is tested and fuzzed
//! without I/O. [`super::client`] is the thin task that moves the bytes.
//!
//! It owns: the Provision handshake, LZ4 negotiation, offline sync and the
//! NOTICE → pull → DL → key-ack loop (one queue at a time, in order, with duplicate
//! suppression), the heartbeat and dead-link detection, send acks matched on `metaId` with a
//! timeout, the outbox of messages queued while disconnected, and kick notices.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use prost::Message as _;
use tracing::{debug, warn};

use self::delivered::Delivered;
use super::compression::{FrameCompressor, FrameDecompressor};
use super::error::{EndReason, LoginError, SendError};
use super::events::{decode_meta, MetaEvent, SessionEvent};
use super::jid::same_queue;
use super::message::{encode_outgoing, OutgoingMessage};
use super::proto::{
    self, m_sync, provision, status, CommNotice, CommSyncDl, CommSyncUl, CommUnreadDl, Jid, MSync,
    Meta, Provision,
};

/// The SDK version we announce (the protocol level we speak).
pub const SDK_VERSION: &str = "4.21.1";
/// The action version the SDK announces.
pub const ACTION_VERSION: &str = "v5.2";

/// Settings of one session (one user, one device).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `org#app`.
    pub app_key: String,
    /// The IM user id.
    pub user: String,
    /// Access token (without the `$t$` prefix).
    pub token: String,
    /// This device's resource; keep it stable across reconnects and restarts.
    pub resource: String,
    /// Device UUID announced in the Provision.
    pub device_uuid: String,
    /// Device name announced in the Provision.
    pub device_name: String,
    /// `Provision.osType` (the SDK uses 16, `OS_OTHER`; we default to Linux).
    pub os_type: i32,
    /// Offer LZ4 compression.
    pub offer_lz4: bool,
    /// Idle time after which a heartbeat (UNREAD) is sent. The SDK uses 30 s.
    pub heartbeat_interval: Duration,
    /// How long to wait for any frame after a heartbeat before declaring the link dead.
    pub dead_link_timeout: Duration,
    /// How long a sent message may wait for its server ack. The SDK uses 15 s.
    pub ack_timeout: Duration,
    /// How long a message may wait in the outbox for a connection.
    pub queue_timeout: Duration,
    /// How long the server may take to answer the Provision. The SDK uses 10 s.
    pub provision_timeout: Duration,
    /// How many received message ids are remembered to drop duplicates (the SDK keeps 100).
    pub dedup_window: usize,
}

impl SessionConfig {
    /// Defaults matching the SDK's cadence.
    pub fn new(app_key: &str, user: &str, token: &str, resource: &str) -> Self {
        Self {
            app_key: app_key.to_owned(),
            user: user.to_owned(),
            token: token.to_owned(),
            resource: resource.to_owned(),
            device_uuid: resource.to_owned(),
            device_name: "imbridge".to_owned(),
            os_type: provision::OsType::OsLinux as i32,
            offer_lz4: true,
            heartbeat_interval: Duration::from_secs(30),
            dead_link_timeout: Duration::from_secs(15),
            ack_timeout: Duration::from_secs(15),
            queue_timeout: Duration::from_secs(600),
            provision_timeout: Duration::from_secs(10),
            dedup_window: 2048,
        }
    }
}

/// What the session asks of its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this binary websocket message.
    Transmit(Vec<u8>),
    /// Tell the owner (boxed: events are large, frames are the common case).
    Event(Box<SessionEvent>),
    /// Close this websocket and reconnect with backoff (dead link, broken compression).
    Reconnect(String),
    /// Close this websocket and stop: the session has ended (see the preceding `Ended` event).
    Close,
    /// The events before this are one pulled batch, and the next transmit acknowledges it to
    /// the server (which then deletes it). A driver whose owner must store events first waits
    /// here until the owner has.
    Checkpoint,
}

/// A frame the session could not use. The connection goes on (the frame is skipped) unless
/// the session also asked for a reconnect.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("compressed frame could not be decoded: {0}")]
    Compression(String),
    #[error("frame is not a valid MSync message: {0}")]
    Envelope(prost::DecodeError),
    #[error("{command} payload is not valid: {error}")]
    Payload {
        command: &'static str,
        error: prost::DecodeError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Disconnected,
    Provisioning { deadline: Instant },
    Ready,
    Ended,
}

#[derive(Debug)]
struct InFlight {
    meta: Meta,
    deadline: Instant,
}

#[derive(Debug)]
struct Queued {
    meta: Meta,
    queued_at: Instant,
}

#[derive(Debug)]
struct Pull {
    queue: Jid,
    last_key: Option<u64>,
}

/// One user's msync session, across reconnects.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    phase: Phase,
    session_id: String,
    up: Option<FrameCompressor>,
    down: Option<FrameDecompressor>,
    lz4_failed: bool,
    outputs: VecDeque<Output>,
    in_flight: HashMap<u64, InFlight>,
    outbox: VecDeque<Queued>,
    pulls: VecDeque<Jid>,
    pulling: Option<Pull>,
    offline_sync: bool,
    /// No UNREAD answered since the last login: the first one tells whether there is any
    /// catch-up at all (an empty one finishes it at once).
    awaiting_first_unread: bool,
    seen: Delivered,
    last_rx: Instant,
    heartbeat_sent: Option<Instant>,
    last_heartbeat: Instant,
    next_local_id: u64,
    internal_ids: HashSet<u64>,
    token_expires_at: Option<u64>,
    token_warned: bool,
}

impl Session {
    /// A new, disconnected session. `unix_ms` is the wall clock now (seeds message ids).
    pub fn new(cfg: SessionConfig, now: Instant, unix_ms: u64) -> Self {
        let dedup = cfg.dedup_window;
        Self {
            cfg,
            phase: Phase::Disconnected,
            session_id: String::new(),
            up: None,
            down: None,
            lz4_failed: false,
            outputs: VecDeque::new(),
            in_flight: HashMap::new(),
            outbox: VecDeque::new(),
            pulls: VecDeque::new(),
            pulling: None,
            offline_sync: false,
            awaiting_first_unread: false,
            seen: Delivered::new(dedup),
            last_rx: now,
            heartbeat_sent: None,
            last_heartbeat: now,
            next_local_id: unix_ms.saturating_mul(1000),
            internal_ids: HashSet::new(),
            token_expires_at: None,
            token_warned: false,
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

    /// Replaces the token (after a fresh password login); used by the next Provision.
    pub fn set_token(&mut self, token: &str) {
        self.cfg.token = token.to_owned();
    }

    /// Number of messages waiting for a connection or an ack.
    pub fn unacked(&self) -> usize {
        self.in_flight.len() + self.outbox.len()
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// A new websocket is open: send the Provision.
    pub fn on_connected(&mut self, now: Instant, unix_ms: u64) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Provisioning {
            deadline: now + self.cfg.provision_timeout,
        };
        self.up = None;
        self.down = None;
        self.pulls.clear();
        self.pulling = None;
        self.last_rx = now;
        self.heartbeat_sent = None;
        self.session_id = format!("{unix_ms}:");
        let frame = self.provision_frame();
        self.outputs.push_back(Output::Transmit(frame));
    }

    /// The websocket closed or failed. In-flight messages go back to the outbox, to be sent
    /// again after the next login.
    pub fn on_disconnected(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Ended | Phase::Disconnected) {
            return;
        }
        self.phase = Phase::Disconnected;
        self.up = None;
        self.down = None;
        let mut ids: Vec<u64> = self.in_flight.keys().copied().collect();
        ids.sort_unstable();
        for id in ids.into_iter().rev() {
            if let Some(f) = self.in_flight.remove(&id) {
                self.outbox.push_front(Queued {
                    meta: f.meta,
                    queued_at: now,
                });
            }
        }
        self.pulls.clear();
        self.pulling = None;
    }

    /// Queues `msg` for sending and returns its local id (the `metaId` the ack will carry).
    pub fn send(&mut self, msg: &OutgoingMessage, now: Instant) -> Result<u64, SendError> {
        let id = self.allocate_id();
        let meta = encode_outgoing(&self.cfg.app_key, &self.cfg.user, id, msg);
        self.send_meta(meta, now)?;
        Ok(id)
    }

    /// Queues a prepared meta (chat room join/leave, …); its `id` must come from
    /// [`Session::allocate_id`].
    pub fn send_meta(&mut self, meta: Meta, now: Instant) -> Result<(), SendError> {
        match self.phase {
            Phase::Ended => Err(SendError::SessionEnded),
            Phase::Ready => {
                self.transmit_meta(meta, now);
                Ok(())
            }
            _ => {
                self.outbox.push_back(Queued {
                    meta,
                    queued_at: now,
                });
                Ok(())
            }
        }
    }

    /// A fresh local message id.
    pub fn allocate_id(&mut self) -> u64 {
        self.next_local_id += 1;
        self.next_local_id
    }

    /// Ends the session on request: sends LOGOUT (when connected) and closes.
    pub fn logout(&mut self, reason: &str) {
        if self.phase == Phase::Ready {
            let payload = proto::Logout {
                session_id: Some(self.session_id.clone()),
                reason: Some(reason.to_owned()),
                status: None,
            };
            let frame = self.envelope(m_sync::Command::Logout, payload.encode_to_vec(), true);
            self.push_frame(frame);
        }
        self.end(EndReason::LoggedOut);
    }

    /// When [`Session::on_tick`] should next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut deadlines: Vec<Instant> = Vec::new();
        match self.phase {
            Phase::Provisioning { deadline } => deadlines.push(deadline),
            Phase::Ready => {
                let idle_since = self.last_rx.max(self.last_heartbeat);
                deadlines.push(idle_since + self.cfg.heartbeat_interval);
                if let Some(sent) = self.heartbeat_sent {
                    deadlines.push(sent + self.cfg.dead_link_timeout);
                }
                deadlines.extend(self.in_flight.values().map(|f| f.deadline));
            }
            _ => {}
        }
        deadlines.extend(
            self.outbox
                .front()
                .map(|q| q.queued_at + self.cfg.queue_timeout),
        );
        deadlines.into_iter().min()
    }

    /// Time passed: heartbeat, timeouts.
    pub fn on_tick(&mut self, now: Instant, unix_ms: u64) {
        match self.phase {
            Phase::Provisioning { deadline } if now >= deadline => {
                self.outputs
                    .push_back(Output::Reconnect("no answer to the login".into()));
                self.on_disconnected(now);
            }
            Phase::Ready => self.tick_ready(now, unix_ms),
            _ => {}
        }
        while let Some(q) = self.outbox.front() {
            if now < q.queued_at + self.cfg.queue_timeout {
                break;
            }
            if let Some(q) = self.outbox.pop_front() {
                self.fail(q.meta.id.unwrap_or(0), SendError::QueueTimeout);
            }
        }
    }

    fn tick_ready(&mut self, now: Instant, unix_ms: u64) {
        if let Some(sent) = self.heartbeat_sent {
            if self.last_rx < sent && now >= sent + self.cfg.dead_link_timeout {
                self.outputs
                    .push_back(Output::Reconnect("no answer to the heartbeat".into()));
                self.on_disconnected(now);
                return;
            }
        }
        let mut expired: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now >= f.deadline)
            .map(|(id, _)| *id)
            .collect();
        expired.sort_unstable();
        for id in expired {
            self.in_flight.remove(&id);
            self.fail(id, SendError::Timeout);
        }
        if now >= self.last_rx.max(self.last_heartbeat) + self.cfg.heartbeat_interval {
            self.send_unread(now);
            self.heartbeat_sent = Some(now);
        }
        self.check_token(unix_ms);
    }

    fn check_token(&mut self, server_ms: u64) {
        let Some(expires) = self.token_expires_at else {
            return;
        };
        if server_ms >= expires {
            self.end(EndReason::TokenExpired);
        } else if !self.token_warned && expires - server_ms < 7 * 24 * 3600 * 1000 / 5 {
            // Less than a fifth of a typical (7-day) lifetime left: warn once.
            self.token_warned = true;
            self.event(SessionEvent::TokenWillExpire);
        }
    }

    /// One binary websocket message arrived.
    pub fn on_frame(&mut self, data: &[u8], now: Instant) -> Result<(), FrameError> {
        if matches!(self.phase, Phase::Ended | Phase::Disconnected) {
            return Ok(());
        }
        self.last_rx = now;
        self.heartbeat_sent = None;
        let plain;
        let bytes = match self.down.as_mut() {
            Some(dec) => match dec.decompress(data) {
                Ok(p) => {
                    plain = p;
                    &plain[..]
                }
                Err(e) => {
                    // The stream's history is now unknown: start over, uncompressed.
                    self.lz4_failed = true;
                    self.outputs
                        .push_back(Output::Reconnect(format!("compression failure: {e}")));
                    self.on_disconnected(now);
                    return Err(FrameError::Compression(e.to_string()));
                }
            },
            None => data,
        };
        let msync = MSync::decode(bytes).map_err(FrameError::Envelope)?;
        let payload = msync.payload.as_deref().unwrap_or_default();
        match m_sync::Command::try_from(msync.command.unwrap_or(0)) {
            Ok(m_sync::Command::Provision) => {
                let p = Provision::decode(payload).map_err(|error| FrameError::Payload {
                    command: "PROVISION",
                    error,
                })?;
                self.on_provision(p, now);
            }
            Ok(m_sync::Command::Unread) => {
                let dl = CommUnreadDl::decode(payload).map_err(|error| FrameError::Payload {
                    command: "UNREAD",
                    error,
                })?;
                self.on_unread(dl, now);
            }
            Ok(m_sync::Command::Notice) => {
                let n = CommNotice::decode(payload).map_err(|error| FrameError::Payload {
                    command: "NOTICE",
                    error,
                })?;
                if let Some(q) = n.queue {
                    self.on_notice(q, now);
                }
            }
            Ok(m_sync::Command::Sync) => {
                let dl = CommSyncDl::decode(payload).map_err(|error| FrameError::Payload {
                    command: "SYNC",
                    error,
                })?;
                self.on_sync(dl, now);
            }
            Ok(m_sync::Command::Logout) => debug!("server sent LOGOUT"),
            Err(_) => debug!(command = msync.command, "unknown msync command ignored"),
        }
        Ok(())
    }

    fn on_provision(&mut self, p: Provision, now: Instant) {
        if !matches!(self.phase, Phase::Provisioning { .. }) {
            debug!("unexpected PROVISION reply ignored");
            return;
        }
        let (code, reason) = p
            .status
            .as_ref()
            .map(|s| {
                (
                    s.error_code.unwrap_or(0),
                    s.reason.clone().unwrap_or_default(),
                )
            })
            .unwrap_or((status::ErrorCode::Fail as i32, "no status".into()));
        if code != status::ErrorCode::Ok as i32 {
            let error = LoginError::from_provision_status(code, &reason);
            self.end(EndReason::LoginFailed(error));
            return;
        }
        if p.protocol_compress_type
            .contains(&(provision::CompressType::CompressLz4 as i32))
        {
            let dir = p.protocol_compress_direction.unwrap_or(0);
            if dir == provision::CompressDirection::OnlyUp as i32
                || dir == provision::CompressDirection::Bi as i32
            {
                self.up = Some(FrameCompressor::new());
            }
            if dir == provision::CompressDirection::OnlyDown as i32
                || dir == provision::CompressDirection::Bi as i32
            {
                self.down = Some(FrameDecompressor::new());
            }
        }
        self.token_expires_at = p
            .auth_token
            .as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| v.get("expires_in").and_then(serde_json::Value::as_u64));
        self.phase = Phase::Ready;
        self.last_heartbeat = now;
        self.awaiting_first_unread = true;
        self.event(SessionEvent::Connected {
            resource: p.resource.unwrap_or_else(|| self.cfg.resource.clone()),
            token_expires_at: self.token_expires_at,
        });
        self.send_unread(now);
        self.send_information(now);
        while let Some(q) = self.outbox.pop_front() {
            self.transmit_meta(q.meta, now);
        }
    }

    fn on_unread(&mut self, dl: CommUnreadDl, _now: Instant) {
        if let Some(ts) = dl.timestamp {
            self.check_token(ts);
        }
        let mut added = false;
        for q in dl.unread {
            if let Some(queue) = q.queue {
                added |= self.enqueue_pull(queue);
            }
        }
        let first = std::mem::take(&mut self.awaiting_first_unread);
        if added && !self.offline_sync {
            self.offline_sync = true;
            self.event(SessionEvent::OfflineSyncStarted);
        } else if first && !self.offline_sync {
            // Nothing was missed: the catch-up is over before it began.
            self.event(SessionEvent::OfflineSyncFinished);
        }
        self.start_next_pull();
    }

    fn on_notice(&mut self, queue: Jid, _now: Instant) {
        let own = queue.name.as_deref() == Some(self.cfg.user.as_str())
            && queue.client_resource.as_deref() == Some(self.cfg.resource.as_str());
        if own {
            return;
        }
        self.enqueue_pull(queue);
        self.start_next_pull();
    }

    fn enqueue_pull(&mut self, queue: Jid) -> bool {
        let pulling = self
            .pulling
            .as_ref()
            .is_some_and(|p| same_queue(&p.queue, &queue));
        if pulling || self.pulls.iter().any(|q| same_queue(q, &queue)) {
            return false;
        }
        self.pulls.push_back(queue);
        true
    }

    fn start_next_pull(&mut self) {
        if self.pulling.is_some() {
            return;
        }
        match self.pulls.pop_front() {
            Some(queue) => {
                let ul = CommSyncUl {
                    queue: Some(queue.clone()),
                    ..Default::default()
                };
                self.pulling = Some(Pull {
                    queue,
                    last_key: None,
                });
                self.send_sync(ul);
            }
            None => {
                if self.offline_sync {
                    self.offline_sync = false;
                    self.event(SessionEvent::OfflineSyncFinished);
                }
            }
        }
    }

    fn on_sync(&mut self, dl: CommSyncDl, now: Instant) {
        let meta_id = dl.meta_id.unwrap_or(0);
        if meta_id != 0 {
            self.on_ack(meta_id, &dl);
            return;
        }
        let code = dl.status.as_ref().and_then(|s| s.error_code).unwrap_or(0);
        if code != 0 {
            warn!(code, "server refused a pull");
        }
        for meta in &dl.metas {
            self.deliver(meta, now);
            if self.phase == Phase::Ended {
                return;
            }
        }
        let Some(queue) = dl.queue else {
            return; // an unsolicited push (kick notices)
        };
        let current = self
            .pulling
            .as_ref()
            .is_some_and(|p| same_queue(&p.queue, &queue));
        if !current {
            debug!("DL for a queue not being pulled");
            return;
        }
        if dl.is_last.unwrap_or(false) && dl.metas.is_empty() {
            self.pulling = None;
            self.start_next_pull();
            return;
        }
        let key = dl.next_key.or_else(|| dl.metas.last().and_then(|m| m.id));
        if !dl.metas.is_empty() {
            self.seen.checkpoint();
            self.outputs.push_back(Output::Checkpoint);
        }
        if let Some(pull) = self.pulling.as_mut() {
            if key.is_some() && key != pull.last_key {
                pull.last_key = key;
            }
            let ul = CommSyncUl {
                queue: Some(pull.queue.clone()),
                key: pull.last_key,
                ..Default::default()
            };
            self.send_sync(ul);
        }
    }

    /// The owner stored everything up to the oldest [`Output::Checkpoint`] not yet answered
    /// (the driver then lets the batch's acknowledgement go out).
    pub fn batch_stored(&mut self) {
        self.seen.stored();
    }

    /// The owner did not store a batch (its store refused an event): the driver withholds
    /// the acknowledgement and reconnects, and the server delivers the batch again. Every
    /// id not confirmed stored is forgotten, so that delivery reaches the owner instead of
    /// being dropped as a duplicate (the owner drops what it had bridged meanwhile).
    pub fn batch_not_stored(&mut self) {
        self.seen.not_stored();
    }

    fn on_ack(&mut self, meta_id: u64, dl: &CommSyncDl) {
        if self.internal_ids.remove(&meta_id) {
            return;
        }
        if self.in_flight.remove(&meta_id).is_none() {
            debug!(meta_id, "ack for an unknown message");
            return;
        }
        let status = dl.status.clone().unwrap_or_default();
        let code = status.error_code.unwrap_or(0);
        if code == status::ErrorCode::Ok as i32 {
            self.event(SessionEvent::SendAcked {
                local_id: meta_id,
                server_id: dl.server_id.unwrap_or(0),
                timestamp: dl.timestamp.unwrap_or(0),
            });
        } else {
            self.fail(
                meta_id,
                SendError::Rejected {
                    code,
                    reason: status.reason.unwrap_or_default(),
                },
            );
        }
    }

    fn deliver(&mut self, meta: &Meta, _now: Instant) {
        if let Some(id) = meta.id {
            if id != 0 && !self.seen.first_time(id) {
                debug!(id, "duplicate meta dropped");
                return;
            }
        }
        match decode_meta(meta) {
            Ok(MetaEvent::Message(m)) => self.event(SessionEvent::Message(m)),
            Ok(MetaEvent::Group(g)) => self.event(SessionEvent::Group(g)),
            Ok(MetaEvent::Contact(c)) => self.event(SessionEvent::Contact(c)),
            Ok(MetaEvent::Notify(json)) => self.event(SessionEvent::Notify { json }),
            Ok(MetaEvent::Kicked(reason)) => self.end(reason),
            Ok(MetaEvent::Ignored { namespace }) => debug!(namespace, "meta ignored"),
            Err(e) => warn!(id = meta.id, error = %e, "undecodable meta skipped"),
        }
    }

    fn end(&mut self, reason: EndReason) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        let mut ids: Vec<u64> = self.in_flight.drain().map(|(id, _)| id).collect();
        ids.extend(self.outbox.drain(..).filter_map(|q| q.meta.id));
        ids.sort_unstable();
        for id in ids {
            self.fail(id, SendError::SessionEnded);
        }
        self.event(SessionEvent::Ended(reason));
        self.outputs.push_back(Output::Close);
    }

    fn fail(&mut self, local_id: u64, error: SendError) {
        self.event(SessionEvent::SendFailed { local_id, error });
    }

    fn event(&mut self, e: SessionEvent) {
        self.outputs.push_back(Output::Event(Box::new(e)));
    }
}

mod delivered;
mod outgoing;

#[cfg(test)]
mod tests;
