//! Group management as the logged-in user (the core's `GroupAdminAbility`), over the REST
//! client: `PUT /chatgroups/{id}` for the name and description, `POST /chatgroups/{id}/users`
//! and `DELETE /chatgroups/{id}/users/{user}` for members, `/admin` for admins, `/mute` for
//! mutes, `/blocks/users` for bans, `/announcement` for the announcement, `POST /chatgroups` to create a group, `/quit` to leave one and `/invite_verify` to
//! answer an invitation. The server checks the user's role
//! and tells the members (MUC `updateInfo`, `directJoined` / `memberPresence`, `removeMember` /
//! `memberAbsence`), which come back to the core as chat info changes.

use async_trait::async_trait;

use super::EasemobLogin;
use crate::core::connector::{ChatId, ChatKind, GroupAdminAbility, SendFailure};
use crate::network::easemob::rest::{NewGroup, RestError, MAX_ANNOUNCEMENT_BYTES};

/// A REST failure of a group change: temporary trouble is retriable; anything else (a refusal,
/// an unknown user or group) is permanent, in the server's own words when it gave some.
pub(super) fn admin_failure(e: RestError) -> SendFailure {
    if e.is_transient() {
        return SendFailure::Retriable(e.to_string());
    }
    match e {
        RestError::Http { description, .. } if !description.is_empty() => {
            SendFailure::Permanent(description)
        }
        RestError::UserNotFound => SendFailure::Permanent("no such IM user".into()),
        other => SendFailure::Permanent(other.to_string()),
    }
}

/// The group id of `chat`; chat rooms and direct chats are not managed here.
fn group_id(chat: &ChatId) -> Result<&str, SendFailure> {
    match chat.kind {
        ChatKind::Group => Ok(&chat.id),
        _ => Err(SendFailure::Permanent(
            "only groups can be managed from Matrix".into(),
        )),
    }
}

#[async_trait]
impl GroupAdminAbility for EasemobLogin {
    async fn set_group_name(&self, chat: &ChatId, name: &str) -> Result<(), SendFailure> {
        self.client
            .rest()
            .update_group(group_id(chat)?, Some(name), None)
            .await
            .map_err(admin_failure)
    }

    async fn set_group_description(
        &self,
        chat: &ChatId,
        description: &str,
    ) -> Result<(), SendFailure> {
        self.client
            .rest()
            .update_group(group_id(chat)?, None, Some(description))
            .await
            .map_err(admin_failure)
    }

    async fn add_group_member(&self, chat: &ChatId, user: &str) -> Result<(), SendFailure> {
        self.client
            .rest()
            .add_group_members(group_id(chat)?, &[user])
            .await
            .map(drop)
            .map_err(admin_failure)
    }

    async fn remove_group_member(&self, chat: &ChatId, user: &str) -> Result<(), SendFailure> {
        self.client
            .rest()
            .remove_group_members(group_id(chat)?, &[user])
            .await
            .map_err(admin_failure)
    }

    async fn set_group_admin(
        &self,
        chat: &ChatId,
        user: &str,
        admin: bool,
    ) -> Result<(), SendFailure> {
        let rest = self.client.rest();
        let id = group_id(chat)?;
        let done = if admin {
            rest.add_group_admin(id, user).await
        } else {
            rest.remove_group_admin(id, user).await
        };
        done.map_err(admin_failure)
    }

    async fn set_group_muted(
        &self,
        chat: &ChatId,
        user: &str,
        muted: bool,
    ) -> Result<(), SendFailure> {
        let rest = self.client.rest();
        let id = group_id(chat)?;
        let done = if muted {
            rest.mute_group_members(id, &[user]).await
        } else {
            rest.unmute_group_members(id, &[user]).await
        };
        done.map_err(admin_failure)
    }

    async fn set_group_banned(
        &self,
        chat: &ChatId,
        user: &str,
        banned: bool,
    ) -> Result<(), SendFailure> {
        let rest = self.client.rest();
        let id = group_id(chat)?;
        let done = if banned {
            rest.block_group_member(id, user, None).await
        } else {
            rest.unblock_group_member(id, user).await
        };
        done.map_err(admin_failure)
    }

    async fn set_group_announcement(&self, chat: &ChatId, text: &str) -> Result<(), SendFailure> {
        if text.len() > MAX_ANNOUNCEMENT_BYTES {
            return Err(SendFailure::Permanent(format!(
                "an IM group announcement is at most {MAX_ANNOUNCEMENT_BYTES} bytes; this one has {}",
                text.len()
            )));
        }
        self.client
            .rest()
            .set_group_announcement(group_id(chat)?, text)
            .await
            .map_err(admin_failure)
    }

    async fn create_group(&self, name: &str, members: &[String]) -> Result<ChatId, SendFailure> {
        let group = NewGroup {
            name: name.to_owned(),
            members: members.to_vec(),
            ..Default::default()
        };
        let id = self
            .client
            .rest()
            .create_group(&group)
            .await
            .map_err(admin_failure)?;
        Ok(ChatId::group(id))
    }

    async fn leave_group(&self, chat: &ChatId) -> Result<(), SendFailure> {
        self.client
            .rest()
            .leave_group(group_id(chat)?)
            .await
            .map_err(admin_failure)
    }

    async fn answer_group_invitation(
        &self,
        chat: &ChatId,
        accept: bool,
    ) -> Result<(), SendFailure> {
        self.client
            .rest()
            .answer_group_invitation(group_id(chat)?, accept)
            .await
            .map_err(admin_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_permanent_in_the_servers_words() {
        let refused = admin_failure(RestError::Http {
            status: 403,
            error: "forbidden_op".into(),
            description: "alice is not the owner or an admin of group 1".into(),
        });
        assert_eq!(
            refused,
            SendFailure::Permanent("alice is not the owner or an admin of group 1".into())
        );
        let busy = admin_failure(RestError::Http {
            status: 503,
            error: "busy".into(),
            description: String::new(),
        });
        assert!(matches!(busy, SendFailure::Retriable(_)));
        assert!(group_id(&ChatId::direct("bob")).is_err());
        assert_eq!(group_id(&ChatId::group("42")), Ok("42"));
    }
}
