//! Logins: one network session per logged-in Matrix user. Owns logging in (storing what is
//! needed to resume), resuming at start-up, logging out, telling the user about state changes
//! (debounced), and the path of a session's remote events into portal queues:
//!
//! * the **pump** stores each chat event in the login's durable inbox queue (`remote:<mxid>`)
//!   as it arrives and, at a connector [`Checkpoint`](super::connector::Checkpoint), flushes
//!   the store and confirms, so the connector acknowledges the batch to the IM server only
//!   once it is on disk;
//! * the **dispatcher** reads the queue in order and hands each item to its portal queue,
//!   which acks it once bridged. Unacked items are replayed when the login resumes after a
//!   restart or a crash; the message map drops what was already bridged.
//!
//! The pump never waits on a portal, so a portal waiting on the session (sending a message)
//! cannot block the session's checkpoint.
//!
//! **Replacing a login** (`login` again while logged in): the new credentials are checked
//! first (by the flow's login process, before its `complete` step), and a failure leaves the
//! current login as it was. Once they are good, the old
//! session is closed for real (no logout frame, so what the server still holds for that
//! account stays there as offline messages for its next login), its pump ends and its
//! dispatcher hands what it already stored to that account's portals, then stops; only then
//! does the new session start. Each (Matrix user, IM account) pair has its own inbox queue, so
//! nothing stored for one account is ever routed as another's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ruma::{OwnedUserId, UserId};
use tokio::sync::{Mutex, Notify};
use tracing::{debug, info, warn};

use super::connector::{
    LoginData, LoginFailure, LoginState, NetworkLogin, RemoteEvent, RemoteEventReceiver,
};
use super::ghosts::now_ms;
use super::login_steps::{NextStep, PendingLogin};
use super::portal::portal_key;
use super::{catchup, commands, Ctx};
use crate::store::LoginRecord;

/// A state change is told to the user only if it lasts this long (a flapping link stays quiet).
const STATE_DEBOUNCE: Duration = Duration::from_secs(5);

/// Items the dispatcher reads from the store at a time.
const DISPATCH_BATCH: usize = 256;

/// How long replacing a login waits for the old session's pump and dispatcher to finish.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The durable inbox queue of one login's remote events: per Matrix user and IM account.
pub fn remote_queue(mxid: &UserId, remote_id: &str) -> String {
    format!("remote:{mxid}:{remote_id}")
}

/// The queue name before it was per IM account (moved over when such a login resumes).
fn legacy_remote_queue(mxid: &UserId) -> String {
    format!("remote:{mxid}")
}

/// One logged-in Matrix user.
pub struct UserLogin {
    pub mxid: OwnedUserId,
    pub remote_id: String,
    pub session: Box<dyn NetworkLogin>,
    state: Mutex<(LoginState, u64)>,
    /// Set once the session reported `Connected` (a later one is a reconnect).
    ever_connected: AtomicBool,
    /// New items in the inbox queue, or the pump ended.
    inbox_ready: Notify,
    /// The session's event stream ended: the dispatcher stops.
    pump_done: AtomicBool,
    /// The network is still handing over what was missed (see [`super::catchup`]).
    catching_up: AtomicBool,
    /// The dispatcher has handed over everything and stopped.
    dispatch_done: AtomicBool,
    /// A dispatcher task runs. It ends when the inbox holds nothing to hand over, and the
    /// pump starts one again when it stores something ([`wake_dispatcher`]): an idle login
    /// keeps no dispatcher task (memory follows activity, issue 14).
    dispatching: AtomicBool,
    /// The last inbox item handed to a portal (which acknowledges it once bridged), kept
    /// across dispatcher tasks; `None` before the first.
    dispatch_position: std::sync::Mutex<Option<u64>>,
    /// Wakes whoever waits for the pump and the dispatcher to stop ([`close`]).
    stopped: Notify,
    /// Held while the login's notification settings are compared (a poll, or a change the
    /// network pushed), so one comparison never acts on levels another has just changed.
    pub(crate) settings_compare: Mutex<()>,
}

