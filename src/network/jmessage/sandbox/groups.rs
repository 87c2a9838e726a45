//! The sandbox's groups and recall: the group state behind the calls the Web SDK 2.5.0 makes
//! (answered by [`super::group_calls`]), `send_group_msg` with
//! fan-out to every other member (live `msg_sync`, offline in `sync_conversation` as a
//! `msg_type` 4 conversation), the group `event_notification`s (types 8–12), and
//! `msg_retract` (author only, within [`wire::RETRACT_WINDOW_MS`]; event 55 to the
//! receivers).
//!
//! Request shapes are the bundle's (see `tests/sdk/jmessage-agent.js`); response shapes
//! follow what the bundle reads (`gid`, `group_info` and `group_list` with `flag`,
//! `member_list` with `uid`/`mtime`, which it strips); refusals use the public "IM Web
//! ErrorCode" table ([`wire::code`]). Group events reach online members live and are kept
//! for the offline ones, who get them in `sync_event` at their next login
//! ([`super::offline`]).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::state::{now_ms, Refusal, Sandbox};
use crate::network::jmessage::across;
use crate::network::jmessage::wire::{self, code, event_type, Content, PushedMessage};

/// Group state and the sent-message ledger.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Book {
    groups: BTreeMap<i64, Group>,
    next_gid: i64,
    pub(super) sent: HashMap<i64, Sent>,
    /// Upload tokens by username ([`super::media`]).
    pub(super) tokens: HashMap<String, String>,
    /// Uploads by media_id ([`super::media`]).
    pub(super) media: HashMap<String, super::media::Media>,
    /// Events and receipt changes kept for offline users ([`super::offline`]).
    #[serde(default)]
    pub(super) pending: super::offline::Pending,
    /// No-disturb settings by username ([`super::nodisturb`]).
    #[serde(default)]
    pub(super) no_disturb: HashMap<String, super::nodisturb::NoDisturbSet>,
    /// Friends, invitations and blacklists ([`super::friends`]).
    #[serde(default)]
    pub(super) friends: super::friends::Friends,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Group {
    gid: i64,
    pub(super) name: String,
    desc: String,
    pub(super) owner: String,
    /// Members in the order they joined (the owner first).
    pub(super) members: Vec<String>,
    ctime_ms: i64,
    pub(super) mtime_ms: i64,
}

/// What recall needs to know of a sent message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Sent {
    pub(super) from: String,
    pub(super) ctime_ms: i64,
    /// 0 for single chat.
    pub(super) gid: i64,
    pub(super) receivers: Vec<String>,
    /// The receivers who have not reported it read (`receipt_report`).
    pub(super) unread: Vec<String>,
    /// The message as sent, for the Report v2 history ([`super::report`]); `None` in ledgers
    /// saved before it was kept.
    #[serde(default)]
    pub(super) content: Option<crate::network::jmessage::wire::Content>,
}

pub(super) fn refusal(c: i64, message: &str) -> Refusal {
    Refusal {
        code: c,
        message: message.to_owned(),
    }
}

impl Sandbox {
    pub(super) fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An `event_notification` body of `kind` from `from` about group `gid`, naming `to`.
    fn group_note(&self, kind: i64, from: &str, gid: i64, to: &[String], name: &str) -> Value {
        let (from_username, from_appkey) = across::split(from, &self.cfg.app_key);
        json!({
            "event_id": self.next_id(),
            "event_type": kind,
            "from_username": from_username,
            "from_appkey": from_appkey,
            "gid": gid,
            "to_usernames": to.iter().map(|u| self.user_json(u)).collect::<Vec<_>>(),
            "group_name": name,
            "ctime_ms": now_ms(),
            "description": "",
        })
    }

    /// Every group of the sandbox as `(gid, name, members)` (for tests and status).
    pub fn groups(&self) -> Vec<(i64, String, Vec<String>)> {
        self.book()
            .groups
            .values()
            .map(|g| (g.gid, g.name.clone(), g.members.clone()))
            .collect()
    }

