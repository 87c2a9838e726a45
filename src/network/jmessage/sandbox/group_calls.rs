//! The group and recall calls of a logged-in user, answered for the socket
//! ([`super::sio`]): `create_group`, `get_group_info`, `get_groups_list`,
//! `get_group_members`, `add_across_group_member`, `del_across_group_member`,
//! `update_group_info`, `exit_group`, `send_group_msg` and `msg_retract`, with the request
//! shapes of the Web SDK 2.5.0 bundle. A call naming a group of another app of the federation,
//! or a message in another app's ledger, is carried out by that app ([`super::apps`]).

use serde_json::{json, Value};

use super::groups::refusal;
use super::state::{Refusal, Sandbox};
use crate::network::jmessage::across;
use crate::network::jmessage::wire::{code, event, Content};

fn ok(extra: Value) -> Value {
    let mut v = json!({"code": 0, "message": "success"});
    if let (Some(obj), Some(more)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in more {
            obj.insert(k.clone(), val.clone());
        }
    }
    v
}

/// A gid as the SDK sends it: a number, or a string of digits (`target_gid`).
fn gid_of(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The users of a `member_usernames` list (`[{username, appkey?}]`; bare strings are taken
/// too), named as app `own_app` names them ([`across`]).
fn usernames(v: &Value, own_app: &str) -> Option<Vec<String>> {
    let list = v.as_array()?;
    list.iter().map(|m| across::from_json(m, own_app)).collect()
}

/// Answers a group or recall call of logged-in `user`; `None` when `name` is none of them.
/// A call about a group of another app of the federation, or about a message in another
/// app's ledger, is carried out by that app for `user` as it names them ([`super::apps`]).
pub(super) fn handle(sandbox: &Sandbox, user: &str, name: &str, data: &Value) -> Option<Value> {
    let own = &sandbox.cfg.app_key;
    let elsewhere = match name {
        event::GET_GROUP_INFO
        | event::GET_GROUP_MEMBERS
        | event::ADD_ACROSS_GROUP_MEMBER
        | event::DEL_ACROSS_GROUP_MEMBER
        | event::UPDATE_GROUP_INFO
        | event::EXIT_GROUP
        | event::SEND_GROUP_MSG => gid_of(&data["gid"])
            .or_else(|| gid_of(&data["target_gid"]))
            .filter(|gid| !sandbox.has_group(*gid))
            .and_then(|gid| sandbox.peer_apps().into_iter().find(|p| p.has_group(gid))),
        event::MSG_RETRACT => data["msg_id"]
            .as_i64()
            .filter(|id| !sandbox.book().sent.contains_key(id))
            .and_then(|id| {
                sandbox
                    .peer_apps()
                    .into_iter()
                    .find(|p| p.book().sent.contains_key(&id))
            }),
        _ => None,
    };
    if let Some(home) = elsewhere {
        // Members the caller names bare are the caller's app's users: say so explicitly,
        // so the group's app does not take them for its own.
        let mut data = data.clone();
        if let Some(list) = data["member_usernames"].as_array_mut() {
            for m in list.iter_mut() {
                if let Some(named) = across::from_json(m, own) {
                    *m = across::to_json(&named, own);
                }
            }
        }
        return own_handle(&home, &home.name_of(user, own), name, &data);
    }
    let mut answer = own_handle(sandbox, user, name, data)?;
    if name == event::GET_GROUPS_LIST {
        // Groups of other apps that `user` was added to.
        for app in sandbox.peer_apps() {
            let there = app.name_of(user, own);
            let list = app.groups_of(&there);
            if let Some(all) = answer["group_list"].as_array_mut() {
                all.extend(list);
            }
        }
    }
    Some(answer)
}

/// [`handle`] within this app.
fn own_handle(sandbox: &Sandbox, user: &str, name: &str, data: &Value) -> Option<Value> {
    let gid = || {
        gid_of(&data["gid"]).ok_or_else(|| refusal(code::INVALID_PARAMETER, "invalid parameter"))
    };
    let members = || {
        usernames(&data["member_usernames"], &sandbox.cfg.app_key)
            .ok_or_else(|| refusal(code::INVALID_PARAMETER, "invalid parameter"))
    };
    let result: Result<Value, Refusal> = match name {
        event::CREATE_GROUP => {
            let name = data["group_name"].as_str().unwrap_or_default();
            let desc = data["group_description"].as_str().unwrap_or_default();
            sandbox
                .create_group(user, name, desc)
                .map(|gid| ok(json!({ "gid": gid })))
        }
        event::GET_GROUP_INFO => gid().and_then(|gid| sandbox.group(gid)).and_then(|g| {
            if g.members.iter().any(|m| m == user) {
                Ok(ok(json!({ "group_info": sandbox.group_json(&g) })))
            } else {
                Err(refusal(code::USER_NOT_IN_GROUP, "user not in group"))
            }
        }),
        event::GET_GROUPS_LIST => Ok(ok(json!({ "group_list": sandbox.groups_of(user) }))),
        event::GET_GROUP_MEMBERS => gid().and_then(|gid| sandbox.group(gid)).and_then(|g| {
            if !g.members.iter().any(|m| m == user) {
                return Err(refusal(code::USER_NOT_IN_GROUP, "user not in group"));
            }
            let list: Vec<Value> = g
                .members
                .iter()
                .map(|m| {
                    let mut entry = sandbox.user_json(m);
                    entry["nickname"] = json!("");
                    entry["flag"] = json!(i64::from(*m == g.owner));
                    entry["uid"] = json!(sandbox.uid_of(m).unwrap_or(0));
                    entry["mtime"] = json!(g.mtime_ms / 1000);
                    entry
                })
                .collect();
            Ok(ok(json!({ "member_list": list })))
        }),
        event::ADD_ACROSS_GROUP_MEMBER => gid()
            .and_then(|gid| Ok((gid, members()?)))
            .and_then(|(gid, m)| sandbox.add_group_members(user, gid, &m))
            .map(|()| ok(json!({}))),
        event::DEL_ACROSS_GROUP_MEMBER => gid()
            .and_then(|gid| Ok((gid, members()?)))
            .and_then(|(gid, m)| sandbox.del_group_members(user, gid, &m))
            .map(|()| ok(json!({}))),
        event::UPDATE_GROUP_INFO => gid()
            .and_then(|gid| {
                sandbox.update_group_info(
                    user,
                    gid,
                    data["group_name"].as_str(),
                    data["group_description"].as_str(),
                )
            })
            .map(|()| ok(json!({}))),
        event::EXIT_GROUP => gid()
            .and_then(|gid| sandbox.exit_group(user, gid))
            .map(|()| ok(json!({}))),
        event::SEND_GROUP_MSG => {
            let content = data
                .get("content")
                .cloned()
                .and_then(|c| serde_json::from_value::<Content>(c).ok());
            match (gid_of(&data["target_gid"]), content) {
                (Some(gid), Some(content)) => sandbox
                    .send_group(user, gid, content)
                    .map(|(msg_id, ctime_ms)| ok(json!({"msg_id": msg_id, "ctime_ms": ctime_ms}))),
                _ => Err(refusal(code::INVALID_PARAMETER, "invalid parameter")),
            }
        }
        event::MSG_RETRACT => match data["msg_id"].as_i64() {
            Some(id) => sandbox.retract(user, id).map(|()| ok(json!({}))),
            None => Err(refusal(code::INVALID_PARAMETER, "invalid parameter")),
        },
        _ => return None,
    };
    Some(result.unwrap_or_else(|r| json!({"code": r.code, "message": r.message})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox::with_users_for_tests(&["alice", "bob", "carol"])
    }

    #[test]
    fn malformed_calls_are_refused_not_panicked() {
        let sb = sandbox();
        for (name, data) in [
            (event::CREATE_GROUP, json!(null)),
            (event::GET_GROUP_INFO, json!({"gid": "x"})),
            (
                event::ADD_ACROSS_GROUP_MEMBER,
                json!({"gid": 1, "member_usernames": 5}),
            ),
            (
                event::SEND_GROUP_MSG,
                json!({"target_gid": [], "content": 1}),
            ),
            (event::MSG_RETRACT, json!({"msg_id": "1"})),
            (event::EXIT_GROUP, json!([])),
        ] {
            let r = handle(&sb, "alice", name, &data).unwrap();
            assert_ne!(r["code"], 0, "{name}: {r}");
        }
        assert!(handle(&sb, "alice", "no_such_event", &json!({})).is_none());
    }
}