impl UserLogin {
    /// The current connection state.
    pub async fn state(&self) -> LoginState {
        self.state.lock().await.0.clone()
    }

    /// The current connection state and since when (ms since the epoch).
    pub async fn state_since(&self) -> (LoginState, u64) {
        self.state.lock().await.clone()
    }

    /// This login's durable inbox queue.
    pub fn queue(&self) -> String {
        remote_queue(&self.mxid, &self.remote_id)
    }
}

/// Finishes a login whose credentials a [`LoginProcess`](super::connector::LoginProcess)
/// checked (its `complete` step): stores it and starts the session. A login the user already
/// has is replaced only now, once the new credentials were accepted (see the module docs); a
/// failure before this point leaves it as it was.
pub async fn finish_login(
    ctx: &Arc<Ctx>,
    mxid: &UserId,
    data: LoginData,
) -> Result<Arc<UserLogin>, LoginFailure> {
    let previous = ctx.logins.write().await.remove(mxid);
    if let Some(previous) = previous {
        info!(user = %mxid, old = %previous.remote_id, new = %data.remote_id, "replacing the login");
        close(&previous).await;
    }
    let record = LoginRecord {
        mxid: mxid.to_string(),
        network: ctx.connector.name().to_owned(),
        remote_id: data.remote_id.clone(),
        secrets: data.secrets.clone(),
        management_room: None,
        created_ms: now_ms(),
    };
    ctx.store
        .put_login(&record)
        .await
        .map_err(|e| LoginFailure::Refused(format!("could not save the login: {e}")))?;
    let _ = ctx.store.delete_kv(&told_key(mxid)).await;
    start(ctx, mxid.to_owned(), data).await
}

/// Logs `mxid` in by flow `flow_id` in one go: `values` fill the fields of the flow's steps in
/// order (a flow that shows something and waits, or asks for more than given, is refused).
/// For tools and one-shot callers; the bot drives [`PendingLogin`] step by step.
pub async fn login_with_values(
    ctx: &Arc<Ctx>,
    mxid: &UserId,
    flow_id: &str,
    values: &[&str],
) -> Result<Arc<UserLogin>, LoginFailure> {
    let mut pending = PendingLogin::begin(ctx.connector.as_ref(), flow_id, mxid.as_str()).await?;
    let mut rest = values;
    loop {
        match pending.advance().await? {
            NextStep::Ask { field, .. } => {
                let Some((value, more)) = rest.split_first() else {
                    return Err(LoginFailure::Refused(format!(
                        "the login flow `{flow_id}` also needs the {}",
                        field.name
                    )));
                };
                pending.fill(value).map_err(LoginFailure::Refused)?;
                rest = more;
            }
            NextStep::Display { .. } => {
                return Err(LoginFailure::Refused(format!(
                    "the login flow `{flow_id}` needs someone to act on a display"
                )))
            }
            NextStep::Complete { data, .. } => return finish_login(ctx, mxid, data).await,
        }
    }
}

/// Resumes a stored login at start-up.
pub async fn resume(ctx: &Arc<Ctx>, record: &LoginRecord) -> Result<Arc<UserLogin>, LoginFailure> {
    let mxid = UserId::parse(record.mxid.as_str())
        .map_err(|e| LoginFailure::Refused(format!("stored MXID is invalid: {e}")))?;
    let data = LoginData {
        remote_id: record.remote_id.clone(),
        secrets: record.secrets.clone(),
    };
    start(ctx, mxid, data).await
}

