//! Message reactions (reference §3.7): `POST /reaction/user/{user}` `{"msgId","message"}` adds,
//! `DELETE /reaction/user/{user}?msgId=&message=` removes, `GET /reaction/user/{user}
//! ?msgIdList=a,b&msgType=chat|groupchat[&groupId=]` lists, `GET …/detail?msgId=&message=`
//! pages the users of one reaction.
//!
//! Every change is pushed as a `Meta{ns: NOTIFY}` whose JSON the SDK turns into
//! `onReactionChange` (see [`notify_json`]) to every device of the conversation's users, the
//! operator's own devices included: the SDK's add/delete requests carry no `?resource=`, so
//! the server cannot tell which device acted (and a device learns of its own change this way).
//!
//! Refusals use the real server's descriptions where the SDK maps them to its error codes:
//! a second add of the same reaction by the same user is "the user is already operation this
//! message" (REACTION_ALREADY_ADDED), removing a reaction one has not added or reacting to a
//! one-to-one message of others is "the user operation is illegal!" (REACTION_OPERATION_IS_ILLEGAL),
//! a group message of a group one is not in is "The user not in this group!", more than
//! [`MAX_REACTIONS`] reactions on a message is "The quantity has exceeded the limit!" (MAX_LIMIT).
//! Chat rooms have no reactions (as on the real service).

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

use super::super::state::{now_ms, random_string, Inner, ReactionEntry};
use super::{str_field, ApiError, ApiResult, Ctx};
use crate::network::easemob::jid::{self, ChatType, Conversation};
use crate::network::easemob::proto::{meta::NameSpace, Meta};

/// Reactions per message (the real service's default).
pub const MAX_REACTIONS: usize = 20;
/// Longest reaction, in characters.
pub const MAX_REACTION_CHARS: usize = 128;
/// Users listed per reaction in lists and notifies (the real service lists the first three;
/// `count` is the total and `/detail` pages them all).
pub const LISTED_USERS: usize = 3;

/// The message a reaction request is about.
struct Target {
    id: u64,
    /// The message's sender.
    from: String,
    conv: Conversation,
}

impl Target {
    /// `channel_type` / `msgType` of the conversation.
    fn channel_type(&self) -> &'static str {
        match self.conv.kind {
            ChatType::Single => "chat",
            _ => "groupchat",
        }
    }

    /// The message's recipient: the peer, or the group id.
    fn to(&self) -> &str {
        &self.conv.id
    }
}

fn illegal() -> ApiError {
    ApiError::bad_request("the user operation is illegal!")
}

/// The message `msg_id` as `user` may react to it.
fn target(inner: &Inner, user: &str, msg_id: &str) -> Result<Target, ApiError> {
    let id: u64 = msg_id
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("msgId '{msg_id}' is not a message id")))?;
    let entry = inner
        .data
        .history
        .get(&id)
        .filter(|h| !h.recalled)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "resource_not_found",
                format!("message {id} does not exist"),
            )
        })?;
    let conv = entry.conversation.clone();
    match conv.kind {
        ChatType::Single => {
            if entry.from != user && conv.id != user {
                return Err(illegal());
            }
        }
        ChatType::Group => {
            // A thread message: the thread's group decides.
            let group_id = inner
                .data
                .threads
                .get(&conv.id)
                .map_or(conv.id.as_str(), |t| t.group_id.as_str());
            let group = inner
                .data
                .groups
                .get(group_id)
                .ok_or_else(|| ApiError::group_not_found(group_id))?;
            if !group.members.contains(user) {
                return Err(ApiError::bad_request("The user not in this group!"));
            }
        }
        ChatType::Chatroom => {
            return Err(ApiError::bad_request(
                "reactions are not supported in chat rooms",
            ))
        }
    }
    Ok(Target {
        id,
        from: entry.from.clone(),
        conv,
    })
}

