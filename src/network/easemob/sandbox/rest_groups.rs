//! Groups (`/chatgroups`) and chat rooms (`/chatrooms`): create, details, modify, destroy, and
//! the lists (joined, public, all rooms). Both kinds share one `Group` record (`is_chatroom`);
//! every change reaches the members as a `ns = MUC` meta (reference §3.11).

use serde_json::{json, Map, Value};

use super::super::state::{now_ms, Group, Inner};
use super::{bool_field, names_field, str_field, u64_field, ApiError, ApiResult, Ctx};
use crate::network::easemob::jid;
use crate::network::easemob::proto::muc_body::{Operation as MucOp, Setting};
use crate::network::easemob::proto::MucBody;

/// Default and largest member count.
const DEFAULT_MAX_USERS: u32 = 200;
const LIMIT_MAX_USERS: u32 = 100_000;

/// The word used in errors and ids for a kind.
pub(crate) fn kind_name(is_room: bool) -> &'static str {
    if is_room {
        "chatroom"
    } else {
        "group"
    }
}

/// Looks up a group (or room, by `is_room`); 404 when missing or of the other kind.
pub(crate) fn find<'a>(inner: &'a Inner, is_room: bool, id: &str) -> Result<&'a Group, ApiError> {
    inner
        .data
        .groups
        .get(id)
        .filter(|g| g.is_chatroom == is_room)
        .ok_or_else(|| ApiError::group_not_found(id))
}

/// Mutable lookup, see [`find`].
pub(crate) fn find_mut<'a>(
    inner: &'a mut Inner,
    is_room: bool,
    id: &str,
) -> Result<&'a mut Group, ApiError> {
    inner
        .data
        .groups
        .get_mut(id)
        .filter(|g| g.is_chatroom == is_room)
        .ok_or_else(|| ApiError::group_not_found(id))
}

/// `owner`, `admin`, `member` or `none`.
pub(crate) fn role(g: &Group, user: &str) -> &'static str {
    if g.owner == user {
        "owner"
    } else if g.admins.contains(user) {
        "admin"
    } else if g.members.contains(user) {
        "member"
    } else {
        "none"
    }
}

/// 403 unless `user` is the owner or an admin.
pub(crate) fn require_manager(g: &Group, user: &str) -> Result<(), ApiError> {
    match role(g, user) {
        "owner" | "admin" => Ok(()),
        _ => Err(ApiError::forbidden(format!(
            "{user} is not the owner or an admin of {} {}",
            kind_name(g.is_chatroom),
            g.id
        ))),
    }
}

/// 403 unless `user` is the owner.
pub(crate) fn require_owner(g: &Group, user: &str) -> Result<(), ApiError> {
    if g.owner == user {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{user} is not the owner of {} {}",
            kind_name(g.is_chatroom),
            g.id
        )))
    }
}

/// A `MUCBody` about `g`: operation, operator (`from`) and affected users (`to`).
pub(crate) fn muc_body(app_key: &str, g: &Group, op: MucOp, from: &str, to: &[String]) -> MucBody {
    MucBody {
        muc_id: Some(jid::conference_jid(app_key, &g.id)),
        operation: Some(op as i32),
        from: Some(jid::user_jid(app_key, from)),
        to: to.iter().map(|u| jid::user_jid(app_key, u)).collect(),
        is_chatroom: Some(g.is_chatroom),
        muc_name: Some(g.name.clone()),
        muc_member_count: Some(g.members.len() as i32),
        ..Default::default()
    }
}

/// Builds and sends a MUC event about `group` to `recipients`.
pub(crate) fn notify(
    inner: &mut Inner,
    app_key: &str,
    body: &MucBody,
    operator: &str,
    group: &str,
    recipients: &[String],
    except: Option<(&str, &str)>,
) {
    let meta = inner.muc_meta(app_key, operator, group, body);
    inner.send_muc(app_key, group, &meta, recipients, except);
}

