//! Contact (friend) and block-list commands, through the login's
//! [`ContactsAbility`](crate::core::connector::ContactsAbility): `add-contact <user>
//! [<message>…]` sends a contact request (the answer is told in the management room),
//! `remove-contact <user>`, `block <user>` / `unblock <user>` (a blocked user's messages no
//! longer arrive), and `blocked` lists the blocked users. Incoming requests are answered with
//! `accept` / `decline` ([`super::invitations`]). Users may be given as IM ids or as their
//! ghosts' Matrix ids.

use std::sync::Arc;

use ruma::{RoomId, UserId};

use super::reply;
use crate::core::Ctx;

/// The contact commands; `name` is one of `add-contact`, `remove-contact`, `block`,
/// `unblock`, `blocked`.
pub(super) async fn command(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    name: &str,
    args: &[&str],
) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let Some(contacts) = login.session.as_contacts() else {
        return reply(
            ctx,
            room,
            "This IM service has no contacts to manage from here.",
        )
        .await;
    };
    if name == "blocked" {
        let text = match contacts.blocked_users().await {
            Ok(users) if users.is_empty() => "You have blocked nobody.".to_owned(),
            Ok(users) => format!(
                "Blocked: {}",
                users
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => format!("The block list cannot be read: {e}."),
        };
        return reply(ctx, room, &text).await;
    }
    let Some(target) = args.first() else {
        let usage = match name {
            "add-contact" => "Usage: `add-contact <im-user> [<message>…]`".to_owned(),
            other => format!("Usage: `{other} <im-user>`"),
        };
        return reply(ctx, room, &usage).await;
    };
    // A ghost's Matrix id stands for its IM user.
    let user = match UserId::parse(*target) {
        Ok(mxid) => match ctx.ghosts.remote_of(&mxid) {
            Some(remote) => remote,
            None => {
                let text = format!("{target} is not an IM user's ghost.");
                return reply(ctx, room, &text).await;
            }
        },
        Err(_) => (*target).to_owned(),
    };
    let user = login.session.canonical_user_id(&user);
    if user == login.remote_id {
        return reply(ctx, room, "That is your own IM account.").await;
    }
    let message = args[1..].join(" ");
    let (result, done) = match name {
        "add-contact" => (
            contacts
                .add_contact(&user, Some(message.as_str()).filter(|m| !m.is_empty()))
                .await,
            format!("Sent `{user}` a contact request: their answer will be told here."),
        ),
        "remove-contact" => (
            contacts.remove_contact(&user).await,
            format!("`{user}` is no longer your contact."),
        ),
        "block" => (
            contacts.set_blocked(&user, true).await,
            format!("Blocked `{user}`: their messages no longer reach you."),
        ),
        _ => (
            contacts.set_blocked(&user, false).await,
            format!("Unblocked `{user}`."),
        ),
    };
    let text = match result {
        Ok(()) => done,
        Err(e) => format!("`{name} {user}` failed: {e}."),
    };
    reply(ctx, room, &text).await
}
