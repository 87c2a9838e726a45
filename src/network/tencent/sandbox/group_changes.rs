//! The sandbox's membership and profile changes of groups and the tips they make:
//! `add_group_member` (join, `OpType` 1), `delete_group_member` / `quit_group` (kick 3 / quit
//! 2), `modify_group_base_info` (profile 6), `modify_group_member_info` `Role` (admin set 4 /
//! cancelled 5) and `ShutUpTime` (member info 7). A tip takes the group's next `MsgSeq`, stays in
//! the history as an `Event` 4 entry (what the 3.6.6 SDK's `group_msg_get` reader makes a
//! `TIMGroupTipElem` of) and is pushed as a `GroupTips` item (event 4) to the members.

use rand::Rng;
use serde_json::{json, Value};

use super::groups::{
    apply, push_frame, Group, Member, ProfileChange, GROUP_NOT_FOUND, NOT_A_MEMBER,
};

/// `ErrorCode` for a request the group cannot take (REST table: 10004 "invalid parameter").
pub const INVALID_PARAMETER: i64 = 10004;
use super::state::{unix_now, Sandbox};

/// Member `member` of `g`, who must not be its owner (`owner_refusal` says why).
fn other_member<'a>(
    g: &'a mut Group,
    member: &str,
    owner_refusal: &str,
) -> Result<&'a mut Member, (i64, String)> {
    let m = g
        .members
        .iter_mut()
        .find(|m| m.account == member)
        .ok_or((NOT_A_MEMBER, "not a member of the group".to_owned()))?;
    if m.role == "Owner" {
        return Err((INVALID_PARAMETER, owner_refusal.to_owned()));
    }
    Ok(m)
}

impl Sandbox {
    /// `add_group_member`: adds `users` (Result 1 added, 2 already a member, 0 failed) and
    /// tips the members (join, `OpType` 1) unless `silence`.
    pub fn add_group_members(
        &self,
        operator: &str,
        group_id: &str,
        users: &[String],
        silence: bool,
    ) -> Result<Vec<Value>, (i64, String)> {
        let exists: Vec<bool> = users.iter().map(|u| self.exists(u)).collect();
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(group_id)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        let mut results = Vec::new();
        let mut added = Vec::new();
        for (u, ok) in users.iter().zip(exists) {
            let result = if !ok {
                0
            } else if g.is_member(u) {
                2
            } else {
                g.members.push(Member::joining(u));
                added.push(u.clone());
                1
            };
            results.push(json!({"Member_Account": u, "Result": result}));
        }
        if !added.is_empty() && !silence {
            self.tip(g, 1, operator, &added, None);
        }
        Ok(results)
    }

    /// `delete_group_member` (kick, `OpType` 3, by the owner or an admin) or `quit_group`
    /// (`OpType` 2, `operator` is the one leaving). Removed users get the tip too.
    pub fn remove_group_members(
        &self,
        operator: &str,
        group_id: &str,
        users: &[String],
        quit: bool,
    ) -> Result<(), (i64, String)> {
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(group_id)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        // Only the owner and admins (or the app admin) remove others.
        if !quit && operator != self.cfg.admin && !g.is_manager(operator) {
            return Err((
                NOT_A_MEMBER,
                "only the group's owner and admins remove members".into(),
            ));
        }
        let removed: Vec<String> = users.iter().filter(|u| g.is_member(u)).cloned().collect();
        if removed.is_empty() {
            return Err((NOT_A_MEMBER, "not a member of the group".into()));
        }
        let before: Vec<String> = g.members.iter().map(|m| m.account.clone()).collect();
        g.members.retain(|m| !removed.contains(&m.account));
        let op = if quit { 2 } else { 3 };
        self.tip_to(g, op, operator, &removed, None, &before);
        Ok(())
    }