async fn start(
    ctx: &Arc<Ctx>,
    mxid: OwnedUserId,
    data: LoginData,
) -> Result<Arc<UserLogin>, LoginFailure> {
    let (tx, rx) = super::event_channel::boxed_channel(1024);
    let session = ctx.connector.connect(&data, tx).await?;
    let login = Arc::new(UserLogin {
        mxid: mxid.clone(),
        remote_id: session.remote_id().to_owned(),
        session,
        state: Mutex::new((LoginState::Connecting, now_ms())),
        ever_connected: AtomicBool::new(false),
        inbox_ready: Notify::new(),
        pump_done: AtomicBool::new(false),
        catching_up: AtomicBool::new(true),
        dispatch_done: AtomicBool::new(false),
        dispatching: AtomicBool::new(true),
        dispatch_position: std::sync::Mutex::new(None),
        stopped: Notify::new(),
        settings_compare: Mutex::new(()),
    });
    migrate_legacy_queue(ctx, &login).await;
    // Before anything is dispatched, so the user's own actions show as themselves.
    super::double_puppet::enable(ctx, &mxid).await;
    ctx.logins.write().await.insert(mxid.clone(), login.clone());
    let replay = ctx.store.pending_count(&login.queue()).await;
    info!(user = %mxid, remote = %login.remote_id, replay, "login started");
    // The dispatcher first takes what a previous run stored but did not bridge.
    tokio::spawn(dispatch(ctx.clone(), login.clone()));
    tokio::spawn(pump(ctx.clone(), login.clone(), rx));
    tokio::spawn(super::spaces::fill(ctx.clone(), login.clone()));
    Ok(login)
}

/// Moves what an older version stored in the per-user queue into this login's queue (it was
/// stored by the account the login record names, the only one a user had then).
async fn migrate_legacy_queue(ctx: &Ctx, login: &UserLogin) {
    let legacy = legacy_remote_queue(&login.mxid);
    match ctx.store.move_queue(&legacy, &login.queue()).await {
        Ok(0) => {}
        Ok(n) => info!(user = %login.mxid, items = n, "inbox items moved to the per-account queue"),
        Err(e) => warn!(user = %login.mxid, error = %e, "legacy inbox queue not moved"),
    }
}

/// Closes a login's session without logging out and waits (bounded by [`CLOSE_WAIT`]) until
/// its pump stopped and its dispatcher handed over what was stored. The caller has already
/// taken the login out of [`Ctx::logins`].
pub async fn close(login: &UserLogin) {
    login.session.disconnect(false).await;
    let until = tokio::time::Instant::now() + CLOSE_WAIT;
    loop {
        let stopped = login.stopped.notified();
        if login.dispatch_done.load(Ordering::SeqCst) {
            return;
        }
        if tokio::time::timeout_at(until, stopped).await.is_err() {
            warn!(user = %login.mxid, remote = %login.remote_id, "old session still draining");
            return;
        }
    }
}

/// Logs out on the network and forgets the login.
pub async fn logout(ctx: &Arc<Ctx>, mxid: &UserId) -> bool {
    let Some(login) = ctx.logins.write().await.remove(mxid) else {
        return false;
    };
    login.session.disconnect(true).await;
    if let Err(e) = ctx.store.delete_login(mxid.as_str()).await {
        warn!(user = %mxid, error = %e, "login record not deleted");
    }
    if let Err(e) = ctx.store.clear_queue(&login.queue()).await {
        warn!(user = %mxid, error = %e, "inbox queue not cleared");
    }
    let _ = ctx.store.delete_kv(&told_key(mxid)).await;
    // The channels joined are kept: a later login as the same IM user joins them again
    // ([`super::channels::rejoin`]), so their portals keep being fed.
    true
}

/// Where the last state told to the user is kept.
fn told_key(mxid: &UserId) -> String {
    format!("login_state_told:{mxid}")
}

