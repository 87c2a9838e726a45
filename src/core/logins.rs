//! Logins: one network session per logged-in Matrix user. Owns logging in (storing what is
//! needed to resume), resuming at start-up, logging out, the pump that moves a session's
//! remote events into portal queues, and telling the user about state changes (debounced).

use std::sync::Arc;
use std::time::Duration;

use ruma::{OwnedUserId, UserId};
use tokio::sync::{mpsc, Mutex};
use tracing::{info, warn};

use super::connector::{LoginData, LoginFailure, LoginState, NetworkLogin, RemoteEvent};
use super::ghosts::now_ms;
use super::portal::portal_key;
use super::{commands, Ctx};
use crate::store::LoginRecord;

/// A state change is told to the user only if it lasts this long (a flapping link stays quiet).
const STATE_DEBOUNCE: Duration = Duration::from_secs(5);

/// One logged-in Matrix user.
pub struct UserLogin {
    pub mxid: OwnedUserId,
    pub remote_id: String,
    pub session: Box<dyn NetworkLogin>,
    state: Mutex<(LoginState, u64)>,
}

impl UserLogin {
    /// The current connection state.
    pub async fn state(&self) -> LoginState {
        self.state.lock().await.0.clone()
    }
}

/// Logs `mxid` in with a password, stores the login, and starts the session.
pub async fn login_password(
    ctx: &Arc<Ctx>,
    mxid: &UserId,
    user: &str,
    password: &str,
) -> Result<Arc<UserLogin>, LoginFailure> {
    if let Some(existing) = ctx.login_of(mxid).await {
        existing.session.disconnect(false).await;
        ctx.logins.write().await.remove(mxid);
    }
    let data = ctx.connector.login_password(user, password).await?;
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
        .map_err(|e| LoginFailure::Refused(format!("could not save the login: {e}")))?;
    start(ctx, mxid.to_owned(), data).await
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
    let (tx, rx) = mpsc::channel(1024);
    let session = ctx.connector.connect(&data, tx).await?;
    let login = Arc::new(UserLogin {
        mxid: mxid.clone(),
        remote_id: session.remote_id().to_owned(),
        session,
        state: Mutex::new((LoginState::Connecting, now_ms())),
    });
    ctx.logins.write().await.insert(mxid.clone(), login.clone());
    info!(user = %mxid, remote = %login.remote_id, "login started");
    tokio::spawn(pump(ctx.clone(), login.clone(), rx));
    Ok(login)
}

/// Logs out on the network and forgets the login.
pub async fn logout(ctx: &Arc<Ctx>, mxid: &UserId) -> bool {
    let Some(login) = ctx.logins.write().await.remove(mxid) else {
        return false;
    };
    login.session.disconnect(true).await;
    if let Err(e) = ctx.store.delete_login(mxid.as_str()) {
        warn!(user = %mxid, error = %e, "login record not deleted");
    }
    true
}

/// Moves a session's events into portal queues, in order.
async fn pump(ctx: Arc<Ctx>, login: Arc<UserLogin>, mut events: mpsc::Receiver<RemoteEvent>) {
    while let Some(event) = events.recv().await {
        match &event {
            RemoteEvent::State(state) => on_state(&ctx, &login, state.clone()).await,
            RemoteEvent::ProfileChange { user, profile } => {
                ctx.ghosts
                    .update_profile(user, profile, login.session.as_ref())
                    .await;
            }
            RemoteEvent::CatchUpDone => {}
            other => {
                let Some(chat) = chat_of(other) else { continue };
                let key = portal_key(&login.remote_id, chat);
                ctx.portals.enqueue_remote(&key, login.clone(), event).await;
            }
        }
    }
}

fn chat_of(event: &RemoteEvent) -> Option<&super::connector::ChatId> {
    match event {
        RemoteEvent::Message(m) => Some(&m.chat),
        RemoteEvent::Edit { chat, .. }
        | RemoteEvent::Remove { chat, .. }
        | RemoteEvent::Reaction { chat, .. }
        | RemoteEvent::ReactionRemove { chat, .. }
        | RemoteEvent::ReadReceipt { chat, .. }
        | RemoteEvent::DeliveryReceipt { chat, .. }
        | RemoteEvent::Typing { chat, .. }
        | RemoteEvent::ChatInfoChange { chat, .. }
        | RemoteEvent::ChatDelete { chat } => Some(chat),
        _ => None,
    }
}

/// Records a state change and tells the user once it has lasted [`STATE_DEBOUNCE`]
/// (session-ending states are told at once).
async fn on_state(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, state: LoginState) {
    let stamp = now_ms();
    *login.state.lock().await = (state.clone(), stamp);
    let final_state = matches!(
        state,
        LoginState::BadCredentials { .. } | LoginState::LoggedOut { .. }
    );
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
