//! Do-not-disturb both ways (issue 13, item 8): a user's per-room notification setting in
//! Matrix (their push rules) and their per-chat do-not-disturb setting on the network
//! ([`NotifyAbility`]) are kept the same: one push-rules read and one settings read per 100
//! chats at each comparison. The level both sides had at the last comparison is kept in the store
//! (`notify:<mxid>:<portal key>`), which tells which side changed since: that side's level is
//! made on the other. When both changed, the network's wins; at the first comparison of a chat
//! (no record yet) the network's setting is taken as the truth. The account-wide setting is
//! compared the same way with Matrix's "every notification off" (`.m.rule.master`), as muted
//! or not (`notify:<mxid>:*global*`).

use std::collections::HashMap;
use std::sync::Arc;

use ruma::OwnedRoomId;
use tracing::{debug, info, warn};

use crate::core::connector::{ChatId, ChatKind, NotifyAbility, NotifyLevel};
use crate::core::logins::UserLogin;
use crate::core::portal::chat_of_key;
use crate::core::Ctx;
use crate::metrics::Direction;
use crate::store::PortalRecord;

/// The login's chats with a room: `(chat, room, portal key)`. Chat rooms have no setting.
fn chats_of(login: &UserLogin, portals: &[PortalRecord]) -> Vec<(ChatId, OwnedRoomId, String)> {
    let me = login.mxid.as_str();
    portals
        .iter()
        .filter(|p| p.receivers.iter().any(|r| r == me))
        .filter_map(|p| {
            let chat = chat_of_key(&p.key).filter(|c| c.kind != ChatKind::Channel)?;
            let room = OwnedRoomId::try_from(p.room_id.as_str()).ok()?;
            Some((chat, room, p.key.clone()))
        })
        .collect()
}

fn store_key(login: &UserLogin, portal: &str) -> String {
    format!("notify:{}:{portal}", login.mxid)
}

/// What one comparison decides for one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Nothing changed since the last comparison.
    Unchanged,
    /// Both sides already agree on this level: only remember it.
    Remember(NotifyLevel),
    /// Changed in Matrix only: the network follows.
    ToNetwork(NotifyLevel),
    /// Changed on the network (or on both sides, or never compared): Matrix follows.
    ToMatrix(NotifyLevel),
}

/// The decision for Matrix level `m` and network level `n`, given the level at the last
/// comparison.
fn decide(last: Option<NotifyLevel>, m: NotifyLevel, n: NotifyLevel) -> Decision {
    match last {
        Some(l) if m == l && n == l => Decision::Unchanged,
        Some(l) if n == l => Decision::ToNetwork(m),
        _ if m == n => Decision::Remember(n),
        _ => Decision::ToMatrix(n),
    }
}

/// Compares one login's chats, and its account-wide setting, and makes each change on the
/// other side.
pub(super) async fn sync_login(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, portals: &[PortalRecord]) {
    let Some(notify) = login.session.as_notify() else {
        return;
    };
    let _comparing = login.settings_compare.lock().await;
    sync_global(ctx, login, notify).await;
    let chats = chats_of(login, portals);
    if chats.is_empty() {
        return;
    }
    let on_matrix = match ctx.matrix.room_notify_levels(&login.mxid).await {
        Ok(levels) => levels,
        Err(e) => return debug!(user = %login.mxid, error = %e, "push rules not read"),
    };
    let Some(on_network) = network_levels(notify, &chats).await else {
        return;
    };
    for (chat, room, key) in chats {
        let m = as_network_keeps(notify, &chat, on_matrix.get(&room).copied());
        // A chat the network did not answer for has no setting of its own there (a
        // sub-chat that follows its parent's): nothing to compare.
        let Some(n) = on_network.get(&chat).copied() else {
            continue;
        };
        compare_chat(ctx, login, notify, (&chat, &room, &key), m, n).await;
    }
}