/// The details object of `getGroupInfo` / `getChatRoomDetails`.
pub(crate) fn detail_json(g: &Group, viewer: &str) -> Value {
    let mut affiliations = vec![json!({ "owner": g.owner, "joined_time": g.created })];
    affiliations.extend(
        g.members
            .iter()
            .filter(|m| **m != g.owner)
            .map(|m| json!({ "member": m })),
    );
    json!({
        "id": g.id,
        "name": g.name,
        "title": g.name,
        "description": g.description,
        "membersonly": false,
        "allowinvites": !g.is_chatroom,
        "invite_need_confirm": g.invite_need_confirm,
        "maxusers": g.max_users,
        "owner": g.owner,
        "created": g.created,
        "custom": g.custom,
        "mute": false,
        "disabled": false,
        "public": g.public,
        "affiliations_count": g.members.len(),
        "affiliations": affiliations,
        "permission": role(g, viewer),
    })
}

/// `POST /chatgroups` / `POST /chatrooms`.
pub(crate) async fn create(cx: &mut Ctx, is_room: bool) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let name_key = if is_room { "name" } else { "groupname" };
    let name = str_field(&body, name_key)
        .or_else(|| str_field(&body, "name"))
        .or_else(|| str_field(&body, "groupname"))
        .unwrap_or_default()
        .to_owned();
    let description = str_field(&body, "desc")
        .or_else(|| str_field(&body, "description"))
        .unwrap_or_default()
        .to_owned();
    let custom = str_field(&body, "custom").unwrap_or_default().to_owned();
    let owner = str_field(&body, "owner").unwrap_or(&me).to_owned();
    if owner != me {
        return Err(ApiError::forbidden(format!(
            "the token of {me} may not create a {} owned by {owner}",
            kind_name(is_room)
        )));
    }
    if name.len() > 128 || description.len() > 512 || custom.len() > 8192 {
        return Err(ApiError::bad_request(
            "name (128), description (512) or custom (8192 bytes) too long",
        ));
    }
    let max_users = u64_field(&body, "maxusers").map_or(Ok(DEFAULT_MAX_USERS), |m| {
        u32::try_from(m)
            .ok()
            .filter(|m| (1..=LIMIT_MAX_USERS).contains(m))
            .ok_or_else(|| {
                ApiError::bad_request(format!("maxusers must be 1 to {LIMIT_MAX_USERS}"))
            })
    })?;
    let public = bool_field(&body, "public").unwrap_or(false);
    let invite_need_confirm = bool_field(&body, "invite_need_confirm").unwrap_or(false);
    let mut members = names_field(&body, "members");
    members.retain(|m| *m != owner);
    members.sort();
    members.dedup();
    if members.len() + 1 > max_users as usize {
        return Err(ApiError::forbidden(
            "members size is greater than max user size !",
        ));
    }
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    let id = {
        let mut inner = cx.sb.lock();
        if let Some(missing) = members.iter().find(|m| !inner.data.users.contains_key(*m)) {
            return Err(ApiError::user_not_found(missing));
        }
        let id = inner.next_id().to_string();
        let mut g = Group {
            id: id.clone(),
            name,
            description,
            owner: owner.clone(),
            public,
            max_users,
            created: now_ms(),
            custom,
            is_chatroom: is_room,
            invite_need_confirm: invite_need_confirm && !is_room,
            ..Default::default()
        };
        g.members.insert(owner.clone());
        g.members.extend(members.iter().cloned());
        let body = muc_body(&app_key, &g, MucOp::DirectJoined, &owner, &members);
        let create_body = muc_body(&app_key, &g, MucOp::Create, &owner, &[]);
        inner.data.groups.insert(id.clone(), g);
        notify(&mut inner, &app_key, &body, &owner, &id, &members, None);
        // The owner's other devices learn about the new group too.
        let except = resource.as_deref().map(|r| (owner.as_str(), r));
        notify(
            &mut inner,
            &app_key,
            &create_body,
            &owner,
            &id,
            std::slice::from_ref(&owner),
            except,
        );
        id
    };
    cx.sb.touch();
    if is_room {
        cx.ok(json!({ "data": { "id": id } }))
    } else {
        cx.ok(json!({ "data": { "groupid": id } }))
    }
}