/// A reaction from a request: non-empty, at most [`MAX_REACTION_CHARS`].
fn reaction_param(value: Option<&str>) -> Result<String, ApiError> {
    let r = value.unwrap_or_default();
    if r.is_empty() {
        return Err(ApiError::bad_request("message (the reaction) is required"));
    }
    if r.chars().count() > MAX_REACTION_CHARS {
        return Err(ApiError::bad_request(format!(
            "the reaction is longer than {MAX_REACTION_CHARS} characters"
        )));
    }
    Ok(r.to_owned())
}

/// One `op` entry of a notify.
#[derive(Serialize)]
struct NotifyOp<'a> {
    operator: &'a str,
    #[serde(rename = "reactionType")]
    reaction_type: &'static str,
}

/// One reaction of a notify.
#[derive(Serialize)]
struct NotifyReaction<'a> {
    #[serde(rename = "reactionId")]
    reaction_id: &'a str,
    reaction: &'a str,
    count: usize,
    #[serde(rename = "userList")]
    user_list: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    op: Vec<NotifyOp<'a>>,
}

/// One message of a notify.
#[derive(Serialize)]
struct NotifyItem<'a> {
    from: &'a str,
    to: &'a str,
    channel_type: &'a str,
    #[serde(rename = "messageId")]
    message_id: String,
    ts: u64,
    reactions: Vec<NotifyReaction<'a>>,
}

#[derive(Serialize)]
struct Notify<'a> {
    r#type: &'static str,
    data: [NotifyItem<'a>; 1],
}

/// The NOTIFY JSON for `operator` adding (`added`) or removing `reaction` on message
/// `message_id` (from `from` to `to`), carrying the message's whole reaction list `list`
/// (entries without users included, so a removal of the last user is visible) with the op
/// on the changed one. Compact, no control characters (the SDK's `parseNotify` needs that).
#[allow(clippy::too_many_arguments)]
pub(crate) fn notify_json(
    from: &str,
    to: &str,
    channel_type: &str,
    message_id: u64,
    ts: u64,
    list: &[ReactionEntry],
    reaction: &str,
    operator: &str,
    added: bool,
) -> String {
    let reactions = list
        .iter()
        .map(|e| NotifyReaction {
            reaction_id: &e.id,
            reaction: &e.reaction,
            count: e.users.len(),
            user_list: &e.users[..e.users.len().min(LISTED_USERS)],
            op: if e.reaction == reaction {
                vec![NotifyOp {
                    operator,
                    reaction_type: if added { "create" } else { "delete" },
                }]
            } else {
                Vec::new()
            },
        })
        .collect();
    let notify = Notify {
        r#type: "reaction",
        data: [NotifyItem {
            from,
            to,
            channel_type,
            message_id: message_id.to_string(),
            ts,
            reactions,
        }],
    };
    serde_json::to_string(&notify).unwrap_or_default()
}

/// Queues the notify for every device of the conversation's users.
fn broadcast(inner: &mut Inner, app_key: &str, target: &Target, payload: String, operator: &str) {
    let ts = now_ms();
    let mut meta = Meta {
        id: Some(inner.next_id()),
        from: Some(jid::user_jid(app_key, operator)),
        timestamp: Some(ts),
        ns: Some(NameSpace::Notify as i32),
        payload: Some(payload.into_bytes()),
        ..Default::default()
    };
    match target.conv.kind {
        ChatType::Single => {
            // Each side gets it in its queue of the other side.
            let (a, b) = (target.from.clone(), target.conv.id.clone());
            let mut pairs = vec![(a.clone(), b.clone())];
            if a != b {
                pairs.push((b, a));
            }
            for (user, peer) in pairs {
                let queue = jid::user_jid(app_key, &peer);
                meta.to = Some(queue.clone());
                inner.route(app_key, &user, &queue, &meta, None);
            }
        }
        _ => {
            let queue = jid::conference_jid(app_key, &target.conv.id);
            meta.to = Some(queue.clone());
            for member in inner.members(&target.conv.id) {
                inner.route(app_key, &member, &queue, &meta, None);
            }
        }
    }
}

