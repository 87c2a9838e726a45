//! Reactions both ways, through the reaction map (`store::reactions`): a remote reaction is
//! sent by the reactor's ghost as `m.reaction` and mapped, a remote removal redacts that event;
//! a Matrix `m.reaction` goes out through the reactor's login and is mapped under the login's
//! remote id, so the network's report of it back (an echo) finds the mapping and is dropped;
//! redacting a Matrix reaction removes it on the network.

use std::sync::Arc;

use ruma::{EventId, RoomId, UserId};
use serde_json::json;
use tracing::debug;

use super::{chat_of_key, retry, PortalWorker};
use crate::core::connector::ReactionUsers;
use crate::core::convert;
use crate::core::ghosts::escape_localpart;
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;
use crate::core::send_status::Reason;
use crate::metrics::Direction;
use crate::store::ReactionRecord;

impl PortalWorker {
    /// `sender` reacted with `key` to remote message `target`.
    pub(super) async fn remote_reaction(
        &mut self,
        login: &Arc<UserLogin>,
        sender: &str,
        target: &str,
        key: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        // One emoji is one key on both sides (`U+1F44D`, a bare `❤`): see
        // `convert::normalize_reaction_key`.
        let key = &convert::normalize_reaction_key(key);
        if let Ok(Some(_)) = ctx.store.reaction(&self.key, target, sender, key).await {
            return Ok(()); // already bridged, or the echo of a Matrix reaction
        }
        let Some((room, event)) = self.mapped_event(target).await else {
            debug!(portal = %self.key, target, "reaction to a message not bridged");
            return Ok(());
        };
        let (ghost, puppeted) = self.actor(login, &room, sender).await?;
        let mut content = json!({
            "m.relates_to": { "rel_type": "m.annotation", "event_id": event, "key": key }
        });
        if puppeted {
            crate::core::double_puppet::mark(&mut content);
        }
        // A reaction can be added, removed and added again: each one is a new event, so the
        // transaction id is new each time (and the same across this event's retries below).
        let txn = crate::core::fresh_txn(&format!(
            "imb-react-{}-{}-{}",
            escape_localpart(&self.key),
            escape_localpart(target),
            escape_localpart(sender),
        ));
        let event_id = retry("react", || {
            ctx.matrix
                .send_event(&room, &ghost, "m.reaction", &txn, &content)
        })
        .await?;
        let record = ReactionRecord {
            room_id: room.to_string(),
            event_id: event_id.to_string(),
            target: target.to_owned(),
            sender: sender.to_owned(),
            key: key.to_owned(),
        };
        if let Err(e) = ctx.store.put_reaction(&self.key, &record).await {
            tracing::warn!(portal = %self.key, error = %e, "reaction mapping not saved");
        }
        ctx.metrics.bridged(Direction::ToMatrix, "reaction");
        Ok(())
    }

    /// `sender` took back reaction `key` on remote message `target`.
    pub(super) async fn remote_reaction_remove(
        &mut self,
        login: &Arc<UserLogin>,
        sender: &str,
        target: &str,
        key: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let key = &convert::normalize_reaction_key(key);
        let Ok(Some(record)) = ctx
            .store
            .delete_reaction(&self.key, target, sender, key)
            .await
        else {
            return Ok(()); // never bridged, or already removed from Matrix
        };
        let (Ok(room), Ok(event)) = (
            RoomId::parse(record.room_id.as_str()),
            EventId::parse(record.event_id.as_str()),
        ) else {
            return Ok(());
        };
        let txn = format!("imb-unreact-{}", escape_localpart(&record.event_id));
        // The user's own reaction (made in Matrix or by their puppet) is taken back as them
        // when double puppeting is on.
        let own = match sender == login.remote_id {
            true => self.own_puppet(login, &room).await,
            false => None,
        };
        let ghost = own.unwrap_or_else(|| ctx.ghosts.mxid(sender));
        let by_ghost = ctx
            .matrix
            .redact(&room, &ghost, &event, &txn, Some("Reaction removed"))
            .await;
        if by_ghost.is_err() {
            // The user's own reaction made in Matrix: only the bot may remove it for them.
            retry("unreact", || {
                ctx.matrix.redact(
                    &room,
                    ctx.matrix.bot(),
                    &event,
                    &txn,
                    Some("Reaction removed"),
                )
            })
            .await?;
        }
        ctx.metrics.bridged(Direction::ToMatrix, "reaction_remove");
        Ok(())
    }