/// `GET /chatgroups/{id}` (`id` may list several, comma separated) / `GET /chatrooms/{id}`.
pub(crate) fn info(cx: &mut Ctx, is_room: bool, ids: &str) -> ApiResult {
    let me = cx.auth()?;
    let data: Vec<Value> = {
        let inner = cx.sb.lock();
        let mut data = Vec::new();
        for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            data.push(detail_json(find(&inner, is_room, id)?, &me));
        }
        data
    };
    if data.is_empty() {
        return Err(ApiError::group_not_found(ids));
    }
    let count = data.len();
    cx.ok(json!({ "data": data, "count": count }))
}

/// `PUT /chatgroups/{id}` / `PUT /chatrooms/{id}`: `{"newowner"}` transfers ownership, otherwise
/// `groupname`/`name`, `description`, `maxusers`, `custom`, `public` change.
pub(crate) async fn modify(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    let except = resource.as_deref().map(|r| (me.as_str(), r));
    if let Some(new_owner) = str_field(&body, "newowner") {
        let new_owner = new_owner.to_owned();
        {
            let mut inner = cx.sb.lock();
            let g = find_mut(&mut inner, is_room, id)?;
            require_owner(g, &me)?;
            if !g.members.contains(&new_owner) {
                return Err(ApiError::forbidden(format!(
                    "{new_owner} is not a member of {} {id}",
                    kind_name(is_room)
                )));
            }
            g.owner = new_owner.clone();
            g.admins.remove(&new_owner);
            let members: Vec<String> = g.members.iter().cloned().collect();
            let body = muc_body(
                &app_key,
                g,
                MucOp::AssignOwner,
                &me,
                std::slice::from_ref(&new_owner),
            );
            notify(&mut inner, &app_key, &body, &me, id, &members, except);
        }
        cx.sb.touch();
        return cx.ok(json!({ "data": { "newowner": true } }));
    }
    let mut changed = Map::new();
    let mut ext = Map::new();
    {
        let mut inner = cx.sb.lock();
        let g = find_mut(&mut inner, is_room, id)?;
        require_manager(g, &me)?;
        if let Some(name) = str_field(&body, "groupname").or_else(|| str_field(&body, "name")) {
            if name.len() > 128 {
                return Err(ApiError::bad_request("the name must be at most 128 bytes"));
            }
            g.name = name.to_owned();
            changed.insert(
                if is_room { "name" } else { "groupname" }.into(),
                true.into(),
            );
            ext.insert("name".into(), name.into());
        }
        if let Some(desc) = str_field(&body, "description").or_else(|| str_field(&body, "desc")) {
            if desc.len() > 512 {
                return Err(ApiError::bad_request(
                    "the description must be at most 512 bytes",
                ));
            }
            g.description = desc.to_owned();
            changed.insert("description".into(), true.into());
            ext.insert("description".into(), desc.into());
        }
        if let Some(custom) = str_field(&body, "custom") {
            if custom.len() > 8192 {
                return Err(ApiError::bad_request("custom must be at most 8192 bytes"));
            }
            g.custom = custom.to_owned();
            changed.insert("custom".into(), true.into());
            ext.insert("custom".into(), custom.into());
        }
        if let Some(max) = u64_field(&body, "maxusers") {
            let max = u32::try_from(max)
                .ok()
                .filter(|m| (1..=LIMIT_MAX_USERS).contains(m) && *m as usize >= g.members.len())
                .ok_or_else(|| ApiError::bad_request("maxusers out of range"))?;
            g.max_users = max;
            changed.insert("maxusers".into(), true.into());
            ext.insert("max_users".into(), max.into());
        }
        if let Some(public) = bool_field(&body, "public") {
            g.public = public;
            changed.insert("public".into(), true.into());
            ext.insert("public".into(), public.into());
        }
        if changed.is_empty() {
            return Err(ApiError::bad_request("nothing to change"));
        }
        ext.insert("last_modified".into(), now_ms().to_string().into());
        let members: Vec<String> = g.members.iter().cloned().collect();
        let mut body = muc_body(&app_key, g, MucOp::Update, &me, &[]);
        body.setting = Some(Setting {
            name: Some(g.name.clone()),
            desc: Some(g.description.clone()),
            max_users: Some(g.max_users as i32),
            owner: Some(g.owner.clone()),
            ..Default::default()
        });
        if !is_room {
            body.event_info = Some(crate::network::easemob::proto::muc_body::EventInfo {
                event_type: None,
                ext: Some(Value::Object(ext).to_string()),
            });
        }
        notify(&mut inner, &app_key, &body, &me, id, &members, except);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": changed }))
}

/// Removes a group or room and tells its members (DESTROY). The caller holds the lock.
pub(crate) fn destroy_locked(
    inner: &mut Inner,
    app_key: &str,
    id: &str,
    operator: &str,
    except: Option<(&str, &str)>,
) {
    let Some(g) = inner.data.groups.remove(id) else {
        return;
    };
    let members: Vec<String> = g.members.iter().cloned().collect();
    let body = muc_body(app_key, &g, MucOp::Destroy, operator, &[]);
    // Routing to the group queue needs no group record; members are listed explicitly.
    notify(inner, app_key, &body, operator, id, &members, except);
}

/// `DELETE /chatgroups/{id}` / `DELETE /chatrooms/{id}` (owner only).
pub(crate) fn destroy(cx: &mut Ctx, is_room: bool, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    {
        let mut inner = cx.sb.lock();
        require_owner(find(&inner, is_room, id)?, &me)?;
        let except = resource.as_deref().map(|r| (me.as_str(), r));
        destroy_locked(&mut inner, &app_key, id, &me, except);
    }
    cx.sb.touch();
    if is_room {
        cx.ok(json!({ "data": { "success": true, "id": id } }))
    } else {
        cx.ok(json!({ "data": { "success": true, "groupid": id } }))
    }
}

/// Groups or rooms `user` is in, sorted by id.
fn joined_of<'a>(inner: &'a Inner, user: &str, is_room: bool) -> Vec<&'a Group> {
    inner
        .data
        .groups
        .values()
        .filter(|g| g.is_chatroom == is_room && g.members.contains(user))
        .collect()
}

