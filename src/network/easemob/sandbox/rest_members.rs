//! Membership of groups and chat rooms: member lists, add / remove / quit / join, admins,
//! announcement and mutes. Each change is told to the members as a `ns = MUC` meta:
//! added users get DIRECT_JOINED and the others PRESENCE; removed users get KICK and the others
//! ABSENCE; leaving gives ABSENCE; admins ADD_ADMIN / REMOVE_ADMIN; and so on.

use serde_json::{json, Value};

use super::super::state::Inner;
use super::groups::{find, find_mut, kind_name, muc_body, notify, require_manager, role};
use super::{names_field, str_field, ApiError, ApiResult, Ctx};
use crate::network::easemob::proto::muc_body::Operation as MucOp;

/// Members of a group, owner first, then admins, then the others.
fn ordered_members(g: &super::super::state::Group) -> Vec<(String, &'static str)> {
    let mut out = vec![(g.owner.clone(), "owner")];
    out.extend(
        g.admins
            .iter()
            .filter(|a| **a != g.owner && g.members.contains(*a))
            .map(|a| (a.clone(), "admin")),
    );
    out.extend(
        g.members
            .iter()
            .filter(|m| **m != g.owner && !g.admins.contains(*m))
            .map(|m| (m.clone(), "member")),
    );
    out
}

/// `GET /chatgroups/{id}/users` and `/chatrooms/{id}/users`: the cursor form
/// (`cursor`, `limit`; roles owner / admin / member) or the v3 page form (`pagenum`,
/// `pagesize`; roles owner / member).
pub(crate) fn list(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    cx.auth()?;
    let all = {
        let inner = cx.sb.lock();
        ordered_members(find(&inner, is_room, id)?)
    };
    let total = all.len();
    if cx.query("pagenum").is_some() || cx.query("pagesize").is_some() {
        let num = cx.query_num("pagenum").unwrap_or(1).max(1);
        let size = cx.query_num("pagesize").unwrap_or(10).clamp(1, 1000);
        let data: Vec<Value> = all
            .into_iter()
            .skip((num - 1).saturating_mul(size))
            .take(size)
            .map(|(user, r)| {
                let r = if r == "owner" { "owner" } else { "member" };
                json!({ r: user })
            })
            .collect();
        let count = data.len();
        return cx.ok(json!({ "data": data, "count": count, "total": total }));
    }
    let start = cx.query_num("cursor").unwrap_or(0);
    let limit = cx.query_num("limit").unwrap_or(total.max(1)).clamp(1, 1000);
    let data: Vec<Value> = all
        .into_iter()
        .skip(start)
        .take(limit)
        .map(|(user, r)| json!({ r: user }))
        .collect();
    let count = data.len();
    let mut fields = json!({ "data": data, "count": count, "total": total });
    if start.saturating_add(count) < total {
        fields["cursor"] = (start + count).to_string().into();
    }
    cx.ok(fields)
}

/// Adds `users` to the group (the caller checked permissions): DIRECT_JOINED to them, PRESENCE
/// to the members already there. Returns who was really added.
pub(crate) fn add_locked(
    inner: &mut Inner,
    app_key: &str,
    is_room: bool,
    id: &str,
    operator: &str,
    users: &[String],
    except: Option<(&str, &str)>,
) -> Result<Vec<String>, ApiError> {
    if let Some(missing) = users.iter().find(|u| !inner.data.users.contains_key(*u)) {
        return Err(ApiError::user_not_found(missing));
    }
    let g = find_mut(inner, is_room, id)?;
    if let Some(blocked) = users.iter().find(|u| g.blocked.contains(*u)) {
        return Err(ApiError::forbidden(format!(
            "{blocked} is in the block list of group {id}"
        )));
    }
    let existing: Vec<String> = g.members.iter().cloned().collect();
    let mut added: Vec<String> = users
        .iter()
        .filter(|u| !g.members.contains(*u))
        .cloned()
        .collect();
    added.sort();
    added.dedup();
    if g.members.len() + added.len() > g.max_users as usize {
        return Err(ApiError::forbidden("group member list is full!"));
    }
    if added.is_empty() {
        return Ok(added);
    }
    g.members.extend(added.iter().cloned());
    for u in &added {
        g.invitations.remove(u);
    }
    let g = g.clone();
    let joined = muc_body(app_key, &g, MucOp::DirectJoined, operator, &added);
    notify(inner, app_key, &joined, operator, id, &added, None);
    for user in &added {
        let presence = muc_body(app_key, &g, MucOp::Presence, user, &[]);
        notify(inner, app_key, &presence, user, id, &existing, except);
    }
    Ok(added)
}

