//! Channels (public, high-traffic chat rooms) a user joined with `join-chatroom`: joining and
//! leaving through the login's [`ChannelAbility`], the list of joined channels kept in the
//! store per Matrix user and IM account (`channels_joined:<mxid>:<escaped IM id>`, a JSON
//! array of channel ids, kept across a logout so that logging in again as the same IM user
//! rejoins them), and joining them all again after each (re)connection, because networks drop channel membership with the connection
//! (Easemob does) and keep no offline messages of channels: what was said while the login was
//! away is not caught up. The portal of a channel is an ordinary portal with a `channel:` key;
//! its IM → Matrix events go through a bounded queue that drops its oldest events when full
//! (see [`crate::core::portal`]), so a busy channel never holds up the user's other chats.

use std::sync::Arc;

use ruma::UserId;
use tracing::{info, warn};

use super::connector::{ChannelAbility, ChatId, SendFailure};
use super::ghosts::escape_localpart;
use super::logins::UserLogin;
use super::Ctx;

/// The store key of the channels `mxid` joined as IM user `remote` (the IM id escaped, so
/// it has no `:` and no two pairs share a key).
fn key(mxid: &UserId, remote: &str) -> String {
    format!("channels_joined:{mxid}:{}", escape_localpart(remote))
}

/// The channel ids `mxid` joined as IM user `remote` (and did not leave), oldest first.
pub async fn joined(ctx: &Ctx, mxid: &UserId, remote: &str) -> Vec<String> {
    match ctx.store.get_kv(&key(mxid, remote)).await {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_default(),
        Ok(None) => Vec::new(),
        Err(e) => {
            warn!(user = %mxid, error = %e, "joined channels unreadable");
            Vec::new()
        }
    }
}

/// Adds (`member`) or removes channel `id` in `login`'s joined list.
async fn remember(ctx: &Ctx, login: &UserLogin, id: &str, member: bool) {
    // One read-modify-write at a time (a command and a rejoin may both change the list).
    static WRITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _writing = WRITING.lock().await;
    let (mxid, remote) = (&login.mxid, login.remote_id.as_str());
    let mut ids = joined(ctx, mxid, remote).await;
    ids.retain(|i| i != id);
    if member {
        ids.push(id.to_owned());
    }
    let saved = if ids.is_empty() {
        ctx.store.delete_kv(&key(mxid, remote)).await.map(|_| ())
    } else {
        // A list of strings always serialises.
        let text = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        ctx.store.put_kv(&key(mxid, remote), &text).await
    };
    if let Err(e) = saved {
        warn!(user = %mxid, channel = id, error = %e, "joined channels not saved");
    }
}

/// The login's channel ability, or the sentence saying the network has none.
fn ability(login: &UserLogin) -> Result<&dyn ChannelAbility, String> {
    login
        .session
        .as_channels()
        .ok_or_else(|| "The IM service has no chat rooms to join from here.".to_owned())
}

/// Joins channel `id` through `login`, remembers it and queues its portal (the user is
/// invited through the portal queue); returns the channel's chat. The error is a sentence
/// for the user.
pub async fn join(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, id: &str) -> Result<ChatId, String> {
    let chat = ability(login)?
        .join_channel(id)
        .await
        .map_err(|e| format!("The IM chat room `{id}` was not joined: {e}"))?;
    remember(ctx, login, &chat.id, true).await;
    info!(user = %login.mxid, channel = %chat.id, "channel joined");
    super::commands::chats::open_portal(ctx, login, chat.clone()).await;
    Ok(chat)
}

/// Leaves channel `id` through `login` and forgets it; the portal stays (readable, no longer
/// fed). The error is a sentence for the user.
pub async fn leave(ctx: &Arc<Ctx>, login: &Arc<UserLogin>, id: &str) -> Result<ChatId, String> {
    let chat = ChatId::channel(id);
    let result = ability(login)?.leave_channel(&chat).await;
    match result {
        Ok(()) => {}
        // Not in it on the network (a lost connection dropped it): leaving still forgets it.
        Err(SendFailure::Permanent(e))
            if !joined(ctx, &login.mxid, &login.remote_id)
                .await
                .contains(&chat.id) =>
        {
            return Err(format!("You are not in the IM chat room `{id}`: {e}"));
        }
        Err(SendFailure::Permanent(e)) => {
            warn!(user = %login.mxid, channel = id, error = %e, "leave refused; forgotten anyway")
        }
        Err(e) => return Err(format!("The IM chat room `{id}` was not left: {e}")),
    }
    remember(ctx, login, &chat.id, false).await;
    info!(user = %login.mxid, channel = id, "channel left");
    Ok(chat)
}

/// Joins `login`'s remembered channels again (after a connection or reconnection). A channel
/// that is gone is forgotten and the user told; other failures are logged and tried again at
/// the next connection.
pub async fn rejoin(ctx: &Arc<Ctx>, login: &Arc<UserLogin>) {
    let Some(ability) = login.session.as_channels() else {
        return;
    };
    for id in joined(ctx, &login.mxid, &login.remote_id).await {
        match ability.join_channel(&id).await {
            Ok(_) => info!(user = %login.mxid, channel = %id, "channel joined again"),
            Err(SendFailure::Permanent(e)) => {
                remember(ctx, login, &id, false).await;
                let text = format!("You are no longer in the IM chat room `{id}`: {e}");
                super::commands::notify_user(ctx, &login.mxid, &text).await;
            }
            Err(e) => {
                warn!(user = %login.mxid, channel = %id, error = %e, "channel not joined again")
            }
        }
    }
}