/// One page (`pagenum` from 1, `pagesize`) of `items`; everything when not paged.
fn page<T>(cx: &Ctx, items: Vec<T>, default_size: usize) -> Vec<T> {
    let num = cx.query_num("pagenum").unwrap_or(1).max(1);
    let size = cx
        .query_num("pagesize")
        .unwrap_or(default_size)
        .clamp(1, 1000);
    items
        .into_iter()
        .skip((num - 1).saturating_mul(size))
        .take(size)
        .collect()
}

/// `GET /chatgroups/user/{user}?pagenum=&pagesize=&needAffiliations=&needRole=&version=v3`
/// (getJoinedGroups): `entities` of `{groupId, name, permission, …}`.
pub(crate) fn joined_v3(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let entities: Vec<Value> = {
        let inner = cx.sb.lock();
        joined_of(&inner, user, false)
            .into_iter()
            .map(|g| {
                json!({
                    "groupId": g.id,
                    "name": g.name,
                    "description": g.description,
                    "public": g.public,
                    "membersonly": false,
                    "allowinvites": true,
                    "maxusers": g.max_users,
                    "affiliations_count": g.members.len(),
                    "permission": role(g, user),
                    "disabled": false,
                    "owner": g.owner,
                    "created": g.created,
                })
            })
            .collect()
    };
    let entities = page(cx, entities, 20);
    let count = entities.len();
    cx.ok(json!({ "entities": entities, "count": count }))
}

