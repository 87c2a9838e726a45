//! Do-not-disturb ↔ Matrix room notifications (the core's [`NotifyAbility`]), through the
//! message receive options ([`crate::network::tencent::session::notify`]): per DM peer, per
//! group (the user's own `MsgFlag`) and account-wide (`ws_set_do_not_disturb`).
//!
//! Levels: a DM peer's 0 reads as [`NotifyLevel::All`], 1 (`Discard`) or 2
//! (`AcceptNotNotify`) as [`NotifyLevel::Muted`]; Matrix "mentions only" is set as 2 in a DM
//! (no mentions there), and the core compares such a DM room as muted, so it keeps
//! "mentions only" in Matrix. A group's `AcceptAndNotify` is `All`, `AcceptNotNotifyExceptAt`
//! is [`NotifyLevel::MentionsOnly`] both ways, `AcceptNotNotify` and `Discard` are `Muted`
//! (`Muted` is set as `AcceptNotNotify`: the messages keep coming, silently). Live rooms
//! and Community topics have no setting of their own: they are left out. The account-wide option is muted when its `Level` is not 0 and its
//! period covers now (a daily period of 24 hours or more: always); muting sets `Level` 2
//! daily for 24 hours from midnight UTC, unmuting `Level` 0.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{send_failure, TencentLogin};
use crate::core::connector::{ChatId, ChatKind, NotifyAbility, NotifyLevel, SendFailure};
use crate::network::tencent::client::unix_now;
use crate::network::tencent::session::notify as wire;
use crate::network::tencent::session::topic_group;

/// Groups per `get_group_info` (the service's limit for one call is 50).
const GROUPS_PER_READ: usize = 50;
/// Account-wide option: read.
pub const GET_GLOBAL: &str = "im_msg_db_logic.ws_get_do_not_disturb";
/// Account-wide option: set.
pub const SET_GLOBAL: &str = "im_msg_db_logic.ws_set_do_not_disturb";
const DAY: u64 = 86_400;

/// The level of a DM peer's `MuteNotifications`.
pub fn c2c_level(flag: u64) -> NotifyLevel {
    if flag == wire::C2C_NOTIFY {
        NotifyLevel::All
    } else {
        NotifyLevel::Muted
    }
}

/// The `MuteNotifications` set for `level` in a DM.
pub fn c2c_flag(level: NotifyLevel) -> u64 {
    match level {
        NotifyLevel::All => wire::C2C_NOTIFY,
        NotifyLevel::MentionsOnly | NotifyLevel::Muted => wire::C2C_NO_NOTIFY,
    }
}

/// The level of a group `MsgFlag` (an unknown one reads as `All`).
pub fn group_level(flag: &str) -> NotifyLevel {
    match flag {
        wire::GROUP_MENTIONS_ONLY => NotifyLevel::MentionsOnly,
        wire::GROUP_NO_NOTIFY | wire::GROUP_DISCARD => NotifyLevel::Muted,
        _ => NotifyLevel::All,
    }
}

/// The `MsgFlag` set for `level` in a group.
pub fn group_flag(level: NotifyLevel) -> &'static str {
    match level {
        NotifyLevel::All => wire::GROUP_NOTIFY,
        NotifyLevel::MentionsOnly => wire::GROUP_MENTIONS_ONLY,
        NotifyLevel::Muted => wire::GROUP_NO_NOTIFY,
    }
}

/// Whether an account-wide option (`{Level, StartTime, EndTime, IsRepeated}`) mutes at unix
/// time `now`.
pub fn global_muted(opt: &Value, now: u64) -> bool {
    let n = |k: &str| opt.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (level, start, end) = (n("Level"), n("StartTime"), n("EndTime"));
    if level == 0 || end <= start {
        return false;
    }
    if n("IsRepeated") == 1 {
        let length = end - start;
        length >= DAY || (now.saturating_sub(start) % DAY) < length
    } else {
        (start..end).contains(&now)
    }
}

#[async_trait]
impl NotifyAbility for TencentLogin {
    /// Groups have `AcceptNotNotifyExceptAt`; a DM's option is on or off (no mentions there).
    fn supports_mentions_only(&self, chat: &ChatId) -> bool {
        chat.kind != ChatKind::Direct
    }

