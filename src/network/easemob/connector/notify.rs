//! Do-not-disturb settings as the logged-in user (the core's `NotifyAbility`), over the REST
//! client's silent-mode calls: remind type `NONE` (or a running `ignoreDuration`) is
//! [`NotifyLevel::Muted`], `AT` is [`NotifyLevel::MentionsOnly`], `ALL` and `DEFAULT` (the
//! account-wide setting) are [`NotifyLevel::All`]. Setting `All` from Matrix clears both the
//! remind type and a running duration. The account-wide setting is the one kept under the
//! user's own id (`/notification/user/{me}`, the SDK's `setSilentModeForAll`).

use async_trait::async_trait;

use super::group_admin::admin_failure;
use super::login::now_ms;
use super::EasemobLogin;
use crate::core::connector::{ChatId, ChatKind, NotifyAbility, NotifyLevel, SendFailure};
use crate::network::easemob::jid::ChatType;
use crate::network::easemob::rest::SilentMode;

/// The level a server setting means at `now_ms`.
fn level_of(mode: &SilentMode, now_ms: u64) -> NotifyLevel {
    if mode.ignore_until_ms.is_some_and(|t| t > now_ms) {
        return NotifyLevel::Muted;
    }
    match mode.remind_type.as_str() {
        "NONE" => NotifyLevel::Muted,
        "AT" => NotifyLevel::MentionsOnly,
        _ => NotifyLevel::All,
    }
}

#[async_trait]
impl NotifyAbility for EasemobLogin {
    async fn notify_levels(
        &self,
        chats: &[ChatId],
    ) -> Result<Vec<(ChatId, NotifyLevel)>, SendFailure> {
        let ids = |kind: ChatKind| -> Vec<&str> {
            chats
                .iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.id.as_str())
                .collect()
        };
        let (users, groups) = (ids(ChatKind::Direct), ids(ChatKind::Group));
        if users.is_empty() && groups.is_empty() {
            return Ok(Vec::new());
        }
        let (u, g) = self
            .client
            .rest()
            .silent_modes(&users, &groups)
            .await
            .map_err(admin_failure)?;
        let now = now_ms();
        let mut out: Vec<(ChatId, NotifyLevel)> = u
            .iter()
            .map(|(id, m)| (ChatId::direct(id.clone()), level_of(m, now)))
            .collect();
        out.extend(
            g.iter()
                .map(|(id, m)| (ChatId::group(id.clone()), level_of(m, now))),
        );
        Ok(out)
    }

    async fn set_notify_level(&self, chat: &ChatId, level: NotifyLevel) -> Result<(), SendFailure> {
        let chat_type = match chat.kind {
            ChatKind::Direct => ChatType::Single,
            ChatKind::Group => ChatType::Group,
            ChatKind::Channel => {
                return Err(SendFailure::Permanent(
                    "chat rooms have no do-not-disturb setting".into(),
                ))
            }
        };
        let rest = self.client.rest();
        let remind = match level {
            NotifyLevel::All => {
                rest.set_ignore_duration(chat_type, &chat.id, 0)
                    .await
                    .map_err(admin_failure)?;
                "DEFAULT"
            }
            NotifyLevel::MentionsOnly => "AT",
            NotifyLevel::Muted => "NONE",
        };
        rest.set_remind_type(chat_type, &chat.id, remind)
            .await
            .map_err(admin_failure)
    }

    async fn global_notify_level(&self) -> Result<NotifyLevel, SendFailure> {
        let (users, _) = self
            .client
            .rest()
            .silent_modes(&[self.own.as_str()], &[])
            .await
            .map_err(admin_failure)?;
        Ok(users
            .get(&self.own)
            .map(|m| level_of(m, now_ms()))
            .unwrap_or(NotifyLevel::All))
    }

    async fn set_global_notify_level(&self, level: NotifyLevel) -> Result<(), SendFailure> {
        // The account-wide setting is the one of the user's own id (`setSilentModeForAll`).
        let own = ChatId::direct(self.own.clone());
        self.set_notify_level(&own, level).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remind_types_and_durations_map_to_levels() {
        let mode = |t: &str, until: Option<u64>| SilentMode {
            remind_type: t.into(),
            ignore_until_ms: until,
        };
        assert_eq!(level_of(&mode("NONE", None), 5), NotifyLevel::Muted);
        assert_eq!(level_of(&mode("AT", None), 5), NotifyLevel::MentionsOnly);
        assert_eq!(level_of(&mode("ALL", None), 5), NotifyLevel::All);
        assert_eq!(level_of(&mode("DEFAULT", None), 5), NotifyLevel::All);
        assert_eq!(level_of(&mode("ALL", Some(10)), 5), NotifyLevel::Muted);
        assert_eq!(level_of(&mode("AT", Some(4)), 5), NotifyLevel::MentionsOnly);
    }
}
