//! Managing a group as one of its members: the request bodies the `@tencentcloud/chat` 3.6.6
//! SDK sends for it (read in the bundle's request maps; its camel-cased fields go out
//! capitalised, `groupID` as `GroupId`, and its `keyMap`s name the rest):
//!
//! - `updateGroupProfile` → `group_open_http_svc.modify_group_base_info {GroupId, Name |
//!   Introduction | Notification}`; for a Community topic `updateTopicProfile` →
//!   `million_group_open_http_svc.modify_topic {GroupId, TopicId, TopicName | Introduction |
//!   Notification}`;
//! - `addGroupMember` → `add_group_member {GroupId, MemberList: [{Member_Account}]}`, whose
//!   reply's `MemberList [{Member_Account, Result}]` says per user 1 added, 2 a member
//!   already, 0 not added;
//! - `deleteGroupMember` → `delete_group_member {GroupId, MemberToDel_Account: […]}`;
//! - `setGroupMemberRole` → `modify_group_member_info {GroupId, Member_Account, Role}` with
//!   `Role` `Admin` or `Member`; `setGroupMemberMuteTime` → the same with `ShutUpTime`
//!   (seconds, 0 unmutes), told to the members as a tip (`OpType` 7, `MsgMemberInfo
//!   [{User_Account, ShutupTime}]`);
//! - `createGroup` → `create_group {Type, Name, MemberList: [{Member_Account}]}` →
//!   `{GroupId}`;
//! - `quitGroup` → `quit_group {GroupId}`.
//!
//! The changes come back to every member as group tips ([`super::group_wire`]).

use serde_json::{json, Value};

use super::topics::{address, servcmd_for, topic_group, MODIFY_TOPIC};

/// Changes a group's profile.
pub const MODIFY_GROUP_BASE_INFO: &str = "group_open_http_svc.modify_group_base_info";
/// Adds members.
pub const ADD_GROUP_MEMBER: &str = "group_open_http_svc.add_group_member";
/// Removes members.
pub const DELETE_GROUP_MEMBER: &str = "group_open_http_svc.delete_group_member";
/// Changes a member's role (and other member fields).
pub const MODIFY_GROUP_MEMBER_INFO: &str = "group_open_http_svc.modify_group_member_info";
/// Creates a group.
pub const CREATE_GROUP: &str = "group_open_http_svc.create_group";
/// Leaves a group.
pub const QUIT_GROUP: &str = "group_open_http_svc.quit_group";

/// The group type the bridge creates: `Work`, the SDK's default (`TYPES.GRP_WORK`): members
/// invite freely and join without approval; it has no admins.
pub const CREATED_GROUP_TYPE: &str = "Work";

/// A profile field of a group or topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    /// The name (`Name`; a topic's `TopicName`).
    Name,
    /// The introduction (`Introduction`), the Matrix topic.
    Introduction,
    /// The notification (`Notification`), the group's announcement.
    Notification,
}

/// The servcmd and body setting `field` of group or topic `id` to `value`.
pub fn modify_profile(id: &str, field: ProfileField, value: &str) -> (&'static str, Value) {
    let topic = topic_group(id).is_some();
    let key = match (field, topic) {
        (ProfileField::Name, true) => "TopicName",
        (ProfileField::Name, false) => "Name",
        (ProfileField::Introduction, _) => "Introduction",
        (ProfileField::Notification, _) => "Notification",
    };
    let mut body = json!({"GroupId": id, key: value});
    if topic {
        address(&mut body, id);
        return (MODIFY_TOPIC, body);
    }
    (MODIFY_GROUP_BASE_INFO, body)
}

/// The group whose members a conversation has: a topic's Community, else the group itself.
pub fn member_group(id: &str) -> &str {
    topic_group(id).unwrap_or(id)
}

/// The servcmd for group command `servcmd` on the members of conversation `id`.
pub fn member_servcmd(id: &str, servcmd: &str) -> String {
    servcmd_for(member_group(id), servcmd)
}