/// A change the network pushed ([`RemoteEvent::NotifyChange`](crate::core::connector::RemoteEvent::NotifyChange)):
/// `chat` is now at `level` there. Compared at once, as a poll would, when the login's user
/// has a double puppet, settings sync is on and the chat has a room of theirs; otherwise
/// left to the next comparison. Never at the same time as a poll of the login
/// ([`UserLogin::settings_compare`]).
pub(crate) async fn remote_change(
    ctx: &Arc<Ctx>,
    login: &Arc<UserLogin>,
    chat: &ChatId,
    level: NotifyLevel,
) {
    let Some(notify) = login.session.as_notify() else {
        return;
    };
    if ctx.cfg.bridge.settings_sync_secs == 0 || !ctx.matrix.has_puppet(&login.mxid) {
        return;
    }
    let key = crate::core::portal::portal_key(&login.remote_id, chat);
    let portal = match ctx.store.get_portal(&key).await {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => return debug!(error = %e, "pushed notification setting not compared"),
    };
    let Some((chat, room, key)) = chats_of(login, &[portal]).into_iter().next() else {
        return;
    };
    // After a poll that was under way: its levels were read before this change.
    let _comparing = login.settings_compare.lock().await;
    let m = match ctx.matrix.room_notify_levels(&login.mxid).await {
        Ok(levels) => as_network_keeps(notify, &chat, levels.get(&room).copied()),
        Err(e) => return debug!(user = %login.mxid, error = %e, "push rules not read"),
    };
    compare_chat(ctx, login, notify, (&chat, &room, &key), m, level).await;
}

/// A room's Matrix level (`None`: no rule of its own, so every message notifies) as the
/// network can keep it: "mentions only" is compared as muted where the network has no such
/// setting ([`NotifyAbility::supports_mentions_only`]).
fn as_network_keeps(
    notify: &dyn NotifyAbility,
    chat: &ChatId,
    level: Option<NotifyLevel>,
) -> NotifyLevel {
    nearest(
        level.unwrap_or(NotifyLevel::All),
        notify.supports_mentions_only(chat),
    )
}

/// `level`, or its nearest on a network without "mentions only".
fn nearest(level: NotifyLevel, mentions_only: bool) -> NotifyLevel {
    match level {
        NotifyLevel::MentionsOnly if !mentions_only => NotifyLevel::Muted,
        other => other,
    }
}

/// Compares one chat's Matrix level `m` and network level `n` with the last comparison's,
/// and makes the change on the other side.
async fn compare_chat(
    ctx: &Arc<Ctx>,
    login: &Arc<UserLogin>,
    notify: &dyn NotifyAbility,
    (chat, room, key): (&ChatId, &OwnedRoomId, &str),
    m: NotifyLevel,
    n: NotifyLevel,
) {
    let skey = store_key(login, key);
    let Ok(last) = remembered(ctx, &skey).await else {
        return;
    };
    let decision = decide(last, m, n);
    let made = match decision {
        Decision::Unchanged => return,
        Decision::Remember(level) => Ok(level),
        Decision::ToNetwork(level) => notify
            .set_notify_level(chat, level)
            .await
            .map(|()| level)
            .map_err(|e| e.to_string()),
        Decision::ToMatrix(level) => ctx
            .matrix
            .set_room_notify_level(&login.mxid, room, level)
            .await
            .map(|()| level)
            .map_err(|e| e.to_string()),
    };
    settle(ctx, login, key, &skey, decision, made).await;
}

/// The account-wide setting: on Matrix only "everything off" (`.m.rule.master`) exists, so
/// it is compared as muted or not (a network-wide "mentions only" counts as not muted).
async fn sync_global(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, notify: &dyn NotifyAbility) {
    let muted = |l: NotifyLevel| match l {
        NotifyLevel::Muted => NotifyLevel::Muted,
        _ => NotifyLevel::All,
    };
    let m = match ctx.matrix.notifications_muted(&login.mxid).await {
        Ok(true) => NotifyLevel::Muted,
        Ok(false) => NotifyLevel::All,
        Err(e) => return debug!(user = %login.mxid, error = %e, "push rules not read"),
    };
    let n = match notify.global_notify_level().await {
        Ok(l) => muted(l),
        Err(e) => return debug!(user = %login.mxid, error = %e, "global setting not read"),
    };
    let skey = store_key(login, "*global*");
    let Ok(last) = remembered(ctx, &skey).await else {
        return;
    };
    let decision = decide(last, m, n);
    let made = match decision {
        Decision::Unchanged => return,
        Decision::Remember(level) => Ok(level),
        Decision::ToNetwork(level) => notify
            .set_global_notify_level(level)
            .await
            .map(|()| level)
            .map_err(|e| e.to_string()),
        Decision::ToMatrix(level) => ctx
            .matrix
            .set_notifications_muted(&login.mxid, level == NotifyLevel::Muted)
            .await
            .map(|()| level)
            .map_err(|e| e.to_string()),
    };
    settle(ctx, login, "*global*", &skey, decision, made).await;
}

