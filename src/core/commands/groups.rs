//! `create-group NAME [members…]`: creates a network group through the user's login, with
//! the members named by remote user id or by ghost MXID, then its portal (the user invited,
//! through the portal queue like `pm`). A name with spaces is quoted (`"the plan" bob`).
//! [`create_group`] is shared with the provisioning API's `create_group`.

use std::sync::Arc;

use ruma::{OwnedRoomId, RoomId, UserId};
use tracing::info;

use super::chats::{existing_room, open_portal};
use super::reply;
use crate::core::connector::ChatId;
use crate::core::logins::UserLogin;
use crate::core::portal::portal_key;
use crate::core::Ctx;

/// The usage line of the command.
const USAGE: &str = "Usage: `create-group <name> [<im-user or ghost>…]` (quote a name with spaces: `create-group \"the plan\" bob`)";

/// `(name, members)` from the command's arguments: the first word, or a quoted name.
fn parse_args(args: &str) -> Option<(String, Vec<String>)> {
    let args = args.trim();
    let (name, rest) = match args.strip_prefix('"') {
        Some(quoted) => {
            let (name, rest) = quoted.split_once('"')?;
            (name.trim().to_owned(), rest)
        }
        None => {
            let (name, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            (name.to_owned(), rest)
        }
    };
    if name.is_empty() {
        return None;
    }
    Some((name, rest.split_whitespace().map(str::to_owned).collect()))
}

/// The remote user ids of `members` (remote ids as they are, ghost MXIDs turned back into
/// them), without the login's own id and without repeats; an error names what is not a user.
pub(crate) fn remote_members(
    ctx: &Ctx,
    login: &UserLogin,
    members: &[String],
) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for member in members {
        let member = member.trim();
        let remote = if member.starts_with('@') {
            UserId::parse(member)
                .ok()
                .and_then(|mxid| ctx.ghosts.remote_of(&mxid))
                .ok_or_else(|| format!("`{member}` is not an IM user's ghost"))?
        } else {
            member.to_owned()
        };
        let remote = login.session.canonical_user_id(&remote);
        if remote != login.remote_id && !remote.is_empty() && !out.contains(&remote) {
            out.push(remote);
        }
    }
    Ok(out)
}

/// Creates the group `name` with `members` (remote ids) through `login` and queues its
/// portal; returns the group's chat. The error is a sentence for the user.
pub(crate) async fn create_group(
    ctx: &Arc<Ctx>,
    login: &Arc<UserLogin>,
    name: &str,
    members: &[String],
) -> Result<ChatId, String> {
    let Some(admin) = login.session.as_group_admin() else {
        return Err("The IM service cannot create groups from here.".into());
    };
    let chat = admin
        .create_group(name, members)
        .await
        .map_err(|e| format!("The IM group was not created: {e}"))?;
    info!(user = %login.mxid, group = %chat.id, members = members.len(), "group created");
    open_portal(ctx, login, chat.clone()).await;
    Ok(chat)
}

/// Waits (at most `wait`) for the room of `chat`'s portal.
pub(crate) async fn wait_portal_room(
    ctx: &Ctx,
    login: &UserLogin,
    chat: &ChatId,
    wait: std::time::Duration,
) -> Option<OwnedRoomId> {
    let key = portal_key(&login.remote_id, chat);
    let until = tokio::time::Instant::now() + wait;
    loop {
        if let Some(room) = existing_room(ctx, &key).await {
            return Some(room);
        }
        if tokio::time::Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The `create-group` command.
pub(super) async fn create_group_command(
    ctx: &Arc<Ctx>,
    room: &RoomId,
    sender: &UserId,
    args: &[&str],
) {
    let Some(login) = ctx.login_of(sender).await else {
        return reply(ctx, room, "You are not logged in.").await;
    };
    let Some((name, members)) = parse_args(&args.join(" ")) else {
        return reply(ctx, room, USAGE).await;
    };
    let members = match remote_members(ctx, &login, &members) {
        Ok(members) => members,
        Err(e) => return reply(ctx, room, &format!("{e}. {USAGE}")).await,
    };
    let text = match create_group(ctx, &login, &name, &members).await {
        Ok(chat) => format!(
            "Created the IM group **{name}** (`{}`): its room arrives as an invite.",
            chat.id
        ),
        Err(e) => e,
    };
    reply(ctx, room, &text).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_members() {
        assert_eq!(
            parse_args("plan bob @easemob_carol:x"),
            Some(("plan".into(), vec!["bob".into(), "@easemob_carol:x".into()]))
        );
        assert_eq!(
            parse_args("\"the plan\"  bob"),
            Some(("the plan".into(), vec!["bob".into()]))
        );
        assert_eq!(parse_args("solo"), Some(("solo".into(), vec![])));
        assert_eq!(parse_args(""), None);
        assert_eq!(parse_args("\"unclosed bob"), None);
        assert_eq!(parse_args("\"\" bob"), None);
    }
}
