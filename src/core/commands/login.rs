//! `login`: drives the network's login flows ([`PendingLogin`]) from the management room.
//! `login` alone lists the flows when there are several; `login <flow> [values…]` follows one,
//! taking the values given and asking for the rest one message at a time; `login <values…>`
//! (no flow id first, as in `login <user> <password>`) follows the default flow; `cancel`
//! gives up. A message holding a secret value (password, token, code: by field type) is
//! redacted by the bot when it can, and the user is told plainly when it cannot: before
//! asking for a secret the bot reads the room's power levels and says then if it could not
//! redact the answer, so that nobody is promised a redaction that will not happen.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ruma::{EventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use tracing::{info, warn};

use super::reply;
use crate::core::connector::{LoginData, LoginDisplay, LoginFlow, LoginInputField, LoginStep};
use crate::core::login_steps::{NextStep, PendingLogin};
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
            warn!(%room, error = %e, "secret message not redacted");
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

/// `login` with its arguments, from the first message; `relogin` names the account a
/// `relogin` must come back as (the current login's).
pub(super) async fn start(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    event_id: &EventId,
    args: &[&str],
    relogin: Option<String>,
) {
    let flows = ctx.connector.login_flows();
    if args.is_empty() && flows.len() > 1 {
        let command = if relogin.is_some() {
            "relogin"
        } else {
            "login"
        };
        return reply(ctx, room, &flow_list(ctx, command)).await;
    }
    let Some((flow_id, values)) = choose_flow(&flows, args) else {
        return reply(ctx, room, "This network offers no way to log in.").await;
    };
    // A previous login in progress in this room is given up.
    if let Some(old) = ctx.commands.pending.lock().await.remove(room) {
        old.cancel().await;
    }
    let mut pending =
        match PendingLogin::begin(ctx.connector.as_ref(), &flow_id, sender.as_str()).await {
            Ok(p) => p,
            Err(e) => return reply(ctx, room, &format!("Login failed: {e}.")).await,
        };
    pending.relogin = relogin;
    if !values.is_empty() {
        // The command line holds the first values: redact it if one of them is a secret.
        if let Some(secret) = given_secret(pending.step(), values.len()) {
            redact_secret_named(ctx, room, event_id, &secret).await;
        }
        if let Err(why) = pending.fill_all(values) {
            pending.cancel().await;
            let text = format!("{}.\n\n{}", capitalise(&why), usage(ctx));
            return reply(ctx, room, &text).await;
        }
    }
    drive(ctx.clone(), room.to_owned(), sender.to_owned(), pending).await
}

