//! Contacts (roster) and the block list (`/users/{user}/contacts…`, `…/blocks…`).
//! Requests, answers and removals reach the other user as `ns = ROSTER` metas (reference §3.11).

use super::user_mut;
use serde_json::{json, Value};

use super::{names_field, str_field, ApiError, ApiResult, Ctx};
use crate::network::easemob::proto::roster_body::Operation as RosterOp;

/// `GET /users/{user}/contacts/users[?needReturnRemark=true]`: `data` is the list of names
/// (getContacts), `entities` the `{username, remark}` objects (getAllContacts).
pub(crate) fn list(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let names: Vec<String> = {
        let inner = cx.sb.lock();
        let u = inner
            .data
            .users
            .get(user)
            .ok_or_else(|| ApiError::user_not_found(user))?;
        u.contacts.iter().cloned().collect()
    };
    let entities: Vec<Value> = names
        .iter()
        .map(|n| json!({ "username": n, "remark": "" }))
        .collect();
    let count = names.len();
    cx.ok(json!({ "data": names, "entities": entities, "count": count }))
}

/// `GET /users/{user}/contacts?limit=&cursor=` (getContactsWithCursor): the cursor is the last
/// name of the previous page.
pub(crate) fn list_paged(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let limit = cx.query_num("limit").unwrap_or(20).clamp(1, 50);
    let cursor = cx.query("cursor").map(str::to_owned);
    let (page, more) = {
        let inner = cx.sb.lock();
        let u = inner
            .data
            .users
            .get(user)
            .ok_or_else(|| ApiError::user_not_found(user))?;
        let mut rest = u
            .contacts
            .iter()
            .filter(|n| cursor.as_ref().is_none_or(|c| n.as_str() > c.as_str()));
        let page: Vec<String> = rest.by_ref().take(limit).cloned().collect();
        (page, rest.next().is_some())
    };
    let next = if more { page.last().cloned() } else { None };
    let contacts: Vec<Value> = page
        .iter()
        .map(|n| json!({ "username": n, "remark": "" }))
        .collect();
    cx.ok(json!({ "data": { "contacts": contacts, "cursor": next.unwrap_or_default() } }))
}

/// `POST /users/{user}/contacts/apply` `{"usernames":[…],"reason"}`: a contact request (ADD) to
/// each target.
pub(crate) async fn apply(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let body = cx.json_object().await?;
    let targets = names_field(&body, "usernames");
    let reason = str_field(&body, "reason").unwrap_or_default().to_owned();
    if targets.is_empty() {
        return Err(ApiError::bad_request(
            "usernames must name at least one user",
        ));
    }
    if reason.len() > 1024 {
        return Err(ApiError::bad_request(
            "the reason must be at most 1024 bytes",
        ));
    }
    {
        let mut inner = cx.sb.lock();
        for t in &targets {
            if t == user {
                return Err(ApiError::bad_request(
                    "you cannot add yourself as a contact",
                ));
            }
            if !inner.data.users.contains_key(t) {
                return Err(ApiError::user_not_found(t));
            }
        }
        let app_key = cx.app_key().to_owned();
        for t in &targets {
            if let Some(target) = inner.data.users.get_mut(t) {
                if target.blocks.contains(user) {
                    continue; // silently dropped, as the real service does
                }
                target
                    .contact_requests
                    .insert(user.to_owned(), reason.clone());
            }
            inner.send_roster(&app_key, RosterOp::Add as i32, user, t, &reason, None);
        }
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "result": "ok", "usernames": targets } }))
}

/// `POST /users/{user}/contacts/{accept|decline}/users/{from}`: answers `from`'s request
/// (REMOTE_ACCEPT / REMOTE_DECLINE to the requester).
pub(crate) fn answer(cx: &mut Ctx, user: &str, from: &str, accept: bool) -> ApiResult {
    cx.auth_as(user)?;
    {
        let mut inner = cx.sb.lock();
        if !inner.data.users.contains_key(from) {
            return Err(ApiError::user_not_found(from));
        }
        let me = user_mut(&mut inner, user)?;
        if me.contact_requests.remove(from).is_none() {
            return Err(ApiError::bad_request(format!(
                "there is no contact request from {from}"
            )));
        }
        if accept {
            me.contacts.insert(from.to_owned());
            if let Some(other) = inner.data.users.get_mut(from) {
                other.contacts.insert(user.to_owned());
                other.contact_requests.remove(user);
            }
        }
        let op = if accept {
            RosterOp::RemoteAccept
        } else {
            RosterOp::RemoteDecline
        };
        let app_key = cx.app_key().to_owned();
        inner.send_roster(&app_key, op as i32, user, from, "", None);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "result": "ok" } }))
}

/// `DELETE /users/{user}/contacts/users/{other}`: both sides lose the contact; REMOVE to the other.
pub(crate) fn remove(cx: &mut Ctx, user: &str, other: &str) -> ApiResult {
    cx.auth_as(user)?;
    {
        let mut inner = cx.sb.lock();
        if !inner.data.users.contains_key(other) {
            return Err(ApiError::user_not_found(other));
        }
        let was = inner
            .data
            .users
            .get_mut(user)
            .map(|u| u.contacts.remove(other))
            .unwrap_or(false);
        if let Some(o) = inner.data.users.get_mut(other) {
            o.contacts.remove(user);
        }
        if was {
            let app_key = cx.app_key().to_owned();
            inner.send_roster(&app_key, RosterOp::Remove as i32, user, other, "", None);
        }
    }
    cx.sb.touch();
    cx.ok(json!({ "entities": [{ "username": other }], "data": { "result": "ok" } }))
}

/// `GET /users/{user}/blocks/users`.
pub(crate) fn blocks(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let names: Vec<String> = {
        let inner = cx.sb.lock();
        let u = inner
            .data
            .users
            .get(user)
            .ok_or_else(|| ApiError::user_not_found(user))?;
        u.blocks.iter().cloned().collect()
    };
    let count = names.len();
    cx.ok(json!({ "data": names, "count": count }))
}

/// `POST /users/{user}/blocks/users`, `POST|DELETE /sdk/user/{user}/blocks` `{"usernames":[…]}`.
pub(crate) async fn set_blocks(cx: &mut Ctx, user: &str, block: bool) -> ApiResult {
    cx.auth_as(user)?;
    let body = cx.json_object().await?;
    let names = names_field(&body, "usernames");
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "usernames must name at least one user",
        ));
    }
    {
        let mut inner = cx.sb.lock();
        let u = user_mut(&mut inner, user)?;
        for n in &names {
            if block {
                u.blocks.insert(n.clone());
            } else {
                u.blocks.remove(n);
            }
        }
    }
    cx.sb.touch();
    cx.ok(json!({ "data": names }))
}

/// `DELETE /users/{user}/blocks/users/{other}`.
pub(crate) fn unblock_one(cx: &mut Ctx, user: &str, other: &str) -> ApiResult {
    cx.auth_as(user)?;
    {
        let mut inner = cx.sb.lock();
        let u = user_mut(&mut inner, user)?;
        u.blocks.remove(other);
    }
    cx.sb.touch();
    cx.ok(json!({ "entities": [{ "username": other }] }))
}
