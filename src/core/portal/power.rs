//! Power levels of group portals, following the network group's roles: its owner gets
//! [`OWNER_LEVEL`], its admins [`ADMIN_LEVEL`], at creation and as admins are set or removed.
//! The bot (100, the room's creator) is never touched.

use ruma::{OwnedUserId, RoomId};
use serde_json::json;

use super::{retry, PortalWorker};
use crate::core::connector::ChatInfo;
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;

/// Power level of a network group's owner (below the bot's 100).
pub(super) const OWNER_LEVEL: i64 = 95;
/// Power level of a network group's admins (moderator).
pub(super) const ADMIN_LEVEL: i64 = 50;

impl PortalWorker {
    /// The Matrix user standing for group member `remote`: the login's own user or a ghost.
    pub(super) fn member_mxid(&self, login: &UserLogin, remote: &str) -> OwnedUserId {
        if remote == login.remote_id {
            login.mxid.clone()
        } else {
            self.ctx.ghosts.mxid(remote)
        }
    }

    /// The initial power levels of a group portal from the group's info.
    pub(super) fn group_levels(
        &self,
        login: &UserLogin,
        info: &ChatInfo,
    ) -> Vec<(OwnedUserId, i64)> {
        let mut levels: Vec<(OwnedUserId, i64)> = Vec::new();
        if let Some(owner) = &info.owner {
            levels.push((self.member_mxid(login, owner), OWNER_LEVEL));
        }
        for admin in &info.admins {
            if info.owner.as_deref() != Some(admin.as_str()) {
                levels.push((self.member_mxid(login, admin), ADMIN_LEVEL));
            }
        }
        levels
    }

    /// Sets (`Some`) or resets to the default (`None`) users' power levels in `room`, as the
    /// bot, with one state event and only when something changes.
    pub(super) async fn set_power_levels(
        &self,
        room: &RoomId,
        levels: &[(OwnedUserId, Option<i64>)],
    ) -> Result<(), MatrixError> {
        let ctx = &self.ctx;
        let bot = ctx.matrix.bot().to_owned();
        let Some(mut content) = ctx
            .matrix
            .room_state(room, "m.room.power_levels", "")
            .await?
        else {
            return Ok(());
        };
        if !content["users"].is_object() {
            content["users"] = json!({});
        }
        let mut changed = false;
        if let Some(users) = content["users"].as_object_mut() {
            for (user, level) in levels {
                if *user == bot {
                    continue;
                }
                let key = user.to_string();
                match level {
                    Some(level) if users.get(&key) != Some(&json!(level)) => {
                        users.insert(key, json!(level));
                        changed = true;
                    }
                    None if users.remove(&key).is_some() => changed = true,
                    _ => {}
                }
            }
        }
        if changed {
            retry("power levels", || {
                ctx.matrix
                    .send_state(room, &bot, "m.room.power_levels", "", &content)
            })
            .await?;
        }
        Ok(())
    }
}
