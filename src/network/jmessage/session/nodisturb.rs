//! No-disturb in the session: reading the user's settings (`no_disturb`, the SDK's
//! `getNoDisturb`) and switching one chat's or the account's on or off (the SDK's
//! `add|delSingleNoDisturb`, `add|delGroupNoDisturb`, `add|delGlobalNoDisturb`), every
//! request with `version: 0` as the Web SDK 2.5.0 sends it. JMessage's no-disturb is on or
//! off: a chat is either in the lists or not.

use std::time::Instant;

use serde_json::{json, Value};

use super::{SendError, Session};
use crate::network::jmessage::wire::event;

/// The user's no-disturb settings as `no_disturb` answers them (`no_disturb`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoDisturb {
    /// Account-wide no-disturb (`global` 1).
    pub global: bool,
    /// Users whose single chat is on no-disturb (`users[]`, named as
    /// [`crate::network::jmessage::across`] does).
    pub users: Vec<String>,
    /// Groups on no-disturb (`groups[].gid`, a number or a string of digits).
    pub groups: Vec<i64>,
}

impl NoDisturb {
    /// Reads a `no_disturb` object as a user of app `own_app` sees it (`users` named as
    /// [`crate::network::jmessage::across`] does); missing lists are empty. `None` when it is
    /// not an object.
    pub fn from_value(v: &Value, own_app: &str) -> Option<Self> {
        v.as_object()?;
        let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
        Some(Self {
            global: v["global"].as_i64() == Some(1) || v["global"].as_bool() == Some(true),
            users: list("users")
                .iter()
                .filter_map(|u| crate::network::jmessage::across::from_json(u, own_app))
                .collect(),
            groups: list("groups")
                .iter()
                .filter_map(|g| {
                    let gid = if g.is_object() { &g["gid"] } else { g };
                    gid.as_i64()
                        .or_else(|| gid.as_str().and_then(|s| s.trim().parse().ok()))
                })
                .collect(),
        })
    }
}

impl Session {
    /// `no_disturb {version: 0}` → `{no_disturb}` ([`NoDisturb::from_value`]).
    pub fn no_disturb(&mut self, now: Instant) -> Result<u64, SendError> {
        self.call(event::NO_DISTURB, json!({ "version": 0 }), now)
    }

    /// Puts the single chat with `username` (named as [`crate::network::jmessage::across`]
    /// does) on no-disturb (`on`) or takes it off.
    pub fn set_single_no_disturb(
        &mut self,
        username: &str,
        on: bool,
        now: Instant,
    ) -> Result<u64, SendError> {
        let name = if on {
            event::ADD_NO_DISTURB_SINGLE
        } else {
            event::DELETE_NO_DISTURB_SINGLE
        };
        let (target, appkey) = crate::network::jmessage::across::split(username, &self.cfg.app_key);
        let data = json!({ "target_name": target, "appkey": appkey, "version": 0 });
        self.call(name, data, now)
    }

    /// Puts group `gid` on no-disturb (`on`) or takes it off.
    pub fn set_group_no_disturb(
        &mut self,
        gid: i64,
        on: bool,
        now: Instant,
    ) -> Result<u64, SendError> {
        let name = if on {
            event::ADD_NO_DISTURB_GROUP
        } else {
            event::DELETE_NO_DISTURB_GROUP
        };
        self.call(name, json!({ "gid": gid, "version": 0 }), now)
    }

    /// Switches account-wide no-disturb on (`on`) or off.
    pub fn set_global_no_disturb(&mut self, on: bool, now: Instant) -> Result<u64, SendError> {
        let name = if on {
            event::ADD_NO_DISTURB_GLOBAL
        } else {
            event::DELETE_NO_DISTURB_GLOBAL
        };
        self.call(name, json!({ "version": 0 }), now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::super::tests::{drain, logged_in};
    use super::*;

    #[test]
    fn requests_as_the_sdk_sends_them_and_answers_read() {
        let now = Instant::now();
        let mut s = logged_in(now);
        s.no_disturb(now).unwrap();
        s.set_single_no_disturb("bob", true, now).unwrap();
        s.set_group_no_disturb(7, false, now).unwrap();
        s.set_global_no_disturb(true, now).unwrap();
        let (sent, _, _) = drain(&mut s);
        let names: Vec<&str> = sent.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "no_disturb",
                "add_msg_no_disturb_single",
                "delete_msg_no_disturb_group",
                "add_msg_no_disturb_global"
            ]
        );
        assert_eq!(sent[1].1["target_name"], "bob");
        assert_eq!(sent[1].1["version"], 0);
        assert_eq!(sent[2].1["gid"], 7);
        let nd = NoDisturb::from_value(
            &json!({"global": 1,
            "users": [{"username": "bob", "appkey": "k"}, {"username": "eve", "appkey": "o"}],
            "groups": [{"gid": 7, "name": "g"}, {"gid": "8"}, {"name": "no gid"}]}),
            "k",
        )
        .unwrap();
        assert_eq!(
            nd,
            NoDisturb {
                global: true,
                users: vec!["bob".into(), "eve/o".into()],
                groups: vec![7, 8]
            }
        );
        assert_eq!(
            NoDisturb::from_value(&json!({}), "k"),
            Some(NoDisturb::default())
        );
        assert_eq!(NoDisturb::from_value(&json!(3), "k"), None);
    }
}
