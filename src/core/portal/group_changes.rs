//! Network-side group changes beyond name and topic (issue 13, items 2 and 3): members removed
//! (a member who left, or one removed by an admin, with the network's reason), members banned
//! and unbanned (Matrix bans, saying who and why), the logged-in user's own removal from the group (their Matrix account is kicked from the portal by the
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

/// The membership event reason for a member removed by `remover` (when someone else removed
/// them) with the network's `reason`.
fn removal_reason(remover: Option<&str>, reason: Option<&str>) -> String {
    let mut text = match remover {
        Some(by) => format!("Removed from the IM group by {by}"),
        None => "Left the IM group".to_owned(),
    };
    with_reason(&mut text, reason);
    text
}

/// The ban reason for a member banned by `by` with the network's `reason`.
fn ban_reason(by: Option<&str>, reason: Option<&str>) -> String {
    let mut text = match by {
        Some(by) => format!("Banned from the IM group by {by}"),
        None => "Banned from the IM group".to_owned(),
    };
    with_reason(&mut text, reason);
    text
}

fn with_reason(text: &mut String, reason: Option<&str>) {
    if let Some(r) = reason.filter(|r| !r.trim().is_empty()) {
        text.push_str(": ");
        text.push_str(r.trim());
    }
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
                self.own_removal(login, room, remover, &why, false).await;
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
    /// kicked (or with `ban`, banned) by the remover's ghost (or the bot) with `why`, when it
    /// is still there.
    async fn own_removal(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        remover: Option<&str>,
        why: &str,
        ban: bool,
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
        if !present && !ban {
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
            let done = match ban {
                true => ctx.matrix.ban(room, kicker, &login.mxid, why).await,
                false => ctx.matrix.kick(room, kicker, &login.mxid, why).await,
            };
            match done {
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

    /// The network banned `banned` from the group (`sender` did) and lifted the ban of
    /// `unbanned`: the same bans on the portal, by the sender's ghost when it is there (or the
    /// bot), the user's own Matrix account included.
    pub(super) async fn remote_bans(
        &mut self,
        login: &Arc<UserLogin>,
        room: &RoomId,
        sender: Option<&str>,
        banned: &[String],
        unbanned: &[String],
        reason: Option<&str>,
    ) {
        let ctx = self.ctx.clone();
        let bot = ctx.matrix.bot().to_owned();
        let by_ghost = sender
            .map(|s| ctx.ghosts.mxid(s))
            .filter(|g| self.joined.contains(g));
        for member in banned {
            let why = ban_reason(sender, reason);
            if *member == login.remote_id {
                self.own_removal(login, room, sender, &why, true).await;
                continue;
            }
            let ghost = ctx.ghosts.mxid(member);
            self.joined.remove(&ghost);
            let mut done = false;
            for by in by_ghost.iter().chain(std::iter::once(&bot)) {
                if ctx.matrix.ban(room, by, &ghost, &why).await.is_ok() {
                    done = true;
                    break;
                }
            }
            if !done {
                warn!(portal = %self.key, %ghost, "ban not shown in the portal");
            }
        }
        for member in unbanned {
            let target = self.member_mxid(login, member);
            if let Err(e) = ctx.matrix.unban(room, &bot, &target).await {
                warn!(portal = %self.key, %target, error = %e, "unban not shown in the portal");
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
        assert_eq!(
            super::ban_reason(Some("carol"), Some("spam")),
            "Banned from the IM group by carol: spam"
        );
    }
}
