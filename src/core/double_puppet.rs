//! Double puppeting (mautrix's term): what a logged-in user does on another IM device (their
//! messages, edits, recalls, reactions, read receipts) appears in Matrix as the real Matrix
//! user instead of their ghost. Network-neutral: the core knows a remote event is the user's
//! own when its sender is the login's remote id.
//!
//! Two ways to act as a real user, as in mautrix:
//! * the appservice method, for users of a homeserver listed in `double_puppet.secrets`
//!   (`as_token:` of a second registration with `url: null` and a non-exclusive `@.*:domain`
//!   namespace): turned on automatically at login;
//! * `login-matrix <access token>`: the user's own token, for any homeserver the bridge can
//!   reach (its own, or one in `double_puppet.servers`), stored in the store's key-value
//!   table under `double_puppet:{mxid}` and checked with `whoami` before use.
//!   `logout-matrix` forgets it and keeps double puppeting off for that user until the next
//!   `login-matrix`.
//!
//! Echoes: what the bridge sends as a real user carries `fi.mau.double_puppet_source:
//! "imbridge"` (mautrix's key), so the appservice listener drops it when the homeserver sends
//! it back; read receipts carry nothing, so [`EchoGuard`] remembers the ones just set.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use super::matrix_api::PuppetAuth;
use super::Ctx;
use crate::config::AS_TOKEN_SECRET_PREFIX;

/// The content key marking events the bridge sent as a real user (mautrix's key).
pub const SOURCE_KEY: &str = "fi.mau.double_puppet_source";
/// The value of [`SOURCE_KEY`] in this bridge's events.
pub const SOURCE: &str = "imbridge";
/// How long an enabling check (`whoami`) may take at login before the login goes on without.
const ENABLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a receipt set as a real user is remembered to recognise its echo.
const ECHO_TTL: Duration = Duration::from_secs(60);
/// At most this many remembered receipts (the oldest go first).
const ECHO_CAPACITY: usize = 1024;

/// What the store keeps per user (`double_puppet:{mxid}`): a token given with `login-matrix`,
/// or the user's choice to keep double puppeting off.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Stored {
    Token {
        access_token: String,
        /// Client-server API base URL; `None`: the bridge's homeserver.
        homeserver: Option<String>,
    },
    Disabled,
}

fn kv_key(user: &UserId) -> String {
    format!("double_puppet:{user}")
}

async fn stored(ctx: &Ctx, user: &UserId) -> Option<Stored> {
    let text = ctx.store.get_kv(&kv_key(user)).await.ok().flatten()?;
    match serde_json::from_str(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(%user, error = %e, "unreadable double puppet record ignored");
            None
        }
    }
}

/// The homeserver of `user` for requests with their own token: `None` for the bridge's own,
/// the configured URL for a domain in `double_puppet.servers`, an error (to show the user)
/// otherwise.
fn homeserver_of(ctx: &Ctx, user: &UserId) -> Result<Option<String>, String> {
    let domain = user.server_name().as_str();
    if domain == ctx.cfg.homeserver.domain {
        return Ok(None);
    }
    ctx.cfg
        .double_puppet
        .servers
        .get(domain)
        .map(|url| Some(url.clone()))
        .ok_or_else(|| {
            format!(
                "the bridge does not know the homeserver of {domain}: ask the bridge's admin to \
                 add it under double_puppet.servers"
            )
        })
}

/// The appservice-method credentials for `user`, when their domain has a secret.
fn appservice_auth(ctx: &Ctx, user: &UserId) -> Option<PuppetAuth> {
    let secret = ctx
        .cfg
        .double_puppet
        .secrets
        .get(user.server_name().as_str())?;
    let token = secret.expose().strip_prefix(AS_TOKEN_SECRET_PREFIX)?;
    Some(PuppetAuth {
        token: token.to_owned(),
        appservice: true,
        homeserver: homeserver_of(ctx, user).ok().flatten(),
    })
}

/// Turns double puppeting on for `user` when a login starts: the token stored by
/// `login-matrix` first, else the appservice method for their domain. Bounded by a short
/// timeout; on any failure the login goes on with the ghost fallback (logged, not fatal).
pub async fn enable(ctx: &Ctx, user: &UserId) {
    let auth = match stored(ctx, user).await {
        Some(Stored::Disabled) => return,
        Some(Stored::Token {
            access_token,
            homeserver,
        }) => PuppetAuth {
            token: access_token,
            appservice: false,
            homeserver,
        },
        None => match appservice_auth(ctx, user) {
            Some(auth) => auth,
            None => return,
        },
    };
    let method = if auth.appservice {
        "appservice"
    } else {
        "access token"
    };
    match tokio::time::timeout(ENABLE_TIMEOUT, ctx.matrix.set_puppet(user, Some(auth))).await {
        Ok(Ok(())) => info!(%user, method, "double puppeting on"),
        Ok(Err(e)) => warn!(%user, method, error = %e, "double puppeting not enabled"),
        Err(_) => {
            warn!(%user, method, "double puppeting not enabled: the homeserver did not answer")
        }
    }
}

