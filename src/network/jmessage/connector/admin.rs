//! Group management from Matrix as the logged-in JMessage user (the core's
//! [`GroupAdminAbility`]), over the client's group calls (the Web SDK 2.5.0's): a room name or
//! topic → `update_group_info` (`group_name` / `group_description`), an invited ghost →
//! `add_across_group_member`, a kicked ghost → `del_across_group_member` (the owner only),
//! `create-group` → `create_group` then `add_across_group_member`, leaving → `exit_group`.
//! The service checks the user's rights and tells the members (`event_notification` types
//! 9–12), which come back to the core as chat info changes. JMessage has no group admins,
//! mutes, bans, announcements or invitations to answer in the Web SDK: those keep the
//! trait's "not supported" refusal.

use async_trait::async_trait;

use super::{send_failure, target_of, ChatTarget, JmessageLogin};
use crate::core::connector::{ChatId, GroupAdminAbility, SendFailure};
use crate::network::jmessage::session::SendError;
use crate::network::jmessage::wire::{self, code};

/// A refused group call in words (the service's codes, the public "IM Web ErrorCode" table);
/// other failures as [`send_failure`] says them.
pub fn admin_failure(e: SendError) -> SendFailure {
    let SendError::Rejected { code: c, message } = &e else {
        return send_failure(e);
    };
    let words = match *c {
        code::TARGET_GROUP_NOT_EXIST => "the JMessage group does not exist".to_owned(),
        code::USER_NOT_IN_GROUP | code::ADD_NOT_IN_GROUP | code::EXIT_NOT_IN_GROUP => {
            "you are not a member of this JMessage group".to_owned()
        }
        code::DEL_NOT_IN_GROUP => {
            "that user is not a member of the JMessage group (or is its owner)".to_owned()
        }
        code::DEL_NOT_PERMITTED => "only the JMessage group's owner may remove members".to_owned(),
        code::MEMBER_NOT_EXIST | code::USER_NOT_EXIST => "no such JMessage user".to_owned(),
        code::GROUP_NAME_TOO_LONG | code::UPDATE_NAME_TOO_LONG => format!(
            "a JMessage group name is at most {} bytes",
            wire::MAX_GROUP_NAME_BYTES
        ),
        code::GROUP_DESC_TOO_LONG | code::UPDATE_DESC_TOO_LONG => format!(
            "a JMessage group description is at most {} bytes",
            wire::MAX_GROUP_DESC_BYTES
        ),
        _ => format!("{c} {message}"),
    };
    SendFailure::Permanent(format!("{words} ({c})"))
}

/// The numeric gid of a group chat; single chats are not managed here.
fn gid_of(chat: &ChatId) -> Result<i64, SendFailure> {
    match target_of(chat)? {
        ChatTarget::Group(gid) => Ok(gid),
        ChatTarget::User(_) => Err(SendFailure::Permanent(
            "only JMessage groups can be managed from Matrix".into(),
        )),
    }
}

/// Refuses `text` longer than `max` bytes before the service does, saying so (`what` names
/// the field).
fn check_len(text: &str, max: usize, what: &str) -> Result<(), SendFailure> {
    if text.len() > max {
        return Err(SendFailure::Permanent(format!(
            "a JMessage group {what} is at most {max} bytes; this one has {}",
            text.len()
        )));
    }
    Ok(())
}

#[async_trait]
impl GroupAdminAbility for JmessageLogin {
    /// `update_group_info {gid, group_name}`; an empty name is refused (JMessage groups are
    /// always named).
    async fn set_group_name(&self, chat: &ChatId, name: &str) -> Result<(), SendFailure> {
        let gid = gid_of(chat)?;
        if name.trim().is_empty() {
            return Err(SendFailure::Permanent(
                "a JMessage group must have a name".into(),
            ));
        }
        check_len(name, wire::MAX_GROUP_NAME_BYTES, "name")?;
        self.client
            .update_group_info(gid, Some(name), None)
            .await
            .map_err(admin_failure)
    }

    /// `update_group_info {gid, group_description}` (`""` clears it).
    async fn set_group_description(
        &self,
        chat: &ChatId,
        description: &str,
    ) -> Result<(), SendFailure> {
        let gid = gid_of(chat)?;
        check_len(description, wire::MAX_GROUP_DESC_BYTES, "description")?;
        self.client
            .update_group_info(gid, None, Some(description))
            .await
            .map_err(admin_failure)
    }

    /// `add_across_group_member` (any member may add).
    async fn add_group_member(&self, chat: &ChatId, user: &str) -> Result<(), SendFailure> {
        let gid = gid_of(chat)?;
        self.client
            .add_group_members(gid, &[user])
            .await
            .map_err(admin_failure)
    }

    /// `del_across_group_member` (the owner only).
    async fn remove_group_member(&self, chat: &ChatId, user: &str) -> Result<(), SendFailure> {
        let gid = gid_of(chat)?;
        self.client
            .del_group_members(gid, &[user])
            .await
            .map_err(admin_failure)
    }

    /// `create_group {group_name, group_description: ""}`, then `add_across_group_member`
    /// with `members` when there are any. When the adding is refused, the group exists
    /// without them: the error says so and names its gid.
    async fn create_group(&self, name: &str, members: &[String]) -> Result<ChatId, SendFailure> {
        if name.trim().is_empty() {
            return Err(SendFailure::Permanent(
                "a JMessage group must have a name".into(),
            ));
        }
        check_len(name, wire::MAX_GROUP_NAME_BYTES, "name")?;
        let gid = self
            .client
            .create_group(name, "")
            .await
            .map_err(admin_failure)?;
        let others: Vec<&str> = members
            .iter()
            .map(String::as_str)
            .filter(|m| *m != self.own)
            .collect();
        if !others.is_empty() {
            if let Err(e) = self.client.add_group_members(gid, &others).await {
                let why = admin_failure(e);
                return Err(SendFailure::Permanent(format!(
                    "the JMessage group {gid} was created, but its members were not added: {why}"
                )));
            }
        }
        Ok(ChatId::group(gid.to_string()))
    }

    /// `exit_group` (the owner's leaving hands the group to the longest member).
    async fn leave_group(&self, chat: &ChatId) -> Result<(), SendFailure> {
        let gid = gid_of(chat)?;
        self.client.exit_group(gid).await.map_err(admin_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_refusals_in_words() {
        let refused = |c: i64| {
            admin_failure(SendError::Rejected {
                code: c,
                message: "x".into(),
            })
        };
        let SendFailure::Permanent(w) = refused(code::DEL_NOT_PERMITTED) else {
            panic!("permanent");
        };
        assert!(w.contains("only the JMessage group's owner"), "{w}");
        let SendFailure::Permanent(w) = refused(code::UPDATE_NAME_TOO_LONG) else {
            panic!("permanent");
        };
        assert!(w.contains("64 bytes") && w.ends_with("(880803)"), "{w}");
        let SendFailure::Permanent(w) = refused(123) else {
            panic!("permanent");
        };
        assert!(w.contains("123 x"), "{w}");
        assert!(matches!(
            admin_failure(SendError::Timeout),
            SendFailure::Retriable(_)
        ));
    }

    #[test]
    fn only_groups_and_bounded_texts() {
        assert!(gid_of(&ChatId::direct("bob")).is_err());
        assert_eq!(gid_of(&ChatId::group("10000001")).ok(), Some(10_000_001));
        assert!(check_len(&"n".repeat(65), wire::MAX_GROUP_NAME_BYTES, "name").is_err());
        assert!(check_len("team", wire::MAX_GROUP_NAME_BYTES, "name").is_ok());
    }
}
