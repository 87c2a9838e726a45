//! What waits for the user's answer, and what answers them, told in their management room:
//! invitations into network groups ([`RemoteEvent::GroupInvitation`]), contact requests
//! ([`RemoteEvent::ContactRequest`]) with the `accept` / `decline` commands that answer them
//! (remembered in [`crate::core::invitations`]), and the other side's answers to the user's
//! own contact requests ([`RemoteEvent::ContactUpdate`]). No room is made until the user
//! accepts.
//!
//! [`RemoteEvent::GroupInvitation`]: crate::core::connector::RemoteEvent
//! [`RemoteEvent::ContactRequest`]: crate::core::connector::RemoteEvent
//! [`RemoteEvent::ContactUpdate`]: crate::core::connector::RemoteEvent

use std::sync::Arc;

use super::PortalWorker;
use crate::core::commands::notify_user;
use crate::core::connector::{ChatId, ContactUpdate};
use crate::core::invitations::{self, InvitationKind};
use crate::core::logins::UserLogin;
use crate::metrics::Direction;

/// `" They say: “…”."` for a non-empty message, else nothing.
fn their_words(reason: Option<&str>) -> String {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => format!(" They say: “{reason}”."),
        None => String::new(),
    }
}

impl PortalWorker {
    /// A remote user as the user knows them: `Name (`id`)`, or the id alone.
    async fn someone(&self, login: &Arc<UserLogin>, user: &str) -> String {
        match login
            .session
            .user_profile(user)
            .await
            .ok()
            .and_then(|p| p.name)
        {
            Some(name) if !name.trim().is_empty() => format!("{} (`{user}`)", name.trim()),
            _ => format!("`{user}`"),
        }
    }

    /// `inviter` invited the login's user into `chat`.
    pub(super) async fn remote_invitation(
        &mut self,
        login: &Arc<UserLogin>,
        chat: &ChatId,
        inviter: &str,
        reason: Option<&str>,
    ) {
        let ctx = self.ctx.clone();
        // The group's name, where the network shows it to someone not yet in it.
        let group = match login.session.chat_info(chat).await {
            Ok(info) => match info.name.filter(|n| !n.trim().is_empty()) {
                Some(name) => format!("**{}** (`{}`)", name.trim(), chat.id),
                None => format!("`{}`", chat.id),
            },
            Err(_) => format!("`{}`", chat.id),
        };
        let who = self.someone(login, inviter).await;
        invitations::remember(&ctx, &login.mxid, InvitationKind::Group, &chat.id, inviter).await;
        let text = format!(
            "📨 {who} invites you to the IM group {group}.{} Send `accept {id}` to join it or \
             `decline {id}` to refuse.",
            their_words(reason),
            id = chat.id
        );
        notify_user(&ctx, &login.mxid, &text).await;
        ctx.metrics.bridged(Direction::ToMatrix, "group_invitation");
    }

    /// `from` asks the login's user to become contacts.
    pub(super) async fn remote_contact_request(
        &mut self,
        login: &Arc<UserLogin>,
        from: &str,
        reason: Option<&str>,
    ) {
        let ctx = self.ctx.clone();
        let who = self.someone(login, from).await;
        invitations::remember(&ctx, &login.mxid, InvitationKind::Contact, from, from).await;
        let text = format!(
            "📇 {who} asks to be your contact.{} Send `accept {from}` or `decline {from}`.",
            their_words(reason)
        );
        notify_user(&ctx, &login.mxid, &text).await;
        ctx.metrics.bridged(Direction::ToMatrix, "contact_request");
    }

    /// `user` answered the login's user's contact request, or removed them.
    pub(super) async fn remote_contact_update(
        &mut self,
        login: &Arc<UserLogin>,
        user: &str,
        update: ContactUpdate,
    ) {
        let ctx = self.ctx.clone();
        let who = self.someone(login, user).await;
        let text = match update {
            ContactUpdate::Accepted => format!("📇 {who} accepted your contact request."),
            ContactUpdate::Declined => format!("📇 {who} declined your contact request."),
            ContactUpdate::Removed => format!("📇 {who} removed you from their contacts."),
        };
        if update == ContactUpdate::Removed {
            // A request of theirs still waiting is moot now.
            invitations::forget(&ctx, &login.mxid, InvitationKind::Contact, user).await;
        }
        notify_user(&ctx, &login.mxid, &text).await;
        ctx.metrics.bridged(Direction::ToMatrix, "contact_update");
    }
}