    /// The network's list of who reacted to `target` with each key ([`RemoteEvent::ReactionSync`]):
    /// what is listed and not bridged is added, what is bridged and not listed under a
    /// `complete` key is removed, and with `all_keys` what is bridged under a key not listed.
    ///
    /// [`RemoteEvent::ReactionSync`]: crate::core::connector::RemoteEvent::ReactionSync
    pub(super) async fn remote_reaction_sync(
        &mut self,
        login: &Arc<UserLogin>,
        target: &str,
        reactions: &[ReactionUsers],
        all_keys: bool,
    ) -> Result<(), MatrixError> {
        let bridged = match self.ctx.store.reactions_on(&self.key, target).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(portal = %self.key, error = %e, "reactions not read; sync skipped");
                return Ok(());
            }
        };
        for entry in reactions {
            let key = convert::normalize_reaction_key(&entry.key);
            for sender in &entry.senders {
                self.remote_reaction(login, sender, target, &key).await?;
            }
            if !entry.complete {
                continue;
            }
            for gone in bridged
                .iter()
                .filter(|r| r.key == key && !entry.senders.contains(&r.sender))
            {
                self.remote_reaction_remove(login, &gone.sender, target, &key)
                    .await?;
            }
        }
        if all_keys {
            let listed: Vec<String> = reactions
                .iter()
                .map(|e| convert::normalize_reaction_key(&e.key))
                .collect();
            for gone in bridged.iter().filter(|r| !listed.contains(&r.key)) {
                self.remote_reaction_remove(login, &gone.sender, target, &gone.key)
                    .await?;
            }
        }
        Ok(())
    }

    /// A Matrix user reacted: send it through their login and map it. `replayed`: an earlier
    /// process may have handled the event (see `Ctx::may_be_replayed`).
    pub(super) async fn matrix_reaction(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        event_id: &str,
        target: &str,
        key: &str,
        replayed: bool,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let key = &convert::normalize_reaction_key(key);
        if let Ok(Some(_)) = ctx.store.reaction_by_event(event_id).await {
            // Mapped, so handled before: by this process (nothing to do), or by one that
            // stopped between the mapping and the network call. The reaction is sent again
            // then, since adding a reaction that is already there changes nothing
            // (`ReactionAbility::react`), while skipping it could lose it.
            if !replayed {
                return Ok(());
            }
            debug!(portal = %self.key, event_id, "replayed reaction sent again");
        }
        let (Some(chat), Some(login)) = (chat_of_key(&self.key), ctx.login_of(sender).await) else {
            return Ok(());
        };
        let Some(remote_target) = self.remote_of_event(target).await else {
            return Ok(());
        };
        let Some(reactions) = login.session.as_reactions() else {
            ctx.metrics
                .failed(Direction::ToNetwork, "unsupported_reaction");
            self.error_notice(room, "⚠️ Reactions are not bridged to this IM service.")
                .await;
            let why = "Reactions are not bridged to this IM service.";
            self.failed_permanently(room, event_id, Reason::Unsupported, why)
                .await;
            return Ok(());
        };
        // Mapped first: the network reports our own reaction back, and that echo must find it.
        let record = ReactionRecord {
            room_id: room.to_string(),
            event_id: event_id.to_owned(),
            target: remote_target.clone(),
            sender: login.remote_id.clone(),
            key: key.to_owned(),
        };
        if let Err(e) = ctx.store.put_reaction(&self.key, &record).await {
            tracing::warn!(portal = %self.key, error = %e, "reaction mapping not saved");
        }
        let outcome = reactions.react(&chat, &remote_target, key).await;
        match &outcome {
            Ok(()) => ctx.metrics.bridged(Direction::ToNetwork, "reaction"),
            Err(e) => {
                let _ = ctx
                    .store
                    .delete_reaction(&self.key, &remote_target, &login.remote_id, key)
                    .await;
                ctx.metrics.failed(Direction::ToNetwork, "network_refused");
                self.error_notice(room, &format!("⚠️ Your reaction was not delivered: {e}"))
                    .await;
            }
        }
        self.report_sent(room, event_id, outcome.as_ref().err())
            .await;
        Ok(())
    }

    /// A Matrix user redacted their reaction (`record`, found by its event): remove it on the
    /// network through their login.
    pub(super) async fn matrix_unreact(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        record: ReactionRecord,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let _ = ctx
            .store
            .delete_reaction(&self.key, &record.target, &record.sender, &record.key)
            .await;
        let (Some(chat), Some(login)) = (chat_of_key(&self.key), ctx.login_of(sender).await) else {
            return Ok(());
        };
        if login.remote_id != record.sender {
            return Ok(()); // someone else's reaction (a moderator's redaction): nothing to undo
        }
        if let Some(reactions) = login.session.as_reactions() {
            match reactions.unreact(&chat, &record.target, &record.key).await {
                Ok(()) => ctx.metrics.bridged(Direction::ToNetwork, "reaction_remove"),
                Err(e) => {
                    ctx.metrics.failed(Direction::ToNetwork, "network_refused");
                    self.error_notice(room, &format!("⚠️ Your reaction was not removed: {e}"))
                        .await;
                }
            }
        }
        Ok(())
    }
}
