//! The sandbox's friends and blacklists.
//!
//! * `add_friend {target_name, why, appkey?, from_type: 1}` invites: the target gets
//!   `event_notification {event_type: 5, extra: 1, from_username, description: why}`.
//! * `add_friend {target_name, why, from_type: 2}` answers a pending invitation from
//!   `target_name`: `why == "yes"` (what the SDK's `acceptFriend` sends) accepts, anything
//!   else refuses; the inviter gets `{event_type: 5, extra: 2, return_code: 0 | 1,
//!   description: why}`. An accept makes both friends.
//! * `del_friend {target_name}` ends the friendship both ways; the other gets `{event_type: 6}`.
//! * `get_friend_list` → `{friend_list: [{uid, username, nickname, appkey, memo_name, mtime}]}`.
//! * `add_black_list` / `del_black_list {member_usernames: [{username, appkey?}]}` and
//!   `get_black_list` → `{black_list: [{uid, username, appkey, nickname}]}`; a single message
//!   to a user who blacklisted the sender is refused with 880207 (the Web SDK's error table,
//!   docs.jiguang.cn/jmessage/client/im_errorcode_js: "user in blacklist / 用户被对方拉黑";
//!   the mobile SDKs' TCP code is 803008) ([`Sandbox::blacklisted_by`]).
//!
//! Friends, invitations and blacklists may name users of another app of the federation
//! (`appkey` beside the name, [`super::apps`]): each app keeps its own users' records, naming
//! the other app's user `name/appkey`; an invitation waits in the invitee's app, and a
//! friendship is written on both sides, each in its app.
//!
//! Unknown users are 880103; an answer with nothing pending, an invitation to oneself or to a
//! friend 805002, removing a non-friend 805003 (sandbox choices). Kept with the groups
//! ([`super::groups::Book`]), so persisted with them. Events for offline users wait for their
//! next login ([`Sandbox::notify`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::apps::Whose;
use super::state::{now_ms, Sandbox};
use crate::network::jmessage::across;
use crate::network::jmessage::wire::{self, code, event, event_type};

/// Friends, pending invitations and blacklists of every user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Friends {
    /// Each user's friends.
    friends: HashMap<String, BTreeSet<String>>,
    /// Pending invitations: invitee → inviter → reason.
    invitations: HashMap<String, BTreeMap<String, String>>,
    /// Each user's blacklist.
    blacklists: HashMap<String, BTreeSet<String>>,
}

