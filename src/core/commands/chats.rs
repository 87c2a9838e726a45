//! `sync` (portals for every chat the network lists) and `pm <user>` (a direct chat), both
//! creating portals through the portal queues so creation is ordered with the chats' messages.
//! `pm` checks that the user exists first and, when the chat already has a room, points to it
//! (inviting the user again if they left it) instead of promising an invite that never comes.

use std::sync::Arc;

use ruma::{OwnedRoomId, RoomId, UserId};
use tracing::warn;

use super::reply;
use crate::core::connector::{ChatId, RemoteEvent};
use crate::core::logins::UserLogin;
use crate::core::portal::portal_key;
use crate::core::Ctx;

/// `1 chat`, `2 chats`.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A matrix.to link to a room, for the bot's messages.
pub(crate) fn room_link(room: &str) -> String {
    format!("https://matrix.to/#/{room}")
}

/// The room of portal `key`, if it has one.
pub(crate) async fn existing_room(ctx: &Ctx, key: &str) -> Option<OwnedRoomId> {
    let record = ctx.store.get_portal(key).await.ok().flatten()?;
    RoomId::parse(record.room_id.as_str()).ok()
}

/// Where `user`'s chat with `remote` is, as a sentence for them; invites them to `room` again
/// when they are not in it.
pub(crate) async fn point_to_chat(ctx: &Ctx, user: &UserId, remote: &str, room: &RoomId) -> String {
    let link = room_link(room.as_str());
    let joined = ctx
        .matrix
        .joined_members(room)
        .await
        .is_ok_and(|m| m.iter().any(|u| u.as_str() == user.as_str()));
    if joined {
        return format!("You already have a chat with {remote}: {link}");
    }
    match ctx.matrix.invite(room, ctx.matrix.bot(), user).await {
        Ok(()) => format!("Your chat with {remote} is {link}: I invited you to it again."),
        Err(e) => {
            warn!(%room, error = %e, "re-invite failed");
            format!("Your chat with {remote} is {link}, but I could not invite you: {e}")
        }
    }
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
            .await
            .ok()
            .flatten()
            .is_some_and(|p| !p.room_id.is_empty());
        if !exists {
            new += 1;
        }
        open_portal(ctx, &login, chat.clone()).await;
    }
    let text = match (chats.len(), new) {
        (0, _) => "The IM side lists no contacts or groups to bring over. Other chats get \
                   their room as soon as a message arrives, or open one with `pm <user>`."
            .to_owned(),
        (n, 0) => format!("All {} already have rooms.", plural(n, "chat", "chats")),
        (n, k) => format!(
            "Syncing {}: {} from the bridge (accept to chat); the others already exist.",
            plural(n, "chat", "chats"),
            plural(
                k,
                "new room arrives as an invite",
                "new rooms arrive as invites"
            ),
        ),
    };
    reply(ctx, room, &text).await
}

pub(super) async fn pm(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, user: &str) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let user = &login.session.canonical_user_id(user.trim());
    if *user == login.remote_id {
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
    let Some(portal_room) = existing_room(ctx, &key).await else {
        open_portal(ctx, &login, chat).await;
        let text = format!("Opening a chat with {user}: its room arrives as an invite.");
        return reply(ctx, room, &text).await;
    };
    let text = point_to_chat(ctx, sender, user, &portal_room).await;
    reply(ctx, room, &text).await
}

/// `resolve-identifier <im-user>` (mautrix's command): whether the IM user exists, their name,
/// their ghost and the DM room with them if there is one; nothing is created.
pub(super) async fn resolve_identifier(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, user: &str) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let user = &login.session.canonical_user_id(user.trim());
    let profile = match login.session.resolve_user(user).await {
        Ok(Some(profile)) => profile,
        Ok(None) => return reply(ctx, room, &format!("There is no IM user `{user}`.")).await,
        Err(e) => return reply(ctx, room, &format!("Cannot look up {user}: {e}")).await,
    };
    let ghost = ctx.ghosts.mxid(user);
    let name = profile.name.as_deref().unwrap_or(user);
    let key = portal_key(&login.remote_id, &ChatId::direct(user));
    let dm = match existing_room(ctx, &key).await {
        Some(r) => format!("your chat with them is {}", room_link(r.as_str())),
        None => format!("no chat with them yet (`pm {user}` opens one)"),
    };
    let text = format!(
        "`{user}` is **{name}** on the IM side, [{ghost}](https://matrix.to/#/{ghost}) here; {dm}."
    );
    reply(ctx, room, &text).await
}

/// Creates a chat's portal (through its queue, so it is ordered with its messages) by queueing
/// an empty chat-info change for it.
pub(crate) async fn open_portal(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, chat: ChatId) {
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

/// How many users `search` lists.
const SEARCH_RESULTS: usize = 20;

/// `search <query>` (mautrix's command): IM users matching the query, as the network can find
/// them ([`crate::core::connector::NetworkLogin::search_users`]), each with their ghost and
/// the DM room or the `pm` command that opens one.
pub(super) async fn search(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, query: &str) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let found = match login.session.search_users(query, SEARCH_RESULTS).await {
        Ok(found) => found,
        Err(e) => return reply(ctx, room, &format!("Search failed: {e}")).await,
    };
    if found.is_empty() {
        return reply(ctx, room, &format!("No IM user matches `{query}`.")).await;
    }
    let mut text = format!("IM users matching `{query}`:\n");
    for user in found {
        let id = &user.id;
        let name = user.profile.name.as_deref().unwrap_or(id);
        let ghost = ctx.ghosts.mxid(id);
        let key = portal_key(&login.remote_id, &ChatId::direct(id.as_str()));
        let dm = match existing_room(ctx, &key).await {
            Some(r) => format!("[your chat]({})", room_link(r.as_str())),
            None => format!("`pm {id}`"),
        };
        text.push_str(&format!(
            "* **{name}** (`{id}`), [{ghost}](https://matrix.to/#/{ghost}), {dm}\n"
        ));
    }
    reply(ctx, room, &text).await
}