    async fn notify_levels(
        &self,
        chats: &[ChatId],
    ) -> Result<Vec<(ChatId, NotifyLevel)>, SendFailure> {
        let peers: Vec<String> = chats
            .iter()
            .filter(|c| c.kind == ChatKind::Direct)
            .map(|c| c.id.clone())
            .collect();
        // A Community topic has no setting of its own (the remind type is the group's).
        let groups: Vec<String> = chats
            .iter()
            .filter(|c| c.kind == ChatKind::Group && topic_group(&c.id).is_none())
            .map(|c| c.id.clone())
            .collect();
        let mut out = Vec::new();
        if !peers.is_empty() {
            let reply = self
                .client
                .call(wire::GET_C2C, wire::get_c2c_body(&self.own, &peers))
                .await
                .map_err(send_failure)?;
            out.extend(
                wire::c2c_options(&reply)
                    .into_iter()
                    .map(|(peer, flag)| (ChatId::direct(peer), c2c_level(flag))),
            );
        }
        for page in groups.chunks(GROUPS_PER_READ) {
            let reply = self
                .client
                .call(wire::GET_GROUP, wire::get_group_body(page))
                .await
                .map_err(send_failure)?;
            out.extend(
                wire::group_options(&reply, &self.own)
                    .into_iter()
                    .map(|(group, flag)| (ChatId::group(group), group_level(&flag))),
            );
        }
        Ok(out)
    }

    async fn set_notify_level(&self, chat: &ChatId, level: NotifyLevel) -> Result<(), SendFailure> {
        match chat.kind {
            ChatKind::Direct => {
                let body = wire::set_c2c_body(std::slice::from_ref(&chat.id), c2c_flag(level));
                let reply = self
                    .client
                    .call(wire::SET_C2C, body)
                    .await
                    .map_err(send_failure)?;
                match wire::c2c_refused(&reply).first() {
                    None => Ok(()),
                    Some((peer, code)) => Err(SendFailure::Permanent(format!(
                        "Tencent refused the setting for {peer} (error {code})"
                    ))),
                }
            }
            ChatKind::Group if topic_group(&chat.id).is_some() => Err(SendFailure::Permanent(
                "a Community topic has no notification setting of its own on Tencent".into(),
            )),
            ChatKind::Group => {
                let body = wire::set_group_body(&chat.id, &self.own, group_flag(level));
                self.call_done(wire::SET_GROUP, body).await
            }
            ChatKind::Channel => Err(SendFailure::Permanent(
                "live rooms have no notification setting on Tencent".into(),
            )),
        }
    }

    async fn global_notify_level(&self) -> Result<NotifyLevel, SendFailure> {
        let reply = self
            .client
            .call(GET_GLOBAL, json!({"To_Account": self.own}))
            .await
            .map_err(send_failure)?;
        Ok(if global_muted(&reply, unix_now()) {
            NotifyLevel::Muted
        } else {
            NotifyLevel::All
        })
    }

    async fn set_global_notify_level(&self, level: NotifyLevel) -> Result<(), SendFailure> {
        let body = match level {
            NotifyLevel::Muted => {
                let midnight = unix_now() / DAY * DAY;
                json!({"Level": wire::C2C_NO_NOTIFY, "StartTime": midnight,
                       "EndTime": midnight + DAY, "IsRepeated": 1})
            }
            _ => json!({"Level": wire::C2C_NOTIFY, "StartTime": 0, "EndTime": 0, "IsRepeated": 0}),
        };
        self.call_done(SET_GLOBAL, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_both_ways() {
        assert_eq!(c2c_level(0), NotifyLevel::All);
        assert_eq!(c2c_level(1), NotifyLevel::Muted);
        assert_eq!(c2c_level(2), NotifyLevel::Muted);
        assert_eq!(c2c_flag(NotifyLevel::MentionsOnly), 2);
        for level in [
            NotifyLevel::All,
            NotifyLevel::MentionsOnly,
            NotifyLevel::Muted,
        ] {
            assert_eq!(group_level(group_flag(level)), level);
        }
        assert_eq!(group_level("Discard"), NotifyLevel::Muted);
        assert_eq!(group_level("something new"), NotifyLevel::All);
    }

    #[test]
    fn the_account_wide_period() {
        let opt = |level: u64, start: u64, end: u64, rep: u64| json!({"Level": level, "StartTime": start, "EndTime": end, "IsRepeated": rep});
        let day0 = 20_000 * DAY;
        assert!(global_muted(
            &opt(2, day0, day0 + DAY, 1),
            day0 + 5 * DAY + 7
        ));
        assert!(!global_muted(&opt(0, day0, day0 + DAY, 1), day0 + 7));
        // 22:00–06:00 every day.
        let night = opt(2, day0 + 22 * 3600, day0 + 30 * 3600, 1);
        assert!(global_muted(&night, day0 + 3 * DAY + 23 * 3600));
        assert!(!global_muted(&night, day0 + 3 * DAY + 12 * 3600));
        // Once, for an hour.
        let once = opt(1, day0, day0 + 3600, 0);
        assert!(global_muted(&once, day0 + 10));
        assert!(!global_muted(&once, day0 + 7200));
        assert!(!global_muted(&json!({}), day0));
    }
}
