//! Network-side group changes beyond name and topic (issue 13, items 2 and 3): members removed
//! (a member who left, or one removed by an admin, with the network's reason), the logged-in
//! user's own removal from the group (their Matrix account is kicked from the portal by the
//! remover's ghost, saying who and why, instead of being left in a room that no longer
//! receives anything), and ownership handed over (the new owner's ghost gets
//! [`OWNER_LEVEL`](super::power::OWNER_LEVEL), the old one drops to the default).

use std::sync::Arc;

use ruma::{OwnedUserId, RoomId};
use tracing::{info, warn};

use super::power::OWNER_LEVEL;
use super::PortalWorker;
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;

/// The membership event reason for `member` removed by `sender` (when someone else removed
/// them) with the network's `reason`.
fn removal_reason(remover: Option<&str>, reason: Option<&str>) -> String {
    let mut text = match remover {
        Some(by) => format!("Removed from the IM group by {by}"),
        None => "Left the IM group".to_owned(),
    };
    if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
        text.push_str(": ");
        text.push_str(r.trim());
    }
    text
}

impl PortalWorker {
    /// The network removed `members` from the group; `sender` is who did it (the member
    /// themselves when they left), `reason` the network's words.
    pub(super) async fn remote_members_removed(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        sender: Option<&str>,
        members: &[String],
        reason: Option<&str>,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        for member in members {
            let remover = sender.filter(|s| *s != member.as_str());
            let why = removal_reason(remover, reason);
            if *member == login.remote_id {
                self.own_removal(login, room, remover, &why).await;
                continue;
            }
            let ghost = ctx.ghosts.mxid(member);
            if !self.joined.remove(&ghost) {
                continue;
            }
            // A kick by the remover's ghost shows who did it; a leave is the ghost's own.
            let kicked = match remover {
                Some(by) if self.joined.contains(&ctx.ghosts.mxid(by)) => ctx
                    .matrix
                    .kick(room, &ctx.ghosts.mxid(by), &ghost, &why)
                    .await
                    .is_ok(),
                _ => false,
            };
            if !kicked {
                let _ = ctx.matrix.leave_with_reason(room, &ghost, &why).await;
            }
        }
        Ok(())
    }

    /// The logged-in user is no longer in the group: their Matrix account leaves the portal,
    /// kicked by the remover's ghost (or the bot) with `why`, when it is still there.
    async fn own_removal(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        remover: Option<&str>,
        why: &str,
    ) {
        let ctx = self.ctx.clone();
        let user = login.mxid.as_str();
        let membership = ctx
            .matrix
            .room_state(room, "m.room.member", user)
            .await
            .ok()
            .flatten();
        let present = membership
            .as_ref()
            .and_then(|m| m["membership"].as_str())
            .is_some_and(|m| m == "join" || m == "invite");
        if !present {
            return; // left already (from Matrix, with leave_on_part)
        }
        let mut by: Vec<OwnedUserId> = Vec::new();
        if let Some(r) = remover {
            let ghost = ctx.ghosts.mxid(r);
            if self.joined.contains(&ghost) {
                by.push(ghost);
            }
        }
        by.push(ctx.matrix.bot().to_owned());
        for kicker in &by {
            match ctx.matrix.kick(room, kicker, &login.mxid, why).await {
                Ok(()) => {
                    info!(portal = %self.key, user = %login.mxid, "removed from the network group: kicked from the portal");
                    return;
                }
                Err(e) => {
                    warn!(portal = %self.key, by = %kicker, error = %e, "kick after removal failed")
                }
            }
        }
    }

    /// The network group was handed to `owner`: their level becomes the owner's, and whoever
    /// held the owner's level drops to the default (the network makes them a plain member).
    pub(super) async fn remote_owner(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        owner: &str,
    ) -> Result<(), MatrixError> {
        let new_owner = self.member_mxid(login, owner);
        let current = self
            .ctx
            .matrix
            .room_state(room, "m.room.power_levels", "")
            .await?;
        let mut levels: Vec<(OwnedUserId, Option<i64>)> = current
            .as_ref()
            .and_then(|pl| pl["users"].as_object())
            .map(|users| {
                users
                    .iter()
                    .filter(|(_, l)| l.as_i64() == Some(OWNER_LEVEL))
                    .filter_map(|(u, _)| OwnedUserId::try_from(u.as_str()).ok())
                    .filter(|u| *u != new_owner)
                    .map(|u| (u, None))
                    .collect()
            })
            .unwrap_or_default();
        levels.push((new_owner, Some(OWNER_LEVEL)));
        if owner != login.remote_id {
            self.ensure_ghost_in_room(login, room, owner).await?;
        }
        self.set_power_levels(room, &levels).await
    }
}

#[cfg(test)]
mod tests {
    use super::removal_reason;

    #[test]
    fn removal_reasons_say_who_and_why() {
        assert_eq!(
            removal_reason(Some("bob"), Some(" spam ")),
            "Removed from the IM group by bob: spam"
        );
        assert_eq!(
            removal_reason(Some("bob"), None),
            "Removed from the IM group by bob"
        );
        assert_eq!(removal_reason(None, Some("")), "Left the IM group");
    }
}