/// Stores a session's chat events durably, in order, confirms checkpoints once they are on
/// disk, and handles state and profile events directly.
async fn pump(ctx: Arc<Ctx>, login: Arc<UserLogin>, mut events: RemoteEventReceiver) {
    let queue = login.queue();
    // An event of the current batch the store refused (bridged unstored): the batch must not
    // be confirmed, or the server would drop what a crash before bridging it would lose.
    let mut unstored = false;
    // The rare branches' futures are boxed: inline they would size this task, which lives
    // as long as the login, by the largest of them (memory per idle login, issue 14).
    while let Some(event) = events.recv().await {
        match event {
            RemoteEvent::State(state) => Box::pin(on_state(&ctx, &login, state)).await,
            RemoteEvent::ProfileChange { user, profile } => {
                Box::pin(
                    ctx.ghosts
                        .update_profile(&user, &profile, login.session.as_ref()),
                )
                .await;
            }
            RemoteEvent::CatchUpDone => {
                if login.catching_up.swap(false, Ordering::SeqCst) {
                    login.inbox_ready.notify_one();
                }
            }
            RemoteEvent::Checkpoint(checkpoint) if std::mem::take(&mut unstored) => {
                // Dropped unconfirmed: the server delivers the batch again; what was bridged
                // unstored meanwhile is found in the message map then.
                warn!(user = %login.mxid, "batch not confirmed to the network: some of its events were not stored");
                drop(checkpoint);
            }
            RemoteEvent::Checkpoint(checkpoint) => match ctx.store.flush().await {
                Ok(_) => checkpoint.done(),
                // Dropped unconfirmed: the connector leaves the batch on the server.
                Err(e) => {
                    warn!(user = %login.mxid, error = %e, "store flush failed at a checkpoint")
                }
            },
            // Ephemeral, about a user: straight to their ghost, never stored.
            RemoteEvent::Presence { user, presence } => {
                Box::pin(super::presence::remote_presence(&ctx, &user, presence)).await
            }
            // A setting, read again at every comparison: compared now, never stored. In a
            // task of its own: the comparison calls Matrix and the network, and the pump
            // must go on storing messages meanwhile.
            RemoteEvent::NotifyChange { chat, level } => {
                let (ctx, login) = (ctx.clone(), login.clone());
                tokio::spawn(async move {
                    super::settings_sync::notify::remote_change(&ctx, &login, &chat, level).await
                });
            }
            // Ephemeral: straight to the portal, never stored or replayed after a restart.
            RemoteEvent::Typing { ref chat, .. } => {
                let key = portal_key(&login.remote_id, chat);
                ctx.portals
                    .enqueue_remote(&key, login.clone(), event, None)
                    .await;
            }
            other if chat_of(&other).is_some() => {
                if !store_event(&ctx, &login, &queue, other).await {
                    unstored = true;
                }
            }
            other => debug!(event = ?other, "remote event without a chat ignored"),
        }
    }
    login.pump_done.store(true, Ordering::SeqCst);
    wake_dispatcher(&ctx, &login);
    login.stopped.notify_waiters();
}