impl Sandbox {
    /// `user`'s friends, sorted.
    pub fn friends_of(&self, user: &str) -> Vec<String> {
        let book = self.book();
        let set = book.friends.friends.get(user);
        set.map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// `user`'s blacklist, sorted.
    pub fn blacklist_of(&self, user: &str) -> Vec<String> {
        let book = self.book();
        let set = book.friends.blacklists.get(user);
        set.map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether `target` has `sender` on their blacklist (their single messages are refused).
    pub fn blacklisted_by(&self, target: &str, sender: &str) -> bool {
        self.book()
            .friends
            .blacklists
            .get(target)
            .is_some_and(|s| s.contains(sender))
    }

    /// The invitations waiting for `user`'s answer, as `(inviter, reason)`.
    pub fn friend_invitations_of(&self, user: &str) -> Vec<(String, String)> {
        let book = self.book();
        let pending = book.friends.invitations.get(user);
        pending
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    fn friend_note(&self, kind: i64, from: &str, extra: i64, return_code: i64, why: &str) -> Value {
        json!({
            "event_id": self.next_id(),
            "event_type": kind,
            "extra": extra,
            "return_code": return_code,
            "from_username": from,
            "from_appkey": self.cfg.app_key,
            "from_uid": self.uid_of(from).unwrap_or(0),
            "gid": 0,
            "to_usernames": [],
            "ctime_ms": now_ms(),
            "description": why,
        })
    }

    fn user_entry(&self, user: &str) -> Value {
        let nickname = self.profile(user).map(|p| p.nickname).unwrap_or_default();
        let mut entry = self.user_json(user);
        entry["uid"] = json!(self.uid_of(user).unwrap_or(0));
        entry["nickname"] = json!(nickname);
        entry["memo_name"] = json!("");
        entry["mtime"] = json!(now_ms() / 1000);
        entry
    }
}

fn fail(c: i64, m: &str) -> Value {
    json!({"code": c, "message": m})
}

fn ok() -> Value {
    json!({"code": 0, "message": "success"})
}

/// The users of a `member_usernames` list (objects with `username` and `appkey?`, or plain
/// strings), named as app `own_app` names them (another app's `bob` is `bob/<appkey>`).
fn member_usernames(data: &Value, own_app: &str) -> Option<Vec<String>> {
    let list = data["member_usernames"].as_array()?;
    let names: Vec<String> = list
        .iter()
        .filter_map(|m| across::from_json(m, own_app))
        .collect();
    (!names.is_empty()).then_some(names)
}

/// Answers the friend and blacklist calls of logged-in `user`; `None` for other events.
pub(super) fn handle(sandbox: &Sandbox, user: &str, name: &str, data: &Value) -> Option<Value> {
    match name {
        event::ADD_FRIEND => Some(add_friend(sandbox, user, data)),
        event::DEL_FRIEND => {
            let target = match friend_target(sandbox, data) {
                Ok(t) => t,
                Err(refused) => return Some(refused),
            };
            let target = target.as_str();
            if !sandbox.has_user(target) {
                return Some(fail(code::USER_NOT_EXIST, "user not exist"));
            }
            {
                let mut book = sandbox.book();
                let f = &mut book.friends.friends;
                if !f.get(user).is_some_and(|s| s.contains(target)) {
                    return Some(fail(code::NOT_FRIEND, "not friend"));
                }
                f.entry(user.to_owned()).or_default().remove(target);
            }
            sandbox.at_home(
                target,
                |app, t, me| {
                    let mut book = app.book();
                    book.friends
                        .friends
                        .entry(t.to_owned())
                        .or_default()
                        .remove(me);
                },
                user,
            );
            let note = sandbox.friend_note(event_type::FRIEND_DELETED, user, 0, 0, "");
            sandbox.notify(&[target.to_owned()], &note);
            Some(ok())
        }
        event::GET_FRIEND_LIST => {
            let list: Vec<Value> = sandbox
                .friends_of(user)
                .iter()
                .map(|f| sandbox.user_entry(f))
                .collect();
            Some(json!({"code": 0, "message": "success", "friend_list": list}))
        }
        event::ADD_BLACK_LIST | event::DEL_BLACK_LIST => {
            let Some(names) = member_usernames(data, &sandbox.cfg.app_key) else {
                return Some(fail(
                    code::INVALID_PARAMETER,
                    "member_usernames is required",
                ));
            };
            if let Some(unknown) = names.iter().find(|n| !sandbox.has_user(n)) {
                return Some(fail(
                    code::USER_NOT_EXIST,
                    &format!("user {unknown} not exist"),
                ));
            }
            let mut book = sandbox.book();
            let set = book.friends.blacklists.entry(user.to_owned()).or_default();
            for n in names {
                if name == event::ADD_BLACK_LIST {
                    set.insert(n);
                } else {
                    set.remove(&n);
                }
            }
            Some(ok())
        }
        event::GET_BLACK_LIST => {
            let list: Vec<Value> = sandbox
                .blacklist_of(user)
                .iter()
                .map(|u| {
                    let mut e = sandbox.user_entry(u);
                    if let Some(o) = e.as_object_mut() {
                        o.remove("memo_name");
                        o.remove("mtime");
                    }
                    e
                })
                .collect();
            Some(json!({"code": 0, "message": "success", "black_list": list}))
        }
        _ => None,
    }
}

/// The `target_name` of a friend call with its `appkey` (another app's user, cross-app), as
/// this app names them.
fn friend_target(sandbox: &Sandbox, data: &Value) -> Result<String, Value> {
    let Some(target) = data["target_name"].as_str().filter(|t| !t.is_empty()) else {
        return Err(fail(code::INVALID_PARAMETER, "target_name is required"));
    };
    let appkey = data["appkey"]
        .as_str()
        .filter(|k| !k.is_empty())
        .unwrap_or(&sandbox.cfg.app_key);
    Ok(sandbox.name_of(target, appkey))
}

impl Sandbox {
    /// Runs `f` on the app keeping the records of `name` (as this app names them: this app
    /// or another of the federation), with `name` and this app's user `me` as that app names
    /// them. Nothing for a user of an app not served. Call it with no lock held.
    fn at_home(&self, name: &str, f: impl FnOnce(&Sandbox, &str, &str), me: &str) {
        match self.whose(name) {
            Whose::Here => f(self, name, me),
            Whose::There(app, there) => {
                let me_there = app.name_of(me, &self.cfg.app_key);
                f(&app, there, &me_there)
            }
            Whose::Nowhere => {}
        }
    }
}

fn add_friend(sandbox: &Sandbox, user: &str, data: &Value) -> Value {
    let target = match friend_target(sandbox, data) {
        Ok(t) => t,
        Err(refused) => return refused,
    };
    let target = target.as_str();
    if !sandbox.has_user(target) {
        return fail(code::USER_NOT_EXIST, "user not exist");
    }
    let why = data["why"].as_str().unwrap_or_default().to_owned();
    let note = match data["from_type"].as_i64() {
        Some(wire::FRIEND_INVITE) => {
            let book = sandbox.book();
            let f = &book.friends;
            if target == user || f.friends.get(user).is_some_and(|s| s.contains(target)) {
                return fail(code::FRIEND_REFUSED, "already friend or self");
            }
            drop(book);
            // The invitation waits with the invitee, in their app.
            sandbox.at_home(
                target,
                |app, t, me| {
                    let mut book = app.book();
                    let pending = book.friends.invitations.entry(t.to_owned());
                    pending.or_default().insert(me.to_owned(), why.clone());
                },
                user,
            );
            sandbox.friend_note(
                event_type::FRIEND_INVITATION,
                user,
                wire::FRIEND_EXTRA_INVITED,
                0,
                &why,
            )
        }
        Some(wire::FRIEND_INVITED) => {
            let accept = why == wire::FRIEND_ACCEPT_WHY;
            let mut book = sandbox.book();
            let pending = book.friends.invitations.entry(user.to_owned()).or_default();
            if pending.remove(target).is_none() {
                return fail(code::FRIEND_REFUSED, "no friend invitation from target");
            }
            if accept {
                let f = &mut book.friends.friends;
                f.entry(user.to_owned())
                    .or_default()
                    .insert(target.to_owned());
            }
            drop(book);
            if accept {
                sandbox.at_home(
                    target,
                    |app, t, me| {
                        let mut book = app.book();
                        let f = &mut book.friends.friends;
                        f.entry(t.to_owned()).or_default().insert(me.to_owned());
                    },
                    user,
                );
            }
            sandbox.friend_note(
                event_type::FRIEND_INVITATION,
                user,
                wire::FRIEND_EXTRA_ANSWERED,
                if accept { 0 } else { 1 },
                &why,
            )
        }
        _ => return fail(code::INVALID_PARAMETER, "from_type must be 1 or 2"),
    };
    sandbox.notify(&[target.to_owned()], &note);
    ok()
}