/// `login-matrix`: checks `access_token` as `user` on their homeserver, then stores it and
/// uses it. Errors are sentences for the user.
pub async fn login_matrix(ctx: &Ctx, user: &UserId, access_token: &str) -> Result<(), String> {
    let homeserver = homeserver_of(ctx, user)?;
    let auth = PuppetAuth {
        token: access_token.to_owned(),
        appservice: false,
        homeserver: homeserver.clone(),
    };
    ctx.matrix
        .set_puppet(user, Some(auth))
        .await
        .map_err(|e| format!("the homeserver did not accept the token: {e}"))?;
    let record = Stored::Token {
        access_token: access_token.to_owned(),
        homeserver,
    };
    let text = serde_json::to_string(&record).map_err(|e| e.to_string())?;
    ctx.store
        .put_kv(&kv_key(user), &text)
        .await
        .map_err(|e| format!("could not save the token: {e}"))?;
    Ok(())
}

/// `logout-matrix`: stops double puppeting for `user` and keeps it off (also the appservice
/// method) until the next `login-matrix`. True when it was on.
pub async fn logout_matrix(ctx: &Ctx, user: &UserId) -> Result<bool, String> {
    let was_on = ctx.matrix.has_puppet(user);
    let _ = ctx.matrix.set_puppet(user, None).await;
    let text = serde_json::to_string(&Stored::Disabled).map_err(|e| e.to_string())?;
    ctx.store
        .put_kv(&kv_key(user), &text)
        .await
        .map_err(|e| format!("could not save the change: {e}"))?;
    Ok(was_on)
}

/// True when the user's own actions show as themselves.
pub fn is_on(ctx: &Ctx, user: &UserId) -> bool {
    ctx.matrix.has_puppet(user)
}

/// Marks event content as sent by the bridge as a real user.
pub fn mark(content: &mut serde_json::Value) {
    content[SOURCE_KEY] = serde_json::json!(SOURCE);
}

/// True when `content` carries this bridge's double puppet mark.
pub fn is_marked(content: &serde_json::Value) -> bool {
    content.get(SOURCE_KEY).and_then(serde_json::Value::as_str) == Some(SOURCE)
}

/// Read receipts set as real users, remembered for a minute so their echo from the homeserver
/// is not sent back to the network.
#[derive(Debug, Default)]
pub struct EchoGuard {
    recent: Mutex<VecDeque<(OwnedRoomId, OwnedUserId, String, Instant)>>,
}

impl EchoGuard {
    /// Remembers a receipt just set.
    pub fn remember(&self, room: &RoomId, user: &UserId, event_id: &str) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        recent.retain(|(.., at)| now.duration_since(*at) < ECHO_TTL);
        if recent.len() >= ECHO_CAPACITY {
            recent.pop_front();
        }
        recent.push_back((room.to_owned(), user.to_owned(), event_id.to_owned(), now));
    }

    /// True (once) when this receipt is the echo of one set by the bridge.
    pub fn take(&self, room: &RoomId, user: &UserId, event_id: &str) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let found = recent
            .iter()
            .position(|(r, u, e, _)| r == room && u == user && e == event_id);
        match found {
            Some(i) => {
                recent.remove(i);
                debug!(%room, %user, "receipt echo of double puppeting dropped");
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_recognised_only_with_our_source() {
        let mut content = serde_json::json!({ "body": "hi" });
        assert!(!is_marked(&content));
        mark(&mut content);
        assert!(is_marked(&content));
        content[SOURCE_KEY] = serde_json::json!("another-bridge");
        assert!(!is_marked(&content));
    }

    #[test]
    fn receipt_echoes_are_taken_once() {
        let guard = EchoGuard::default();
        let room = ruma::owned_room_id!("!r:hs");
        let user = ruma::owned_user_id!("@u:hs");
        guard.remember(&room, &user, "$e");
        assert!(!guard.take(&room, &user, "$other"));
        assert!(guard.take(&room, &user, "$e"));
        assert!(!guard.take(&room, &user, "$e"));
    }

    #[test]
    fn stored_records_round_trip() -> Result<(), serde_json::Error> {
        let text = serde_json::to_string(&Stored::Token {
            access_token: "t".into(),
            homeserver: None,
        })?;
        assert!(matches!(
            serde_json::from_str::<Stored>(&text)?,
            Stored::Token { .. }
        ));
        let off = serde_json::to_string(&Stored::Disabled)?;
        assert!(matches!(
            serde_json::from_str::<Stored>(&off)?,
            Stored::Disabled
        ));
        Ok(())
    }
}
