//! Portals: one Matrix room per remote chat, and one ordered queue (one task) per portal that
//! handles both directions. Owns room creation, membership of the user and the ghosts,
//! remote → Matrix messages (deduplicated through the message map, so a group message seen by
//! two logins is bridged once and our own echoes are dropped), and Matrix → remote messages
//! (with the map written before the next queue item, so the echo finds it).
//!
//! Queues are lossless and apply back-pressure, except for the IM → Matrix events of channel
//! portals (public chat rooms, [`crate::core::channels`]): those wait in a bounded buffer of
//! `bridge.channel_queue_depth` events that drops its oldest when full (counted in
//! `imbridge_channel_events_dropped_total`), so one busy channel never holds up the login's
//! dispatcher and with it the user's direct chats and groups.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ruma::OwnedUserId;
use tokio::sync::{mpsc, Mutex};
use tracing::{debug, warn};

mod alt_ids;
mod announcements;
mod backfill;
mod channel_queue;
use channel_queue::{droppable, ChannelBuffer};
mod delivery;
mod dispatch;
mod dm_meta;
mod from_matrix;
mod group_admin;
mod group_changes;
mod group_lifecycle;
mod group_roles;
mod invitations;
pub(crate) use group_roles::open_old_group_portals;
mod media_in;
mod media_out;
mod membership;
mod power;
mod reactions;
mod read_state;
mod relay;
mod remote;
mod remote_ops;
mod replies;
mod room_commands;
mod space_rooms;
mod threads;
pub use threads::{thread_name, ThreadRecord};

use super::logins::UserLogin;
use super::matrix_api::{MatrixError, MatrixEvent};
use super::{ack_inbox, Ctx};
use crate::core::connector::{ChatId, ChatKind, RemoteEvent};
use crate::core::ghosts::{escape_localpart, unescape_localpart};
use crate::metrics::Direction;
use crate::store::PortalRecord;

/// Items a portal queue holds before producers wait (back-pressure, nothing dropped).
const QUEUE_DEPTH: usize = 256;
/// Ghosts joined to a new group portal at creation (the rest join when they speak).
const INITIAL_MEMBERS: usize = 50;

/// The portal key of a chat seen by `login_remote`. Direct chats are per login (each Matrix
/// user has their own DM room); groups and channels are shared.
pub fn portal_key(login_remote: &str, chat: &ChatId) -> String {
    match chat.kind {
        ChatKind::Direct => format!(
            "direct:{}:{}",
            escape_localpart(login_remote),
            escape_localpart(&chat.id)
        ),
        ChatKind::Group => format!("group:{}", escape_localpart(&chat.id)),
        ChatKind::Channel => format!("channel:{}", escape_localpart(&chat.id)),
    }
}

/// The IM account that owns a direct chat's portal (`None` for groups and channels, which
/// any member's login can serve).
pub fn direct_owner_of_key(key: &str) -> Option<String> {
    let mut parts = key.split(':');
    if parts.next()? != "direct" {
        return None;
    }
    unescape_localpart(parts.next()?)
}

/// The chat behind a portal key.
pub fn chat_of_key(key: &str) -> Option<ChatId> {
    let mut parts = key.split(':');
    let kind = parts.next()?;
    let chat = match kind {
        "direct" => {
            let _own = parts.next()?;
            ChatId::direct(unescape_localpart(parts.next()?)?)
        }
        "group" => ChatId::group(unescape_localpart(parts.next()?)?),
        "channel" => ChatId {
            kind: ChatKind::Channel,
            id: unescape_localpart(parts.next()?)?,
        },
        _ => return None,
    };
    Some(chat)
}

/// The portal's `m.bridge` state event (MSC2346): `(type, state key, content)`.
pub fn bridge_state(ctx: &Ctx, key: &str, chat: &ChatId) -> (String, String, serde_json::Value) {
    (
        "m.bridge".into(),
        format!("net.imbridge://{}/{key}", ctx.connector.name()),
        serde_json::json!({
            "bridgebot": ctx.matrix.bot().as_str(),
            "protocol": { "id": ctx.connector.name(), "displayname": ctx.connector.name() },
            "channel": { "id": chat.id },
            "net.imbridge.capabilities": ctx.connector.capabilities(),
        }),
    )
}

enum Work {
    /// A remote event; `seq` is its item in the login's inbox queue, acked once bridged.
    Remote {
        login: Arc<UserLogin>,
        /// Boxed: an event is much larger than a Matrix item.
        event: Box<RemoteEvent>,
        seq: Option<u64>,
    },
    Matrix {
        event: MatrixEvent,
        seq: u64,
    },
}

