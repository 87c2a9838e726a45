//! The sandbox's group commands: `group_open_http_svc.<command>` (and, for Communities,
//! `million_group_open_http_svc.<command>`) request bodies read and answered, from the REST
//! admin API or a logged-in websocket instance, on top of [`super::groups`].

use rand::Rng;
use serde_json::{json, Value};

use super::super::wire::{self, code};
use super::groups::{GroupSendMeta, ProfileChange, GROUP_NOT_FOUND};
use super::state::Sandbox;
use super::ws::ok;

/// `Name`/`Introduction`/`Notification`/`FaceUrl` of a request body.
pub fn profile_change(b: &Value) -> ProfileChange {
    let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_owned);
    ProfileChange {
        name: s("Name"),
        introduction: s("Introduction"),
        notification: s("Notification"),
        face_url: s("FaceUrl"),
    }
}

/// Account names of a list that holds strings or `{Member_Account}` objects.
pub fn accounts(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            m.as_str()
                .or_else(|| m.get("Member_Account").and_then(Value::as_str))
                .map(str::to_owned)
        })
        .collect()
}

fn err((c, info): (i64, String)) -> Value {
    wire::error_body(c, &info)
}

fn str_field<'a>(b: &'a Value, k: &str) -> &'a str {
    b.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// A group command (`group_open_http_svc.<command>`) from the REST admin API (`user` is
