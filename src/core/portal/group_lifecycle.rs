//! The end of a group for the bridge or for one user. A group dissolved on the network (the
//! connector's [`RemoteEvent::ChatDelete`](crate::core::connector::RemoteEvent)) leaves its
//! portal as a plain Matrix room: the bot says so, the ghosts leave, the `m.bridge` state is
//! emptied and the portal forgotten (no tombstone: the users stay with the history, readable);
//! a room in a network space also leaves the space ([`super::space_rooms`]).
//! A logged-in user leaving a group portal leaves the network group too, but only with
//! `bridge.leave_on_part` (off by default: leaving the room only hides the chat on Matrix).

use ruma::{RoomId, UserId};
use serde_json::json;
use tracing::{info, warn};

use super::group_admin::why;
use super::{bridge_state, chat_of_key, PortalWorker};
use crate::core::commands::notify_user;

/// What the bot says in the room of a dissolved group.
pub(super) const DISSOLVED: &str =
    "ℹ️ The IM group was dissolved. This room is no longer bridged; its history stays here.";
/// What the bot says in a room of a space (a child chat) whose chat was deleted.
pub(super) const CHILD_DELETED: &str = "ℹ️ This chat was deleted on the IM side and left its \
     space. This room is no longer bridged; its history stays here.";

impl PortalWorker {
    /// The network chat is gone: notice, ghosts out, bridge marker emptied, portal forgotten.
    pub(super) async fn remote_chat_gone(&mut self) {
        let ctx = self.ctx.clone();
        let Some(record) = self.record().await else {
            return; // told by another login's copy of the event already
        };
        let Ok(room) = RoomId::parse(record.room_id.as_str()) else {
            return;
        };
        // A child of a space leaves the space too.
        if super::space_rooms::in_space(&ctx, &room).await {
            self.notice(&room, CHILD_DELETED).await;
            super::space_rooms::remove_child(&ctx, &room).await;
        } else {
            self.notice(&room, DISSOLVED).await;
        }
        let bot = ctx.matrix.bot().to_owned();
        let members = ctx.matrix.joined_members(&room).await.unwrap_or_default();
        for ghost in members
            .iter()
            .filter(|m| **m != bot && ctx.ghosts.remote_of(m).is_some())
        {
            if let Err(e) = ctx
                .matrix
                .leave_with_reason(&room, ghost, "The IM group was dissolved")
                .await
            {
                warn!(%room, %ghost, error = %e, "ghost did not leave");
            }
        }
        if let Some(chat) = chat_of_key(&self.key) {
            let (event_type, state_key, _) = bridge_state(&ctx, &self.key, &chat);
            if let Err(e) = ctx
                .matrix
                .send_state(&room, &bot, &event_type, &state_key, &json!({}))
                .await
            {
                warn!(%room, error = %e, "bridge marker not removed");
            }
        }
        self.forget_portal_entries().await;
        if let Err(e) = ctx.store.delete_portal(&self.key).await {
            warn!(portal = %self.key, error = %e, "portal record not deleted");
        }
        let _ = ctx.matrix.leave(&room, &bot).await;
        self.room = None;
        self.joined.clear();
        info!(portal = %self.key, %room, "group dissolved: portal unbridged");
    }

    /// `user` left the group portal `room` themselves: with `leave_on_part`, their login
    /// leaves the network group; they are told the outcome in their management room.
    pub(super) async fn matrix_part(&mut self, room: &RoomId, user: &UserId) {
        let ctx = self.ctx.clone();
        if !ctx.cfg.bridge.leave_on_part {
            return;
        }
        let Some(chat) = self.group_chat() else {
            return;
        };
        let Some(login) = ctx.login_of(user).await else {
            return;
        };
        let name = self
            .record()
            .await
            .and_then(|r| r.name)
            .unwrap_or_else(|| chat.id.clone());
        let result = match login.session.as_group_admin() {
            Some(admin) => admin.leave_group(&chat).await,
            None => Err(crate::core::connector::SendFailure::Permanent(
                "the IM service cannot leave groups from here".into(),
            )),
        };
        let text = match result {
            Ok(()) => {
                info!(portal = %self.key, %room, %user, "left the group from Matrix");
                format!("You left the room of **{name}**, so you left the IM group too.")
            }
            Err(e) => {
                self.refused(&e);
                format!(
                    "You left the room of **{name}**, but you are still in the IM group: {}",
                    why(&e)
                )
            }
        };
        notify_user(&ctx, user, &text).await;
    }
}