/// Appends one chat event to the login's inbox queue (durable at the next flush). If the
/// store refuses it, the event goes straight to its portal so it is still bridged now, and
/// the answer is false (the batch it belongs to must not be confirmed to the network).
async fn store_event(
    ctx: &Arc<Ctx>,
    login: &Arc<UserLogin>,
    queue: &str,
    event: RemoteEvent,
) -> bool {
    let stored = match serde_json::to_vec(&event) {
        Ok(bytes) => ctx
            .store
            .enqueue_unflushed(queue, bytes)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match stored {
        Ok(_) => {
            wake_dispatcher(ctx, login);
            true
        }
        Err(e) => {
            warn!(user = %login.mxid, error = %e, "remote event not stored; bridging it unstored");
            if let Some(chat) = chat_of(&event) {
                let key = portal_key(&login.remote_id, &chat);
                ctx.portals
                    .enqueue_remote(&key, login.clone(), event, None)
                    .await;
            }
            false
        }
    }
}

/// The login's first dispatcher: holds the hand-over while the network catches up (bounded),
/// prunes the catch-up to the newest messages per chat, then hands over like any other
/// ([`dispatch_more`]).
async fn dispatch(ctx: Arc<Ctx>, login: Arc<UserLogin>) {
    // First the catch-up: held until the network handed everything over (bounded), then
    // limited to the newest messages per chat.
    let until = tokio::time::Instant::now() + catchup::CATCHUP_WAIT;
    while login.catching_up.load(Ordering::SeqCst)
        && !login.pump_done.load(Ordering::SeqCst)
        && tokio::time::Instant::now() < until
    {
        let _ = tokio::time::timeout_at(until, login.inbox_ready.notified()).await;
    }
    login.catching_up.store(false, Ordering::SeqCst);
    catchup::prune(&ctx, &login).await;
    dispatch_more(ctx, login).await;
}

/// Makes sure a dispatcher runs for `login`: one is started when none does, else the running
/// one is woken (while it waits for the catch-up).
fn wake_dispatcher(ctx: &Arc<Ctx>, login: &Arc<UserLogin>) {
    if login.dispatching.swap(true, Ordering::SeqCst) {
        login.inbox_ready.notify_one();
    } else {
        tokio::spawn(dispatch_more(ctx.clone(), login.clone()));
    }
}

/// Hands stored events to their portal queues, in order, from where the last dispatcher got
/// to; ends when nothing is left to hand over (the pump starts another when it stores
/// something), or for good once the pump ended too ([`UserLogin::dispatch_done`]).
async fn dispatch_more(ctx: Arc<Ctx>, login: Arc<UserLogin>) {
    let queue = login.queue();
    loop {
        let position = *login
            .dispatch_position
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let batch = match ctx
            .store
            .pending_after(&queue, position, DISPATCH_BATCH)
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                warn!(user = %login.mxid, error = %e, "inbox queue unreadable");
                Vec::new()
            }
        };
        if batch.is_empty() {
            if login.pump_done.load(Ordering::SeqCst) {
                login.dispatch_done.store(true, Ordering::SeqCst);
                login.stopped.notify_waiters();
                return;
            }
            // Idle: end, unless something was stored after the read and its wake-up found
            // this task still running.
            login.dispatching.store(false, Ordering::SeqCst);
            let more = ctx
                .store
                .pending_after(&queue, position, 1)
                .await
                .is_ok_and(|b| !b.is_empty());
            if !more && !login.pump_done.load(Ordering::SeqCst) {
                return;
            }
            if login.dispatching.swap(true, Ordering::SeqCst) {
                return; // the pump started another dispatcher meanwhile
            }
            continue;
        }
        for (seq, bytes) in batch {
            if ctx.portals.is_stopping() {
                // Stored: handed over at the next start.
                login.dispatch_done.store(true, Ordering::SeqCst);
                login.stopped.notify_waiters();
                return;
            }
            *login
                .dispatch_position
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(seq);
            let event = serde_json::from_slice::<RemoteEvent>(&bytes);
            match event.as_ref().ok().and_then(chat_of) {
                Some(chat) => {
                    let key = portal_key(&login.remote_id, &chat);
                    if let Ok(event) = event {
                        ctx.portals
                            .enqueue_remote(&key, login.clone(), event, Some(seq))
                            .await;
                    }
                }
                None => {
                    warn!(user = %login.mxid, seq, "undecodable inbox item dropped");
                    let _ = ctx.store.ack(&queue, seq).await;
                }
            }
        }
    }
}

/// The chat whose portal queue an event goes through: its own chat, or for the contact
/// events the direct chat with the other user; `None` for events handled without a portal.
fn chat_of(event: &RemoteEvent) -> Option<super::connector::ChatId> {
    use super::connector::ChatId;
    match event {
        RemoteEvent::Message(m) => Some(m.chat.clone()),
        RemoteEvent::Edit { chat, .. }
        | RemoteEvent::Remove { chat, .. }
        | RemoteEvent::Reaction { chat, .. }
        | RemoteEvent::ReactionRemove { chat, .. }
        | RemoteEvent::ReactionSync { chat, .. }
        | RemoteEvent::ReadReceipt { chat, .. }
        | RemoteEvent::DeliveryReceipt { chat, .. }
        | RemoteEvent::Typing { chat, .. }
        | RemoteEvent::ChatInfoChange { chat, .. }
        | RemoteEvent::ChatDelete { chat }
        | RemoteEvent::ChatResync { chat, .. }
        | RemoteEvent::Thread { chat, .. }
        | RemoteEvent::GroupInvitation { chat, .. } => Some(chat.clone()),
        RemoteEvent::ContactRequest { from: user, .. }
        | RemoteEvent::ContactUpdate { user, .. } => Some(ChatId::direct(user.clone())),
        _ => None,
    }
}

