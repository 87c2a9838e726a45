//! Matrix → remote group management: a logged-in Matrix user renaming a group portal or
//! changing its topic renames the network group or sets its description; inviting a ghost adds
//! that remote user to the group (and the ghost joins); kicking a ghost removes the remote
//! user, banning one puts them on the group's block list (removed and kept out). Everything goes through the acting user's own login, so the network's rules
//! for that user decide; a refusal is told in the room by the bot, and a refused name or topic
//! is put back to the group's. The bridge's own changes (the bot and ghosts following the
//! network) never get here: the dispatcher drops events of our own users.

use ruma::{RoomId, UserId};
use serde_json::json;
use tracing::{info, warn};

use super::{chat_of_key, PortalWorker};
use crate::core::connector::{ChatId, ChatKind, SendFailure};
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;
use crate::metrics::Direction;

/// The notice for a user without a login who changed a group portal.
pub(super) const NOT_LOGGED_IN: &str =
    "You are not logged in to the IM service. Send `login` to the bridge bot.";

/// What a Matrix user did to a group member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberChange {
    Add,
    Remove,
    /// Removed and kept out: the network's block list, where it has one.
    Ban,
}

impl PortalWorker {
    /// The group behind this portal, if it is one.
    pub(super) fn group_chat(&self) -> Option<ChatId> {
        chat_of_key(&self.key).filter(|c| c.kind == ChatKind::Group)
    }

    /// `sender` set the room's name (`name`) or topic (`topic`): the same change on the
    /// network group, through their login.
    pub(super) async fn matrix_room_meta(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        name: Option<&str>,
        topic: Option<&str>,
    ) -> Result<(), MatrixError> {
        let Some(chat) = self.group_chat() else {
            return Ok(()); // direct chats keep their own room names
        };
        let what = if name.is_some() { "name" } else { "topic" };
        let Some(login) = self.ctx.login_of(sender).await else {
            self.ctx
                .metrics
                .failed(Direction::ToNetwork, "not_logged_in");
            let text = format!("⚠️ The new {what} was not given to the IM group. {NOT_LOGGED_IN}");
            self.notice(room, &text).await;
            return Ok(());
        };
        let Some(admin) = login.session.as_group_admin() else {
            self.notice(
                room,
                &format!("⚠️ The IM service cannot change a group's {what} from here."),
            )
            .await;
            return Ok(());
        };
        let result = match (name, topic) {
            (Some(name), _) => admin.set_group_name(&chat, name).await,
            (None, Some(topic)) => admin.set_group_description(&chat, topic).await,
            (None, None) => return Ok(()),
        };
        match result {
            Ok(()) => {
                info!(portal = %self.key, %sender, what, "group info changed from Matrix");
                let saved = self
                    .ctx
                    .store
                    .update_portal(&self.key, |p| {
                        if let Some(name) = name {
                            p.name = Some(name.to_owned());
                        }
                        if let Some(topic) = topic {
                            p.topic = Some(topic.to_owned());
                        }
                        true
                    })
                    .await;
                if let Err(e) = saved {
                    warn!(portal = %self.key, error = %e, "portal record not saved");
                }
            }
            Err(e) => {
                self.refused(&e);
                let mut text = format!("⚠️ The IM group's {what} was not changed: {}", why(&e));
                if matches!(e, SendFailure::Permanent(_))
                    && self.restore_meta(room, &login, &chat, name.is_some()).await
                {
                    text.push_str(&format!(" The room shows the IM group's {what} again."));
                }
                self.notice(room, &text).await;
            }
        }
        Ok(())
    }

    /// After a refusal, puts the network group's name (`is_name`) or description back as the
    /// room's name or topic, as the bot (whose events the dispatcher drops, so nothing is sent
    /// back). True when the room shows the group's value again.
    async fn restore_meta(
        &self,
        room: &RoomId,
        login: &UserLogin,
        chat: &ChatId,
        is_name: bool,
    ) -> bool {
        let Ok(info) = login.session.chat_info(chat).await else {
            return false;
        };
        let (event_type, content) = if is_name {
            (
                "m.room.name",
                json!({ "name": info.name.unwrap_or_default() }),
            )
        } else {
            (
                "m.room.topic",
                json!({ "topic": info.topic.unwrap_or_default() }),
            )
        };
        let bot = self.ctx.matrix.bot();
        match self
            .ctx
            .matrix
            .send_state(room, bot, event_type, "", &content)
            .await
        {
            Ok(_) => true,
            Err(e) => {
                warn!(portal = %self.key, %room, error = %e, "room {event_type} not restored");
                false
            }
        }
    }