/// The flow and the values of `login <args>`: `login <flow> [values…]` names a flow (any
/// case); anything else is values for the default (first) flow, as in `login <user>
/// [<password>]`. `None` when the network has no flow.
fn choose_flow<'a>(flows: &[LoginFlow], args: &'a [&'a str]) -> Option<(String, &'a [&'a str])> {
    match args.split_first() {
        Some((first, rest)) if flows.iter().any(|f| f.id.eq_ignore_ascii_case(first)) => {
            Some((first.to_lowercase(), rest))
        }
        _ => flows.first().map(|flow| (flow.id.clone(), args)),
    }
}

/// The name of the first secret field among the first `given` fields of `step`, if any.
fn given_secret(step: &LoginStep, given: usize) -> Option<String> {
    let LoginStep::UserInput { fields, .. } = step else {
        return None;
    };
    // More values than fields: the extra ones may be secrets too.
    if given > fields.len() {
        return Some("secret".into());
    }
    fields[..given]
        .iter()
        .find(|f| f.field_type.is_secret())
        .map(|f| f.name.clone())
}

/// The next message of an interactive login: the value of the field asked for.
pub(super) async fn continue_login(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    event_id: &EventId,
    mut pending: PendingLogin,
    body: &str,
) {
    let Some(field) = pending.next_field().cloned() else {
        // Nothing asked (cannot happen: only asking logins wait in the map).
        return drive(ctx.clone(), room.to_owned(), sender.to_owned(), pending).await;
    };
    if field.field_type.is_secret() {
        redact_secret_named(ctx, room, event_id, &field.name).await;
    }
    if let Err(why) = pending.fill(body) {
        ctx.commands
            .pending
            .lock()
            .await
            .insert(room.to_owned(), pending);
        let text = format!("{}. Send it again, or `cancel`.", capitalise(&why));
        return reply(ctx, room, &text).await;
    }
    drive(ctx.clone(), room.to_owned(), sender.to_owned(), pending).await
}

/// Advances the login until it needs the user (asks, and leaves it waiting in the room's
/// pending slot), shows something and waits (in a task of its own, so other commands go on),
/// completes, or fails.
fn drive(
    ctx: Arc<Ctx>,
    room: OwnedRoomId,
    sender: OwnedUserId,
    mut pending: PendingLogin,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if pending.next_field().is_none() && matches!(pending.step(), LoginStep::UserInput { .. }) {
            reply(&ctx, &room, "Logging in…").await;
        }
        match pending.advance().await {
            Ok(NextStep::Ask {
                field,
                first,
                instructions,
            }) => ask(&ctx, &room, pending, &field, first, &instructions).await,
            Ok(NextStep::Display {
                instructions,
                display,
            }) => {
                reply(&ctx, &room, &display_text(&instructions, &display)).await;
                tokio::spawn(drive(ctx.clone(), room, sender, pending));
            }
            Ok(NextStep::Complete { data, instructions }) => {
                info!(user = %sender, flow = %pending.flow.id, "login flow completed");
                if let Some(expected) = pending.relogin.filter(|e| *e != data.remote_id) {
                    let text = format!(
                        "That is the account {}, but `relogin` is for {expected}: nothing \
                         changed. Send `login` to switch accounts.",
                        data.remote_id
                    );
                    return reply(&ctx, &room, &text).await;
                }
                finish(&ctx, &room, &sender, data, &instructions).await
            }
            Err(e) => {
                let text = match ctx.login_of(&sender).await {
                    Some(old) => format!(
                        "Login failed: {e}. You are still logged in as {}.",
                        old.remote_id
                    ),
                    None => format!("Login failed: {e}."),
                };
                reply(&ctx, &room, &text).await
            }
        }
    })
}

/// Leaves the login waiting for `field` and asks for it, saying honestly whether a secret
/// answer will be redacted.
async fn ask(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    pending: PendingLogin,
    field: &LoginInputField,
    first: bool,
    instructions: &str,
) {
    // Waiting first, then asked: the answer always finds the login.
    ctx.commands
        .pending
        .lock()
        .await
        .insert(room.to_owned(), pending);
    let verb = if first { "Send" } else { "Now send" };
    let name = &field.name;
    let mut text = String::new();
    if !instructions.is_empty() {
        text.push_str(instructions);
        text.push_str("\n\n");
    }
    if !field.field_type.is_secret() {
        text.push_str(&format!("{verb} your {name} (or `cancel`)."));
    } else {
        match bot_can_redact(ctx, room).await {
            Ok(()) => text.push_str(&format!(
                "{verb} your {name} (I will delete the message at once), or `cancel`."
            )),
            Err(why) => text.push_str(&format!(
                "{verb} your {name}, or `cancel`.\n\n⚠️ **I cannot delete your message \
                 afterwards** ({why}), so the {name} would stay readable in this room's \
                 history. Either give me power level 50 in this room first, or delete (redact) \
                 the message yourself right after sending it."
            )),
        }
    }
    if !field.description.is_empty() {
        text.push_str("\n\n");
        text.push_str(&field.description);
    }
    reply(ctx, room, &text).await
}