    /// Creates a group owned by `owner` (a registered user); returns its gid. The gids
    /// count up from 10 000 000 (the service's are large integers).
    pub fn create_group(&self, owner: &str, name: &str, desc: &str) -> Result<i64, Refusal> {
        if name.is_empty() {
            return Err(refusal(code::INVALID_PARAMETER, "group_name is required"));
        }
        if name.len() > wire::MAX_GROUP_NAME_BYTES {
            return Err(refusal(
                code::GROUP_NAME_TOO_LONG,
                "length of group name exceed limit",
            ));
        }
        if desc.len() > wire::MAX_GROUP_DESC_BYTES {
            return Err(refusal(
                code::GROUP_DESC_TOO_LONG,
                "length of group desc exceed limit",
            ));
        }
        if !self.has_user(owner) {
            return Err(refusal(code::USER_NOT_EXIST, "user not exist"));
        }
        let now = now_ms();
        let gid = {
            let mut book = self.book();
            book.next_gid += 1;
            let gid = 10_000_000 + self.id_space() * super::apps::GID_SPACE + book.next_gid;
            book.groups.insert(
                gid,
                Group {
                    gid,
                    name: name.to_owned(),
                    desc: desc.to_owned(),
                    owner: owner.to_owned(),
                    members: vec![owner.to_owned()],
                    ctime_ms: now,
                    mtime_ms: now,
                },
            );
            gid
        };
        let to = [owner.to_owned()];
        let note = self.group_note(event_type::GROUP_CREATED, owner, gid, &to, name);
        self.notify(&to, &note);
        Ok(gid)
    }

    /// Whether this app holds group `gid`.
    pub(super) fn has_group(&self, gid: i64) -> bool {
        self.book().groups.contains_key(&gid)
    }

    /// The `group_list` entries of this app's groups `user` (as this app names them) is in.
    pub(super) fn groups_of(&self, user: &str) -> Vec<Value> {
        let groups: Vec<Group> = self
            .book()
            .groups
            .values()
            .filter(|g| g.members.iter().any(|m| m == user))
            .cloned()
            .collect();
        groups.iter().map(|g| self.group_json(g)).collect()
    }

    pub(super) fn group(&self, gid: i64) -> Result<Group, Refusal> {
        self.book()
            .groups
            .get(&gid)
            .cloned()
            .ok_or_else(|| refusal(code::TARGET_GROUP_NOT_EXIST, "target group not exist"))
    }

    pub(super) fn group_json(&self, g: &Group) -> Value {
        json!({
            "gid": g.gid, "name": g.name, "desc": g.desc, "appkey": self.cfg.app_key,
            "owner_username": across::split(&g.owner, &self.cfg.app_key).0, "flag": 0, "avatar": "",
            "max_member_count": 500, "ctime": g.ctime_ms / 1000, "mtime": g.mtime_ms / 1000,
        })
    }

    /// Adds `members` to `gid` on behalf of `by` (a member); every member (old and new)
    /// gets event 10.
    pub fn add_group_members(&self, by: &str, gid: i64, members: &[String]) -> Result<(), Refusal> {
        if members.is_empty() {
            return Err(refusal(code::ADD_ZERO_MEMBER, "zero member"));
        }
        if let Some(missing) = members.iter().find(|m| !self.has_user(m)) {
            return Err(refusal(
                code::MEMBER_NOT_EXIST,
                &format!("member not exist: {missing}"),
            ));
        }
        let (all, name) = {
            let mut book = self.book();
            let g = book
                .groups
                .get_mut(&gid)
                .ok_or_else(|| refusal(code::TARGET_GROUP_NOT_EXIST, "target group not exist"))?;
            if !g.members.iter().any(|m| m == by) {
                return Err(refusal(code::ADD_NOT_IN_GROUP, "user not in group"));
            }
            for m in members {
                if !g.members.contains(m) {
                    g.members.push(m.clone());
                }
            }
            (g.members.clone(), g.name.clone())
        };
        let note = self.group_note(event_type::GROUP_MEMBERS_ADDED, by, gid, members, &name);
        self.notify(&all, &note);
        Ok(())
    }

