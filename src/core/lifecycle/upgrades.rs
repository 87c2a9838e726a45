//! Room upgrades: an `m.room.tombstone` in a portal room moves the portal (its record and
//! room index) to the replacement room once the bot is in it; the bot sets the portal's
//! `m.bridge` state there and brings the ghosts of the old room (and a direct chat's peer) in,
//! inviting them itself.
//!
//! Upgraded rooms are usually invite-only and the homeserver invites nobody: when the bot
//! cannot join, the portal stays in the old room (where its users still are, so nothing the
//! chat brings meanwhile is lost), the move is remembered, and the portal's users are asked
//! to invite the bot; that invite ([`super::on_membership`]) finishes the move.

use std::sync::Arc;

use ruma::{OwnedUserId, RoomId, UserId};
use tracing::{info, warn};

use crate::core::commands::notify_user;
use crate::core::commands::room_link;
use crate::core::connector::ChatKind;
use crate::core::matrix_api::MatrixEvent;
use crate::core::portal::{bridge_state, chat_of_key};
use crate::core::room_features;
use crate::core::{ack_inbox, Ctx};
use crate::store::PortalRecord;

/// Store `kv` prefix of upgrades waiting for the bot to be invited: `upgrade:<new room>` →
/// the portal key.
const PENDING: &str = "upgrade:";

/// Handles an `m.room.tombstone` (inbox item `seq`).
pub async fn on_tombstone(ctx: &Arc<Ctx>, event: MatrixEvent, seq: u64) {
    if let MatrixEvent::Tombstone {
        room,
        replacement_room,
        ..
    } = &event
    {
        upgraded(ctx, room, replacement_room).await;
    }
    ack_inbox(ctx, seq).await;
}

async fn upgraded(ctx: &Arc<Ctx>, old: &RoomId, new: &RoomId) {
    let Some(portal) = ctx.store.portal_by_room(old.as_str()).await.ok().flatten() else {
        return;
    };
    if old == new {
        return;
    }
    info!(portal = %portal.key, from = %old, to = %new, "portal room upgraded");
    let bot = ctx.matrix.bot();
    if let Err(e) = ctx.matrix.join(new, bot).await {
        warn!(portal = %portal.key, room = %new, error = %e, "bot could not join the upgraded room");
        if let Err(e) = ctx
            .store
            .put_kv(&format!("{PENDING}{new}"), &portal.key)
            .await
        {
            warn!(portal = %portal.key, error = %e, "pending upgrade not saved");
        }
        let text = format!(
            "Your chat {} continues in an upgraded room ({}), which I cannot join: invite me \
             ({bot}) there and the chat follows. Until then it goes on in the old room.",
            portal.name.as_deref().unwrap_or(&portal.key),
            room_link(new.as_str())
        );
        for user in portal
            .receivers
            .iter()
            .filter_map(|r| UserId::parse(r.as_str()).ok())
        {
            notify_user(ctx, &user, &text).await;
        }
        return;
    }
    move_portal(ctx, &portal.key, old, new).await;
}

/// The bot was invited to `room`, which is no portal's: when it is the replacement of an
/// upgraded portal, the bot joins and the portal moves there (true); otherwise false.
pub(super) async fn invited_to_upgraded(ctx: &Arc<Ctx>, room: &RoomId) -> bool {
    let pending = format!("{PENDING}{room}");
    let Ok(Some(key)) = ctx.store.get_kv(&pending).await else {
        return false;
    };
    let Some(portal) = ctx.store.get_portal(&key).await.ok().flatten() else {
        let _ = ctx.store.delete_kv(&pending).await;
        return false;
    };
    if let Err(e) = ctx.matrix.join(room, ctx.matrix.bot()).await {
        warn!(portal = %key, %room, error = %e, "bot could not join the upgraded room");
        return true;
    }
    let _ = ctx.store.delete_kv(&pending).await;
    match RoomId::parse(portal.room_id.as_str()) {
        Ok(old) => move_portal(ctx, &key, &old, room).await,
        Err(_) => warn!(portal = %key, "portal without a room; upgrade not followed"),
    }
    true
}

/// Moves portal `key` from `old` to `new` (the bot already joined `new`) and brings the
/// ghosts of `old` along.
async fn move_portal(ctx: &Arc<Ctx>, key: &str, old: &RoomId, new: &RoomId) {
    let ghosts: Vec<OwnedUserId> = match ctx.matrix.joined_members(old).await {
        Ok(members) => members
            .into_iter()
            .filter(|m| m != ctx.matrix.bot() && ctx.ghosts.is_ours(m))
            .collect(),
        Err(e) => {
            warn!(room = %old, error = %e, "members of the upgraded room unknown");
            Vec::new()
        }
    };
    let (from, to) = (old.to_string(), new.to_string());
    let moved = ctx
        .store
        .update_portal(key, |p| {
            let here = p.room_id == from;
            if here {
                p.room_id = to.clone();
            }
            here
        })
        .await;
    match moved {
        Ok(Some(record)) => {
            info!(portal = %key, from = %old, to = %new, "portal moved to the upgraded room");
            bring_in(ctx, &record, new, &ghosts).await
        }
        Ok(None) => info!(portal = %key, room = %old, "portal already moved on"),
        Err(e) => warn!(portal = %key, error = %e, "portal not moved to the upgraded room"),
    }
}

/// With the bot in the portal's room `room`: brings in `ghosts` and, for a direct chat, the
/// peer's ghost (inviting them when needed), then sets the `m.bridge` state and the room
/// features, as the bot or else as a ghost with the power to (in an upgraded DM the peer's
/// ghost keeps the creator's level the old room gave it).
pub(super) async fn bring_in(
    ctx: &Arc<Ctx>,
    record: &PortalRecord,
    room: &RoomId,
    ghosts: &[OwnedUserId],
) {
    let bot = ctx.matrix.bot().to_owned();
    let chat = chat_of_key(&record.key);
    let mut ghosts = ghosts.to_vec();
    if let Some(chat) = chat.as_ref().filter(|c| c.kind == ChatKind::Direct) {
        let peer = ctx.ghosts.mxid(&chat.id);
        if !ghosts.contains(&peer) {
            ghosts.insert(0, peer);
        }
    }
    for ghost in &ghosts {
        if ctx.matrix.join(room, ghost).await.is_ok() {
            continue;
        }
        let joined = match ctx.matrix.invite(room, &bot, ghost).await {
            Ok(()) => ctx.matrix.join(room, ghost).await,
            Err(e) => Err(e),
        };
        if let Err(e) = joined {
            warn!(%room, %ghost, error = %e, "ghost did not follow to the portal's room");
        }
    }
    if let Some(chat) = &chat {
        let (event_type, state_key, content) = bridge_state(ctx, &record.key, chat);
        let direct = chat.kind == ChatKind::Direct;
        let senders = std::iter::once(&bot).chain(ghosts.iter());
        let mut set = false;
        for sender in senders {
            let bridge = ctx
                .matrix
                .send_state(room, sender, &event_type, &state_key, &content)
                .await;
            if bridge.is_ok() {
                if let Err(e) = room_features::send(ctx, &record.key, room, direct, sender).await {
                    warn!(%room, error = %e, "room features not set");
                }
                set = true;
                break;
            }
        }
        if !set {
            warn!(%room, "m.bridge state not set: neither the bot nor a ghost has the power");
        }
    }
    info!(portal = %record.key, %room, ghosts = ghosts.len(), "bridge in the portal's room");
}