/// Applies one add or remove and queues its notify; the changed entry list is pruned of
/// reactions no one has any more.
fn apply(
    inner: &mut Inner,
    app_key: &str,
    user: &str,
    msg_id: &str,
    reaction: &str,
    add: bool,
) -> Result<(Target, String), ApiError> {
    let target = target(inner, user, msg_id)?;
    let list = inner.data.reactions.entry(target.id).or_default();
    let pos = list.iter().position(|e| e.reaction == reaction);
    let reaction_id = if add {
        match pos {
            Some(i) if list[i].users.iter().any(|u| u == user) => {
                return Err(ApiError::bad_request(
                    "the user is already operation this message",
                ))
            }
            Some(i) => {
                list[i].users.push(user.to_owned());
                list[i].id.clone()
            }
            None if list.len() >= MAX_REACTIONS => {
                return Err(ApiError::bad_request(
                    "The quantity has exceeded the limit!",
                ))
            }
            None => {
                let id = random_string(16).to_lowercase();
                list.push(ReactionEntry {
                    id: id.clone(),
                    reaction: reaction.to_owned(),
                    users: vec![user.to_owned()],
                    created: now_ms(),
                });
                id
            }
        }
    } else {
        let entry = pos.map(|i| &mut list[i]).ok_or_else(illegal)?;
        let before = entry.users.len();
        entry.users.retain(|u| u != user);
        if entry.users.len() == before {
            return Err(illegal());
        }
        entry.id.clone()
    };
    let payload = notify_json(
        &target.from,
        target.to(),
        target.channel_type(),
        target.id,
        now_ms(),
        list,
        reaction,
        user,
        add,
    );
    list.retain(|e| !e.users.is_empty());
    if list.is_empty() {
        inner.data.reactions.remove(&target.id);
    }
    broadcast(inner, app_key, &target, payload, user);
    Ok((target, reaction_id))
}

/// A message id from a JSON body (string or number).
fn msg_id_field(body: &serde_json::Map<String, Value>) -> Result<String, ApiError> {
    match body.get("msgId") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(ApiError::bad_request("msgId is required")),
    }
}

/// `POST /reaction/user/{user}` `{"msgId","message"}`.
pub(crate) async fn add(cx: &mut Ctx, user: &str) -> ApiResult {
    let me = cx.auth_as(user)?;
    let body = cx.json_object().await?;
    let msg_id = msg_id_field(&body)?;
    let reaction = reaction_param(str_field(&body, "message"))?;
    let app_key = cx.app_key().to_owned();
    let (target, reaction_id) = {
        let mut inner = cx.sb.lock();
        apply(&mut inner, &app_key, &me, &msg_id, &reaction, true)?
    };
    cx.sb.touch();
    let group = (target.conv.kind != ChatType::Single).then_some(target.conv.id.clone());
    let now = now_ms();
    cx.ok(json!({
        "requestStatusCode": "ok",
        "data": {
            "id": reaction_id, "msgId": target.id.to_string(), "msgType": target.channel_type(),
            "groupId": group, "reaction": reaction, "createdAt": now, "updatedAt": now,
        },
    }))
}

/// `DELETE /reaction/user/{user}?msgId=&message=`.
pub(crate) fn remove(cx: &mut Ctx, user: &str) -> ApiResult {
    let me = cx.auth_as(user)?;
    let msg_id = cx
        .query("msgId")
        .ok_or_else(|| ApiError::bad_request("msgId is required"))?
        .to_owned();
    let reaction = reaction_param(cx.query("message"))?;
    let app_key = cx.app_key().to_owned();
    {
        let mut inner = cx.sb.lock();
        apply(&mut inner, &app_key, &me, &msg_id, &reaction, false)?;
    }
    cx.sb.touch();
    cx.ok(json!({ "requestStatusCode": "ok" }))
}

