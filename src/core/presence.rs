//! Presence both ways.
//!
//! * **Network → Matrix** (`bridge.presence`, on by default): when a login first connects it
//!   subscribes ([`PresenceAbility::subscribe_presence`]) to the peers of its direct-chat
//!   portals, and to each new one when its room is made; the answer and every later change
//!   ([`RemoteEvent::Presence`](super::connector::RemoteEvent)) set the peer's ghost's Matrix
//!   presence, only when it changed. The network's subscription limit is the connector's to
//!   keep; the subscriptions taken are shown by the `imbridge_presence_subscriptions` gauge
//!   and those refused counted as `presence_subscription_refused` failures.
//! * **Matrix → network** (opt-in per user, the `presence on` / `presence off` commands, kept
//!   in the store as `presence_publish:<mxid>`): the user's Matrix presence, as the homeserver
//!   pushes it (`m.presence` among the appservice's ephemeral events, MSC2409), is published
//!   on the network ([`PresenceAbility::set_presence`]) when it changed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ruma::{OwnedUserId, UserId};
use tokio::sync::{Mutex, OnceCell};
use tracing::{debug, warn};

use super::connector::{PresenceState, RemotePresence};
use super::logins::UserLogin;
use super::portal::chat_of_key;
use super::Ctx;
use crate::core::connector::ChatKind;
use crate::metrics::Direction;

/// The presence state the core keeps: what each ghost was last set to, what each user last
/// published, and the subscriptions taken per login.
#[derive(Debug, Default)]
pub struct PresenceBridge {
    /// Ghost → presence last set on Matrix.
    ghosts: Mutex<HashMap<OwnedUserId, RemotePresence>>,
    /// User → presence last published on the network.
    published: Mutex<HashMap<OwnedUserId, RemotePresence>>,
    /// Login (remote id) → users subscribed to.
    subscribed: Mutex<HashMap<String, HashSet<String>>>,
    /// Portal keys of direct chats with a room, read once from the store.
    dm_keys: OnceCell<Vec<String>>,
}

impl PresenceBridge {
    /// Subscriptions taken, over all logins (for the gauge).
    pub async fn subscriptions(&self) -> usize {
        self.subscribed
            .lock()
            .await
            .values()
            .map(HashSet::len)
            .sum()
    }
}

fn publish_key(user: &UserId) -> String {
    format!("presence_publish:{user}")
}

/// Sets `user`'s ghost presence from the network, when it changed.
pub async fn remote_presence(ctx: &Ctx, user: &str, presence: RemotePresence) {
    if !ctx.cfg.bridge.presence {
        return;
    }
    let ghost = ctx.ghosts.mxid(user);
    {
        let mut last = ctx.presence.ghosts.lock().await;
        if last.get(&ghost) == Some(&presence) {
            return;
        }
        last.insert(ghost.clone(), presence.clone());
    }
    let state = presence.state.as_matrix();
    match ctx
        .matrix
        .set_presence(&ghost, state, presence.status_msg.as_deref())
        .await
    {
        Ok(()) => ctx.metrics.bridged(Direction::ToMatrix, "presence"),
        Err(e) => {
            ctx.presence.ghosts.lock().await.remove(&ghost);
            ctx.metrics.failed(Direction::ToMatrix, "presence");
            debug!(%ghost, error = %e, "ghost presence not set");
        }
    }
}

