//! Room upgrades: an `m.room.tombstone` in a portal room moves the portal (its record and
//! room index) to the replacement room; the bot joins it, sets the portal's `m.bridge` state
//! there, and brings the ghosts of the old room (and a direct chat's peer) in, inviting them
//! itself. Upgraded rooms are usually invite-only and the homeserver invites nobody: when the
//! bot cannot join, the portal's users are told to invite it, and that invite
//! ([`super::on_membership`]) finishes the move.

use std::sync::Arc;

use ruma::{OwnedUserId, RoomId, UserId};
use tracing::{info, warn};

use super::room_link;
use crate::core::commands::notify_user;
use crate::core::connector::ChatKind;
use crate::core::matrix_api::MatrixEvent;
use crate::core::portal::{bridge_state, chat_of_key};
use crate::core::{ack_inbox, Ctx};
use crate::store::PortalRecord;

/// Handles an `m.room.tombstone` (inbox item `seq`, acked here or by the portal queue).
pub async fn on_tombstone(ctx: &Arc<Ctx>, event: MatrixEvent, seq: u64) {
    let MatrixEvent::Tombstone {
        room,
        replacement_room,
        ..
    } = &event
    else {
        return ack_inbox(ctx, seq);
    };
    let Some(portal) = ctx.store.portal_by_room(room.as_str()).ok().flatten() else {
        return ack_inbox(ctx, seq);
    };
    if replacement_room == room {
        return ack_inbox(ctx, seq);
    }
    let ghosts: Vec<OwnedUserId> = match ctx.matrix.joined_members(room).await {
        Ok(members) => members
            .into_iter()
            .filter(|m| ctx.ghosts.remote_of(m).is_some())
            .collect(),
        Err(e) => {
            warn!(%room, error = %e, "members of the upgraded room unknown");
            Vec::new()
        }
    };
    let (old, new) = (room.to_string(), replacement_room.to_string());
    let moved = ctx.store.update_portal(&portal.key, |p| {
        let here = p.room_id == old;
        if here {
            p.room_id = new.clone();
        }
        here
    });
    let record = match moved {
        Ok(Some(record)) => record,
        Ok(None) => return ack_inbox(ctx, seq),
        Err(e) => {
            warn!(portal = %portal.key, error = %e, "portal not moved to the upgraded room");
            return ack_inbox(ctx, seq);
        }
    };
    info!(portal = %record.key, from = %room, to = %replacement_room, "portal room upgraded");
    follow(ctx, &record, replacement_room, &ghosts).await;
    // The portal's queue forgets which ghosts it saw joined (they were in the old room).
    ctx.portals.enqueue_matrix(&record.key, event, seq).await;
}

/// The bot joins the portal's (new) room `room`, sets its `m.bridge` state and brings in
/// `ghosts` and, for a direct chat, the peer's ghost. When the bot cannot join, the portal's
/// users are asked to invite it.
pub(super) async fn follow(
    ctx: &Arc<Ctx>,
    record: &PortalRecord,
    room: &RoomId,
    ghosts: &[OwnedUserId],
) {
    let bot = ctx.matrix.bot().to_owned();
    if let Err(e) = ctx.matrix.join(room, &bot).await {
        warn!(portal = %record.key, %room, error = %e, "bot could not join the portal's new room");
        let text = format!(
            "Your chat {} continues in an upgraded room ({}), which I cannot join: invite me \
             ({bot}) there and the chat follows.",
            record.name.as_deref().unwrap_or(&record.key),
            room_link(room.as_str())
        );
        for user in record
            .receivers
            .iter()
            .filter_map(|r| UserId::parse(r.as_str()).ok())
        {
            notify_user(ctx, &user, &text).await;
        }
        return;
    }
    let chat = chat_of_key(&record.key);
    if let Some(chat) = &chat {
        let (event_type, state_key, content) = bridge_state(ctx, &record.key, chat);
        if let Err(e) = ctx
            .matrix
            .send_state(room, &bot, &event_type, &state_key, &content)
            .await
        {
            warn!(%room, error = %e, "m.bridge state not set in the new room");
        }
    }
    let mut ghosts = ghosts.to_vec();
    if let Some(chat) = chat.filter(|c| c.kind == ChatKind::Direct) {
        let peer = ctx.ghosts.mxid(&chat.id);
        if !ghosts.contains(&peer) {
            ghosts.push(peer);
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
            warn!(%room, %ghost, error = %e, "ghost did not follow to the new room");
        }
    }
    info!(portal = %record.key, %room, ghosts = ghosts.len(), "bridge joined the portal's room");
}