/// Removes `user` from the member, admin and mute sets.
fn drop_member(g: &mut super::super::state::Group, user: &str) -> bool {
    g.admins.remove(user);
    g.muted.remove(user);
    g.members.remove(user)
}

/// `POST /chatgroups/{id}/users`, `POST /chatgroups/{id}/invite`, `POST /chatrooms/{id}/users`
/// `{"usernames":[…]}`.
pub(crate) async fn add(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let users = names_field(&body, "usernames");
    if users.is_empty() {
        return Err(ApiError::bad_request(
            "usernames must name at least one user",
        ));
    }
    let invite = cx.segs.get(2).is_some_and(|s| s == "invite");
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    let added = {
        let mut inner = cx.sb.lock();
        let g = find(&inner, is_room, id)?;
        // Groups let members invite (allowinvites); rooms need the owner or an admin.
        if is_room || !g.members.contains(&me) {
            require_manager(g, &me)?;
        }
        if invite && g.invite_need_confirm {
            let reason = str_field(&body, "reason").unwrap_or_default().to_owned();
            let data =
                super::invitations::invite_locked(&mut inner, &app_key, id, &me, &users, &reason)?;
            drop(inner);
            cx.sb.touch();
            return cx.ok(json!({ "data": data }));
        }
        let except = resource.as_deref().map(|r| (me.as_str(), r));
        add_locked(&mut inner, &app_key, is_room, id, &me, &users, except)?
    };
    cx.sb.touch();
    if invite {
        let data: Vec<Value> = users
            .iter()
            .map(|u| {
                json!({ "result": true, "action": "invite", "user": u, "groupid": id, "reason": "" })
            })
            .collect();
        return cx.ok(json!({ "data": data }));
    }
    let id_key = if is_room { "id" } else { "groupid" };
    cx.ok(json!({ "data": { "newmembers": added, id_key: id, "action": "add_member" } }))
}

/// `POST /chatgroups/{id}/users/{user}`: adds one member.
pub(crate) fn add_one(cx: &mut Ctx, is_room: bool, id: &str, user: &str) -> ApiResult {
    let me = cx.auth()?;
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    {
        let mut inner = cx.sb.lock();
        let g = find(&inner, is_room, id)?;
        if is_room || !g.members.contains(&me) {
            require_manager(g, &me)?;
        }
        let except = resource.as_deref().map(|r| (me.as_str(), r));
        add_locked(
            &mut inner,
            &app_key,
            is_room,
            id,
            &me,
            &[user.to_owned()],
            except,
        )?;
    }
    cx.sb.touch();
    let id_key = if is_room { "id" } else { "groupid" };
    cx.ok(json!({ "data": { "result": true, id_key: id, "action": "add_member", "user": user } }))
}

/// `DELETE /chatgroups/{id}/users/{u1,u2}` / `DELETE /chatrooms/{id}/users/{u1,u2}`: KICK to the
/// removed users, ABSENCE to the others.
pub(crate) fn remove(cx: &mut Ctx, is_room: bool, id: &str, list: &str) -> ApiResult {
    let me = cx.auth()?;
    let users: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if users.is_empty() {
        return Err(ApiError::bad_request("name at least one user to remove"));
    }
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    let except = resource.as_deref().map(|r| (me.as_str(), r));
    let id_key = if is_room { "id" } else { "groupid" };
    let results: Vec<Value> = {
        let mut inner = cx.sb.lock();
        let g = find_mut(&mut inner, is_room, id)?;
        require_manager(g, &me)?;
        for u in &users {
            if *u == g.owner {
                return Err(ApiError::forbidden(format!(
                    "the owner cannot be removed from {} {id}",
                    kind_name(is_room)
                )));
            }
            if g.admins.contains(u) && g.owner != me {
                return Err(ApiError::forbidden(format!(
                    "only the owner may remove admin {u}"
                )));
            }
        }
        let mut removed = Vec::new();
        let mut results = Vec::new();
        for u in &users {
            let ok = drop_member(g, u);
            if ok {
                removed.push(u.clone());
            }
            results.push(json!({
                "result": ok,
                "action": "remove_member",
                "user": u,
                id_key: id,
                "reason": if ok { "" } else { "user is not a member" },
            }));
        }
        let g = g.clone();
        let remaining: Vec<String> = g.members.iter().cloned().collect();
        for u in &removed {
            let kick = muc_body(&app_key, &g, MucOp::Kick, &me, std::slice::from_ref(u));
            notify(
                &mut inner,
                &app_key,
                &kick,
                &me,
                id,
                std::slice::from_ref(u),
                None,
            );
            let absence = muc_body(&app_key, &g, MucOp::Absence, u, &[]);
            notify(&mut inner, &app_key, &absence, u, id, &remaining, except);
        }
        results
    };
    cx.sb.touch();
    if results.len() == 1 {
        cx.ok(json!({ "data": results[0] }))
    } else {
        cx.ok(json!({ "data": results }))
    }
}

