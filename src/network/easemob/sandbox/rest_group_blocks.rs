//! A group's block list (the SDK's `blockGroupMember(s)`, `unblockGroupMember(s)`,
//! `getGroupBlocklist`): `POST|DELETE /chatgroups/{id}/blocks/users/{user}` and
//! `GET /chatgroups/{id}/blocks/users`, owner and admins only (admins may not block the owner
//! or, unless they are the owner, another admin). Blocking removes the member and keeps them
//! out (adding them again is refused) until unblocked. The blocked user is told with a MUC
//! BAN (op 12, the SDK's legacy `onGroupChange` type `ban`, `reason` as given), the others
//! with ABSENCE as for any leave; unblocking tells the user ALLOW (op 13, `unblockMember`).
//! Which ops the service sends here is inferred from the SDK's handlers, not captured.

use serde_json::json;

use super::groups::{find, find_mut, muc_body, notify, require_manager};
use super::{ApiError, ApiResult, Ctx};
use crate::network::easemob::proto::muc_body::Operation as MucOp;

/// `GET /chatgroups/{id}/blocks/users`: `data: [user…]`.
pub(crate) fn list(cx: &mut Ctx, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let blocked: Vec<String> = {
        let inner = cx.sb.lock();
        let g = find(&inner, false, id)?;
        require_manager(g, &me)?;
        g.blocked.iter().cloned().collect()
    };
    cx.ok(json!({ "data": blocked }))
}

/// `POST /chatgroups/{id}/blocks/users/{user}` (optional `{"reason"}`).
pub(crate) async fn block(cx: &mut Ctx, id: &str, user: &str) -> ApiResult {
    let me = cx.auth()?;
    let reason = cx
        .json_object()
        .await
        .ok()
        .and_then(|b| b.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let app_key = cx.app_key().to_owned();
    {
        let mut inner = cx.sb.lock();
        if !inner.data.users.contains_key(user) {
            return Err(ApiError::user_not_found(user));
        }
        let g = find_mut(&mut inner, false, id)?;
        require_manager(g, &me)?;
        if user == g.owner || (g.admins.contains(user) && g.owner != me) {
            return Err(ApiError::forbidden(format!(
                "{me} may not block {user} in group {id}"
            )));
        }
        let was_member = g.members.remove(user);
        g.admins.remove(user);
        g.muted.remove(user);
        g.blocked.insert(user.to_owned());
        let g = g.clone();
        let mut ban = muc_body(&app_key, &g, MucOp::Ban, &me, &[user.to_owned()]);
        ban.reason = Some(reason).filter(|r| !r.is_empty());
        notify(
            &mut inner,
            &app_key,
            &ban,
            &me,
            id,
            &[user.to_owned()],
            None,
        );
        if was_member {
            let remaining: Vec<String> = g.members.iter().cloned().collect();
            let absence = muc_body(&app_key, &g, MucOp::Absence, user, &[]);
            notify(&mut inner, &app_key, &absence, user, id, &remaining, None);
        }
    }
    cx.sb.touch();
    // An array: the SDK reads `data[0]`.
    cx.ok(json!({ "data": [{ "result": true, "action": "add_blocks", "user": user, "groupid": id }] }))
}

/// `DELETE /chatgroups/{id}/blocks/users/{user}`.
pub(crate) fn unblock(cx: &mut Ctx, id: &str, user: &str) -> ApiResult {
    let me = cx.auth()?;
    let app_key = cx.app_key().to_owned();
    {
        let mut inner = cx.sb.lock();
        let g = find_mut(&mut inner, false, id)?;
        require_manager(g, &me)?;
        if !g.blocked.remove(user) {
            return Err(ApiError::bad_request(format!(
                "{user} is not blocked in group {id}"
            )));
        }
        let g = g.clone();
        let allow = muc_body(&app_key, &g, MucOp::Allow, &me, &[user.to_owned()]);
        notify(
            &mut inner,
            &app_key,
            &allow,
            &me,
            id,
            &[user.to_owned()],
            None,
        );
    }
    cx.sb.touch();
    cx.ok(json!({ "data": [{ "result": true, "action": "remove_blocks", "user": user, "groupid": id }] }))
}
