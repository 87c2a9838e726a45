//! Invitations waiting for a user's answer: group invitations
//! ([`RemoteEvent::GroupInvitation`](super::connector::RemoteEvent)) and contact requests
//! ([`RemoteEvent::ContactRequest`](super::connector::RemoteEvent)) the bot told of in the
//! management room. They are kept in the store (key-value entries
//! `pending_invitation:<mxid>:<kind>:<id>`, the value the inviter's id) so the `accept` and
//! `decline` commands know what an id stands for after a restart, and are forgotten once
//! answered. The network stays the judge: an entry only says what the bot told.

use ruma::UserId;
use tracing::warn;

use super::Ctx;

/// What a pending invitation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationKind {
    /// Joining group `id`.
    Group,
    /// Becoming contacts with user `id`.
    Contact,
}

impl InvitationKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Group => "group",
            Self::Contact => "contact",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "group" => Some(Self::Group),
            "contact" => Some(Self::Contact),
            _ => None,
        }
    }
}

/// One invitation the user has not answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInvitation {
    pub kind: InvitationKind,
    /// The group id, or the requesting user's id.
    pub id: String,
    /// Who invited (the requester themselves for a contact request).
    pub from: String,
}

fn prefix(user: &UserId) -> String {
    format!("pending_invitation:{user}:")
}

fn key(user: &UserId, kind: InvitationKind, id: &str) -> String {
    format!("{}{}:{id}", prefix(user), kind.as_str())
}

/// Records an invitation told to `user` (a store failure is logged: the answer then still
/// works by id, see [`pending`]).
pub async fn remember(ctx: &Ctx, user: &UserId, kind: InvitationKind, id: &str, from: &str) {
    if let Err(e) = ctx.store.put_kv(&key(user, kind, id), from).await {
        warn!(%user, id, error = %e, "pending invitation not stored");
    }
}

/// Forgets an invitation once answered (or found gone).
pub async fn forget(ctx: &Ctx, user: &UserId, kind: InvitationKind, id: &str) {
    if let Err(e) = ctx.store.delete_kv(&key(user, kind, id)).await {
        warn!(%user, id, error = %e, "pending invitation not forgotten");
    }
}

/// `user`'s unanswered invitations, in key order (groups before contacts, then by id).
pub async fn pending(ctx: &Ctx, user: &UserId) -> Vec<PendingInvitation> {
    let prefix = prefix(user);
    let entries = match ctx.store.list_kv(&prefix).await {
        Ok(entries) => entries,
        Err(e) => {
            warn!(%user, error = %e, "pending invitations unreadable");
            return Vec::new();
        }
    };
    entries
        .into_iter()
        .filter_map(|(k, from)| {
            let rest = k.strip_prefix(&prefix)?;
            let (kind, id) = rest.split_once(':')?;
            Some(PendingInvitation {
                kind: InvitationKind::parse(kind)?,
                id: id.to_owned(),
                from,
            })
        })
        .collect()
}