/// `None`: the admin; `From_Account` chooses the sender) or from a logged-in websocket
/// instance (`Some((user, conn id))`). `None` when the command is not a group command.
pub fn handle(sb: &Sandbox, command: &str, user: Option<(&str, u64)>, b: &Value) -> Option<Value> {
    let admin = sb.cfg.admin.clone();
    let me = user.map_or(admin.as_str(), |(u, _)| u);
    // A message to a Community topic names the group in `GroupId` and the topic in
    // `TopicId` (the SDK's `send_group_msg` / `group_msg_get` bodies for a topic id).
    let group_id = match str_field(b, "TopicId") {
        "" => str_field(b, "GroupId"),
        topic => topic,
    };
    Some(match command {
        "create_group" => {
            let owner = b
                .get("Owner_Account")
                .and_then(Value::as_str)
                .unwrap_or(me)
                .to_owned();
            let members = accounts(b.get("MemberList"));
            let kind = b.get("Type").and_then(Value::as_str).unwrap_or("Public");
            match sb.create_group(kind, group_id, str_field(b, "Name"), &owner, &members) {
                Ok(id) => {
                    sb.init_group_profile(&id, &profile_change(b));
                    if b.get("SupportTopic").and_then(Value::as_u64) == Some(1) {
                        sb.enable_topics(&id);
                    }
                    ok(json!({"GroupId": id}))
                }
                Err(e) => err(e),
            }
        }
        "add_group_member" => {
            let silence = b.get("Silence").and_then(Value::as_u64) == Some(1);
            match sb.add_group_members(me, group_id, &accounts(b.get("MemberList")), silence) {
                Ok(list) => ok(json!({"MemberList": list})),
                Err(e) => err(e),
            }
        }
        "delete_group_member" => {
            match sb.remove_group_members(
                me,
                group_id,
                &accounts(b.get("MemberToDel_Account")),
                false,
            ) {
                Ok(()) => ok(json!({})),
                Err(e) => err(e),
            }
        }
        "quit_group" if user.is_some() => {
            match sb.remove_group_members(me, group_id, &[me.to_owned()], true) {
                Ok(()) => ok(json!({})),
                Err(e) => err(e),
            }
        }
        "modify_group_base_info" => match sb.modify_group(me, group_id, &profile_change(b)) {
            Ok(()) => ok(json!({})),
            Err(e) => err(e),
        },
        "send_group_msg" => {
            let from = match user {
                Some((u, _)) => u.to_owned(),
                None => b
                    .get("From_Account")
                    .and_then(Value::as_str)
                    .unwrap_or(&admin)
                    .to_owned(),
            };
            let Some(body) = b
                .get("MsgBody")
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            else {
                return Some(wire::error_body(
                    code::INVALID_REQUEST,
                    "MsgBody must be a non-empty array",
                ));
            };
            let random = b
                .get("Random")
                .or_else(|| b.get("MsgRandom"))
                .and_then(Value::as_u64)
                .filter(|r| *r != 0)
                .unwrap_or_else(|| u64::from(rand::rng().random::<u32>()));
            let flag = |k: &str| b.get(k).and_then(Value::as_u64) == Some(1);
            let meta = GroupSendMeta {
                random,
                at_info: b.get("GroupAtInfo").cloned().unwrap_or(json!([])),
                // `NeedReadReceipt` is the group send's key in the SDK's keyMap; the
                // REST docs and the C2C send spell it `IsNeedReadReceipt`.
                need_receipt: flag("NeedReadReceipt") || flag("IsNeedReadReceipt"),
                client_time: b.get("MsgClientTime").and_then(Value::as_u64).unwrap_or(0),
                cloud_custom_data: b
                    .get("CloudCustomData")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            };
            match sb.send_group_with(&from, group_id, body, &meta, user.map(|(_, c)| c)) {
                Ok(d) => ok(json!({"MsgTime": d.time, "MsgSeq": d.seq, "Random": random})),
                Err(e) => err(e),
            }
        }
        "group_msg_get" | "group_msg_get_simple" => {
            let req = b.get("ReqMsgSeq").and_then(Value::as_u64).unwrap_or(0);
            let n = b.get("ReqMsgNumber").and_then(Value::as_u64).unwrap_or(20);
            match sb.group_msg_get(me, group_id, req, n) {
                Ok((list, finished)) => ok(json!({
                    "GroupId": group_id, "IsFinished": u8::from(finished), "RspMsgList": list,
                })),
                Err(e) => err(e),
            }
        }
        "group_msg_recall" => match sb.recall_group(me, user.map(|(_, c)| c), b) {
            Ok(reply) => ok(reply),
            Err(e) => err(e),
        },
        c @ ("group_msg_receipt" | "get_group_msg_receipt" | "get_group_msg_receipt_detail")
            if user.is_some() =>
        {
            match sb.group_receipt_call(c, me, group_id, b) {
                Ok(reply) => ok(reply),
                Err(e) => err(e),
            }
        }
        "msg_read_report" if user.is_some() => match sb.read_group(me, user.map(|(_, c)| c), b) {
            Ok(()) => ok(json!({})),
            Err(e) => err(e),
        },
        "get_joined_group_list" => {
            let who = b
                .get("Member_Account")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(me);
            // Communities with topics are listed by `million_group_open_http_svc` (the SDK
            // asks that service for them with `SupportTopic: 1`), not here.
            let list: Vec<Value> = sb
                .joined_groups(who)
                .into_iter()
                .filter(|g| g["SupportTopic"] != 1)
                .collect();
            ok(json!({"GroupIdList": list, "TotalCount": list.len()}))
        }
        "get_group_info" | "get_group_self_member_info" => {
            let ids: Vec<String> = b
                .get("GroupIdList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            ok(json!({"GroupInfo": sb.group_info(user.map(|(u, _)| u), &ids)}))
        }
        "modify_group_member_info" => {
            let member = str_field(b, "Member_Account");
            let done = match (
                b.get("MsgFlag").and_then(Value::as_str),
                b.get("Role").and_then(Value::as_str),
                b.get("ShutUpTime").and_then(Value::as_u64),
            ) {
                (Some(flag), _, _) => sb.set_msg_flag(me, group_id, member, flag),
                (None, Some(role), _) => sb.set_role(me, group_id, member, role),
                (None, None, Some(secs)) => sb.set_mute(me, group_id, member, secs),
                // Name cards of members are not kept by the sandbox.
                (None, None, None) => Ok(()),
            };
            match done {
                Ok(()) => ok(json!({})),
                Err(e) => err(e),
            }
        }
        "get_group_member_info" => {
            let info = sb.group_info(None, &[group_id.to_owned()]);
            let first = info.into_iter().next().unwrap_or(Value::Null);
            if first["ErrorCode"].as_i64().unwrap_or(0) != 0 {
                return Some(wire::error_body(GROUP_NOT_FOUND, "group does not exist"));
            }
            let list = first["MemberList"].clone();
            let n = list.as_array().map_or(0, Vec::len);
            ok(json!({"MemberNum": n, "MemberList": list, "Next": ""}))
        }
        _ => return None,
    })
}
