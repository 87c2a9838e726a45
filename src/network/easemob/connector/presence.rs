//! Presence both ways for the core's `PresenceAbility`, over the REST presence calls and the
//! `"presence"` NOTIFY. Easemob's presence is each device's online state plus one custom
//! status text (`ext`) per user, so:
//! * Easemob → Matrix: offline when no device is online or the status says `offline` /
//!   `invisible`; `unavailable` when it is an away word (`away`, `busy`, `leave`, `idle`,
//!   `do not disturb`, …); online otherwise; a non-empty status is the Matrix status text;
//! * Matrix → Easemob: the status text when the user set one, else `away` for unavailable,
//!   `offline` for offline and nothing (cleared) for online — the bridge's own session keeps
//!   the device online whatever the Matrix user does.
//!
//! Subscriptions last [`EXPIRY_SECS`], go [`PER_CALL`] users at a time and stop at
//! [`MAX_SUBSCRIPTIONS`] per login (the service's limits); beyond, users are left out.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::group_admin::admin_failure;
use super::EasemobLogin;
use crate::core::connector::{PresenceAbility, PresenceState, RemotePresence, SendFailure};
use crate::network::easemob::events::PresenceStatus;

/// How long a subscription lasts (30 days, the service's longest).
pub const EXPIRY_SECS: u64 = 30 * 24 * 3600;
/// Users per subscribe call (the service's limit).
pub const PER_CALL: usize = 100;
/// Subscriptions per user (the service's limit).
pub const MAX_SUBSCRIPTIONS: usize = 3000;

/// Status words that mean "away".
const AWAY: [&str; 8] = [
    "away",
    "busy",
    "leave",
    "idle",
    "unavailable",
    "do not disturb",
    "not disturb",
    "dnd",
];

/// An Easemob presence in the core's terms.
pub fn to_core(status: &PresenceStatus) -> RemotePresence {
    let ext = status.ext.trim();
    let word = ext.to_lowercase();
    let state = if !status.online() || word == "offline" || word == "invisible" {
        PresenceState::Offline
    } else if AWAY.contains(&word.as_str()) {
        PresenceState::Unavailable
    } else {
        PresenceState::Online
    };
    RemotePresence {
        state,
        status_msg: Some(ext.to_owned()).filter(|e| !e.is_empty()),
    }
}

/// The `ext` to publish for a Matrix presence.
pub fn to_ext(presence: &RemotePresence) -> String {
    if let Some(msg) = presence
        .status_msg
        .as_deref()
        .filter(|m| !m.trim().is_empty())
    {
        return msg.trim().chars().take(64).collect();
    }
    match presence.state {
        PresenceState::Online => String::new(),
        PresenceState::Unavailable => "away".into(),
        PresenceState::Offline => "offline".into(),
    }
}

/// How many users this process subscribed to per login (shared by the logins' values).
#[derive(Debug, Default)]
pub struct Subscriptions(AtomicUsize);

#[async_trait]
impl PresenceAbility for EasemobLogin {
    async fn subscribe_presence(
        &self,
        users: &[String],
    ) -> Result<Vec<(String, RemotePresence)>, SendFailure> {
        let room = MAX_SUBSCRIPTIONS.saturating_sub(self.subscriptions.0.load(Ordering::SeqCst));
        let users = &users[..users.len().min(room)];
        let rest = self.client.rest();
        let mut out = Vec::with_capacity(users.len());
        for chunk in users.chunks(PER_CALL) {
            let names: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let answer = rest
                .subscribe_presence(&names, EXPIRY_SECS)
                .await
                .map_err(admin_failure)?;
            self.subscriptions
                .0
                .fetch_add(chunk.len(), Ordering::SeqCst);
            out.extend(answer.iter().map(|s| (s.user.clone(), to_core(s))));
        }
        Ok(out)
    }

    async fn set_presence(&self, presence: &RemotePresence) -> Result<(), SendFailure> {
        self.client
            .rest()
            .publish_presence(self.client.resource(), &to_ext(presence))
            .await
            .map_err(admin_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(ext: &str, online: bool) -> PresenceStatus {
        PresenceStatus {
            user: "bob".into(),
            ext: ext.into(),
            last_time: 0,
            devices: vec![("web".into(), online)],
        }
    }

    #[test]
    fn states_both_ways() {
        assert_eq!(to_core(&status("", true)).state, PresenceState::Online);
        assert_eq!(
            to_core(&status("Busy", true)).state,
            PresenceState::Unavailable
        );
        assert_eq!(
            to_core(&status("offline", true)).state,
            PresenceState::Offline
        );
        assert_eq!(
            to_core(&status("at lunch", false)).state,
            PresenceState::Offline
        );
        let lunch = to_core(&status("at lunch", true));
        assert_eq!(
            (lunch.state, lunch.status_msg.as_deref()),
            (PresenceState::Online, Some("at lunch"))
        );
        let away = RemotePresence {
            state: PresenceState::Unavailable,
            status_msg: None,
        };
        assert_eq!(to_ext(&away), "away");
        assert_eq!(
            to_core(&status(&to_ext(&away), true)).state,
            PresenceState::Unavailable
        );
        let gone = RemotePresence {
            state: PresenceState::Offline,
            status_msg: None,
        };
        assert_eq!(
            to_core(&status(&to_ext(&gone), true)).state,
            PresenceState::Offline
        );
        let online = RemotePresence {
            state: PresenceState::Online,
            status_msg: Some("  coding ".into()),
        };
        assert_eq!(to_ext(&online), "coding");
    }
}