    /// `modify_group_base_info`: changes the profile and tips the members (`OpType` 6 with
    /// `MsgGroupNewInfo` holding the changed fields only).
    pub fn modify_group(
        &self,
        operator: &str,
        group_id: &str,
        change: &ProfileChange,
    ) -> Result<(), (i64, String)> {
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(group_id)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if operator != self.cfg.admin && !g.is_member(operator) {
            return Err((NOT_A_MEMBER, "not a member of the group".into()));
        }
        apply(g, change);
        let mut new_info = serde_json::Map::new();
        let fields = [
            ("GroupName", &change.name),
            ("GroupIntroduction", &change.introduction),
            ("GroupNotification", &change.notification),
            ("GroupFaceUrl", &change.face_url),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                new_info.insert(k.into(), json!(v));
            }
        }
        self.tip(
            g,
            6,
            operator,
            &[],
            Some(("MsgGroupNewInfo", Value::Object(new_info))),
        );
        Ok(())
    }

    /// `modify_group_member_info` `Role` (`Admin` or `Member`) of `member`, by `operator`:
    /// only the owner (or the app admin) changes roles, never the owner's own, and a Work
    /// group has no admins (the service's group-type table); the members get the tip (admin
    /// set, `OpType` 4, or cancelled, 5). Refusal codes: 10007 for who may not, 10004 for
    /// what cannot be (the sandbox's choices of the REST table's "no permission" and
    /// "invalid parameter").
    pub fn set_role(
        &self,
        operator: &str,
        group_id: &str,
        member: &str,
        role: &str,
    ) -> Result<(), (i64, String)> {
        let op = match role {
            "Admin" => 4,
            "Member" => 5,
            other => {
                return Err((
                    INVALID_PARAMETER,
                    format!("Role {other:?}: Admin or Member"),
                ))
            }
        };
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(group_id)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        if g.kind == "Work" {
            return Err((INVALID_PARAMETER, "a Work group has no admins".into()));
        }
        if operator != self.cfg.admin && operator != g.owner {
            return Err((NOT_A_MEMBER, "only the group's owner sets admins".into()));
        }
        let m = other_member(g, member, "the owner's role does not change")?;
        if m.role == role {
            return Ok(());
        }
        m.role = role.to_owned();
        self.tip(g, op, operator, &[member.to_owned()], None);
        Ok(())
    }

    /// `modify_group_member_info` `ShutUpTime` (seconds from now, 0 unmutes) of `member`,
    /// by the owner or an admin (or the app admin), never of the owner, of an admin by the
    /// owner only, never in a Work group; the members get the
    /// tip (`OpType` 7, `MsgMemberInfo [{User_Account, ShutupTime}]`, the SDK's `memberList`
    /// with `muteTime`).
    pub fn set_mute(
        &self,
        operator: &str,
        group_id: &str,
        member: &str,
        secs: u64,
    ) -> Result<(), (i64, String)> {
        let mut groups = self.groups_lock();
        let g = groups
            .get_mut(group_id)
            .ok_or((GROUP_NOT_FOUND, "group does not exist".to_owned()))?;
        // "Private (Work) groups do not support muting" (the docs of `forbid_send_msg` and
        // `setGroupMemberMuteTime`); the code is ours, 10007 as for other features a group
        // type lacks.
        if g.kind == "Work" {
            return Err((NOT_A_MEMBER, "a Work group does not support muting".into()));
        }
        if operator != self.cfg.admin && !g.is_manager(operator) {
            return Err((
                NOT_A_MEMBER,
                "only the group's owner and admins mute".into(),
            ));
        }
        // "The owner mutes admins and members; an admin, ordinary members" (the SDK's muting
        // guide, role limits).
        let by_owner = operator == self.cfg.admin || operator == g.owner;
        let m = other_member(g, member, "the owner is not muted")?;
        if m.role == "Admin" && !by_owner {
            return Err((NOT_A_MEMBER, "only the group's owner mutes an admin".into()));
        }
        m.shut_up_until = if secs == 0 {
            0
        } else {
            unix_now().saturating_add(secs)
        };
        let info = json!([{"User_Account": member, "ShutupTime": secs}]);
        self.tip(
            g,
            7,
            operator,
            &[member.to_owned()],
            Some(("MsgMemberInfo", info)),
        );
        Ok(())
    }

    fn tip(
        &self,
        g: &mut Group,
        op: u32,
        operator: &str,
        users: &[String],
        extra: Option<(&str, Value)>,
    ) {
        let members: Vec<String> = g.members.iter().map(|m| m.account.clone()).collect();
        self.tip_to(g, op, operator, users, extra, &members);
    }

    /// Gives a tip the group's next `MsgSeq`, keeps it in the history (`Event` 4, what the
    /// SDK's `group_msg_get` reader takes for a tip) and pushes it as a `GroupTips` item
    /// (event 4) to every online instance of `to`. `extra` is one more field of the tip's
    /// body (`MsgGroupNewInfo` of a profile change, `MsgMemberInfo` of a mute).
    pub(super) fn tip_to(
        &self,
        g: &mut Group,
        op: u32,
        operator: &str,
        users: &[String],
        extra: Option<(&str, Value)>,
        to: &[String],
    ) {
        let time = unix_now();
        let mut elements = json!({
            "OpType": op, "Operator_Account": operator, "List_Account": users,
            "MemberNum": g.members.len(),
            "MsgOperatorMemberExtraInfo": {"User_Account": operator, "NickName": "", "ImageUrl": ""},
            "MsgMemberExtraInfo": users.iter().map(|u| json!({"User_Account": u, "NickName": "", "ImageUrl": ""})).collect::<Vec<_>>(),
        });
        if let (Some((key, value)), Some(m)) = (extra, elements.as_object_mut()) {
            m.insert(key.into(), value);
        }
        let seq = g.log.next_seq();
        let item = json!({
            "GroupInfo": g.push_info(None), "ToGroupId": g.id, "From_Account": operator,
            "MsgSeq": seq, "MsgRandom": rand::rng().random::<u32>(), "MsgTimeStamp": time,
            "MsgBody": elements, "IsSystemMsg": 0,
        });
        let mut kept = item.clone();
        kept["Event"] = json!(4);
        kept["MsgTime"] = json!(time);
        g.log.msgs.push(kept);
        g.log.last_msg_time = time;
        let frame = push_frame(4, "GroupTips", vec![item]);
        for u in to {
            self.push_to(u, &frame, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::network::tencent::sandbox::{Sandbox, SandboxConfig};

    #[test]
    fn mutes_follow_the_group_type_and_the_roles() {
        let sb = Sandbox::new(SandboxConfig::new(1_400_000_001, "secret"));
        for u in ["alice", "bob", "carol", "dave"] {
            sb.import(u);
        }
        let members: Vec<String> = ["bob", "carol", "dave"].map(String::from).to_vec();
        let work = sb
            .create_group("Work", "", "plan", "alice", &members)
            .expect("work group");
        let refused = sb.set_mute("alice", &work, "bob", 60).expect_err("Work");
        assert!(refused.1.contains("Work"), "{refused:?}");

        let public = sb
            .create_group("Public", "", "town", "alice", &members)
            .expect("public group");
        for admin in ["bob", "carol"] {
            sb.set_role("alice", &public, admin, "Admin")
                .expect("an admin");
        }
        // An admin mutes a member, not another admin; the owner mutes admins.
        sb.set_mute("bob", &public, "dave", 60).expect("dave muted");
        let refused = sb
            .set_mute("bob", &public, "carol", 60)
            .expect_err("an admin");
        assert!(refused.1.contains("owner"), "{refused:?}");
        sb.set_mute("alice", &public, "carol", 60)
            .expect("carol muted");
        sb.set_mute("dave", &public, "bob", 60)
            .expect_err("a member mutes nobody");
        sb.set_mute("bob", &public, "alice", 60)
            .expect_err("the owner is never muted");
    }
}
