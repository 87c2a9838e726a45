//! Commands typed in a portal room with the command prefix (`!em …`), answered there and
//! never bridged: `set-relay` / `unset-relay` ([`super::relay`]), and mautrix's
//! `delete-portal` (the bridge leaves and forgets the chat's room; its members are kicked
//! first) and `unbridge` (the bridge leaves and forgets it, the room and its members stay).
//! Both are for bridge admins and for the portal's own logged-in users; the chat's next
//! message from the IM side makes a new room.

use ruma::{RoomId, UserId};
use tracing::{info, warn};

use super::PortalWorker;
use crate::config::PermissionLevel;

impl PortalWorker {
    /// Handles `body` when it is a portal-room command; true when it was one.
    pub(super) async fn room_command(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        body: &str,
    ) -> bool {
        let prefix = self.ctx.cfg.bridge.command_prefix.clone();
        let Some(command) = body.trim().strip_prefix(prefix.as_str()).map(str::trim) else {
            return false;
        };
        match command {
            "set-relay" | "unset-relay" => self.relay_command(room, sender, command).await,
            "delete-portal" => self.forget_room(room, sender, true).await,
            "unbridge" => self.forget_room(room, sender, false).await,
            _ => return false,
        }
        true
    }

    /// `delete-portal` (`kick`: members are removed) or `unbridge`.
    async fn forget_room(&mut self, room: &RoomId, sender: &UserId, kick: bool) {
        let ctx = self.ctx.clone();
        let login = ctx.login_of(sender).await;
        let allowed = ctx.permission(sender) >= PermissionLevel::Admin
            || self.login_reaches_portal(sender, login.as_deref()).await;
        if !allowed {
            self.notice(
                room,
                "⚠️ Only bridge admins and this chat's own logged-in users may do that.",
            )
            .await;
            return;
        }
        let bot = ctx.matrix.bot().to_owned();
        let members = ctx.matrix.joined_members(room).await.unwrap_or_default();
        let text = if kick {
            "This room is no longer bridged and is being emptied (delete-portal)."
        } else {
            "This room is no longer bridged (unbridge); the chat's next message opens a new room."
        };
        self.notice(room, text).await;
        self.forget_portal_entries().await;
        if let Err(e) = ctx.store.delete_portal(&self.key).await {
            warn!(portal = %self.key, error = %e, "portal record not deleted");
        }
        for member in members.iter().filter(|m| **m != bot) {
            let ghost = ctx.ghosts.remote_of(member).is_some();
            let result = if ghost {
                ctx.matrix.leave(room, member).await
            } else if kick {
                ctx.matrix
                    .kick(room, &bot, member, "The portal was deleted")
                    .await
            } else {
                Ok(())
            };
            if let Err(e) = result {
                warn!(%room, %member, error = %e, "member not removed");
            }
        }
        let _ = ctx.matrix.leave(room, &bot).await;
        self.room = None;
        self.joined.clear();
        info!(portal = %self.key, %room, by = %sender, kick, "portal room forgotten");
    }
}
