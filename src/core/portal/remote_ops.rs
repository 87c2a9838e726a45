//! Remote → Matrix operations on messages already bridged: a recall becomes a redaction,
//! an edit an `m.replace`; and typing notices.

use std::sync::Arc;

use crate::core::double_puppet;
use crate::core::ghosts::escape_localpart;
use ruma::RoomId;
use serde_json::json;
use tracing::{debug, warn};

use super::{retry, PortalWorker};
use crate::core::connector::MessageContent;
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;
use crate::metrics::Direction;

impl PortalWorker {
    pub(super) async fn remote_remove(
        &mut self,
        login: &Arc<UserLogin>,
        sender: &str,
        target: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let Some((room, event)) = self.mapped_event(target).await else {
            return Ok(());
        };
        let own = match sender == login.remote_id {
            true => self.own_puppet(login, &room).await,
            false => None,
        };
        let ghost = own.unwrap_or_else(|| ctx.ghosts.mxid(sender));
        let txn = format!("imb-redact-{}", escape_localpart(target));
        let by_ghost = retry("redact", || {
            ctx.matrix
                .redact(&room, &ghost, &event, &txn, Some("Recalled on the IM side"))
        })
        .await;
        if by_ghost.is_err() {
            retry("redact", || {
                ctx.matrix.redact(
                    &room,
                    ctx.matrix.bot(),
                    &event,
                    &txn,
                    Some("Recalled on the IM side"),
                )
            })
            .await?;
        }
        self.forget_message(target).await;
        ctx.metrics.bridged(Direction::ToMatrix, "redaction");
        Ok(())
    }

    pub(super) async fn remote_edit(
        &mut self,
        login: &Arc<UserLogin>,
        sender: &str,
        target: &str,
        content: MessageContent,
        timestamp_ms: u64,
        edit_count: Option<u64>,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let Some(record) = ctx
            .store
            .message_by_remote(&self.key, target)
            .await
            .ok()
            .flatten()
        else {
            return Ok(());
        };
        if edit_count.is_some_and(|n| n <= record.edit_count) {
            debug!(portal = %self.key, target, "edit already bridged");
            return Ok(());
        }
        let Ok(room) = RoomId::parse(record.room_id.as_str()) else {
            return Ok(());
        };
        let (ghost, puppeted) = self.actor(login, &room, sender).await?;
        let new_content = self.to_matrix_content(login, &room, &content).await;
        let mut body = new_content.clone();
        if puppeted {
            double_puppet::mark(&mut body);
        }
        body["body"] = json!(format!(
            "* {}",
            new_content["body"].as_str().unwrap_or_default()
        ));
        body["m.new_content"] = new_content;
        body["m.relates_to"] = json!({ "rel_type": "m.replace", "event_id": record.event_id });
        // The same edit replayed after a restart reuses its transaction id.
        let txn = match edit_count {
            Some(n) => format!("imb-edit-{}-v{n}", escape_localpart(target)),
            None => format!("imb-edit-{}-{timestamp_ms}", escape_localpart(target)),
        };
        retry("edit", || {
            ctx.matrix
                .send_event(&room, &ghost, "m.room.message", &txn, &body)
        })
        .await?;
        ctx.metrics.bridged(Direction::ToMatrix, "edit");
        self.count_edit(target, edit_count).await;
        Ok(())
    }

    /// Stores remote message `target`'s edit count after an edit bridged either way: `to`
    /// when the network numbered the edit, else one more than stored.
    pub(super) async fn count_edit(&self, target: &str, to: Option<u64>) {
        let store = &self.ctx.store;
        let Ok(Some(mut record)) = store.message_by_remote(&self.key, target).await else {
            return;
        };
        record.edit_count = to.unwrap_or(record.edit_count + 1).max(record.edit_count);
        if let Err(e) = store.put_message(&self.key, &record).await {
            warn!(portal = %self.key, error = %e, "edit count not saved");
        }
    }

    /// Shows the sender's ghost typing (or not) in the portal, if the room exists. The user's
    /// own typing on another device is not shown.
    pub(super) async fn remote_typing(
        &mut self,
        login: &Arc<UserLogin>,
        sender: &str,
        active: bool,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        if sender == login.remote_id {
            return Ok(());
        }
        let Some(room) = self
            .record()
            .await
            .and_then(|r| ruma::OwnedRoomId::try_from(r.room_id).ok())
        else {
            return Ok(());
        };
        let ghost = ctx.ghosts.mxid(sender);
        if !self.joined.contains(&ghost) && active {
            self.ensure_ghost_in_room(login, &room, sender).await?;
        }
        ctx.matrix.typing(&room, &ghost, active).await?;
        ctx.metrics.bridged(Direction::ToMatrix, "typing");
        Ok(())
    }
}