/// `GET /chatgroups/user/{user}/joined_count`.
pub(crate) fn joined_count(cx: &mut Ctx, user: &str) -> ApiResult {
    cx.auth_as(user)?;
    let n = joined_of(&cx.sb.lock(), user, false).len();
    cx.ok(json!({ "data": n }))
}

/// `GET /users/{user}/joined_chatgroups` (getGroup) and `GET /users/{user}/joined_chatrooms`
/// (getJoinedChatRooms; its parser splits `owner` on `"{appKey}_"`).
pub(crate) fn joined(cx: &mut Ctx, user: &str, is_room: bool) -> ApiResult {
    cx.auth_as(user)?;
    let app_key = cx.app_key().to_owned();
    let data: Vec<Value> = {
        let inner = cx.sb.lock();
        joined_of(&inner, user, is_room)
            .into_iter()
            .map(|g| {
                if is_room {
                    json!({
                        "id": g.id,
                        "name": g.name,
                        "title": g.name,
                        "owner": format!("{app_key}_{}", g.owner),
                        "created": g.created,
                        "description": g.description,
                        "max_users": g.max_users,
                        "affiliations_count": g.members.len(),
                    })
                } else {
                    json!({
                        "groupid": g.id,
                        "groupname": g.name,
                        "id": g.id,
                        "name": g.name,
                        "permission": role(g, user),
                        "disabled": false,
                    })
                }
            })
            .collect()
    };
    let paged = cx.query("pagenum").is_some() || cx.query("pagesize").is_some();
    let data = if paged { page(cx, data, 20) } else { data };
    let count = data.len();
    cx.ok(json!({ "data": data, "count": count }))
}

/// `GET /publicchatgroups?limit=&cursor=` (getPublicGroups): cursor = last id of the previous page.
pub(crate) fn public_groups(cx: &mut Ctx) -> ApiResult {
    cx.auth()?;
    let limit = cx.query_num("limit").unwrap_or(20).clamp(1, 100);
    let cursor = cx.query("cursor").map(str::to_owned);
    let (data, next) = {
        let inner = cx.sb.lock();
        let mut rest = inner.data.groups.values().filter(|g| {
            !g.is_chatroom && g.public && cursor.as_ref().is_none_or(|c| g.id.as_str() > c.as_str())
        });
        let page: Vec<&Group> = rest.by_ref().take(limit).collect();
        let next = rest.next().and(page.last().map(|g| g.id.clone()));
        let data: Vec<Value> = page
            .into_iter()
            .map(|g| {
                json!({
                    "id": g.id,
                    "name": g.name,
                    "groupid": g.id,
                    "groupname": g.name,
                    "owner": g.owner,
                    "affiliations": g.members.len(),
                })
            })
            .collect();
        (data, next)
    };
    let count = data.len();
    let mut fields = json!({ "data": data, "count": count });
    if let Some(next) = next {
        fields["cursor"] = next.into();
    }
    cx.ok(fields)
}

/// `GET /chatrooms?pagenum=&pagesize=` (getChatRooms): every room of the app.
pub(crate) fn list_rooms(cx: &mut Ctx) -> ApiResult {
    cx.auth()?;
    let data: Vec<Value> = {
        let inner = cx.sb.lock();
        inner
            .data
            .groups
            .values()
            .filter(|g| g.is_chatroom)
            .map(|g| {
                json!({
                    "id": g.id,
                    "name": g.name,
                    "owner": g.owner,
                    "affiliations_count": g.members.len(),
                    "description": g.description,
                    "maxusers": g.max_users,
                    "created": g.created,
                })
            })
            .collect()
    };
    let data = page(cx, data, 20);
    let count = data.len();
    cx.ok(json!({ "data": data, "count": count }))
}
