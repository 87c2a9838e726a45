//! Group invitations that need the invitee's consent (`invite_need_confirm`): an invite
//! records the invitation and sends the invitee INVITE (the SDK's `onGroupEvent`
//! `inviteToJoin`) instead of adding them; the invitee answers with
//! `POST /chatgroups/{id}/invite_verify {"invitee", "verifyResult"}` (the SDK's
//! `acceptGroupInvite` / `rejectGroupInvite`), which adds them (DIRECT_JOINED to them,
//! PRESENCE to the members) and tells the inviter INVITE_ACCEPT, or tells the inviter
//! INVITE_DECLINE.

use serde_json::{json, Value};

use super::super::state::Inner;
use super::groups::{find, find_mut, muc_body, notify};
use super::{bool_field, str_field, ApiError, ApiResult, Ctx};
use crate::network::easemob::proto::muc_body::Operation as MucOp;

/// Records invitations of `users` (not yet members) to group `id` by `inviter` and sends each
/// invitee INVITE with `reason`. Returns one result object per user, as `/invite` answers.
pub(crate) fn invite_locked(
    inner: &mut Inner,
    app_key: &str,
    id: &str,
    inviter: &str,
    users: &[String],
    reason: &str,
) -> Result<Vec<Value>, ApiError> {
    if let Some(missing) = users.iter().find(|u| !inner.data.users.contains_key(*u)) {
        return Err(ApiError::user_not_found(missing));
    }
    let mut results = Vec::new();
    let mut invited = Vec::new();
    {
        let g = find_mut(inner, false, id)?;
        for u in users {
            let member = g.members.contains(u);
            if !member {
                g.invitations.insert(u.clone(), inviter.to_owned());
                invited.push(u.clone());
            }
            results.push(json!({
                "result": !member,
                "action": "invite",
                "user": u,
                "groupid": id,
                "reason": if member { "user is already a member" } else { "" },
            }));
        }
    }
    let g = find(inner, false, id)?.clone();
    for u in &invited {
        let mut body = muc_body(app_key, &g, MucOp::Invite, inviter, std::slice::from_ref(u));
        body.reason = Some(reason.to_owned());
        notify(
            inner,
            app_key,
            &body,
            inviter,
            id,
            std::slice::from_ref(u),
            None,
        );
    }
    Ok(results)
}

/// `POST /chatgroups/{id}/invite_verify` `{"invitee": me, "verifyResult": bool}`: the invitee
/// accepts (joins) or declines a pending invitation.
pub(crate) async fn verify(cx: &mut Ctx, id: &str) -> ApiResult {
    let me = cx.auth()?;
    let body = cx.json_object().await?;
    let invitee = str_field(&body, "invitee").unwrap_or(&me).to_owned();
    if invitee != me {
        return Err(ApiError::forbidden(format!(
            "the token of {me} may not answer the invitation of {invitee}"
        )));
    }
    let accept = bool_field(&body, "verifyResult").ok_or_else(|| {
        ApiError::bad_request("verifyResult must be true (accept) or false (decline)")
    })?;
    let app_key = cx.app_key().to_owned();
    let resource = cx.resource();
    {
        let mut inner = cx.sb.lock();
        let inviter = find_mut(&mut inner, false, id)?
            .invitations
            .remove(&me)
            .ok_or_else(|| {
                ApiError::bad_request(format!("{me} has no pending invitation to group {id}"))
            })?;
        let op = if accept {
            let except = resource.as_deref().map(|r| (me.as_str(), r));
            super::members::add_locked(
                &mut inner,
                &app_key,
                false,
                id,
                &me,
                std::slice::from_ref(&me),
                except,
            )?;
            MucOp::InviteAccept
        } else {
            MucOp::InviteDecline
        };
        let g = find(&inner, false, id)?.clone();
        let answer = muc_body(&app_key, &g, op, &me, &[]);
        notify(&mut inner, &app_key, &answer, &me, id, &[inviter], None);
    }
    cx.sb.touch();
    cx.ok(json!({ "data": { "result": true, "groupid": id, "accept": accept, "user": me } }))
}