/// `DELETE /chatgroups/{id}/quit`: ABSENCE to the remaining members. The owner cannot leave.
pub(crate) fn quit(cx: &mut Ctx, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let app_key = cx.app_key().to_owned();
    {
        let mut inner = cx.sb.lock();
        let g = find_mut(&mut inner, false, id)?;
        if g.owner == me {
            return Err(ApiError::forbidden(
                "the owner cannot leave the group, transfer or destroy it",
            ));
        }
        if !drop_member(g, &me) {
            return Err(ApiError::forbidden(format!(
                "{me} are not members of this group"
            )));
        }
        let g = g.clone();
        let remaining: Vec<String> = g.members.iter().cloned().collect();
        let absence = muc_body(&app_key, &g, MucOp::Absence, &me, &[]);
        notify(&mut inner, &app_key, &absence, &me, id, &remaining, None);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "result": true } }))
}

/// `POST /chatgroups/{id}/apply`: joins a public group (public groups are open in the sandbox).
pub(crate) fn apply(cx: &mut Ctx, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let app_key = cx.app_key().to_owned();
    {
        let mut inner = cx.sb.lock();
        let g = find(&inner, false, id)?;
        if !g.public {
            return Err(ApiError::forbidden(format!(
                "group {id} is not public, ask for an invitation"
            )));
        }
        let owner = g.owner.clone();
        add_locked(
            &mut inner,
            &app_key,
            false,
            id,
            &owner,
            std::slice::from_ref(&me),
            None,
        )?;
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "id": id, "result": true, "action": "apply", "user": me } }))
}

/// `GET /chatgroups/{id}/admin`.
pub(crate) fn admins(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    cx.auth()?;
    let data: Vec<String> = {
        let inner = cx.sb.lock();
        find(&inner, is_room, id)?.admins.iter().cloned().collect()
    };
    let count = data.len();
    cx.ok(json!({ "data": data, "count": count }))
}

/// `POST /chatgroups/{id}/admin` `{"newadmin"}` (owner only): ADD_ADMIN to the members.
pub(crate) async fn add_admin(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let user = str_field(&body, "newadmin")
        .ok_or_else(|| ApiError::bad_request("newadmin is required"))?
        .to_owned();
    set_admin(cx, is_room, id, &me, &user, true)?;
    cx.ok(json!({ "data": { "result": "success", "newadmin": user } }))
}

/// `DELETE /chatgroups/{id}/admin/{user}` (owner only): REMOVE_ADMIN to the members.
pub(crate) fn remove_admin(cx: &mut Ctx, is_room: bool, id: &str, user: &str) -> ApiResult {
    let me = cx.auth()?;
    set_admin(cx, is_room, id, &me, user, false)?;
    cx.ok(json!({ "data": { "result": "success", "oldadmin": user } }))
}

fn set_admin(
    cx: &Ctx,
    is_room: bool,
    id: &str,
    me: &str,
    user: &str,
    add: bool,
) -> Result<(), ApiError> {
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    let except = resource.as_deref().map(|r| (me, r));
    {
        let mut inner = cx.sb.lock();
        let g = find_mut(&mut inner, is_room, id)?;
        super::groups::require_owner(g, me)?;
        if !g.members.contains(user) || g.owner == user {
            return Err(ApiError::forbidden(format!(
                "{user} is not a member (other than the owner) of {} {id}",
                kind_name(is_room)
            )));
        }
        let changed = if add {
            g.admins.insert(user.to_owned())
        } else {
            g.admins.remove(user)
        };
        if changed {
            let g = g.clone();
            let members: Vec<String> = g.members.iter().cloned().collect();
            let op = if add {
                MucOp::AddAdmin
            } else {
                MucOp::RemoveAdmin
            };
            let body = muc_body(&app_key, &g, op, me, &[user.to_owned()]);
            notify(&mut inner, &app_key, &body, me, id, &members, except);
        }
    }
    cx.sb.touch();
    Ok(())
}

