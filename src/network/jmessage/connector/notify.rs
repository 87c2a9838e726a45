//! No-disturb ↔ Matrix room notifications (the core's [`NotifyAbility`]): JMessage keeps, per
//! user, the single chats and groups on no-disturb and an account-wide switch (`no_disturb`,
//! `add|delete_msg_no_disturb_*`, the Web SDK 2.5.0's `getNoDisturb` / `add|del…NoDisturb`).
//! It is on or off: a chat on no-disturb reads as [`NotifyLevel::Muted`], any other as
//! [`NotifyLevel::All`]. Matrix's "mentions only" has no JMessage counterpart: it is set as
//! no-disturb (the nearest: no notification for ordinary messages), and the core compares
//! such a room as muted ([`NotifyAbility::supports_mentions_only`] is `false`), so the room
//! keeps "mentions only" in Matrix.

use async_trait::async_trait;

use super::admin::admin_failure;
use super::{target_of, ChatTarget, JmessageLogin};
use crate::core::connector::{ChatId, ChatKind, NotifyAbility, NotifyLevel, SendFailure};

/// The level a chat on (`on`) or off no-disturb reads as.
pub fn level_of(on: bool) -> NotifyLevel {
    if on {
        NotifyLevel::Muted
    } else {
        NotifyLevel::All
    }
}

/// Whether `level` is set as no-disturb on JMessage.
pub fn no_disturb_for(level: NotifyLevel) -> bool {
    !matches!(level, NotifyLevel::All)
}

#[async_trait]
impl NotifyAbility for JmessageLogin {
    /// One `no_disturb` read answers for every chat (channels are left out: JMessage has none).
    fn max_chats_per_read(&self) -> usize {
        1000
    }

    /// No-disturb is on or off, for every chat.
    fn supports_mentions_only(&self, _chat: &ChatId) -> bool {
        false
    }

    async fn notify_levels(
        &self,
        chats: &[ChatId],
    ) -> Result<Vec<(ChatId, NotifyLevel)>, SendFailure> {
        if chats.iter().all(|c| c.kind == ChatKind::Channel) {
            return Ok(Vec::new());
        }
        let nd = self.client.no_disturb().await.map_err(admin_failure)?;
        Ok(chats
            .iter()
            .filter_map(|c| {
                let on = match target_of(c).ok()? {
                    ChatTarget::User(u) => nd.users.iter().any(|x| x == u),
                    ChatTarget::Group(gid) => nd.groups.contains(&gid),
                };
                Some((c.clone(), level_of(on)))
            })
            .collect())
    }

    async fn set_notify_level(&self, chat: &ChatId, level: NotifyLevel) -> Result<(), SendFailure> {
        let on = no_disturb_for(level);
        match target_of(chat)? {
            ChatTarget::User(u) => self.client.set_single_no_disturb(u, on).await,
            ChatTarget::Group(gid) => self.client.set_group_no_disturb(gid, on).await,
        }
        .map_err(admin_failure)
    }

    async fn global_notify_level(&self) -> Result<NotifyLevel, SendFailure> {
        let nd = self.client.no_disturb().await.map_err(admin_failure)?;
        Ok(level_of(nd.global))
    }

    async fn set_global_notify_level(&self, level: NotifyLevel) -> Result<(), SendFailure> {
        self.client
            .set_global_no_disturb(no_disturb_for(level))
            .await
            .map_err(admin_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_or_off_with_mentions_only_as_on() {
        assert_eq!(level_of(true), NotifyLevel::Muted);
        assert_eq!(level_of(false), NotifyLevel::All);
        assert!(no_disturb_for(NotifyLevel::Muted));
        assert!(no_disturb_for(NotifyLevel::MentionsOnly));
        assert!(!no_disturb_for(NotifyLevel::All));
    }
}