/// The level remembered under `skey` (`None`: never compared); `Err` when the store failed.
async fn remembered(ctx: &Ctx, skey: &str) -> Result<Option<NotifyLevel>, ()> {
    match ctx.store.get_kv(skey).await {
        Ok(v) => Ok(v.and_then(|v| serde_json::from_str(&v).ok())),
        Err(_) => Err(()),
    }
}

/// Logs and counts what was made, and remembers the level unless making it failed (then it
/// is compared again next time).
async fn settle(
    ctx: &Ctx,
    login: &UserLogin,
    what: &str,
    skey: &str,
    decision: Decision,
    made: Result<NotifyLevel, String>,
) {
    let level = match made {
        Ok(level) => level,
        Err(e) => {
            return warn!(user = %login.mxid, portal = %what, error = %e, "notification setting not bridged")
        }
    };
    let direction = match decision {
        Decision::ToNetwork(_) => Some(Direction::ToNetwork),
        Decision::ToMatrix(_) => Some(Direction::ToMatrix),
        _ => None,
    };
    if let Some(direction) = direction {
        info!(user = %login.mxid, portal = %what, ?level, ?direction, "notification setting bridged");
        ctx.metrics.bridged(direction, "notify_level");
    }
    let value = serde_json::to_string(&level).unwrap_or_default();
    if let Err(e) = ctx.store.put_kv(skey, &value).await {
        warn!(error = %e, "notification setting not remembered");
    }
}

/// The network's settings of `chats`, read in pages; `None` when a read failed (nothing is
/// decided this round).
async fn network_levels(
    notify: &dyn NotifyAbility,
    chats: &[(ChatId, OwnedRoomId, String)],
) -> Option<HashMap<ChatId, NotifyLevel>> {
    let ids: Vec<ChatId> = chats.iter().map(|(c, _, _)| c.clone()).collect();
    let mut out = HashMap::new();
    for page in ids.chunks(notify.max_chats_per_read().max(1)) {
        match notify.notify_levels(page).await {
            Ok(levels) => out.extend(levels),
            Err(e) => {
                debug!(error = %e, "do-not-disturb settings not read");
                return None;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{decide, nearest, Decision, NotifyLevel::*};

    #[test]
    fn mentions_only_is_compared_as_muted_where_the_network_lacks_it() {
        assert_eq!(nearest(MentionsOnly, true), MentionsOnly);
        assert_eq!(nearest(MentionsOnly, false), Muted);
        assert_eq!(nearest(All, false), All);
        assert_eq!(nearest(Muted, false), Muted);
        // Set to mentions only in Matrix: the network is muted once, and the room then
        // stays as the user set it (the comparison sees muted on both sides).
        let m = nearest(MentionsOnly, false);
        assert_eq!(decide(Some(All), m, All), Decision::ToNetwork(Muted));
        assert_eq!(decide(Some(Muted), m, Muted), Decision::Unchanged);
        assert_eq!(decide(None, m, Muted), Decision::Remember(Muted));
    }

    #[test]
    fn the_side_that_changed_is_carried_over() {
        assert_eq!(decide(None, All, Muted), Decision::ToMatrix(Muted));
        assert_eq!(decide(None, Muted, Muted), Decision::Remember(Muted));
        assert_eq!(decide(Some(All), All, All), Decision::Unchanged);
        assert_eq!(
            decide(Some(All), MentionsOnly, All),
            Decision::ToNetwork(MentionsOnly)
        );
        assert_eq!(decide(Some(All), All, Muted), Decision::ToMatrix(Muted));
        // Both changed: the network wins.
        assert_eq!(
            decide(Some(All), MentionsOnly, Muted),
            Decision::ToMatrix(Muted)
        );
        assert_eq!(decide(Some(All), Muted, Muted), Decision::Remember(Muted));
    }
}
