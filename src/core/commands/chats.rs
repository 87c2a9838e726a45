//! `sync` (portals for every chat the network lists) and `pm <user>` (a direct chat), both
//! creating portals through the portal queues so creation is ordered with the chats' messages.
//! `pm` checks that the user exists first and, when the chat already has a room, points to it
//! (inviting the user again if they left it) instead of promising an invite that never comes.

use std::sync::Arc;

use ruma::{RoomId, UserId};
use tracing::warn;

use super::reply;
use crate::core::connector::{ChatId, RemoteEvent};
use crate::core::logins::UserLogin;
use crate::core::portal::portal_key;
use crate::core::Ctx;

/// A matrix.to link to a room, for the bot's messages.
pub(super) fn room_link(room: &str) -> String {
    format!("https://matrix.to/#/{room}")
}

pub(super) async fn sync(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let chats = match login.session.list_chats().await {
        Ok(c) => c,
        Err(e) => return reply(ctx, room, &format!("Could not list chats: {e}")).await,
    };
    let mut new = 0;
    for chat in chats.iter() {
        let key = portal_key(&login.remote_id, chat);
        let exists = ctx
            .store
            .get_portal(&key)
            .ok()
            .flatten()
            .is_some_and(|p| !p.room_id.is_empty());
        if !exists {
            new += 1;
        }
        open_portal(ctx, &login, chat.clone()).await;
    }
    let text = match (chats.len(), new) {
        (0, _) => "No chats to bring over: you have no contacts, groups or recent \
                   conversations yet. A chat's room is created as soon as a message arrives, \
                   or open one with `pm <user>`."
            .to_owned(),
        (n, 0) => format!("All {n} chats already have rooms."),
        (n, k) => format!(
            "Syncing {n} chats: {k} new rooms arrive as invites from the bridge (accept them \
             to chat); the others already exist."
        ),
    };
    reply(ctx, room, &text).await
}

pub(super) async fn pm(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, user: &str) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let user = user.trim();
    if user == login.remote_id {
        return reply(ctx, room, "That is your own IM account.").await;
    }
    match login.session.resolve_user(user).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return reply(ctx, room, &format!("There is no IM user `{user}`.")).await;
        }
        Err(e) => {
            return reply(ctx, room, &format!("Cannot open a chat with {user}: {e}")).await;
        }
    }
    let chat = ChatId::direct(user);
    let key = portal_key(&login.remote_id, &chat);
    let existing = ctx
        .store
        .get_portal(&key)
        .ok()
        .flatten()
        .and_then(|p| RoomId::parse(p.room_id.as_str()).ok());
    let Some(portal_room) = existing else {
        open_portal(ctx, &login, chat).await;
        let text = format!("Opening a chat with {user}: its room arrives as an invite.");
        return reply(ctx, room, &text).await;
    };
    let link = room_link(portal_room.as_str());
    let joined = ctx
        .matrix
        .joined_members(&portal_room)
        .await
        .map(|m| m.iter().any(|u| u.as_str() == sender.as_str()));
    let text = match joined {
        Ok(true) => format!("You already have a chat with {user}: {link}"),
        _ => match ctx
            .matrix
            .invite(&portal_room, ctx.matrix.bot(), sender)
            .await
        {
            Ok(()) => format!("Your chat with {user} is {link}: I invited you to it again."),
            Err(e) => {
                warn!(room = %portal_room, error = %e, "re-invite failed");
                format!("Your chat with {user} is {link}, but I could not invite you: {e}")
            }
        },
    };
    reply(ctx, room, &text).await
}

/// Creates a chat's portal (through its queue, so it is ordered with its messages) by queueing
/// an empty chat-info change for it.
pub(super) async fn open_portal(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, chat: ChatId) {
    let key = portal_key(&login.remote_id, &chat);
    let event = RemoteEvent::ChatInfoChange {
        chat,
        sender: None,
        change: Default::default(),
    };
    ctx.portals
        .enqueue_remote(&key, login.clone(), event, None)
        .await;
}
