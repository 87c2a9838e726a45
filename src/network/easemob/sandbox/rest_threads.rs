//! Threads (reference §4; the calls and answers of easemob-websdk 4.21.1's thread API, read
//! in its bundle): `POST /thread` `{"name","msg_id","group_id","owner"}` → `data.thread_id`;
//! `GET /thread/{id}` → `data{id,name,owner,msgId,groupId,affiliations_count,created}`;
//! `PUT /thread/{id}` `{"name"}`; `DELETE /thread/{id}`; `POST /thread/{id}/user/{user}/join`
//! → `data.detail{…}`; `DELETE /thread/{id}/user/{user}/quit`; `GET /thread/{id}/users` →
//! `data.affiliations`; `GET /threads/chatgroups/{group}?limit=&cursor=` →
//! `entities[{id,name,owner,msgId,groupId,created}]`, `properties.cursor`.
//!
//! Creating, renaming and deleting a thread is pushed to every member of its group as a
//! `Meta{ns: NOTIFY}` with `{"type":"thread","data":{id,name,muc_parent_id,msg_parent_id,
//! operation,from,timestamp}}` (the SDK's `onChatThreadChange`). Only group members may create,
//! join or send to a thread; renaming is for its owner and the group's owner and admins,
//! deleting too. Names are 1 to [`MAX_NAME_CHARS`] characters.

use serde_json::{json, Value};

use super::super::state::{now_ms, Inner, Thread};
use super::{str_field, ApiError, ApiResult, Ctx};
use crate::network::easemob::jid;
use crate::network::easemob::proto::{meta::NameSpace, Meta};

/// The longest thread name, in characters (Easemob docs: 64).
pub const MAX_NAME_CHARS: usize = 64;

fn check_name(name: &str) -> Result<(), ApiError> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(format!(
            "thread name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

fn thread_not_found(id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "resource_not_found",
        format!("thread {id} does not exist"),
    )
}

fn detail(t: &Thread) -> Value {
    json!({
        "id": t.id, "name": t.name, "owner": t.owner, "msgId": t.msg_id, "groupId": t.group_id,
        "affiliations_count": t.members.len(), "created": t.created,
    })
}

/// Queues a `"thread"` notify about `t` for every member of its group.
pub(crate) fn notify(inner: &mut Inner, app_key: &str, t: &Thread, operation: &str, from: &str) {
    let ts = now_ms();
    let payload = json!({
        "type": "thread",
        "data": {
            "id": t.id, "name": t.name, "muc_parent_id": t.group_id, "msg_parent_id": t.msg_id,
            "operation": operation, "from": from, "timestamp": ts,
        },
    })
    .to_string();
    let queue = jid::conference_jid(app_key, &t.group_id);
    let meta = Meta {
        id: Some(inner.next_id()),
        from: Some(jid::user_jid(app_key, from)),
        to: Some(queue.clone()),
        timestamp: Some(ts),
        ns: Some(NameSpace::Notify as i32),
        payload: Some(payload.into_bytes()),
        ..Default::default()
    };
    for member in inner.members(&t.group_id) {
        inner.route(app_key, &member, &queue, &meta, None);
    }
}

fn is_group_member(inner: &Inner, group: &str, user: &str) -> bool {
    inner
        .data
        .groups
        .get(group)
        .is_some_and(|g| g.members.contains(user))
}

fn may_manage(inner: &Inner, t: &Thread, user: &str) -> bool {
    t.owner == user
        || inner
            .data
            .groups
            .get(&t.group_id)
            .is_some_and(|g| g.owner == user || g.admins.contains(user))
}

/// `POST /thread`.
pub(crate) async fn create(cx: &mut Ctx) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let name = str_field(&body, "name").unwrap_or_default().to_owned();
    let msg_id = str_field(&body, "msg_id").unwrap_or_default().to_owned();
    let group_id = str_field(&body, "group_id").unwrap_or_default().to_owned();
    let owner = str_field(&body, "owner").unwrap_or(&me).to_owned();
    check_name(&name)?;
    if owner != me {
        return Err(ApiError::forbidden(format!(
            "the token of {me} may not create a thread owned by {owner}"
        )));
    }
    let app_key = cx.app_key().to_owned();
    let id = {
        let mut inner = cx.sb.lock();
        if !inner.data.groups.contains_key(&group_id) {
            return Err(ApiError::group_not_found(&group_id));
        }
        if !is_group_member(&inner, &group_id, &me) {
            return Err(ApiError::forbidden("The user not in this group!"));
        }
        let parent_ok = msg_id.parse::<u64>().ok().is_some_and(|m| {
            inner
                .data
                .history
                .get(&m)
                .is_some_and(|h| h.conversation.id == group_id && !h.recalled)
        });
        if !parent_ok {
            return Err(ApiError::bad_request(format!(
                "message {msg_id} is not a message of group {group_id}"
            )));
        }
        if inner
            .data
            .threads
            .values()
            .any(|t| t.msg_id == msg_id && t.group_id == group_id)
        {
            return Err(ApiError::forbidden("this message already has a thread"));
        }
        let id = inner.next_id().to_string();
        let thread = Thread {
            id: id.clone(),
            name,
            owner: me.clone(),
            group_id,
            msg_id,
            members: [me.clone()].into_iter().collect(),
            created: now_ms(),
        };
        notify(&mut inner, &app_key, &thread, "create", &me);
        inner.data.threads.insert(id.clone(), thread);
        id
    };
    cx.sb.touch();
    cx.ok(json!({ "data": { "thread_id": id } }))
}

