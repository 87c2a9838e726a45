//! A Matrix user invites a ghost into a direct chat that is no portal yet: with a login, and
//! no room for that chat yet, the ghost joins and the room becomes the login's direct-chat
//! portal with that remote user (the bot joins too, and the room gets its `m.bridge` state).
//! Otherwise the ghost rejects the invite with a reason; when the chat already has a room, the
//! bot also tells the user where it is (inviting them to it again if they left it).

use std::sync::Arc;

use ruma::{RoomId, UserId};
use tracing::{info, warn};

use crate::config::PermissionLevel;
use crate::core::commands::notify_user;
use crate::core::commands::{existing_room, point_to_chat, room_link};
use crate::core::connector::{ChatId, ChatKind};
use crate::core::ghosts::now_ms;
use crate::core::portal::{bridge_state, portal_key};
use crate::core::room_features;
use crate::core::Ctx;
use crate::store::PortalRecord;

/// `ghost` rejects the invite to (or leaves) `room`, saying why.
pub(super) async fn reject(ctx: &Ctx, room: &RoomId, ghost: &UserId, reason: &str) {
    info!(%room, %ghost, reason, "invite of a ghost rejected");
    if let Err(e) = ctx.matrix.leave_with_reason(room, ghost, reason).await {
        warn!(%room, %ghost, error = %e, "ghost could not reject the invite");
    }
}

/// `inviter` invited `ghost` (the ghost of the remote user `remote`) into `room`, which is no
/// portal.
pub(super) async fn on_ghost_invite(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    inviter: &UserId,
    ghost: &UserId,
    remote: &str,
    is_direct: bool,
) {
    if ctx.permission(inviter) < PermissionLevel::User {
        return reject(ctx, room, ghost, "You are not allowed to use this bridge.").await;
    }
    let Some(login) = ctx.login_of(inviter).await else {
        let reason = "You are not logged in to the IM service: send `login` to the bridge bot, \
                      then invite me again.";
        return reject(ctx, room, ghost, reason).await;
    };
    if ctx.management.read().await.contains_key(room) {
        let reason = "This is your management room with the bridge bot, not a chat.";
        return reject(ctx, room, ghost, reason).await;
    }
    if !is_direct {
        let reason = "Only direct chats can be started by inviting an IM user: create a \
                      direct chat with me alone.";
        return reject(ctx, room, ghost, reason).await;
    }
    let canonical = login.session.canonical_user_id(remote);
    if canonical == login.remote_id {
        return reject(ctx, room, ghost, "That is your own IM account.").await;
    }
    if canonical != remote {
        // Another name of a user whose ghost is another one: the chat goes with that ghost.
        let reason = format!(
            "That IM user is {}: invite that ghost instead.",
            ctx.ghosts.mxid(&canonical)
        );
        return reject(ctx, room, ghost, &reason).await;
    }
    let chat = ChatId::direct(remote);
    let key = portal_key(&login.remote_id, &chat);
    if let Some(existing) = existing_room(ctx, &key).await {
        let link = room_link(existing.as_str());
        let reason = format!("You already have a chat with {remote}: {link}");
        reject(ctx, room, ghost, &reason).await;
        return point_to(ctx, inviter, remote, &existing).await;
    }
    match login.session.resolve_user(remote).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            let reason = format!("There is no IM user {remote}.");
            return reject(ctx, room, ghost, &reason).await;
        }
        Err(e) => {
            let reason = format!("Cannot open a chat with {remote} now: {e}");
            return reject(ctx, room, ghost, &reason).await;
        }
    }
    if let Err(e) = ctx
        .ghosts
        .ensure(remote, Some(login.session.as_ref()))
        .await
    {
        warn!(%room, %ghost, error = %e, "ghost profile not ready");
    }
    if let Err(e) = ctx.matrix.join(room, ghost).await {
        warn!(%room, %ghost, error = %e, "ghost could not join the new direct chat");
        return;
    }
    // Checked again: a message of that chat may have created its room meanwhile.
    if let Some(existing) = existing_room(ctx, &key).await {
        let reason = format!(
            "You already have a chat with {remote}: {}",
            room_link(existing.as_str())
        );
        reject(ctx, room, ghost, &reason).await;
        return point_to(ctx, inviter, remote, &existing).await;
    }
    let record = PortalRecord {
        key: key.clone(),
        room_id: room.to_string(),
        kind: format!("{:?}", ChatKind::Direct).to_lowercase(),
        name: None,
        topic: None,
        avatar_mxc: None,
        receivers: vec![inviter.to_string()],
        is_direct: true,
        created_ms: now_ms(),
    };
    if let Err(e) = ctx.store.put_portal(&record).await {
        warn!(%room, error = %e, "portal record not saved");
        return reject(ctx, room, ghost, "The bridge could not save this chat.").await;
    }
    info!(%room, portal = %key, user = %inviter, "direct chat made by the user adopted as a portal");
    // The bot sends the portal's notices: the ghost brings it in.
    let bot = ctx.matrix.bot();
    match ctx.matrix.invite(room, ghost, bot).await {
        Ok(()) => {
            if let Err(e) = ctx.matrix.join(room, bot).await {
                warn!(%room, error = %e, "bot could not join the adopted portal");
            }
        }
        Err(e) => warn!(%room, error = %e, "bot not invited to the adopted portal"),
    }
    let (event_type, state_key, content) = bridge_state(ctx, &key, &chat);
    for sender in [ghost, bot] {
        match ctx
            .matrix
            .send_state(room, sender, &event_type, &state_key, &content)
            .await
        {
            Ok(_) => {
                let direct = chat.kind == ChatKind::Direct;
                if let Err(e) = room_features::send(ctx, &key, room, direct, sender).await {
                    warn!(%room, %sender, error = %e, "room features not set");
                }
                break;
            }
            Err(e) => warn!(%room, %sender, error = %e, "m.bridge state not set"),
        }
    }
}

/// Tells `user` (in their management room) where their chat with `remote` is.
async fn point_to(ctx: &Ctx, user: &UserId, remote: &str, room: &RoomId) {
    let text = point_to_chat(ctx, user, remote, room).await;
    notify_user(ctx, user, &text).await;
}