/// Whether `login` is still the user's login (not replaced or logged out).
async fn is_current(ctx: &Ctx, login: &Arc<UserLogin>) -> bool {
    ctx.login_of(&login.mxid)
        .await
        .is_some_and(|l| Arc::ptr_eq(&l, login))
}

/// Records a state change and tells the user once it has lasted [`STATE_DEBOUNCE`]
/// (session-ending states at once), unless it is the state last told.
async fn on_state(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, state: LoginState) {
    if !is_current(ctx, login).await {
        debug!(user = %login.mxid, remote = %login.remote_id, ?state, "state of a replaced login");
        return;
    }
    match &state {
        LoginState::TransientDisconnect { .. } => ctx.metrics.im_disconnects.inc(&[]),
        LoginState::Connected if login.ever_connected.swap(true, Ordering::SeqCst) => {
            ctx.metrics.im_reconnects.inc(&[]);
            // Channel membership ends with the connection: joined again, in the background.
            let (ctx, login) = (ctx.clone(), login.clone());
            tokio::spawn(async move { super::channels::rejoin(&ctx, &login).await });
        }
        LoginState::Connected => {
            // The first connection of this process: presence subscriptions and the joined
            // channels, in the background.
            let (ctx, login) = (ctx.clone(), login.clone());
            tokio::spawn(async move {
                super::channels::rejoin(&ctx, &login).await;
                super::presence::on_first_connect(&ctx, &login).await
            });
        }
        _ => {}
    }
    let stamp = now_ms();
    *login.state.lock().await = (state.clone(), stamp);
    let final_state = matches!(
        state,
        LoginState::BadCredentials { .. } | LoginState::LoggedOut { .. }
    );
    // Nothing to tell (checked again after the debounce): no task waits for it. At start-up
    // every login comes back `Connected`, the state last told, and would otherwise keep a
    // debounce task each for a while.
    if matches!(state, LoginState::Connecting)
        || (!final_state
            && ctx
                .store
                .get_kv(&told_key(&login.mxid))
                .await
                .ok()
                .flatten()
                .as_deref()
                == Some(state.kind()))
    {
        return;
    }
    let ctx = ctx.clone();
    let login = login.clone();
    tokio::spawn(async move {
        if !final_state {
            tokio::time::sleep(STATE_DEBOUNCE).await;
            let (current, at) = login.state.lock().await.clone();
            if at != stamp || current != state {
                return; // superseded
            }
        }
        if matches!(state, LoginState::Connecting) || !is_current(&ctx, &login).await {
            return;
        }
        // Tell a state only when it differs from the last one told (kept across restarts):
        // a link that dropped and came back within the debounce, or a restart, says nothing.
        let key = told_key(&login.mxid);
        if ctx.store.get_kv(&key).await.ok().flatten().as_deref() == Some(state.kind()) {
            return;
        }
        if let Err(e) = ctx.store.put_kv(&key, state.kind()).await {
            warn!(user = %login.mxid, error = %e, "last told state not stored");
        }
        let text = match &state {
            LoginState::Connecting => return,
            LoginState::Connected => format!("✅ Connected as {}.", login.remote_id),
            LoginState::TransientDisconnect { reason } => {
                format!("⚠️ Connection to the IM service lost ({reason}); reconnecting.")
            }
            LoginState::BadCredentials { reason } => format!(
                "❌ Logged out of {}: {reason}. Send `login` to log in again.",
                login.remote_id
            ),
            LoginState::LoggedOut { reason } => format!(
                "❌ Session of {} ended: {reason}. Send `login` to log in again.",
                login.remote_id
            ),
            LoginState::UnknownError { reason } => format!("⚠️ {reason}"),
        };
        commands::notify_user(&ctx, &login.mxid, &text).await;
    });
}