/// `add_group_member` of `user` to group `group_id`.
pub fn add_member_body(group_id: &str, user: &str) -> Value {
    json!({"GroupId": group_id, "MemberList": [{"Member_Account": user}]})
}

/// The `Result` an `add_group_member` reply gives `user` (1 added, 2 a member already, 0 not
/// added); `None` when the reply does not name them.
pub fn add_result(reply: &Value, user: &str) -> Option<u64> {
    reply
        .get("MemberList")
        .and_then(Value::as_array)?
        .iter()
        .find(|m| m.get("Member_Account").and_then(Value::as_str) == Some(user))?
        .get("Result")
        .and_then(Value::as_u64)
}

/// `delete_group_member` of `user` from group `group_id`.
pub fn delete_member_body(group_id: &str, user: &str) -> Value {
    json!({"GroupId": group_id, "MemberToDel_Account": [user]})
}

/// `modify_group_member_info` making `user` an admin of `group_id` (`admin`) or a member.
pub fn role_body(group_id: &str, user: &str, admin: bool) -> Value {
    let role = if admin { "Admin" } else { "Member" };
    json!({"GroupId": group_id, "Member_Account": user, "Role": role})
}

/// The `ShutUpTime` of a member muted from Matrix, where a mute has no end: the longest the
/// field takes (REST docs: seconds, at most 4294967295).
pub const MUTED_FOR_GOOD: u64 = u32::MAX as u64;

/// `modify_group_member_info` muting `user` in `group_id` for `secs` seconds (0 unmutes;
/// the SDK's `setGroupMemberMuteTime`, its `muteTime` sent as `ShutUpTime`).
pub fn mute_body(group_id: &str, user: &str, secs: u64) -> Value {
    json!({"GroupId": group_id, "Member_Account": user, "ShutUpTime": secs})
}

/// `create_group` of a [`CREATED_GROUP_TYPE`] group named `name` with `members` (the caller
/// is its owner).
pub fn create_body(name: &str, members: &[String]) -> Value {
    let list: Vec<Value> = members
        .iter()
        .map(|m| json!({"Member_Account": m}))
        .collect();
    json!({"Type": CREATED_GROUP_TYPE, "Name": name, "MemberList": list})
}

/// `quit_group` of group `group_id`.
pub fn quit_body(group_id: &str) -> Value {
    json!({"GroupId": group_id})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_sdks_shapes() {
        let (cmd, body) = modify_profile("@TGS#1", ProfileField::Name, "plan");
        assert_eq!(cmd, MODIFY_GROUP_BASE_INFO);
        assert_eq!(body, json!({"GroupId": "@TGS#1", "Name": "plan"}));
        let topic = "@TGS#_c@TOPIC#_t";
        let (cmd, body) = modify_profile(topic, ProfileField::Name, "news");
        assert_eq!(cmd, MODIFY_TOPIC);
        assert_eq!(
            body,
            json!({"GroupId": "@TGS#_c", "TopicId": topic, "TopicName": "news"})
        );
        let (_, body) = modify_profile(topic, ProfileField::Introduction, "about");
        assert_eq!(body["Introduction"], "about");
        assert_eq!(member_group(topic), "@TGS#_c");
        assert_eq!(
            member_servcmd(topic, ADD_GROUP_MEMBER),
            "million_group_open_http_svc.add_group_member"
        );
        assert_eq!(member_servcmd("@TGS#1", ADD_GROUP_MEMBER), ADD_GROUP_MEMBER);
        let reply = json!({"MemberList": [{"Member_Account": "bob", "Result": 2}]});
        assert_eq!(add_result(&reply, "bob"), Some(2));
        assert_eq!(add_result(&reply, "carol"), None);
        assert_eq!(role_body("g", "bob", true)["Role"], "Admin");
        assert_eq!(role_body("g", "bob", false)["Role"], "Member");
        assert_eq!(mute_body("g", "bob", 0)["ShutUpTime"], 0);
        assert_eq!(
            create_body("plan", &["bob".to_owned()]),
            json!({"Type": "Work", "Name": "plan", "MemberList": [{"Member_Account": "bob"}]})
        );
    }
}
