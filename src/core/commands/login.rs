//! `login` (interactive, or `login <user> <password>` in one line): the password message is
//! redacted by the bot when it can, and the user is told plainly when it cannot. Before asking
//! for a password the bot reads the room's power levels; if it could not redact the answer it
//! says so then, so that nobody is promised a redaction that will not happen.

use std::sync::Arc;

use ruma::{EventId, RoomId, UserId};
use tracing::warn;

use super::{reply, Pending};
use crate::core::logins;
use crate::core::power_levels::{redact_power, RedactPower};
use crate::core::Ctx;

/// Whether the bot can redact the user's messages in `room`; `Err` carries the reason in words.
async fn bot_can_redact(ctx: &Ctx, room: &RoomId) -> Result<(), String> {
    let bot = ctx.matrix.bot().as_str();
    let create = ctx.matrix.room_state(room, "m.room.create", "").await;
    let power = ctx.matrix.room_state(room, "m.room.power_levels", "").await;
    let (create, power) = match (create, power) {
        (Ok(c), Ok(p)) => (c, p),
        (Err(e), _) | (_, Err(e)) => {
            return Err(format!("I could not read this room's power levels ({e})"))
        }
    };
    match redact_power(create.as_ref(), power.as_ref(), bot, None) {
        RedactPower::Allowed => Ok(()),
        RedactPower::Denied { need, have } => Err(format!(
            "I need power level {need} to delete messages here and have {have}"
        )),
    }
}

/// Redacts the message holding a password; on failure tells the user, plainly, to delete it.
async fn redact_secret(ctx: &Ctx, room: &RoomId, event: &EventId) {
    redact_secret_named(ctx, room, event, "password").await;
}

/// Redacts the message holding a secret (`what`: "password", "access token"); on failure
/// tells the user, plainly, to delete it.
pub(super) async fn redact_secret_named(ctx: &Ctx, room: &RoomId, event: &EventId, what: &str) {
    let txn = format!("imb-redact-secret-{event}");
    let why = match ctx
        .matrix
        .redact(
            room,
            ctx.matrix.bot(),
            event,
            &txn,
            Some(&format!("Contains a {what}")),
        )
        .await
    {
        Ok(_) => return,
        Err(e) => {
            warn!(%room, error = %e, "password message not redacted");
            match bot_can_redact(ctx, room).await {
                Err(why) => why,
                Ok(()) => format!("the homeserver refused: {e}"),
            }
        }
    };
    let text = format!(
        "⚠️ **Your {what} is still readable in this room**: I could not delete the message \
         that holds it ({why}). Please delete (redact) that message yourself now. To let me do \
         it next time, give me power level 50 in this room."
    );
    reply(ctx, room, &text).await;
}

/// `login` with its arguments, from the first message.
pub(super) async fn start(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    event_id: &EventId,
    args: &[&str],
) {
    match args {
        [] => {
            ctx.commands
                .pending
                .lock()
                .await
                .insert(room.to_owned(), Pending::LoginUser);
            reply(ctx, room, "Send your IM user name (or `cancel`).").await
        }
        [user, password] => {
            redact_secret(ctx, room, event_id).await;
            do_login(ctx, room, sender, user, password).await
        }
        [_] => {
            // `login <user>`: only the password is asked for.
            ask_password(ctx, room, args[0]).await
        }
        _ => {
            redact_secret(ctx, room, event_id).await;
            reply(
                ctx,
                room,
                "Usage: `login`, `login <user>` or `login <user> <password>`",
            )
            .await
        }
    }
}

/// Asks for the password, saying honestly whether the answer will be redacted.
async fn ask_password(ctx: &Arc<Ctx>, room: &RoomId, user: &str) {
    ctx.commands.pending.lock().await.insert(
        room.to_owned(),
        Pending::LoginPassword {
            user: user.to_owned(),
        },
    );
    let text = match bot_can_redact(ctx, room).await {
        Ok(()) => "Now send your password (I will delete the message at once), or `cancel`."
            .to_owned(),
        Err(why) => format!(
            "Now send your password, or `cancel`.\n\n⚠️ **I cannot delete your message afterwards** \
             ({why}), so the password would stay readable in this room's history. Either give \
             me power level 50 in this room first, or delete (redact) the message yourself \
             right after sending it."
        ),
    };
    reply(ctx, room, &text).await
}

/// The next message of an interactive login.
pub(super) async fn continue_login(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    event_id: &EventId,
    step: Pending,
    body: &str,
) {
    match step {
        Pending::LoginUser => ask_password(ctx, room, body).await,
        Pending::LoginPassword { user } => {
            redact_secret(ctx, room, event_id).await;
            ctx.commands.pending.lock().await.remove(room);
            do_login(ctx, room, sender, &user, body).await
        }
    }
}

async fn do_login(ctx: &Arc<Ctx>, room: &RoomId, sender: &UserId, user: &str, password: &str) {
    let previous = ctx.login_of(sender).await.map(|l| l.remote_id.clone());
    reply(ctx, room, &format!("Logging in as {user}…")).await;
    match logins::login_password(ctx, sender, user, password).await {
        Ok(login) => {
            let mut text = format!("Logged in as {}.", login.remote_id);
            if let Some(old) = previous.filter(|old| *old != login.remote_id) {
                text.push_str(&format!(
                    " The session of {old} is closed: its chats stay in their rooms, and what \
                     is sent to {old} from now on waits on the IM server until you log in as \
                     {old} again."
                ));
            }
            text.push_str(
                " Send `sync` to bring your chats over: their rooms arrive as invites from the \
                 bridge.",
            );
            reply(ctx, room, &text).await
        }
        Err(e) => {
            let text = match ctx.login_of(sender).await {
                Some(old) => format!(
                    "Login failed: {e}. You are still logged in as {}.",
                    old.remote_id
                ),
                None => format!("Login failed: {e}."),
            };
            reply(ctx, room, &text).await
        }
    }
}
