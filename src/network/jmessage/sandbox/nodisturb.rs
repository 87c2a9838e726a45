//! The sandbox's no-disturb settings: `no_disturb {version}` → `{no_disturb: {global: 0|1,
//! users: [{username, appkey, nickname}], groups: [{gid, name}]}}` (what the Web SDK 2.5.0's
//! `getNoDisturb` hands to its caller), and `add|delete_msg_no_disturb_single {target_name,
//! appkey?}`, `add|delete_msg_no_disturb_group {gid}`, `add|delete_msg_no_disturb_global`
//! (idempotent; an unknown user 880103, an unknown group 880204, a group the user is not in
//! 880205). Kept per user with the groups ([`super::groups::Book`]), so persisted with them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::groups::refusal;
use super::state::Sandbox;
use crate::network::jmessage::wire::{code, event};

/// One user's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NoDisturbSet {
    pub global: bool,
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<i64>,
}

impl Sandbox {
    /// `user`'s no-disturb settings (empty when never set).
    pub fn no_disturb_of(&self, user: &str) -> NoDisturbSet {
        self.book()
            .no_disturb
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// The members of group `gid`; `None` when there is no such group.
    fn group_members(&self, gid: i64) -> Option<Vec<String>> {
        self.groups()
            .into_iter()
            .find(|g| g.0 == gid)
            .map(|(_, _, members)| members)
    }

    fn no_disturb_json(&self, user: &str) -> Value {
        let set = self.no_disturb_of(user);
        // Groups of other apps of the federation too (a member of another app's group).
        let mut all = self.groups();
        for app in self.peer_apps() {
            all.extend(app.groups());
        }
        let names: Vec<(i64, String)> = all
            .into_iter()
            .filter(|g| set.groups.contains(&g.0))
            .map(|(gid, name, _)| (gid, name))
            .collect();
        let users: Vec<Value> = set
            .users
            .iter()
            .map(|u| {
                let nickname = self.profile(u).map(|p| p.nickname).unwrap_or_default();
                let mut entry = self.user_json(u);
                entry["nickname"] = json!(nickname);
                entry
            })
            .collect();
        let groups: Vec<Value> = names
            .into_iter()
            .map(|(gid, name)| json!({"gid": gid, "name": name}))
            .collect();
        json!({"global": i64::from(set.global), "users": users, "groups": groups})
    }
}

fn gid_of(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Answers the no-disturb calls of logged-in `user`; `None` for other events.
pub(super) fn handle(sandbox: &Sandbox, user: &str, name: &str, data: &Value) -> Option<Value> {
    let ok = || json!({"code": 0, "message": "success"});
    let fail = |c: i64, m: &str| {
        let r = refusal(c, m);
        json!({"code": r.code, "message": r.message})
    };
    let on = matches!(
        name,
        event::ADD_NO_DISTURB_SINGLE | event::ADD_NO_DISTURB_GROUP | event::ADD_NO_DISTURB_GLOBAL
    );
    match name {
        event::NO_DISTURB => Some(json!({"code": 0, "message": "success",
            "no_disturb": sandbox.no_disturb_json(user)})),
        event::ADD_NO_DISTURB_SINGLE | event::DELETE_NO_DISTURB_SINGLE => {
            let Some(target) = data["target_name"].as_str().filter(|t| !t.is_empty()) else {
                return Some(fail(code::INVALID_PARAMETER, "target_name is required"));
            };
            // A user of another app is kept as this app names them.
            let appkey = data["appkey"].as_str().unwrap_or(&sandbox.cfg.app_key);
            let target = &sandbox.name_of(target, appkey);
            if !sandbox.has_user(target) {
                return Some(fail(code::USER_NOT_EXIST, "user not exist"));
            }
            let mut book = sandbox.book();
            let set = book.no_disturb.entry(user.to_owned()).or_default();
            if on {
                set.users.insert(target.to_owned());
            } else {
                set.users.remove(target);
            }
            Some(ok())
        }
        event::ADD_NO_DISTURB_GROUP | event::DELETE_NO_DISTURB_GROUP => {
            let Some(gid) = gid_of(&data["gid"]) else {
                return Some(fail(code::INVALID_PARAMETER, "gid is required"));
            };
            // The group may be another app's, which names `user` its own way.
            let members = sandbox
                .group_members(gid)
                .map(|m| (m, user.to_owned()))
                .or_else(|| {
                    sandbox.peer_apps().iter().find_map(|app| {
                        let me = app.name_of(user, &sandbox.cfg.app_key);
                        app.group_members(gid).map(|m| (m, me))
                    })
                });
            match members {
                None => return Some(fail(code::TARGET_GROUP_NOT_EXIST, "target group not exist")),
                Some((m, me)) if !m.contains(&me) => {
                    return Some(fail(code::USER_NOT_IN_GROUP, "user not in group"))
                }
                Some(_) => {}
            }
            let mut book = sandbox.book();
            let set = book.no_disturb.entry(user.to_owned()).or_default();
            if on {
                set.groups.insert(gid);
            } else {
                set.groups.remove(&gid);
            }
            Some(ok())
        }
        event::ADD_NO_DISTURB_GLOBAL | event::DELETE_NO_DISTURB_GLOBAL => {
            sandbox
                .book()
                .no_disturb
                .entry(user.to_owned())
                .or_default()
                .global = on;
            Some(ok())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::jmessage::sandbox::SandboxConfig;

    #[test]
    fn settings_per_user_checked_and_idempotent() {
        let sb = Sandbox::new(SandboxConfig::new("appkey", "secret"));
        for u in ["alice", "bob"] {
            assert!(sb.register(u, "pw"));
        }
        let gid = sb.create_group("bob", "g", "").unwrap();
        let call = |user: &str, name: &str, d: Value| handle(&sb, user, name, &d).unwrap();
        let single = json!({"target_name": "bob", "version": 0});
        assert_eq!(
            call("alice", event::ADD_NO_DISTURB_SINGLE, single.clone())["code"],
            0
        );
        assert_eq!(
            call("alice", event::ADD_NO_DISTURB_SINGLE, single)["code"],
            0
        );
        assert_eq!(
            call(
                "alice",
                event::ADD_NO_DISTURB_SINGLE,
                json!({"target_name": "zed"})
            )["code"],
            code::USER_NOT_EXIST
        );
        assert_eq!(
            call("alice", event::ADD_NO_DISTURB_GROUP, json!({ "gid": gid }))["code"],
            code::USER_NOT_IN_GROUP
        );
        assert_eq!(
            call(
                "bob",
                event::ADD_NO_DISTURB_GROUP,
                json!({ "gid": gid.to_string() })
            )["code"],
            0
        );
        assert_eq!(
            call("bob", event::ADD_NO_DISTURB_GLOBAL, json!({}))["code"],
            0
        );
        let nd = call("bob", event::NO_DISTURB, json!({"version": 0}));
        assert_eq!(nd["no_disturb"]["global"], 1);
        assert_eq!(nd["no_disturb"]["groups"][0]["gid"], gid);
        assert_eq!(nd["no_disturb"]["groups"][0]["name"], "g");
        let nd = call("alice", event::NO_DISTURB, json!({}));
        assert_eq!(nd["no_disturb"]["users"][0]["username"], "bob");
        assert_eq!(nd["no_disturb"]["global"], 0);
        call(
            "alice",
            event::DELETE_NO_DISTURB_SINGLE,
            json!({"target_name": "bob"}),
        );
        assert!(sb.no_disturb_of("alice").users.is_empty());
        assert!(handle(&sb, "alice", "other", &json!({})).is_none());
    }
}