/// Subscribes `login` to the presence of `users` (those not yet subscribed) and sets their
/// ghosts from the answer.
async fn subscribe(ctx: &Ctx, login: &Arc<UserLogin>, users: Vec<String>) {
    if !ctx.cfg.bridge.presence {
        return;
    }
    let Some(presence) = login.session.as_presence() else {
        return;
    };
    let new: Vec<String> = {
        let subscribed = ctx.presence.subscribed.lock().await;
        let taken = subscribed.get(&login.remote_id);
        users
            .into_iter()
            .filter(|u| *u != login.remote_id && !taken.is_some_and(|t| t.contains(u)))
            .collect()
    };
    if new.is_empty() {
        return;
    }
    match presence.subscribe_presence(&new).await {
        Ok(answer) => {
            let refused = new.len().saturating_sub(answer.len());
            for _ in 0..refused {
                ctx.metrics
                    .failed(Direction::ToNetwork, "presence_subscription_refused");
            }
            ctx.presence
                .subscribed
                .lock()
                .await
                .entry(login.remote_id.clone())
                .or_default()
                .extend(answer.iter().map(|(u, _)| u.clone()));
            for (user, p) in answer {
                remote_presence(ctx, &user, p).await;
            }
        }
        Err(e) => {
            ctx.metrics
                .failed(Direction::ToNetwork, "presence_subscription");
            warn!(user = %login.mxid, error = %e, "presence subscription failed");
        }
    }
}

/// A login connected for the first time in this process: subscribes to its direct chats'
/// peers.
pub async fn on_first_connect(ctx: &Ctx, login: &Arc<UserLogin>) {
    if !ctx.cfg.bridge.presence || login.session.as_presence().is_none() {
        return;
    }
    let keys = ctx
        .presence
        .dm_keys
        .get_or_init(|| async {
            match ctx.store.list_portals().await {
                Ok(portals) => portals
                    .into_iter()
                    .filter(|p| p.is_direct && !p.room_id.is_empty())
                    .map(|p| p.key)
                    .collect(),
                Err(e) => {
                    warn!(error = %e, "portals unreadable: no presence subscriptions");
                    Vec::new()
                }
            }
        })
        .await;
    let own = super::portal::portal_key(&login.remote_id, &super::connector::ChatId::direct(""));
    let peers: Vec<String> = keys
        .iter()
        .filter(|k| k.starts_with(own.as_str()))
        .filter_map(|k| chat_of_key(k))
        .filter(|c| c.kind == ChatKind::Direct)
        .map(|c| c.id)
        .collect();
    subscribe(ctx, login, peers).await;
}

/// A direct chat with `peer` got its room: subscribes to the peer's presence.
pub async fn dm_opened(ctx: &Ctx, login: &Arc<UserLogin>, peer: &str) {
    subscribe(ctx, login, vec![peer.to_owned()]).await;
}

/// Turns publishing `user`'s Matrix presence on the network on or off.
pub async fn set_publishing(ctx: &Ctx, user: &UserId, on: bool) -> Result<(), String> {
    let key = publish_key(user);
    let result = match on {
        true => ctx.store.put_kv(&key, "on").await,
        false => ctx.store.delete_kv(&key).await.map(drop),
    };
    ctx.presence.published.lock().await.remove(user);
    result.map_err(|e| e.to_string())
}

/// Whether `user` publishes their Matrix presence on the network.
pub async fn is_publishing(ctx: &Ctx, user: &UserId) -> bool {
    matches!(ctx.store.get_kv(&publish_key(user)).await, Ok(Some(_)))
}

/// `user`'s Matrix presence changed: published on the network when they opted in.
pub async fn on_matrix_presence(
    ctx: &Ctx,
    user: &UserId,
    presence: &str,
    status_msg: Option<&str>,
) {
    let Some(state) = PresenceState::from_matrix(presence) else {
        return;
    };
    let Some(login) = ctx.login_of(user).await else {
        return;
    };
    let Some(ability) = login.session.as_presence() else {
        return;
    };
    if !is_publishing(ctx, user).await {
        return;
    }
    let presence = RemotePresence {
        state,
        status_msg: status_msg.map(str::to_owned).filter(|s| !s.is_empty()),
    };
    {
        let mut published = ctx.presence.published.lock().await;
        if published.get(user) == Some(&presence) {
            return;
        }
        published.insert(user.to_owned(), presence.clone());
    }
    match ability.set_presence(&presence).await {
        Ok(()) => ctx.metrics.bridged(Direction::ToNetwork, "presence"),
        Err(e) => {
            ctx.presence.published.lock().await.remove(user);
            ctx.metrics.failed(Direction::ToNetwork, "presence");
            debug!(%user, error = %e, "presence not published");
        }
    }
}
