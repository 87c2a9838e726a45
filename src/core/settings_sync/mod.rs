//! A user's own settings kept the same on Matrix and on the network, for users with double
//! puppeting: per-chat do-not-disturb ↔ room push rules ([`notify`]) and the block list ↔
//! the Matrix ignored-users list ([`blocklist`]).
//!
//! Matrix does not push these changes to the bridge: push rules and `m.ignored_user_list`
//! are account data, which homeservers do not send to appservices; and most IM services do
//! not tell a session about a setting changed on another device (those that do send
//! [`RemoteEvent::NotifyChange`](super::connector::RemoteEvent::NotifyChange), compared at
//! once by [`notify::remote_change`]). So both sides are read every
//! `bridge.settings_sync_secs` (default 60, 0: off) for each connected login whose Matrix
//! user has a double puppet, and what each side held at the last comparison is kept in the
//! store, which tells which side changed since.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::warn;

use super::connector::LoginState;
use super::logins::UserLogin;
use super::Ctx;

pub mod blocklist;
pub mod notify;

/// Runs the comparisons every `bridge.settings_sync_secs` (not at all when 0) until the core
/// is gone.
pub(super) async fn run(ctx: Weak<Ctx>) {
    let secs = match ctx.upgrade() {
        Some(c) => c.cfg.bridge.settings_sync_secs,
        None => return,
    };
    if secs == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await; // the first tick is immediate: let logins connect first
    loop {
        tick.tick().await;
        let Some(ctx) = ctx.upgrade() else { return };
        sync_all(&ctx).await;
    }
}

/// One comparison for every connected login with a double puppet.
async fn sync_all(ctx: &Arc<Ctx>) {
    let logins: Vec<Arc<UserLogin>> = ctx.logins.read().await.values().cloned().collect();
    let mut eligible = Vec::new();
    for login in logins {
        if ctx.matrix.has_puppet(&login.mxid) && login.state().await == LoginState::Connected {
            eligible.push(login);
        }
    }
    if eligible.is_empty() {
        return;
    }
    let portals = match ctx.store.list_portals().await {
        Ok(p) => p,
        Err(e) => return warn!(error = %e, "settings not compared: no portal list"),
    };
    for login in eligible {
        notify::sync_login(ctx, &login, &portals).await;
        blocklist::sync_login(ctx, &login).await;
    }
}
