//! The life of portal rooms on the Matrix side, as the dispatcher sees it:
//!
//! * membership: invites of the bot outside portals make management rooms
//!   ([`crate::core::commands::on_membership`]); invites of the bot or a ghost into a portal
//!   room are followed (a portal that moved, a ghost someone removed from a direct chat); an
//!   invite of a ghost into a new direct chat makes it that chat's portal, or is rejected with
//!   a reason ([`invites`]); a Matrix user leaving, joining or being banned from a portal goes to the
//!   portal's queue, which keeps its receivers (and so re-invites a user who left before the
//!   chat's next message); in a group portal, a Matrix user inviting a ghost or kicking one
//!   goes to the portal's queue too, which adds or removes that remote user on the network;
//! * upgrades: an `m.room.tombstone` in a portal moves the portal to the replacement room
//!   once the bot can join it (at once, or when invited there), and the ghosts follow
//!   ([`upgrades`]).
//!
//! These run in the dispatcher, before the next inbox item is routed: a message sent right
//! after an adoption or an upgrade already finds its portal.

mod invites;
mod upgrades;

use std::sync::Arc;

use tracing::warn;

use super::matrix_api::MatrixEvent;
use super::portal::chat_of_key;
use super::{ack_inbox, commands, Ctx};
use crate::core::connector::ChatKind;

pub use upgrades::on_tombstone;

/// True for the key of a group portal (whose members a Matrix user may manage).
fn is_group(key: &str) -> bool {
    chat_of_key(key).is_some_and(|c| c.kind == ChatKind::Group)
}

/// Handles an `m.room.member` event (inbox item `seq`, acked here or by the portal queue).
pub async fn on_membership(ctx: &Arc<Ctx>, event: MatrixEvent, seq: u64) {
    let MatrixEvent::Membership {
        room,
        sender,
        target,
        membership,
        is_direct,
        ..
    } = &event
    else {
        return ack_inbox(ctx, seq).await;
    };
    let portal = ctx.store.portal_by_room(room.as_str()).await.ok().flatten();
    if target.as_str() == ctx.matrix.bot().as_str() {
        match (&portal, membership.as_str()) {
            (Some(portal), "invite") => match ctx.matrix.join(room, ctx.matrix.bot()).await {
                Ok(()) => upgrades::bring_in(ctx, portal, room, &[]).await,
                Err(e) => warn!(%room, error = %e, "bot could not join its portal"),
            },
            (Some(_), _) => {}
            (None, "invite") if upgrades::invited_to_upgraded(ctx, room).await => {}
            (None, _) => commands::on_membership(ctx, &event).await,
        }
        return ack_inbox(ctx, seq).await;
    }
    if membership == "invite" {
        if let Some(remote) = ctx.ghosts.remote_of(target) {
            match &portal {
                // Into a group portal: the portal adds the remote user to the group first.
                Some(portal) if is_group(&portal.key) => {
                    return ctx.portals.enqueue_matrix(&portal.key, event, seq).await
                }
                Some(portal) => {
                    let peer = chat_of_key(&portal.key)
                        .filter(|c| c.kind == ChatKind::Direct)
                        .map(|c| c.id);
                    if peer.is_none_or(|p| p == remote) {
                        if let Err(e) = ctx.matrix.join(room, target).await {
                            warn!(%room, ghost = %target, error = %e, "ghost could not join its portal");
                        }
                    } else {
                        let reason = "This is a direct chat with someone else on the IM side.";
                        invites::reject(ctx, room, target, reason).await;
                    }
                }
                None => {
                    invites::on_ghost_invite(ctx, room, sender, target, &remote, *is_direct).await
                }
            }
            return ack_inbox(ctx, seq).await;
        }
    }
    match portal {
        Some(portal) if matches!(membership.as_str(), "leave" | "ban" | "join") => {
            ctx.portals.enqueue_matrix(&portal.key, event, seq).await
        }
        _ => ack_inbox(ctx, seq).await,
    }
}