/// `GET /reaction/user/{user}?msgIdList=a,b&msgType=chat|groupchat&groupId=` → `{"data":
/// [{msgId, msgType, groupId, reactionList:[{reactionId, reaction, count, state, userList}]}]}`
/// for the listed messages that have reactions (others, and messages the user may not see, are
/// left out). A group list needs `groupId`, as on the real service. `userCount` repeats
/// `count` under the name the SDK's typings use (the SDK passes the fields through).
pub(crate) fn list(cx: &mut Ctx, user: &str) -> ApiResult {
    let me = cx.auth_as(user)?;
    let ids: Vec<String> = cx
        .query("msgIdList")
        .ok_or_else(|| ApiError::bad_request("msgIdList is required"))?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let msg_type = cx.query("msgType").unwrap_or("chat").to_owned();
    let group = cx.query("groupId").map(str::to_owned);
    let single = match msg_type.as_str() {
        "chat" => true,
        "groupchat" => false,
        other => return Err(ApiError::bad_request(format!("unknown msgType '{other}'"))),
    };
    if !single && group.is_none() {
        return Err(ApiError::bad_request("groupId can not be null!"));
    }
    let mut data = Vec::new();
    {
        let inner = cx.sb.lock();
        for id in &ids {
            let Ok(target) = target(&inner, &me, id) else {
                continue;
            };
            let same_conv = if single {
                target.conv.kind == ChatType::Single
            } else {
                group.as_deref() == Some(target.conv.id.as_str())
            };
            let Some(list) = inner.data.reactions.get(&target.id).filter(|_| same_conv) else {
                continue;
            };
            let reactions: Vec<Value> = list
                .iter()
                .map(|e| {
                    json!({
                        "reactionId": e.id, "reaction": e.reaction, "count": e.users.len(),
                        "userCount": e.users.len(), "state": e.users.contains(&me),
                        "userList": &e.users[..e.users.len().min(LISTED_USERS)],
                    })
                })
                .collect();
            data.push(json!({
                "msgId": target.id.to_string(), "msgType": msg_type, "groupId": group,
                "reactionList": reactions,
            }));
        }
    }
    cx.ok(json!({ "requestStatusCode": "ok", "data": data }))
}

/// `GET /reaction/user/{user}/detail?msgId=&message=&currentPage=&pageSize=` → `{"data":
/// {reactionId, reaction, count, state, userList, cursor}}`; `cursor` is the next page's
/// `currentPage` (absent on the last page).
pub(crate) fn detail(cx: &mut Ctx, user: &str) -> ApiResult {
    let me = cx.auth_as(user)?;
    let msg_id = cx
        .query("msgId")
        .ok_or_else(|| ApiError::bad_request("msgId is required"))?
        .to_owned();
    let reaction = reaction_param(cx.query("message"))?;
    let start = cx.query_num("currentPage").unwrap_or(0);
    let size = cx
        .query_num("pageSize")
        .or_else(|| cx.query_num("limit"))
        .unwrap_or(20)
        .clamp(1, 100);
    let data = {
        let inner = cx.sb.lock();
        let target = target(&inner, &me, &msg_id)?;
        let entry = inner
            .data
            .reactions
            .get(&target.id)
            .and_then(|l| l.iter().find(|e| e.reaction == reaction))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "resource_not_found",
                    format!("reaction '{reaction}' is not on message {}", target.id),
                )
            })?;
        let page: Vec<&String> = entry.users.iter().skip(start).take(size).collect();
        let next = start + page.len();
        json!({
            "reactionId": entry.id, "reaction": entry.reaction, "count": entry.users.len(),
            "userCount": entry.users.len(), "state": entry.users.contains(&me), "userList": page,
            "cursor": (next < entry.users.len()).then(|| next.to_string()),
        })
    };
    cx.ok(json!({ "requestStatusCode": "ok", "data": data }))
}
