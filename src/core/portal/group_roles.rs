//! Group roles both ways. Matrix → remote: a logged-in user changing a ghost's power level
//! in a group portal makes that remote user an admin (level [`ADMIN_LEVEL`] or more), a plain
//! member, or mutes them (a level below the room's `events_default`, where Matrix would not
//! let them speak either), through the user's own login; the network's rules decide (only the
//! owner sets admins, say), and a refusal is told in the room with the ghost's level put back
//! to its network role. Remote → Matrix: mutes and unmutes lower a ghost below
//! `events_default` and lift it again (admins follow in [`super::remote`]). Group portals let
//! their admins change power levels (the `m.room.power_levels` event needs [`ADMIN_LEVEL`]),
//! so what the network lets an admin do (mute) can be done from Matrix; portals made before
//! that are opened once at start-up ([`open_old_group_portals`]).

use std::collections::BTreeSet;

use ruma::{OwnedUserId, RoomId, UserId};
use serde_json::{json, Value};
use tracing::{info, warn};

use super::group_admin::{why, NOT_LOGGED_IN};
use super::power::ADMIN_LEVEL;
use super::{retry, PortalWorker};
use crate::core::connector::{ChatId, ChatInfo, SendFailure};
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;

/// Where the level a remote user's ghost had before a remote mute is kept (a number), for
/// the unmute: `premute:<portal key>:<remote id>`.
fn premute_key(portal: &str, remote: &str) -> String {
    format!("premute:{portal}:{remote}")
}

