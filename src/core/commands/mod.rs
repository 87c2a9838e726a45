//! Management commands in the DM with the bridge bot: `help`, `login` (interactive or one-line;
//! the event carrying a password is redacted at once), `logout`, `list-logins`, `ping`, `sync`,
//! `pm`, `version`, `cancel`. Owns the management rooms (found by the bot being invited to a
//! DM), permission checks, and telling users about their logins.

use std::collections::HashMap;
use std::sync::Arc;

use ruma::{EventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::connector::{ChatId, RemoteEvent};
use super::convert::notice_content;
use super::ghosts::now_ms;
use super::logins;
use super::matrix_api::MatrixEvent;
use super::portal::portal_key;
use super::Ctx;
use crate::config::PermissionLevel;
use crate::store::Store;

const MGMT_PREFIX: &str = "mgmt:";

/// Multi-step command state per management room.
#[derive(Default)]
pub struct CommandState {
    pending: Mutex<HashMap<OwnedRoomId, Pending>>,
}

#[derive(Clone)]
enum Pending {
    LoginUser,
    LoginPassword { user: String },
}

/// Management rooms saved in the store's kv tree.
pub fn load_management_rooms(store: &Store) -> Vec<(OwnedRoomId, OwnedUserId)> {
    store
        .list_kv(MGMT_PREFIX)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| {
            let room = RoomId::parse(k.strip_prefix(MGMT_PREFIX)?).ok()?;
            let user = UserId::parse(v.as_str()).ok()?;
            Some((room, user))
        })
        .collect()
}

async fn reply(ctx: &Ctx, room: &RoomId, text: &str) {
    let txn = format!("imb-cmd-{}-{}", now_ms(), rand_suffix());
    if let Err(e) = ctx
        .matrix
        .send_event(
            room,
            ctx.matrix.bot(),
            "m.room.message",
            &txn,
            &notice_content(text),
        )
        .await
    {
        warn!(%room, error = %e, "command reply not sent");
    }
}

fn rand_suffix() -> u32 {
    rand::random::<u32>()
}

/// The user's management room, if any.
async fn management_room_of(ctx: &Ctx, user: &UserId) -> Option<OwnedRoomId> {
    ctx.management
        .read()
        .await
        .iter()
        .find(|(_, u)| u.as_str() == user.as_str())
        .map(|(r, _)| r.clone())
}

/// Tells `user` something in their management room.
pub async fn notify_user(ctx: &Ctx, user: &UserId, text: &str) {
    match management_room_of(ctx, user).await {
        Some(room) => reply(ctx, &room, text).await,
        None => info!(%user, text, "no management room to notify"),
    }
}

/// Invites of the bot to a DM make it the inviter's management room.
pub async fn on_membership(ctx: &Arc<Ctx>, event: &MatrixEvent) {
    let MatrixEvent::Membership {
        room,
        sender,
        target,
        membership,
        ..
    } = event
    else {
        return;
    };
    if target.as_str() != ctx.matrix.bot().as_str() {
        return;
    }
    match membership.as_str() {
        "invite" => {
            if ctx.permission(sender) < PermissionLevel::Commands {
                info!(%sender, "invite from a user without permission ignored");
                let _ = ctx.matrix.leave(room, ctx.matrix.bot()).await;
                return;
            }
            if let Err(e) = ctx.matrix.join(room, ctx.matrix.bot()).await {
                warn!(%room, error = %e, "bot could not join");
                return;
            }
            ctx.management
                .write()
                .await
                .insert(room.clone(), sender.clone());
            let _ = ctx
                .store
                .put_kv(&format!("{MGMT_PREFIX}{room}"), sender.as_str());
            reply(
                ctx,
                room,
                "Hello! I am the bridge bot. This room is your management room. Send `help` for the commands.",
            )
            .await;
        }
        "leave" | "ban" => {
            ctx.management.write().await.remove(room);
            let _ = ctx.store.delete_kv(&format!("{MGMT_PREFIX}{room}"));
        }
        _ => {}
    }
}