/// `GET /chatgroups/{id}/announcement`: members, or anyone for public groups.
pub(crate) fn announcement(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let text = {
        let inner = cx.sb.lock();
        let g = find(&inner, is_room, id)?;
        if !g.public && !is_room && role(g, &me) == "none" {
            return Err(ApiError::forbidden(format!(
                "{me} are not members of this group"
            )));
        }
        g.announcement.clone()
    };
    cx.ok(json!({ "data": { "announcement": text } }))
}

/// `POST /chatgroups/{id}/announcement` `{"announcement"}`: UPDATE_ANNOUNCEMENT (or
/// DELETE_ANNOUNCEMENT when empty) to the members.
pub(crate) async fn set_announcement(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let text = str_field(&body, "announcement")
        .unwrap_or_default()
        .to_owned();
    if text.len() > 512 {
        return Err(ApiError::bad_request(
            "the announcement must be at most 512 bytes",
        ));
    }
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    let except = resource.as_deref().map(|r| (me.as_str(), r));
    {
        let mut inner = cx.sb.lock();
        let g = find_mut(&mut inner, is_room, id)?;
        require_manager(g, &me)?;
        g.announcement = text.clone();
        let g = g.clone();
        let members: Vec<String> = g.members.iter().cloned().collect();
        let op = if text.is_empty() {
            MucOp::DeleteAnnouncement
        } else {
            MucOp::UpdateAnnouncement
        };
        let mut body = muc_body(&app_key, &g, op, &me, &[]);
        body.reason = Some(text.clone());
        notify(&mut inner, &app_key, &body, &me, id, &members, except);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "id": id, "result": true } }))
}

/// `GET /chatgroups/{id}/mute`: `data: [{user, expire}]` (mutes do not expire in the sandbox).
pub(crate) fn mute_list(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    cx.auth()?;
    let data: Vec<Value> = {
        let inner = cx.sb.lock();
        find(&inner, is_room, id)?
            .muted
            .iter()
            .map(|u| json!({ "user": u, "expire": -1 }))
            .collect()
    };
    cx.ok(json!({ "data": data }))
}

/// `POST /chatgroups/{id}/mute` `{"usernames":[…],"mute_duration"}`: ADD_MUTE to the members.
pub(crate) async fn mute(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let users = names_field(&body, "usernames");
    if users.is_empty() {
        return Err(ApiError::bad_request(
            "usernames must name at least one user",
        ));
    }
    set_mute(cx, is_room, id, &me, &users, true)
}

/// `DELETE /chatgroups/{id}/mute/{u1,u2}`: REMOVE_MUTE to the members.
pub(crate) fn unmute(cx: &mut Ctx, is_room: bool, id: &str, list: &str) -> ApiResult {
    let me = cx.auth()?;
    let users: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    set_mute(cx, is_room, id, &me, &users, false)
}

fn set_mute(
    cx: &mut Ctx,
    is_room: bool,
    id: &str,
    me: &str,
    users: &[String],
    add: bool,
) -> ApiResult {
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    let except = resource.as_deref().map(|r| (me, r));
    {
        let mut inner = cx.sb.lock();
        let g = find_mut(&mut inner, is_room, id)?;
        require_manager(g, me)?;
        if let Some(u) = users
            .iter()
            .find(|u| !g.members.contains(*u) || **u == g.owner)
        {
            return Err(ApiError::forbidden(format!(
                "{u} is not a member (other than the owner) of {} {id}",
                kind_name(is_room)
            )));
        }
        for u in users {
            if add {
                g.muted.insert(u.clone());
            } else {
                g.muted.remove(u);
            }
        }
        let g = g.clone();
        let members: Vec<String> = g.members.iter().cloned().collect();
        let op = if add {
            MucOp::AddMute
        } else {
            MucOp::RemoveMute
        };
        for u in users {
            let body = muc_body(&app_key, &g, op, me, std::slice::from_ref(u));
            notify(&mut inner, &app_key, &body, me, id, &members, except);
        }
    }
    cx.sb.touch();
    let data: Vec<Value> = users
        .iter()
        .map(|u| json!({ "result": true, "user": u, "expire": -1 }))
        .collect();
    cx.ok(json!({ "data": data }))
}
