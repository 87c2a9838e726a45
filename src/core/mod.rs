//! The bridge core: logins, portals, ghosts, commands and conversion. It drives a
//! [`connector::NetworkConnector`] on one side and a [`matrix_api::MatrixApi`] on the other
//! and never names a network.
//!
//! Flow: the appservice listener persists Matrix events in the store's inbox
//! ([`Bridge::enqueue`]) and returns; the dispatcher routes each to the management-room
//! command handler or to its portal's queue; membership changes and room upgrades go through
//! [`lifecycle`] first. Each login's remote events go to their portal's queue too. One ordered queue (one task) per portal, in both directions.

pub mod catchup;
pub mod channels;
pub mod checkpoint;
pub mod commands;
pub mod connector;
pub mod convert;
pub mod double_puppet;
pub mod encryption;
pub mod event_channel;
pub mod gauges;
pub mod ghosts;
pub mod invitations;
pub mod lifecycle;
pub mod login_flow;
pub mod login_steps;
pub mod logins;
pub mod markdown;
pub mod matrix_api;
pub mod portal;
pub mod power_levels;
pub mod presence;
pub mod registration;
pub mod room_features;
pub mod send_status;
pub mod settings_sync;
pub mod spaces;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use tokio::sync::{Notify, RwLock};
use tracing::{info, warn};

use connector::NetworkConnector;
use ghosts::Ghosts;
use logins::UserLogin;
use matrix_api::{MatrixApi, MatrixEvent, MatrixEventSink};
use portal::Portals;

use crate::config::{Config, PermissionLevel};
use crate::metrics::Metrics;
use crate::store::Store;

/// The inbox queue holding Matrix events not yet processed.
const MATRIX_INBOX: &str = "matrix";
/// How long a shutdown waits for portal work already handed over.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Everything the core's parts share.
pub struct Ctx {
    pub cfg: Arc<Config>,
    pub store: Store,
    pub matrix: Arc<dyn MatrixApi>,
    pub connector: Arc<dyn NetworkConnector>,
    pub ghosts: Ghosts,
    pub portals: Portals,
    /// The metric families the core feeds.
    pub metrics: Arc<Metrics>,
    /// Logged-in users by MXID.
    pub logins: RwLock<HashMap<OwnedUserId, Arc<UserLogin>>>,
    /// Management rooms (DM with the bot) → their user.
    pub management: RwLock<HashMap<OwnedRoomId, OwnedUserId>>,
    pub commands: commands::CommandState,
    /// Read receipts set as real users (double puppeting), to drop their echoes.
    pub receipt_echoes: double_puppet::EchoGuard,
    /// Presence both ways ([`presence`]).
    pub presence: presence::PresenceBridge,
    inbox_ready: Notify,
    /// The last Matrix inbox item that was there when this process first read the inbox
    /// (0: none). Items up to it may have been handed to a portal by an earlier process that
    /// stopped before acknowledging them (a crash, a lost database): their sends look up what
    /// went out before instead of sending blindly. Set once, by the dispatcher.
    replay_upto: std::sync::OnceLock<u64>,
}

impl Ctx {
    /// The permission level of a Matrix user.
    pub fn permission(&self, user: &UserId) -> PermissionLevel {
        self.cfg.permission_for(user.as_str())
    }

    /// The login of a Matrix user, if any.
    pub async fn login_of(&self, user: &UserId) -> Option<Arc<UserLogin>> {
        self.logins.read().await.get(user).cloned()
    }

    /// Whether Matrix inbox item `seq` was already stored when this process started
    /// dispatching, so an earlier process may have sent it (see `replay_upto`).
    pub fn may_be_replayed(&self, seq: u64) -> bool {
        self.replay_upto.get().is_some_and(|upto| seq <= *upto)
    }
}

/// The running bridge core.
#[derive(Clone)]
pub struct Bridge {
    pub ctx: Arc<Ctx>,
}

impl Bridge {
    /// Builds the core, counting into `metrics`; call [`Bridge::start`] to restore logins and
    /// process the inbox.
    pub fn new(
        cfg: Arc<Config>,
        store: Store,
        matrix: Arc<dyn MatrixApi>,
        connector: Arc<dyn NetworkConnector>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let ghosts = Ghosts::new(
            matrix.clone(),
            store.clone(),
            &cfg.homeserver.domain,
            &cfg.appservice.username_template,
            &cfg.bridge.ghost_name_suffix(),
        )
        .with_profile_ttl(std::time::Duration::from_secs(
            cfg.bridge.profile_refresh_secs,
        ));
        let ctx = Arc::new(Ctx {
            cfg,
            store,
            matrix,
            connector,
            ghosts,
            portals: Portals::default(),
            metrics,
            logins: RwLock::new(HashMap::new()),
            management: RwLock::new(HashMap::new()),
            commands: commands::CommandState::default(),
            receipt_echoes: double_puppet::EchoGuard::default(),
            presence: presence::PresenceBridge::default(),
            inbox_ready: Notify::new(),
            replay_upto: std::sync::OnceLock::new(),
        });
        Self { ctx }
    }

