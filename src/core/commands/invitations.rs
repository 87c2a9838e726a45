//! `accept [<id>]` and `decline [<id>]`: answer what waits for the user's answer (see
//! [`crate::core::invitations`]): an invitation into network group `<id>`, or user `<id>`'s
//! contact request. Without an id, the only one waiting; with several, the bot lists them.
//! An id the bot told of nothing is tried as a group invitation, then as a contact request:
//! the network decides, and its refusal is shown as it words it. Accepting a group joins it
//! and opens its portal, which arrives as an invite.

use std::sync::Arc;

use ruma::{RoomId, UserId};

use super::chats::{existing_room, open_portal, room_link};
use super::reply;
use crate::core::connector::{ChatId, SendFailure};
use crate::core::invitations::{self, InvitationKind, PendingInvitation};
use crate::core::logins::UserLogin;
use crate::core::portal::portal_key;
use crate::core::Ctx;

/// `accept [<id>]` (`accept` true) or `decline [<id>]`.
pub(super) async fn answer(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    args: &[&str],
    accept: bool,
) {
    let verb = if accept { "accept" } else { "decline" };
    if args.len() > 1 {
        return reply(ctx, room, &format!("Usage: `{verb} [<group or user id>]`")).await;
    }
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let waiting = invitations::pending(ctx, sender).await;
    let matching: Vec<&PendingInvitation> = waiting
        .iter()
        .filter(|p| args.first().is_none_or(|id| p.id == *id))
        .collect();
    let (kinds, id): (Vec<InvitationKind>, String) = match (matching.as_slice(), args.first()) {
        ([one], _) => (vec![one.kind], one.id.clone()),
        ([], Some(id)) => (
            vec![InvitationKind::Group, InvitationKind::Contact],
            (*id).to_owned(),
        ),
        ([], None) => return reply(ctx, room, "Nothing is waiting for your answer.").await,
        (several, _) => {
            let list: Vec<String> = several
                .iter()
                .map(|p| match p.kind {
                    InvitationKind::Group => format!("* group `{}` (from `{}`)", p.id, p.from),
                    InvitationKind::Contact => format!("* contact request from `{}`", p.id),
                })
                .collect();
            let text = format!(
                "Several are waiting; send `{verb} <id>` for one:\n{}",
                list.join("\n")
            );
            return reply(ctx, room, &text).await;
        }
    };
    let mut refusals = Vec::new();
    for kind in kinds {
        match answer_one(&login, kind, &id, accept).await {
            Ok(()) => {
                invitations::forget(ctx, sender, kind, &id).await;
                let text = answered(ctx, &login, kind, &id, accept).await;
                return reply(ctx, room, &text).await;
            }
            Err(e) => refusals.push(match kind {
                InvitationKind::Group => format!("as a group invitation: {e}"),
                InvitationKind::Contact => format!("as a contact request: {e}"),
            }),
        }
    }
    let text = format!("`{id}` could not be {verb}ed {}.", refusals.join("; "));
    reply(ctx, room, &text).await
}

/// Tells the network the answer.
async fn answer_one(
    login: &Arc<UserLogin>,
    kind: InvitationKind,
    id: &str,
    accept: bool,
) -> Result<(), SendFailure> {
    let none = |what: &str| SendFailure::Permanent(format!("this IM service has no {what}"));
    match kind {
        InvitationKind::Group => {
            let groups = login
                .session
                .as_group_admin()
                .ok_or_else(|| none("groups"))?;
            groups
                .answer_group_invitation(&ChatId::group(id.to_owned()), accept)
                .await
        }
        InvitationKind::Contact => {
            let contacts = login
                .session
                .as_contacts()
                .ok_or_else(|| none("contacts"))?;
            contacts.answer_contact_request(id, accept).await
        }
    }
}

/// What the bot says once the network took the answer; a joined group's portal is opened.
async fn answered(
    ctx: &Arc<Ctx>,
    login: &Arc<UserLogin>,
    kind: InvitationKind,
    id: &str,
    accept: bool,
) -> String {
    match (kind, accept) {
        (InvitationKind::Group, false) => format!("Declined the invitation to group `{id}`."),
        (InvitationKind::Contact, false) => format!("Declined `{id}`'s contact request."),
        (InvitationKind::Contact, true) => {
            format!("`{id}` is your contact now: send `pm {id}` to open a chat.")
        }
        (InvitationKind::Group, true) => {
            let chat = ChatId::group(id.to_owned());
            let key = portal_key(&login.remote_id, &chat);
            match existing_room(ctx, &key).await {
                Some(portal) => format!("Joined group `{id}`: {}", room_link(portal.as_str())),
                None => {
                    open_portal(ctx, login, chat).await;
                    format!("Joined group `{id}`: its room arrives as an invite.")
                }
            }
        }
    }
}