/// A message in a management room.
pub async fn on_message(ctx: &Arc<Ctx>, event: &MatrixEvent) {
    let MatrixEvent::Message {
        room,
        sender,
        event_id,
        content,
        ..
    } = event
    else {
        return;
    };
    let Some(body) = content["body"].as_str() else {
        return;
    };
    let level = ctx.permission(sender);
    if level < PermissionLevel::Commands {
        reply(ctx, room, "You are not allowed to use this bridge.").await;
        return;
    }
    let body = body.trim();
    let prefix = ctx.cfg.bridge.command_prefix.as_str();
    let body = body
        .strip_prefix(prefix)
        .map(str::trim_start)
        .unwrap_or(body);
    let pending = ctx.commands.pending.lock().await.get(room).cloned();
    if let Some(step) = pending {
        if body != "cancel" {
            return continue_login(ctx, room, sender, event_id, step, body).await;
        }
    }
    let mut words = body.split_whitespace();
    let command = words.next().unwrap_or_default().to_lowercase();
    let args: Vec<&str> = words.collect();
    match command.as_str() {
        "help" => reply(ctx, room, HELP).await,
        "version" => {
            let text = format!(
                "imbridge {} — network: {}",
                env!("CARGO_PKG_VERSION"),
                ctx.connector.name()
            );
            reply(ctx, room, &text).await
        }
        "cancel" => {
            let had = ctx.commands.pending.lock().await.remove(room).is_some();
            reply(
                ctx,
                room,
                if had {
                    "Cancelled."
                } else {
                    "Nothing to cancel."
                },
            )
            .await
        }
        "login" => {
            if level < PermissionLevel::User {
                return reply(
                    ctx,
                    room,
                    "You are not allowed to log in through this bridge.",
                )
                .await;
            }
            match args.as_slice() {
                [] => {
                    ctx.commands
                        .pending
                        .lock()
                        .await
                        .insert(room.clone(), Pending::LoginUser);
                    reply(ctx, room, "Send your IM user name (or `cancel`).").await
                }
                [user, password] => {
                    redact_secret(ctx, room, event_id).await;
                    do_login(ctx, room, sender, user, password).await
                }
                _ => {
                    redact_secret(ctx, room, event_id).await;
                    reply(ctx, room, "Usage: `login` or `login <user> <password>`").await
                }
            }
        }
        "logout" => {
            let text = if logins::logout(ctx, sender).await {
                "Logged out."
            } else {
                "You are not logged in."
            };
            reply(ctx, room, text).await
        }
        "list-logins" => {
            let text = match ctx.login_of(sender).await {
                Some(l) => format!("* {} — {:?}", l.remote_id, l.state().await),
                None => "You are not logged in.".into(),
            };
            reply(ctx, room, &text).await
        }
        "ping" => {
            let text = match ctx.login_of(sender).await {
                Some(l) => format!("Logged in as {}: {:?}", l.remote_id, l.state().await),
                None => "You are not logged in.".into(),
            };
            reply(ctx, room, &text).await
        }
        "sync" => sync(ctx, room, sender).await,
        "pm" | "start-chat" => match args.first() {
            Some(user) => pm(ctx, room, sender, user).await,
            None => reply(ctx, room, "Usage: `pm <im-user>`").await,
        },
        "" => {}
        other => {
            let text = format!("Unknown command `{other}`. Send `help` for the list.");
            reply(ctx, room, &text).await
        }
    }
}

const HELP: &str = "Commands:\n\
* `login` — log in to the IM service (asks for user name and password); or `login <user> <password>`\n\
* `logout` — log out and forget the login\n\
* `list-logins` / `ping` — your login and its connection state\n\
* `sync` — create rooms for your contacts and groups\n\
* `pm <im-user>` — open a direct chat with an IM user\n\
* `cancel` — cancel a login in progress\n\
* `version` — the bridge version";

async fn redact_secret(ctx: &Ctx, room: &RoomId, event: &EventId) {
    let txn = format!("imb-redact-secret-{}", now_ms());
    if let Err(e) = ctx
        .matrix
        .redact(
            room,
            ctx.matrix.bot(),
            event,
            &txn,
            Some("Contains a password"),
        )
        .await
    {
        warn!(%room, error = %e, "password message not redacted");
    }
}

async fn continue_login(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    event_id: &EventId,
    step: Pending,
    body: &str,
) {
    match step {
        Pending::LoginUser => {
            ctx.commands.pending.lock().await.insert(
                room.to_owned(),
                Pending::LoginPassword {
                    user: body.to_owned(),
                },
            );
            reply(
                ctx,
                room,
                "Now send your password (the message will be redacted).",
            )
            .await
        }
        Pending::LoginPassword { user } => {
            redact_secret(ctx, room, event_id).await;
            ctx.commands.pending.lock().await.remove(room);
            do_login(ctx, room, sender, &user, body).await
        }
    }
}

async fn do_login(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, user: &str, password: &str) {
    reply(ctx, room, &format!("Logging in as {user}…")).await;
    match logins::login_password(ctx, sender, user, password).await {
        Ok(login) => {
            let text = format!(
                "Logged in as {}. Send `sync` to bring your chats over.",
                login.remote_id
            );
            reply(ctx, room, &text).await
        }
        Err(e) => reply(ctx, room, &format!("Login failed: {e}")).await,
    }
}

async fn sync(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let chats = match login.session.list_chats().await {
        Ok(c) => c,
        Err(e) => return reply(ctx, room, &format!("Could not list chats: {e}")).await,
    };
    let count = chats.len();
    for chat in chats {
        open_portal(ctx, &login, chat).await;
    }
    reply(
        ctx,
        room,
        &format!("Syncing {count} chats; their rooms will appear as invites."),
    )
    .await
}

async fn pm(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, user: &str) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    if let Err(e) = login.session.user_profile(user).await {
        return reply(ctx, room, &format!("Cannot open a chat with {user}: {e}")).await;
    }
    open_portal(ctx, &login, ChatId::direct(user)).await;
    reply(
        ctx,
        room,
        &format!("Opening a chat with {user}; accept the invite."),
    )
    .await
}

/// Creates a chat's portal (through its queue, so it is ordered with its messages) by queueing
/// an empty chat-info change for it.
async fn open_portal(ctx: &Arc<Ctx>, login: &Arc<logins::UserLogin>, chat: ChatId) {
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