    /// Restores the management rooms and logins from the store and starts the inbox dispatcher.
    pub async fn start(&self) -> anyhow::Result<()> {
        let ctx = &self.ctx;
        ctx.portals.bind(Arc::downgrade(ctx));
        for (room, user) in commands::load_management_rooms(&ctx.store).await {
            ctx.management.write().await.insert(room, user);
        }
        let records = ctx.store.list_logins().await?;
        info!(count = records.len(), "restoring logins");
        restore_logins(ctx, records).await;
        tokio::spawn(dispatch_inbox(ctx.clone()));
        tokio::spawn(room_features::refresh_all(ctx.clone()));
        tokio::spawn(portal::open_old_group_portals(ctx.clone()));
        tokio::spawn(settings_sync::run(Arc::downgrade(ctx)));
        Ok(())
    }

    /// Shuts the core down for a restart: no new work is handed to portals (what is stored
    /// stays for the next start), the work already handed over finishes (bounded by
    /// [`DRAIN_DEADLINE`]) while the sessions are still connected, so a message being sent
    /// gets its acknowledgement and its mapping; then every session stops without logging out
    /// and the store is flushed.
    pub async fn shutdown(&self) {
        let ctx = &self.ctx;
        ctx.portals.stop();
        ctx.inbox_ready.notify_one();
        if !ctx.portals.drain(DRAIN_DEADLINE).await {
            warn!(
                "portal work still running at the drain deadline; it is replayed at the next start"
            );
        }
        let logins: Vec<Arc<UserLogin>> = ctx.logins.read().await.values().cloned().collect();
        for login in logins {
            login.session.disconnect(false).await;
        }
        if let Err(e) = ctx.store.flush().await {
            warn!(error = %e, "store flush failed");
        }
    }
}

/// Resumes the stored logins, at most `bridge.max_concurrent_connects` at a time, each after
/// a random delay of up to [`CONNECT_JITTER_MS`], so a large bridge does not ask the IM service
/// for thousands of tokens and sockets in the same instant.
async fn restore_logins(ctx: &Arc<Ctx>, records: Vec<crate::store::LoginRecord>) {
    use futures_util::StreamExt;
    use rand::Rng;
    let bound = ctx.cfg.bridge.max_concurrent_connects.max(1);
    futures_util::stream::iter(records)
        .map(|record| async move {
            let jitter = rand::rng().random_range(0..=CONNECT_JITTER_MS);
            tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
            if let Err(e) = logins::resume(ctx, &record).await {
                warn!(user = %record.mxid, error = %e, "login not restored");
            }
        })
        .buffer_unordered(bound)
        .collect::<Vec<()>>()
        .await;
}

/// Largest random delay before each stored login connects at start-up.
const CONNECT_JITTER_MS: u64 = 20;