/// `GET /thread/{id}`.
pub(crate) fn info(cx: &mut Ctx, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let inner = cx.sb.lock();
    let t = inner
        .data
        .threads
        .get(id)
        .ok_or_else(|| thread_not_found(id))?;
    if !is_group_member(&inner, &t.group_id, &me) {
        return Err(ApiError::forbidden("The user not in this group!"));
    }
    let data = detail(t);
    drop(inner);
    cx.ok(json!({ "data": data }))
}

/// `PUT /thread/{id}` `{"name"}`.
pub(crate) async fn rename(cx: &mut Ctx, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let name = str_field(&body, "name").unwrap_or_default().to_owned();
    check_name(&name)?;
    let app_key = cx.app_key().to_owned();
    {
        let mut inner = cx.sb.lock();
        let mut t = inner
            .data
            .threads
            .get(id)
            .cloned()
            .ok_or_else(|| thread_not_found(id))?;
        if !may_manage(&inner, &t, &me) {
            return Err(ApiError::forbidden("no permission to change this thread"));
        }
        t.name = name.clone();
        notify(&mut inner, &app_key, &t, "update", &me);
        inner.data.threads.insert(id.to_owned(), t);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "name": name } }))
}

/// `DELETE /thread/{id}`.
pub(crate) fn destroy(cx: &mut Ctx, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let app_key = cx.app_key().to_owned();
    {
        let mut inner = cx.sb.lock();
        let t = inner
            .data
            .threads
            .get(id)
            .cloned()
            .ok_or_else(|| thread_not_found(id))?;
        if !may_manage(&inner, &t, &me) {
            return Err(ApiError::forbidden("no permission to delete this thread"));
        }
        notify(&mut inner, &app_key, &t, "delete", &me);
        inner.data.threads.remove(id);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "status": "ok" } }))
}

/// `POST /thread/{id}/user/{user}/join`.
pub(crate) fn join(cx: &mut Ctx, id: &str, user: &str) -> ApiResult {
    let me = cx.auth_as(user)?;
    let data = {
        let mut inner = cx.sb.lock();
        let group = inner
            .data
            .threads
            .get(id)
            .map(|t| t.group_id.clone())
            .ok_or_else(|| thread_not_found(id))?;
        if !is_group_member(&inner, &group, &me) {
            return Err(ApiError::forbidden("The user not in this group!"));
        }
        let t = inner
            .data
            .threads
            .get_mut(id)
            .ok_or_else(|| thread_not_found(id))?;
        t.members.insert(me);
        detail(t)
    };
    cx.sb.touch();
    cx.ok(json!({ "data": { "detail": data } }))
}

/// `DELETE /thread/{id}/user/{user}/quit`.
pub(crate) fn quit(cx: &mut Ctx, id: &str, user: &str) -> ApiResult {
    let me = cx.auth_as(user)?;
    {
        let mut inner = cx.sb.lock();
        let t = inner
            .data
            .threads
            .get_mut(id)
            .ok_or_else(|| thread_not_found(id))?;
        t.members.remove(&me);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "result": true } }))
}

/// `GET /thread/{id}/users`.
pub(crate) fn users(cx: &mut Ctx, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let inner = cx.sb.lock();
    let t = inner
        .data
        .threads
        .get(id)
        .ok_or_else(|| thread_not_found(id))?;
    if !is_group_member(&inner, &t.group_id, &me) {
        return Err(ApiError::forbidden("The user not in this group!"));
    }
    let members: Vec<String> = t.members.iter().cloned().collect();
    drop(inner);
    cx.ok(json!({ "data": { "affiliations": members } }))
}

/// The most threads per page of [`of_group`] (the SDK's `getChatThreads` `pageSize` limit).
const MAX_PAGE: usize = 50;

/// `GET /threads/chatgroups/{group}?limit=&cursor=` (the SDK's `getChatThreads`): the
/// group's threads, oldest first, for its members; the cursor is the last id of the page.
pub(crate) fn of_group(cx: &mut Ctx, group: &str) -> ApiResult {
    let me = cx.auth()?;
    let limit = cx.query_num("limit").unwrap_or(20).clamp(1, MAX_PAGE);
    let after = cx.query("cursor").unwrap_or_default().to_owned();
    let inner = cx.sb.lock();
    if !inner.data.groups.contains_key(group) {
        return Err(ApiError::group_not_found(group));
    }
    if !is_group_member(&inner, group, &me) {
        return Err(ApiError::forbidden("The user not in this group!"));
    }
    // Ids are server ids, numeric and growing: order by value.
    let mut all: Vec<&Thread> = inner
        .data
        .threads
        .values()
        .filter(|t| t.group_id == group)
        .collect();
    all.sort_by_key(|t| t.id.parse::<u64>().unwrap_or(u64::MAX));
    let after: Option<u64> = after.parse().ok();
    let mut rest = all
        .into_iter()
        .filter(|t| after.is_none_or(|a| t.id.parse::<u64>().is_ok_and(|id| id > a)));
    let page: Vec<Value> = rest.by_ref().take(limit).map(detail).collect();
    let cursor = match rest.next() {
        Some(_) => page
            .last()
            .and_then(|t| t["id"].as_str())
            .unwrap_or_default()
            .to_owned(),
        None => String::new(),
    };
    drop(inner);
    cx.ok(json!({ "entities": page, "properties": { "cursor": cursor } }))
}
