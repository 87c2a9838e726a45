//! Do-not-disturb both ways (issue 13, item 8): a user's per-room notification setting in
//! Matrix (their push rules) and their per-chat do-not-disturb setting on the network
//! ([`NotifyAbility`]) are kept the same: one push-rules read and one settings read per 100
//! chats at each comparison. The level both sides had at the last comparison is kept in the store
//! (`notify:<mxid>:<portal key>`), which tells which side changed since: that side's level is
//! made on the other. When both changed, the network's wins; at the first comparison of a chat
//! (no record yet) the network's setting is taken as the truth.

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

/// Compares one login's chats and makes each change on the other side.
pub(super) async fn sync_login(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, portals: &[PortalRecord]) {
    let Some(notify) = login.session.as_notify() else {
        return;
    };
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
        let m = on_matrix.get(&room).copied().unwrap_or(NotifyLevel::All);
        let n = on_network.get(&chat).copied().unwrap_or(NotifyLevel::All);
        let skey = store_key(login, &key);
        let last: Option<NotifyLevel> = match ctx.store.get_kv(&skey).await {
            Ok(v) => v.and_then(|v| serde_json::from_str(&v).ok()),
            Err(_) => continue,
        };
        let (level, made) = match last {
            Some(l) if m == l && n == l => continue,
            // Changed in Matrix only: the network follows.
            Some(l) if n == l => {
                let made = notify.set_notify_level(&chat, m).await;
                (
                    m,
                    made.map_err(|e| e.to_string())
                        .map(|()| Direction::ToNetwork),
                )
            }
            // Changed on the network (or both, or never compared): Matrix follows.
            _ if m == n => (n, Err(String::new())),
            _ => {
                let made = ctx
                    .matrix
                    .set_room_notify_level(&login.mxid, &room, n)
                    .await;
                (
                    n,
                    made.map_err(|e| e.to_string())
                        .map(|()| Direction::ToMatrix),
                )
            }
        };
        match made {
            Ok(direction) => {
                info!(user = %login.mxid, portal = %key, ?level, ?direction, "notification setting bridged");
                ctx.metrics.bridged(direction, "notify_level");
            }
            Err(e) if e.is_empty() => {} // already the same on both sides
            Err(e) => {
                warn!(user = %login.mxid, portal = %key, error = %e, "notification setting not bridged");
                continue; // compared again next time
            }
        }
        let value = serde_json::to_string(&level).unwrap_or_default();
        if let Err(e) = ctx.store.put_kv(&skey, &value).await {
            warn!(error = %e, "notification setting not remembered");
        }
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