/// One portal's inputs: the lossless queue and, for channel portals, the lossy buffer.
struct PortalQueue {
    tx: mpsc::Sender<Work>,
    buffer: Option<Arc<ChannelBuffer>>,
}

/// The portal queues.
#[derive(Default)]
pub struct Portals {
    ctx: std::sync::OnceLock<Weak<Ctx>>,
    queues: Mutex<HashMap<String, PortalQueue>>,
    /// Work items queued or being processed, in all portals (counted from enqueue until the
    /// item is finished and acked, so a drain waits for in-progress sends too).
    pending: AtomicUsize,
    /// Shutting down: dispatchers hand over no new work (it stays stored for the next start).
    stopping: AtomicBool,
}

impl Portals {
    pub(crate) fn bind(&self, ctx: Weak<Ctx>) {
        let _ = self.ctx.set(ctx);
    }

    async fn queue(&self, key: &str) -> Option<(mpsc::Sender<Work>, Option<Arc<ChannelBuffer>>)> {
        let mut queues = self.queues.lock().await;
        if let Some(q) = queues.get(key) {
            if !q.tx.is_closed() {
                return Some((q.tx.clone(), q.buffer.clone()));
            }
        }
        let ctx = self.ctx.get()?.upgrade()?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let buffer = chat_of_key(key)
            .filter(|c| c.kind == ChatKind::Channel)
            .map(|_| Arc::new(ChannelBuffer::new(ctx.cfg.bridge.channel_queue_depth)));
        queues.insert(
            key.to_owned(),
            PortalQueue {
                tx: tx.clone(),
                buffer: buffer.clone(),
            },
        );
        let worker = PortalWorker {
            ctx,
            key: key.to_owned(),
            room: None,
            joined: HashSet::new(),
            typing: HashSet::new(),
            backfill_pending: false,
            hinted: HashMap::new(),
            dm_meta_seen: None,
        };
        tokio::spawn(worker.run(rx, buffer.clone()));
        Some((tx, buffer))
    }

    /// Queues a remote event (item `seq` of the login's inbox queue, if stored) for the
    /// portal `key`.
    pub async fn enqueue_remote(
        &self,
        key: &str,
        login: Arc<UserLogin>,
        event: RemoteEvent,
        seq: Option<u64>,
    ) {
        let event = Box::new(event);
        self.send(key, Work::Remote { login, event, seq }).await;
    }