#[async_trait]
impl MatrixEventSink for Bridge {
    async fn enqueue(&self, events: Vec<MatrixEvent>) -> Result<(), String> {
        let items = events
            .iter()
            .map(|event| Ok((event.event_id(), serde_json::to_vec(event)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| e.to_string())?;
        let added = self
            .ctx
            .store
            .enqueue_events(MATRIX_INBOX, &items)
            .await
            .map_err(|e| e.to_string())?;
        if added.len() < items.len() {
            info!(
                skipped = items.len() - added.len(),
                "events delivered before were not queued again"
            );
        }
        self.ctx.inbox_ready.notify_one();
        Ok(())
    }
}

/// Routes inbox items, in order, to commands or portal queues. Items are acked by whoever
/// finishes them, so a crash replays what was not done.
async fn dispatch_inbox(ctx: Arc<Ctx>) {
    let mut dispatched: Option<u64> = None;
    loop {
        let (pending, read) = match ctx.store.pending(MATRIX_INBOX).await {
            Ok(p) => (p, true),
            Err(e) => {
                warn!(error = %e, "inbox unreadable");
                (Vec::new(), false)
            }
        };
        if read && ctx.replay_upto.get().is_none() {
            let upto = pending.last().map_or(0, |(seq, _)| *seq);
            if upto > 0 {
                info!(
                    items = pending.len(),
                    "Matrix events left from an earlier run are replayed; sends look up what went out before"
                );
            }
            let _ = ctx.replay_upto.set(upto);
        }
        for (seq, bytes) in pending {
            if ctx.portals.is_stopping() {
                return; // the rest is replayed at the next start
            }
            if dispatched.is_some_and(|d| seq <= d) {
                continue;
            }
            dispatched = Some(seq);
            match serde_json::from_slice::<MatrixEvent>(&bytes) {
                Ok(event) => route_matrix_event(&ctx, event, seq).await,
                Err(e) => {
                    warn!(seq, error = %e, "undecodable inbox item dropped");
                    let _ = ctx.store.ack(MATRIX_INBOX, seq).await;
                }
            }
        }
        ctx.inbox_ready.notified().await;
    }
}

/// Sends a notice (`content`, an `m.notice`) as the bot; a failure is logged, not returned
/// (notices are best effort). `txn_id` must be new for every notice meant (see
/// [`fresh_txn`]) and the same for retries of one.
pub(crate) async fn send_bot_notice(
    ctx: &Ctx,
    room: &RoomId,
    txn_id: &str,
    content: &serde_json::Value,
) {
    if let Err(e) = ctx
        .matrix
        .send_event(room, ctx.matrix.bot(), "m.room.message", txn_id, content)
        .await
    {
        warn!(%room, error = %e, "notice not sent");
    }
}

/// A transaction id no other event of this process or an earlier one has used: `prefix`, the
/// time in ms and a random number.
pub(crate) fn fresh_txn(prefix: &str) -> String {
    format!("{prefix}-{}-{}", ghosts::now_ms(), rand::random::<u32>())
}

/// Acks an inbox item (called once its processing is done).
pub(crate) async fn ack_inbox(ctx: &Ctx, seq: u64) {
    if let Err(e) = ctx.store.ack(MATRIX_INBOX, seq).await {
        warn!(seq, error = %e, "inbox ack failed");
    }
}

async fn route_matrix_event(ctx: &Arc<Ctx>, event: MatrixEvent, seq: u64) {
    tracing::debug!(seq, ?event, "Matrix event");
    if let MatrixEvent::Presence {
        user,
        presence,
        status_msg,
    } = &event
    {
        // About a user, not a room.
        if !ctx.ghosts.is_ours(user) {
            presence::on_matrix_presence(ctx, user, presence, status_msg.as_deref()).await;
        }
        ack_inbox(ctx, seq).await;
        return;
    }
    let (room, sender) = match &event {
        MatrixEvent::Message { room, sender, .. }
        | MatrixEvent::Redaction { room, sender, .. }
        | MatrixEvent::Reaction { room, sender, .. }
        | MatrixEvent::Membership { room, sender, .. }
        | MatrixEvent::RoomMeta { room, sender, .. }
        | MatrixEvent::PowerLevels { room, sender, .. }
        | MatrixEvent::PinnedEvents { room, sender, .. }
        | MatrixEvent::Tombstone { room, sender, .. } => (room.clone(), sender.clone()),
        MatrixEvent::Receipt { room, user, .. } => (room.clone(), user.clone()),
        MatrixEvent::Typing { room, .. } => (room.clone(), ctx.matrix.bot().to_owned()),
        MatrixEvent::Encrypted { room, sender, .. } => (room.clone(), sender.clone()),
        MatrixEvent::Presence { .. } => return, // handled above
    };
    // Our own puppets' events come back to us: drop the echoes.
    if ctx.ghosts.is_ours(&sender) && !matches!(event, MatrixEvent::Typing { .. }) {
        ack_inbox(ctx, seq).await;
        return;
    }
    match &event {
        MatrixEvent::Membership { .. } => return lifecycle::on_membership(ctx, event, seq).await,
        MatrixEvent::Tombstone { .. } => return lifecycle::on_tombstone(ctx, event, seq).await,
        _ => {}
    }
    if let MatrixEvent::Encrypted {
        event_id,
        turned_on,
        ..
    } = &event
    {
        if !turned_on {
            encryption::report_undecryptable(ctx, &room, event_id).await;
        }
        encryption::on_encrypted(ctx, &room, event_id).await;
        ack_inbox(ctx, seq).await;
        return;
    }
    let is_management = ctx.management.read().await.contains_key(&room);
    if is_management {
        if let MatrixEvent::Message { .. } = &event {
            commands::on_message(ctx, &event).await;
        }
        ack_inbox(ctx, seq).await;
        return;
    }
    match ctx.store.portal_by_room(room.as_str()).await {
        Ok(Some(portal)) => ctx.portals.enqueue_matrix(&portal.key, event, seq).await,
        Ok(None) => {
            // A room the bot sits in without a role: only `bridge` and
            // `set-management-room` are answered there.
            if let MatrixEvent::Message { .. } = &event {
                commands::on_room_message(ctx, &event).await;
            }
            ack_inbox(ctx, seq).await
        }
        Err(_) => ack_inbox(ctx, seq).await,
    }
}