    /// Removes `members` from `gid` (only the owner may); the removed and the remaining get
    /// event 11.
    pub fn del_group_members(&self, by: &str, gid: i64, members: &[String]) -> Result<(), Refusal> {
        if members.is_empty() {
            return Err(refusal(code::INVALID_PARAMETER, "zero member"));
        }
        let (notified, name) = {
            let mut book = self.book();
            let g = book
                .groups
                .get_mut(&gid)
                .ok_or_else(|| refusal(code::TARGET_GROUP_NOT_EXIST, "target group not exist"))?;
            if g.owner != by {
                return Err(refusal(
                    code::DEL_NOT_PERMITTED,
                    "user not permitted delete member of group",
                ));
            }
            if members
                .iter()
                .any(|m| !g.members.contains(m) || *m == g.owner)
            {
                return Err(refusal(code::DEL_NOT_IN_GROUP, "user not in group"));
            }
            let notified = g.members.clone();
            g.members.retain(|m| !members.contains(m));
            (notified, g.name.clone())
        };
        let note = self.group_note(event_type::GROUP_MEMBERS_REMOVED, by, gid, members, &name);
        self.notify(&notified, &note);
        Ok(())
    }

    /// `by` leaves `gid`; the remaining members get event 9 (and the owner's leaving hands
    /// the group to the longest member; the last one out deletes it).
    pub fn exit_group(&self, by: &str, gid: i64) -> Result<(), Refusal> {
        let (remaining, name) = {
            let mut book = self.book();
            let g = book
                .groups
                .get_mut(&gid)
                .ok_or_else(|| refusal(code::TARGET_GROUP_NOT_EXIST, "target group not exist"))?;
            if !g.members.iter().any(|m| m == by) {
                return Err(refusal(code::EXIT_NOT_IN_GROUP, "user not in group"));
            }
            g.members.retain(|m| m != by);
            if g.owner == by {
                // The next owner is a member of the group's own app when there is one (the
                // group's `owner_username` is read with the group's `appkey`).
                let next = g
                    .members
                    .iter()
                    .find(|m| !m.contains(across::SEPARATOR))
                    .or_else(|| g.members.first());
                if let Some(next) = next {
                    g.owner = next.clone();
                }
            }
            let out = (g.members.clone(), g.name.clone());
            if g.members.is_empty() {
                book.groups.remove(&gid);
            }
            out
        };
        let note = self.group_note(
            event_type::GROUP_EXITED,
            by,
            gid,
            std::slice::from_ref(&by.to_owned()),
            &name,
        );
        self.notify(&remaining, &note);
        Ok(())
    }

    /// Updates the name and/or description of `gid` (by a member); every member gets event 12.
    pub fn update_group_info(
        &self,
        by: &str,
        gid: i64,
        name: Option<&str>,
        desc: Option<&str>,
    ) -> Result<(), Refusal> {
        if name.is_some_and(|n| n.len() > wire::MAX_GROUP_NAME_BYTES) {
            return Err(refusal(
                code::UPDATE_NAME_TOO_LONG,
                "length of group name exceed limit",
            ));
        }
        if desc.is_some_and(|d| d.len() > wire::MAX_GROUP_DESC_BYTES) {
            return Err(refusal(
                code::UPDATE_DESC_TOO_LONG,
                "length of group desc exceed limit",
            ));
        }
        let (members, new_name) = {
            let mut book = self.book();
            let g = book
                .groups
                .get_mut(&gid)
                .ok_or_else(|| refusal(code::TARGET_GROUP_NOT_EXIST, "target group not exist"))?;
            if !g.members.iter().any(|m| m == by) {
                return Err(refusal(code::USER_NOT_IN_GROUP, "user not in group"));
            }
            if let Some(n) = name.filter(|n| !n.is_empty()) {
                g.name = n.to_owned();
            }
            if let Some(d) = desc {
                g.desc = d.to_owned();
            }
            g.mtime_ms = now_ms();
            (g.members.clone(), g.name.clone())
        };
        let to = [by.to_owned()];
        let note = self.group_note(event_type::GROUP_INFO_UPDATED, by, gid, &to, &new_name);
        self.notify(&members, &note);
        Ok(())
    }