    async fn send(&self, key: &str, work: Work) {
        let Some((q, buffer)) = self.queue(key).await else {
            return;
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        if let (Some(buffer), Work::Remote { event, .. }) = (&buffer, &work) {
            if droppable(event) {
                // Never waits: the oldest pending event gives way.
                if let Some(dropped) = buffer.push(work) {
                    self.drop_channel_event(key, dropped).await;
                }
                return;
            }
        }
        if q.send(work).await.is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Stops handing over new work (see [`Portals::is_stopping`]).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// True once shutdown began: dispatchers leave further stored work for the next start.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// `(queues, items waiting in all of them, items waiting in the fullest one)`.
    pub async fn depths(&self) -> (usize, usize, usize) {
        let queues = self.queues.lock().await;
        let live = queues.values().filter(|q| !q.tx.is_closed());
        let depths: Vec<usize> = live
            .map(|q| {
                q.tx.max_capacity() - q.tx.capacity() + q.buffer.as_ref().map_or(0, |b| b.len())
            })
            .collect();
        let max = depths.iter().copied().max().unwrap_or(0);
        (depths.len(), depths.iter().sum(), max)
    }

    /// Queues a Matrix event (inbox item `seq`) for the portal `key`.
    pub async fn enqueue_matrix(&self, key: &str, event: MatrixEvent, seq: u64) {
        self.send(key, Work::Matrix { event, seq }).await;
    }

    /// Waits (bounded by `deadline`) until no work is queued or in progress; false if the
    /// deadline came first.
    pub async fn drain(&self, deadline: Duration) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if self.pending.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct PortalWorker {
    ctx: Arc<Ctx>,
    key: String,
    /// The room `joined` is about; when the portal moves (an upgrade, a new room), `joined`
    /// starts over.
    room: Option<String>,
    /// Ghosts known to be in the room.
    joined: HashSet<OwnedUserId>,
    /// Logged-in Matrix users last seen typing in the room.
    typing: HashSet<OwnedUserId>,
    /// The room was just created: bring its history in before the event that created it.
    backfill_pending: bool,
    /// When each Matrix user without a login was last told so here (one hint per
    /// [`HINT_EVERY`], never in answer to a notice).
    hinted: HashMap<OwnedUserId, std::time::Instant>,
    /// The DM peer's profile version (`GhostRecord::updated_ms`) the room's name and avatar
    /// were last checked against.
    dm_meta_seen: Option<u64>,
}

/// The shortest time between two "you are not logged in" hints to one user in one portal.
const HINT_EVERY: Duration = Duration::from_secs(600);

/// Retries a homeserver call on transient errors (bounded), so a busy homeserver delays
/// messages instead of losing them.
async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, MatrixError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, MatrixError>>,
{
    let mut delay = Duration::from_millis(200);
    for attempt in 0..8 {
        match call().await {
            Err(e) if e.is_transient() && attempt < 7 => {
                debug!(what, error = %e, "transient homeserver error; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
    call().await
}

impl PortalWorker {
    async fn run(mut self, mut rx: mpsc::Receiver<Work>, buffer: Option<Arc<ChannelBuffer>>) {
        while let Some(work) = Self::next(&mut rx, buffer.as_deref()).await {
            let started = std::time::Instant::now();
            let room = self.record().await.map(|r| r.room_id);
            if room != self.room {
                self.joined.clear();
                self.room = room;
            }
            let direction = match work {
                Work::Remote { login, event, seq } => {
                    self.remote(&login, *event).await;
                    if let Some(seq) = seq {
                        if let Err(e) = self.ctx.store.ack(&login.queue(), seq).await {
                            warn!(portal = %self.key, seq, error = %e, "inbox ack failed");
                        }
                    }
                    Direction::ToMatrix
                }
                Work::Matrix { event, seq } => {
                    let replayed = self.ctx.may_be_replayed(seq);
                    self.matrix(event, replayed).await;
                    ack_inbox(&self.ctx, seq).await;
                    Direction::ToNetwork
                }
            };
            self.ctx
                .metrics
                .processing_seconds
                .observe(&[direction.as_str()], started.elapsed());
            self.ctx.portals.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The remote message id a Matrix event was bridged from or to, if mapped.
    async fn remote_of_event(&self, event_id: &str) -> Option<String> {
        self.ctx
            .store
            .message_by_event(event_id)
            .await
            .ok()
            .flatten()
            .map(|(_, record)| record.remote_id)
    }

    async fn record(&self) -> Option<PortalRecord> {
        self.ctx.store.get_portal(&self.key).await.ok().flatten()
    }
}

/// The `reason` label of a homeserver failure: `homeserver_<status>`, `homeserver_unreachable`
/// or `other` (a fixed, small set).
fn failure_reason(e: &MatrixError) -> String {
    match e {
        MatrixError::Homeserver { status, .. } => format!("homeserver_{status}"),
        MatrixError::Transport(_) => "homeserver_unreachable".into(),
        MatrixError::Other(_) => "other".into(),
    }
}

/// The `kind` label of a message's content.
fn content_kind(content: &crate::core::connector::MessageContent) -> &'static str {
    use crate::core::connector::{MediaKind, MessageContent};
    match content {
        MessageContent::Text { .. } => "text",
        MessageContent::Emote { .. } => "emote",
        MessageContent::Media { media, .. } => match media.kind {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::File => "file",
        },
        MessageContent::Location { .. } => "location",
        MessageContent::Unsupported { .. } => "unsupported",
        MessageContent::Notice { .. } => "notice",
    }
}

fn media_kind_word(kind: crate::core::connector::MediaKind) -> &'static str {
    match kind {
        crate::core::connector::MediaKind::Image => "image",
        crate::core::connector::MediaKind::Video => "video",
        crate::core::connector::MediaKind::Audio => "voice message",
        crate::core::connector::MediaKind::File => "file",
    }
}

fn ignore_already_member(e: MatrixError) -> Result<(), MatrixError> {
    match &e {
        MatrixError::Homeserver {
            status: 403,
            message,
            ..
        } if message.contains("already in the room") || message.contains("is already joined") => {
            Ok(())
        }
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_keys_round_trip() {
        for chat in [
            ChatId::direct("bob"),
            ChatId::group("1234"),
            ChatId {
                kind: ChatKind::Channel,
                id: "Room:1".into(),
            },
        ] {
            let key = portal_key("alice", &chat);
            assert_eq!(chat_of_key(&key), Some(chat));
        }
        assert_ne!(
            portal_key("alice", &ChatId::direct("bob")),
            portal_key("carol", &ChatId::direct("bob"))
        );
    }
}
