//! Managing a Tencent group from Matrix (the core's [`GroupAdminAbility`]): the room's name,
//! topic and announcement, invites and kicks, admins and mutes, `create-group` and leaving, as the SDK
//! sends them ([`crate::network::tencent::session::group_admin`] has the shapes). A Community
//! topic's name, introduction and notification are the topic's own; its members are the
//! Community's, so removing a member, leaving, admins and mutes are refused in a topic's room
//! (they would apply to every topic) and done in the Community's room. What the service refuses (a Work group has no admins; only the owner makes
//! admins) comes back as a [`SendFailure::Permanent`] in its words, and every change comes
//! back from the service as a group tip the core applies idempotently.

use async_trait::async_trait;

use super::{send_failure, TencentLogin};
use crate::core::connector::{ChatId, ChatKind, GroupAdminAbility, SendFailure};
use crate::network::tencent::session::group_admin::{
    add_member_body, add_result, create_body, delete_member_body, member_group, member_servcmd,
    modify_profile, mute_body, quit_body, role_body, ProfileField, ADD_GROUP_MEMBER, CREATE_GROUP,
    DELETE_GROUP_MEMBER, MODIFY_GROUP_MEMBER_INFO, MUTED_FOR_GOOD, QUIT_GROUP,
};

/// The group id of `chat`, which must be a group (live rooms are channels, DMs are not
/// groups).
fn group_of(chat: &ChatId) -> Result<&str, SendFailure> {
    match chat.kind {
        ChatKind::Group => Ok(&chat.id),
        _ => Err(SendFailure::Permanent(
            "Tencent Cloud Chat: only groups are managed this way".into(),
        )),
    }
}

/// The group of `chat` for an act that would reach the whole Community from one of its
/// topics (`what`: removing a member, leaving, admins, mutes): refused in a topic's room, which is not where
/// a Matrix user expects to act on every topic at once.
fn whole_group_of<'a>(chat: &'a ChatId, what: &str) -> Result<&'a str, SendFailure> {
    let id = group_of(chat)?;
    if member_group(id) != id {
        return Err(SendFailure::Permanent(format!(
            "this room is a topic of the Community {}: {what} there would apply to all its topics; do it in the Community's own room",
            member_group(id)
        )));
    }
    Ok(id)
}

impl TencentLogin {
    async fn set_profile(
        &self,
        chat: &ChatId,
        field: ProfileField,
        value: &str,
    ) -> Result<(), SendFailure> {
        let (cmd, body) = modify_profile(group_of(chat)?, field, value);
        self.call_done(cmd, body).await
    }
}

#[async_trait]
impl GroupAdminAbility for TencentLogin {
    /// `modify_group_base_info` `Name` (a topic's `modify_topic` `TopicName`).
    async fn set_group_name(&self, chat: &ChatId, name: &str) -> Result<(), SendFailure> {
        self.set_profile(chat, ProfileField::Name, name).await
    }

    /// `Introduction`.
    async fn set_group_description(
        &self,
        chat: &ChatId,
        description: &str,
    ) -> Result<(), SendFailure> {
        self.set_profile(chat, ProfileField::Introduction, description)
            .await
    }

    /// `Notification`.
    async fn set_group_announcement(&self, chat: &ChatId, text: &str) -> Result<(), SendFailure> {
        self.set_profile(chat, ProfileField::Notification, text)
            .await
    }

    /// `add_group_member`; a user who is a member already (`Result` 2) is a success, one the
    /// service did not add (`Result` 0: no such account, or over a limit) a refusal.
    async fn add_group_member(&self, chat: &ChatId, user: &str) -> Result<(), SendFailure> {
        let id = group_of(chat)?;
        let reply = self
            .client
            .call(
                &member_servcmd(id, ADD_GROUP_MEMBER),
                add_member_body(member_group(id), user),
            )
            .await
            .map_err(send_failure)?;
        match add_result(&reply, user) {
            Some(0) => Err(SendFailure::Permanent(format!(
                "Tencent Cloud Chat did not add {user} to the group (no such account, or the group is full)"
            ))),
            _ => Ok(()),
        }
    }

    /// `delete_group_member`; refused in a Community topic's room ([`whole_group_of`]).
    async fn remove_group_member(&self, chat: &ChatId, user: &str) -> Result<(), SendFailure> {
        let id = whole_group_of(chat, "removing a member")?;
        self.call_done(
            &member_servcmd(id, DELETE_GROUP_MEMBER),
            delete_member_body(member_group(id), user),
        )
        .await
    }

    /// `modify_group_member_info` `Role`; refused in a Community topic's room
    /// ([`whole_group_of`]).
    async fn set_group_admin(
        &self,
        chat: &ChatId,
        user: &str,
        admin: bool,
    ) -> Result<(), SendFailure> {
        let id = whole_group_of(chat, "changing an admin")?;
        self.call_done(
            &member_servcmd(id, MODIFY_GROUP_MEMBER_INFO),
            role_body(member_group(id), user, admin),
        )
        .await
    }

    /// `modify_group_member_info` `ShutUpTime`: muted with no end ([`MUTED_FOR_GOOD`]
    /// seconds), or 0; refused in a Community topic's room ([`whole_group_of`]).
    async fn set_group_muted(
        &self,
        chat: &ChatId,
        user: &str,
        muted: bool,
    ) -> Result<(), SendFailure> {
        let id = whole_group_of(chat, "muting")?;
        let secs = if muted { MUTED_FOR_GOOD } else { 0 };
        self.call_done(
            &member_servcmd(id, MODIFY_GROUP_MEMBER_INFO),
            mute_body(member_group(id), user, secs),
        )
        .await
    }

    /// `create_group` of a Work group owned by the user, with `members`.
    async fn create_group(&self, name: &str, members: &[String]) -> Result<ChatId, SendFailure> {
        let reply = self
            .client
            .call(CREATE_GROUP, create_body(name, members))
            .await
            .map_err(send_failure)?;
        reply
            .get("GroupId")
            .and_then(serde_json::Value::as_str)
            .filter(|id| !id.is_empty())
            .map(ChatId::group)
            .ok_or_else(|| SendFailure::Permanent("create_group answered no GroupId".into()))
    }

    /// `quit_group`; refused in a Community topic's room ([`whole_group_of`]).
    async fn leave_group(&self, chat: &ChatId) -> Result<(), SendFailure> {
        let id = whole_group_of(chat, "leaving")?;
        self.call_done(&member_servcmd(id, QUIT_GROUP), quit_body(member_group(id)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acts_on_the_whole_community_are_refused_in_a_topic_room() {
        let community = ChatId::group("@TGS#_abc");
        let topic = ChatId::group("@TGS#_abc@TOPIC#_1");
        assert_eq!(
            whole_group_of(&community, "leaving").ok(),
            Some("@TGS#_abc")
        );
        let refused = whole_group_of(&topic, "leaving").expect_err("a topic");
        assert!(refused.to_string().contains("@TGS#_abc:"), "{refused}");
        assert!(whole_group_of(&ChatId::direct("bob"), "leaving").is_err());
    }
}