/// What a `display_and_wait` step shows, in Markdown.
fn display_text(instructions: &str, display: &LoginDisplay) -> String {
    let shown = match display {
        LoginDisplay::Qr(data) => format!("QR code data:\n\n```\n{data}\n```"),
        LoginDisplay::Emoji(e) => e.clone(),
        LoginDisplay::Code(code) => format!("`{code}`"),
        LoginDisplay::Nothing => String::new(),
    };
    [instructions, shown.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Stores the completed login and starts its session (replacing the current one).
pub(super) async fn finish(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    data: LoginData,
    instructions: &str,
) {
    let previous = ctx.login_of(sender).await.map(|l| l.remote_id.clone());
    match logins::finish_login(ctx, sender, data).await {
        Ok(login) => {
            let mut text = format!("Logged in as {}.", login.remote_id);
            if !instructions.is_empty() {
                text.push_str(&format!(" {instructions}"));
            }
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
        Err(e) => reply(ctx, room, &format!("Login failed: {e}.")).await,
    }
}

/// The flows, for `command` (`login` or `relogin`) without arguments.
fn flow_list(ctx: &Ctx, command: &str) -> String {
    let flows = ctx.connector.login_flows();
    let mut text = "Choose how to log in:\n".to_owned();
    for flow in &flows {
        text.push_str(&format!(
            "* `{command} {}` — {}: {}\n",
            flow.id, flow.name, flow.description
        ));
    }
    let example = flows.first().map_or("password", |f| f.id.as_str());
    text.push_str(&format!(
        "\nI ask for each value in turn; you may also give them after the flow id, as in \
         `{command} {example} <values…>`."
    ));
    text
}

/// The usage line of `login`, with this network's flow ids.
fn usage(ctx: &Ctx) -> String {
    let ids: Vec<String> = ctx
        .connector
        .login_flows()
        .iter()
        .map(|f| format!("`{}`", f.id))
        .collect();
    format!(
        "Usage: `login` (lists the ways to log in), `login <flow> [values…]` (flows: {}), \
         or `login <user> [<password>]`",
        ids.join(", ")
    )
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::connector::LoginInputFieldType;

    fn flows() -> Vec<LoginFlow> {
        ["password", "token"]
            .into_iter()
            .map(|id| LoginFlow {
                id: id.into(),
                name: id.into(),
                description: String::new(),
            })
            .collect()
    }

    #[test]
    fn flow_id_first_or_the_default_flow() {
        let f = flows();
        let pick = |args: &[&str]| choose_flow(&f, args).map(|(id, values)| (id, values.join(" ")));
        assert_eq!(pick(&[]), Some(("password".into(), String::new())));
        assert_eq!(pick(&["alice"]), Some(("password".into(), "alice".into())));
        assert_eq!(
            pick(&["alice", "pw"]),
            Some(("password".into(), "alice pw".into()))
        );
        assert_eq!(pick(&["token"]), Some(("token".into(), String::new())));
        assert_eq!(
            pick(&["TOKEN", "alice", "t"]),
            Some(("token".into(), "alice t".into()))
        );
        assert_eq!(
            pick(&["password", "alice", "pw"]),
            Some(("password".into(), "alice pw".into()))
        );
        assert_eq!(choose_flow(&[], &["alice"]), None);
    }

    #[test]
    fn secrets_on_the_command_line_are_found_by_field_type() {
        let field = |t, id: &str| LoginInputField {
            field_type: t,
            id: id.into(),
            name: id.into(),
            description: String::new(),
            pattern: None,
        };
        let step = LoginStep::UserInput {
            step_id: "s".into(),
            instructions: String::new(),
            fields: vec![
                field(LoginInputFieldType::Username, "username"),
                field(LoginInputFieldType::Token, "token"),
            ],
        };
        assert_eq!(given_secret(&step, 1), None);
        assert_eq!(given_secret(&step, 2).as_deref(), Some("token"));
        assert_eq!(given_secret(&step, 3).as_deref(), Some("secret"));
    }
}