/// The key prefix of every kept pre-mute level of `portal`.
pub(super) fn premute_prefix(portal: &str) -> String {
    premute_key(portal, "")
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The room's `events_default` (0 when unset).
fn events_default(pl: &Value) -> i64 {
    int(&pl["events_default"]).unwrap_or(0)
}

/// `user`'s level in power-levels content `pl`.
fn level_of(pl: &Value, user: &str) -> i64 {
    pl["users"]
        .get(user)
        .and_then(int)
        .or_else(|| int(&pl["users_default"]))
        .unwrap_or(0)
}

/// The users whose level differs between `prev` and `new` (everyone listed in either when
/// `events_default` changed, since muting is relative to it).
fn changed_users(prev: &Value, new: &Value) -> BTreeSet<String> {
    let keys = |pl: &Value| -> Vec<String> {
        pl["users"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let all: BTreeSet<String> = keys(prev).into_iter().chain(keys(new)).collect();
    if events_default(prev) != events_default(new) {
        return all;
    }
    all.into_iter()
        .filter(|u| level_of(prev, u) != level_of(new, u))
        .collect()
}

/// One role change asked from Matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoleChange {
    Admin(bool),
    Muted(bool),
}

impl RoleChange {
    fn words(self) -> &'static str {
        match self {
            Self::Admin(true) => "made an admin of",
            Self::Admin(false) => "made a plain member of",
            Self::Muted(true) => "muted in",
            Self::Muted(false) => "unmuted in",
        }
    }
}

/// The level that shows a member's network role: admins [`ADMIN_LEVEL`], muted members just
/// below `events_default`, others the default (`None`).
fn role_level(info: &ChatInfo, remote: &str, events_default: i64) -> Option<i64> {
    if info.admins.iter().any(|a| a == remote) {
        Some(ADMIN_LEVEL)
    } else if info.muted.iter().any(|m| m == remote) {
        Some(events_default - 1)
    } else {
        None
    }
}

impl PortalWorker {
    /// `sender` changed the group portal's power levels to `content` (from `prev`, when the
    /// homeserver said): the ghosts whose level changed get the matching network role.
    pub(super) async fn matrix_power_levels(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        content: &Value,
        prev: Option<&Value>,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let Some(chat) = self.group_chat() else {
            return Ok(());
        };
        let changed = prev.map(|prev| changed_users(prev, content));
        let ghost_changed = |users: &BTreeSet<String>| {
            users.iter().any(|u| {
                UserId::parse(u.as_str())
                    .ok()
                    .and_then(|u| ctx.ghosts.remote_of(&u))
                    .is_some()
            })
        };
        let Some(login) = ctx.login_of(sender).await else {
            if changed.as_ref().is_some_and(ghost_changed) {
                let text = format!(
                    "⚠️ The new power levels were not given to the IM group. {NOT_LOGGED_IN}"
                );
                self.notice(room, &text).await;
            }
            return Ok(());
        };
        if changed.as_ref().is_some_and(|c| !ghost_changed(c)) {
            return Ok(()); // only real users' levels: nothing to do on the network
        }
        let info = match login.session.chat_info(&chat).await {
            Ok(info) => info,
            Err(e) => {
                warn!(portal = %self.key, error = %e, "group roles not read");
                return Ok(());
            }
        };
        // Without the previous content, every listed user and every ghost with a role now.
        let candidates = changed.unwrap_or_else(|| {
            let mut all: BTreeSet<String> = content["users"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            for remote in info.admins.iter().chain(&info.muted) {
                all.insert(self.member_mxid(&login, remote).to_string());
            }
            all
        });
        let ed = events_default(content);
        let mut reverts: Vec<(OwnedUserId, Option<i64>)> = Vec::new();
        for user in candidates {
            let Ok(mxid) = UserId::parse(user.as_str()) else {
                continue;
            };
            let Some(remote) = ctx.ghosts.remote_of(&mxid) else {
                continue; // real Matrix users and the bot have no network role to follow
            };
            if remote == login.remote_id
                || info.owner.as_deref() == Some(remote.as_str())
                || !info.members.contains(&remote)
            {
                continue;
            }
            let level = level_of(content, mxid.as_str());
            let is_admin = info.admins.contains(&remote);
            let is_muted = info.muted.contains(&remote);
            let mut changes = Vec::new();
            if (level < ed) != is_muted {
                changes.push(RoleChange::Muted(level < ed));
            }
            if (level >= ADMIN_LEVEL) != is_admin {
                changes.push(RoleChange::Admin(level >= ADMIN_LEVEL));
            }
            for change in changes {
                if let Err(e) = self.apply_role(&login, &chat, &remote, change).await {
                    self.refused(&e);
                    let text = format!(
                        "⚠️ {remote} was not {} the IM group: {} The room shows their IM role again.",
                        change.words(),
                        why(&e)
                    );
                    self.notice(room, &text).await;
                    reverts.push((mxid.clone(), role_level(&info, &remote, ed)));
                    break;
                }
                info!(portal = %self.key, %remote, ?change, "group role changed from Matrix");
            }
        }
        if !reverts.is_empty() {
            self.set_power_levels(room, &reverts).await?;
        }
        Ok(())
    }

    async fn apply_role(
        &self,
        login: &UserLogin,
        chat: &ChatId,
        remote: &str,
        change: RoleChange,
    ) -> Result<(), SendFailure> {
        let Some(admin) = login.session.as_group_admin() else {
            return Err(SendFailure::Permanent(
                "the IM service cannot change group roles from here".into(),
            ));
        };
        match change {
            RoleChange::Admin(on) => admin.set_group_admin(chat, remote, on).await,
            RoleChange::Muted(on) => admin.set_group_muted(chat, remote, on).await,
        }
    }

    /// Remote admin changes → the levels to set: [`ADMIN_LEVEL`] for `added`, the default
    /// (`None`) for `removed`. A ghost muted in the room keeps its mute: the new role's level
    /// is kept for its unmute instead ([`premute_key`]).
    pub(super) async fn remote_admins(
        &self,
        room: &RoomId,
        login: &UserLogin,
        added: &[String],
        removed: &[String],
    ) -> Result<Vec<(OwnedUserId, Option<i64>)>, MatrixError> {
        if added.is_empty() && removed.is_empty() {
            return Ok(Vec::new());
        }
        let pl = self
            .ctx
            .matrix
            .room_state(room, "m.room.power_levels", "")
            .await?
            .unwrap_or_default();
        let mut levels = Vec::new();
        for (remote, level) in added
            .iter()
            .map(|r| (r, Some(ADMIN_LEVEL)))
            .chain(removed.iter().map(|r| (r, None)))
        {
            let user = self.member_mxid(login, remote);
            let muted =
                *remote != login.remote_id && level_of(&pl, user.as_str()) < events_default(&pl);
            if muted {
                self.keep_premute(remote, level).await;
            } else {
                self.forget_premute(remote).await;
                levels.push((user, level));
            }
        }
        Ok(levels)
    }

    /// Remote mutes → Matrix: muted ghosts go below `events_default`, unmuted ones back to
    /// the level they had before the mute (an admin stays an admin), else to the default;
    /// only when they are below it, so nothing else is undone. The level before is kept in
    /// the store ([`premute_key`]) until the unmute.
    pub(super) async fn remote_mutes(
        &self,
        room: &RoomId,
        login: &UserLogin,
        added: &[String],
        removed: &[String],
    ) -> Result<(), MatrixError> {
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let Some(pl) = self
            .ctx
            .matrix
            .room_state(room, "m.room.power_levels", "")
            .await?
        else {
            return Ok(());
        };
        let ed = events_default(&pl);
        let mut levels = Vec::new();
        for (remote, muted) in added
            .iter()
            .map(|r| (r, true))
            .chain(removed.iter().map(|r| (r, false)))
        {
            if *remote == login.remote_id {
                continue; // the user is told when they try to send
            }
            let ghost = self.ctx.ghosts.mxid(remote);
            let level = level_of(&pl, ghost.as_str());
            let below = level < ed;
            match (muted, below) {
                (true, false) => {
                    let before = (level != level_of(&pl, "")).then_some(level);
                    self.keep_premute(remote, before).await;
                    levels.push((ghost, Some(ed - 1)))
                }
                (false, true) => levels.push((ghost, self.take_premute(remote).await)),
                // Unmuted while not muted here (lifted in Matrix already): nothing to give back.
                (false, false) => self.forget_premute(remote).await,
                (true, true) => {}
            }
        }
        if levels.is_empty() {
            return Ok(());
        }
        self.set_power_levels(room, &levels).await
    }

    /// A new group portal: its admins may change power levels (so they can mute from
    /// Matrix, as the network lets them), and muted members' ghosts start below
    /// `events_default`. One state event, as the bot.
    pub(super) async fn open_group_roles(
        &self,
        room: &RoomId,
        login: &UserLogin,
        info: &ChatInfo,
    ) -> Result<(), MatrixError> {
        let ctx = &self.ctx;
        let Some(mut pl) = ctx
            .matrix
            .room_state(room, "m.room.power_levels", "")
            .await?
        else {
            return Ok(());
        };
        if !pl["events"].is_object() {
            pl["events"] = json!({});
        }
        pl["events"]["m.room.power_levels"] = json!(ADMIN_LEVEL);
        if !pl["users"].is_object() {
            pl["users"] = json!({});
        }
        let ed = events_default(&pl);
        for remote in &info.muted {
            if *remote != login.remote_id {
                let ghost = ctx.ghosts.mxid(remote);
                pl["users"][ghost.as_str()] = json!(ed - 1);
            }
        }
        let bot = ctx.matrix.bot().to_owned();
        retry("power levels", || {
            ctx.matrix
                .send_state(room, &bot, "m.room.power_levels", "", &pl)
        })
        .await?;
        Ok(())
    }
}

/// The store key marking a group portal whose power levels were opened to admins.
fn opened_key(portal: &str) -> String {
    format!("group_roles:{portal}")
}

/// `pl` with `m.room.power_levels` sendable at [`ADMIN_LEVEL`]; `None` when it already is
/// (or lower).
fn opened_to_admins(mut pl: Value) -> Option<Value> {
    if int(&pl["events"]["m.room.power_levels"]).is_some_and(|l| l <= ADMIN_LEVEL) {
        return None;
    }
    if !pl["events"].is_object() {
        pl["events"] = json!({});
    }
    pl["events"]["m.room.power_levels"] = json!(ADMIN_LEVEL);
    Some(pl)
}

/// At start-up, once per group portal made before portals let admins change power levels:
/// opens `m.room.power_levels` to [`ADMIN_LEVEL`], so roles can be set from Matrix there
/// too. Marked done in the store, so a room admin who raises it again is not overruled.
pub(crate) async fn open_old_group_portals(ctx: std::sync::Arc<crate::core::Ctx>) {
    let Ok(portals) = ctx.store.list_portals().await else {
        return;
    };
    let bot = ctx.matrix.bot().to_owned();
    let mut opened = 0usize;
    for portal in portals.iter().filter(|p| p.key.starts_with("group:")) {
        let key = opened_key(&portal.key);
        if ctx.store.get_kv(&key).await.ok().flatten().is_some() {
            continue;
        }
        let Ok(room) = RoomId::parse(portal.room_id.as_str()) else {
            continue;
        };
        let pl = match ctx
            .matrix
            .room_state(&room, "m.room.power_levels", "")
            .await
        {
            Ok(Some(pl)) => pl,
            Ok(None) => continue,
            Err(e) => {
                warn!(portal = %portal.key, error = %e, "power levels not read");
                continue;
            }
        };
        if let Some(pl) = opened_to_admins(pl) {
            if let Err(e) = ctx
                .matrix
                .send_state(&room, &bot, "m.room.power_levels", "", &pl)
                .await
            {
                warn!(portal = %portal.key, error = %e, "power levels not opened to admins");
                continue;
            }
            opened += 1;
        }
        let _ = ctx.store.put_kv(&key, "1").await;
    }
    if opened > 0 {
        info!(
            rooms = opened,
            "older group portals let admins change power levels"
        );
    }
}

impl PortalWorker {
    /// Keeps `level`, `remote`'s ghost's level before a remote mute (`None`: the default,
    /// nothing kept). Best effort: without it, the unmute goes back to the room's default.
    async fn keep_premute(&self, remote: &str, level: Option<i64>) {
        let Some(level) = level else {
            return self.forget_premute(remote).await;
        };
        let key = premute_key(&self.key, remote);
        if let Err(e) = self.ctx.store.put_kv(&key, &level.to_string()).await {
            warn!(portal = %self.key, error = %e, "level before a mute not kept");
        }
    }

    /// Takes the level `remote`'s ghost had before its mute (`None`: the default).
    async fn take_premute(&self, remote: &str) -> Option<i64> {
        let key = premute_key(&self.key, remote);
        let level = self.ctx.store.get_kv(&key).await.ok().flatten()?;
        let _ = self.ctx.store.delete_kv(&key).await;
        level.parse().ok()
    }

    /// Forgets the level `remote`'s ghost had before a mute: their role changed since, so
    /// the unmute goes back to the default.
    pub(super) async fn forget_premute(&self, remote: &str) {
        let _ = self
            .ctx
            .store
            .delete_kv(&premute_key(&self.key, remote))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_per_user_and_relative_to_events_default() {
        let prev = json!({"users": {"@a:x": 50, "@b:x": 0, "@bot:x": 100}});
        let new = json!({"users": {"@b:x": -1, "@bot:x": 100, "@c:x": 0}});
        let changed: Vec<String> = changed_users(&prev, &new).into_iter().collect();
        assert_eq!(changed, vec!["@a:x".to_owned(), "@b:x".to_owned()]);
        let stricter = json!({"users": {"@a:x": 50}, "events_default": 10});
        assert_eq!(
            changed_users(&json!({"users": {"@a:x": 50}}), &stricter).len(),
            1
        );
        assert_eq!(level_of(&json!({"users_default": "5"}), "@z:x"), 5);
        assert_eq!(events_default(&json!({"events_default": "7"})), 7);
    }

    #[test]
    fn old_portals_open_power_levels_to_admins_once() {
        let old = json!({"users": {}, "events": {"m.room.power_levels": 100, "m.room.name": 50}});
        let opened = opened_to_admins(old).expect("opened");
        assert_eq!(opened["events"]["m.room.power_levels"], json!(ADMIN_LEVEL));
        assert_eq!(opened["events"]["m.room.name"], json!(50));
        assert_eq!(opened_to_admins(opened), None);
        let bare = opened_to_admins(json!({})).expect("opened");
        assert_eq!(bare["events"]["m.room.power_levels"], json!(ADMIN_LEVEL));
    }

    #[test]
    fn roles_show_as_levels() {
        let info = ChatInfo {
            admins: vec!["a".into()],
            muted: vec!["m".into()],
            ..Default::default()
        };
        assert_eq!(role_level(&info, "a", 0), Some(ADMIN_LEVEL));
        assert_eq!(role_level(&info, "m", 0), Some(-1));
        assert_eq!(role_level(&info, "z", 0), None);
    }
}
