//! Membership drift of a portal room: who of its users left (so the next news of the chat
//! invites them again instead of being written into a room nobody of theirs reads), and which
//! ghosts were removed (so they join again before they speak).

use std::sync::Arc;

use ruma::{RoomId, UserId};
use tracing::{info, warn};

use super::{ignore_already_member, retry, PortalWorker};
use crate::core::connector::{ChatId, ChatKind};
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;

impl PortalWorker {
    /// A member's `m.room.member` changed in the portal room (events from the bridge's own
    /// users never get here). A Matrix user who leaves (or is banned) stops being one of the
    /// portal's receivers; one with a login who joins becomes one. A ghost that leaves is no
    /// longer counted as joined.
    pub(super) async fn membership_changed(&mut self, target: &UserId, membership: &str) {
        let ctx = self.ctx.clone();
        if ctx.ghosts.is_ours(target) {
            if membership != "join" {
                self.joined.remove(target);
            }
            return;
        }
        let user = target.to_string();
        let saved = match membership {
            "leave" | "ban" => {
                ctx.store
                    .update_portal(&self.key, |p| {
                        let had = p.receivers.contains(&user);
                        p.receivers.retain(|r| *r != user);
                        had
                    })
                    .await
            }
            "join" if ctx.login_of(target).await.is_some() => {
                ctx.store
                    .update_portal(&self.key, |p| {
                        let new = !p.receivers.contains(&user);
                        if new {
                            p.receivers.push(user.clone());
                        }
                        new
                    })
                    .await
            }
            _ => return,
        };
        match saved {
            Ok(Some(_)) => info!(
                portal = %self.key, %user, membership,
                "portal receivers changed: a user who left is invited again with the chat's next news"
            ),
            Ok(None) => {}
            Err(e) => warn!(portal = %self.key, error = %e, "portal receivers not saved"),
        }
    }

    /// Invites `login`'s user to the portal room and counts them as a receiver. The bot
    /// invites; if it cannot (no power, not in the room), the ghost of a direct chat's peer
    /// tries. Already being a member is success.
    pub(super) async fn invite_receiver(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        chat: &ChatId,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let bot = ctx.matrix.bot().to_owned();
        let by_bot = retry("invite", || ctx.matrix.invite(room, &bot, &login.mxid))
            .await
            .or_else(ignore_already_member);
        if let Err(e) = by_bot {
            if e.is_transient() || chat.kind != ChatKind::Direct {
                return Err(e);
            }
            let peer = self.ensure_ghost_in_room(login, room, &chat.id).await?;
            retry("invite", || ctx.matrix.invite(room, &peer, &login.mxid))
                .await
                .or_else(ignore_already_member)?;
        }
        let user = login.mxid.to_string();
        let saved = ctx
            .store
            .update_portal(&self.key, |p| {
                let new = !p.receivers.contains(&user);
                if new {
                    p.receivers.push(user.clone());
                }
                new
            })
            .await;
        if let Err(e) = saved {
            warn!(portal = %self.key, error = %e, "portal receivers not saved");
        }
        info!(portal = %self.key, %room, user = %login.mxid, "user invited to the portal");
        Ok(())
    }
}