    /// `sender` changed `target`'s membership of the room to `membership`. When `target` is a
    /// ghost and this is a group portal, an invite adds the remote user to the group (the
    /// ghost joins, or rejects the invite saying why) and a kick or ban removes them.
    pub(super) async fn matrix_group_member(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        target: &UserId,
        membership: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let Some(chat) = self.group_chat() else {
            return Ok(());
        };
        let Some(remote) = ctx.ghosts.remote_of(target) else {
            if sender == target && membership == "leave" {
                self.matrix_part(room, target).await;
            }
            return Ok(());
        };
        let change = match membership {
            "invite" => MemberChange::Add,
            "leave" if sender != target => MemberChange::Remove,
            "ban" if sender != target => MemberChange::Ban,
            _ => return Ok(()),
        };
        let failure = match ctx.login_of(sender).await {
            None => Some(NOT_LOGGED_IN.to_owned()),
            Some(login) if login.remote_id == remote => {
                Some("That is your own IM account, which is in the group as you.".into())
            }
            Some(login) => match login.session.as_group_admin() {
                None => Some("The IM service cannot manage group members from here.".into()),
                Some(admin) => {
                    let done = match change {
                        MemberChange::Add => admin.add_group_member(&chat, &remote).await,
                        MemberChange::Remove => admin.remove_group_member(&chat, &remote).await,
                        MemberChange::Ban => admin.set_group_banned(&chat, &remote, true).await,
                    };
                    match done {
                        Ok(()) if change == MemberChange::Add => {
                            info!(portal = %self.key, %remote, "member added from Matrix");
                            self.ensure_ghost_in_room(&login, room, &remote).await?;
                            None
                        }
                        Ok(()) => {
                            info!(portal = %self.key, %remote, "member removed from Matrix");
                            None
                        }
                        Err(e) => {
                            self.refused(&e);
                            Some(why(&e))
                        }
                    }
                }
            },
        };
        let Some(failure) = failure else {
            return Ok(());
        };
        let text = match change {
            MemberChange::Add => {
                if let Err(e) = ctx.matrix.leave_with_reason(room, target, &failure).await {
                    warn!(%room, ghost = %target, error = %e, "ghost could not reject the invite");
                }
                format!("⚠️ {remote} was not added to the IM group: {failure}")
            }
            MemberChange::Remove => {
                format!("⚠️ {remote} was not removed from the IM group: {failure}")
            }
            MemberChange::Ban => {
                format!("⚠️ {remote} was not banned from the IM group: {failure}")
            }
        };
        self.notice(room, &text).await;
        Ok(())
    }

    /// True when `room`'s `event_type` state already holds `value` in `field` (read as the
    /// bot; unknown counts as different).
    pub(super) async fn room_text_is(
        &self,
        room: &RoomId,
        event_type: &str,
        field: &str,
        value: &str,
    ) -> bool {
        match self.ctx.matrix.room_state(room, event_type, "").await {
            Ok(Some(content)) => content[field].as_str() == Some(value),
            _ => false,
        }
    }

    /// Counts a refused or failed group change.
    pub(super) fn refused(&self, e: &SendFailure) {
        let reason = match e {
            SendFailure::Retriable(_) => "network_temporary",
            SendFailure::Permanent(_) => "network_refused",
        };
        self.ctx.metrics.failed(Direction::ToNetwork, reason);
        warn!(portal = %self.key, error = %e, "group change not made on the network");
    }
}

/// The reason of a failure in words for the notice (one sentence, ending once).
pub(super) fn why(e: &SendFailure) -> String {
    match e {
        SendFailure::Retriable(m) => format!("the IM service could not be reached ({m})."),
        SendFailure::Permanent(m) => {
            let m = m.trim().trim_end_matches('.');
            if m.ends_with(['!', '?']) {
                format!("the IM service refused: {m}")
            } else {
                format!("the IM service refused: {m}.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_end_with_one_stop() {
        let refused = |m: &str| why(&SendFailure::Permanent(m.into()));
        assert_eq!(
            refused("the list is full!"),
            "the IM service refused: the list is full!"
        );
        assert_eq!(
            refused("no such user."),
            "the IM service refused: no such user."
        );
        assert_eq!(
            refused("not an admin"),
            "the IM service refused: not an admin."
        );
    }
}