    /// Sends a group message from `from` (a member) to every other member of `gid`.
    /// Returns `(msg_id, ctime_ms)`.
    pub fn send_group(
        &self,
        from: &str,
        gid: i64,
        mut content: Content,
    ) -> Result<(i64, i64), Refusal> {
        if content.msg_body.to_string().len() > wire::MAX_CONTENT_BYTES {
            return Err(refusal(
                code::MESSAGE_TOO_LONG,
                "length of message exceed limit",
            ));
        }
        let from_uid = self
            .uid_of(from)
            .ok_or_else(|| refusal(code::USER_NOT_EXIST, "user not exist"))?;
        content.sui_mtime = self.profile_mtime(from);
        let g = self.group(gid)?;
        if !g.members.iter().any(|m| m == from) {
            return Err(refusal(code::USER_NOT_IN_GROUP, "user not in group"));
        }
        let msg_id = self.next_id();
        let ctime_ms = now_ms();
        // A member of another app sends as that app's user.
        let (from_username, from_appkey) = across::split(from, &self.cfg.app_key);
        content.from_id = from_username.to_owned();
        content.from_appkey = Some(from_appkey.to_owned());
        content.target_type = "group".into();
        content.target_id = gid.to_string();
        if content.target_name.is_none() {
            content.target_name = Some(g.name.clone());
        }
        content.target_appkey = Some(self.cfg.app_key.clone());
        if content.create_time == 0 {
            content.create_time = ctime_ms;
        }
        let msg = PushedMessage {
            msg_id,
            msg_type: wire::MSG_TYPE_GROUP,
            from_uid,
            from_gid: gid,
            ctime_ms,
            msg_level: 0,
            content,
        };
        let receivers: Vec<String> = g.members.into_iter().filter(|m| m != from).collect();
        self.deliver(&receivers, &msg);
        super::recall::record_sent(self, &msg, receivers);
        Ok((msg_id, ctime_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox::with_users_for_tests(&["alice", "bob", "carol"])
    }

    fn text(t: &str) -> Content {
        serde_json::from_value(json!({"target_type":"group","target_id":"0","from_id":"x",
            "msg_type":"text","msg_body":{"text": t}}))
        .unwrap()
    }

    #[test]
    fn groups_check_membership_and_owner_with_the_web_codes() {
        let sb = sandbox();
        let gid = sb.create_group("alice", "team", "").unwrap();
        assert_eq!(
            sb.send_group("bob", gid, text("x")).unwrap_err().code,
            code::USER_NOT_IN_GROUP
        );
        assert_eq!(
            sb.add_group_members("bob", gid, &["carol".into()])
                .unwrap_err()
                .code,
            code::ADD_NOT_IN_GROUP
        );
        assert_eq!(
            sb.add_group_members("alice", gid, &["nobody".into()])
                .unwrap_err()
                .code,
            code::MEMBER_NOT_EXIST
        );
        sb.add_group_members("alice", gid, &["bob".into(), "carol".into()])
            .unwrap();
        assert_eq!(
            sb.del_group_members("bob", gid, &["carol".into()])
                .unwrap_err()
                .code,
            code::DEL_NOT_PERMITTED
        );
        assert_eq!(
            sb.send_group("bob", 1, text("x")).unwrap_err().code,
            code::TARGET_GROUP_NOT_EXIST
        );
        let (id, _) = sb.send_group("bob", gid, text("hi")).unwrap();
        // Offline fan-out: alice and carol hold it as a group conversation.
        let (convs, ids) = sb.pending_conversations("carol");
        assert_eq!(ids, vec![id]);
        assert_eq!(convs[0]["msg_type"], 4);
        assert_eq!(convs[0]["from_gid"], gid);
        assert!(sb.pending_conversations("bob").1.is_empty());
        sb.exit_group("carol", gid).unwrap();
        assert_eq!(sb.groups()[0].2, vec!["alice", "bob"]);
        assert_eq!(
            sb.create_group("alice", &"n".repeat(65), "")
                .unwrap_err()
                .code,
            code::GROUP_NAME_TOO_LONG
        );
    }
}
