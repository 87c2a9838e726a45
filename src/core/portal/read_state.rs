//! Read state both ways, per message and per conversation.
//!
//! * Matrix → network: a logged-in user's read receipt marks the message read on the network
//!   ([`ReceiptAbility::mark_read`]); when it lands on the room's newest message (a bridged
//!   one or not: a notice at the end counts too), the whole conversation is read
//!   ([`ReceiptAbility::mark_chat_read`], Easemob's channel ack).
//! * Network → Matrix: a receipt up to a message moves the reader's receipt there (the
//!   ghost's, or the user's own through double puppeting when read on another device); a
//!   conversation-level read (`up_to: None`) moves it to the room's newest message.
//!
//! [`ReceiptAbility::mark_read`]: crate::core::connector::ReceiptAbility::mark_read
//! [`ReceiptAbility::mark_chat_read`]: crate::core::connector::ReceiptAbility::mark_chat_read

use std::sync::Arc;

use ruma::{OwnedEventId, OwnedRoomId, RoomId, UserId};
use tracing::debug;

use super::from_matrix::send_failure_reason;
use super::{chat_of_key, PortalWorker};
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixError;
use crate::metrics::Direction;

impl PortalWorker {
    /// The room's newest message event, as the homeserver shows it (`None` on any failure:
    /// the conversation-level read is then left out, never guessed).
    async fn newest_message(&self, room: &RoomId) -> Option<OwnedEventId> {
        match self.ctx.matrix.latest_message_event(room).await {
            Ok(latest) => latest,
            Err(e) => {
                debug!(%room, error = %e, "newest message unknown");
                None
            }
        }
    }

    /// A logged-in Matrix user's read receipt on `event_id`.
    pub(super) async fn matrix_receipt(
        &mut self,
        room: &RoomId,
        user: &UserId,
        event_id: &str,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        if ctx.receipt_echoes.take(room, user, event_id) {
            return Ok(()); // set by the bridge itself from the user's other IM device
        }
        let (Some(chat), Some(login)) = (chat_of_key(&self.key), ctx.login_of(user).await) else {
            return Ok(());
        };
        let Some(receipts) = login.session.as_receipts() else {
            return Ok(());
        };
        if let Some(remote) = self.remote_of_event(event_id).await {
            match receipts.mark_read(&chat, &remote).await {
                Ok(()) => ctx.metrics.bridged(Direction::ToNetwork, "read_receipt"),
                Err(e) => {
                    ctx.metrics
                        .failed(Direction::ToNetwork, send_failure_reason(&e));
                    debug!(error = %e, "read receipt not bridged");
                }
            }
        }
        let at_end = self
            .newest_message(room)
            .await
            .is_some_and(|newest| newest.as_str() == event_id);
        if at_end {
            match receipts.mark_chat_read(&chat).await {
                Ok(()) => ctx
                    .metrics
                    .bridged(Direction::ToNetwork, "conversation_read"),
                Err(e) => {
                    ctx.metrics
                        .failed(Direction::ToNetwork, send_failure_reason(&e));
                    debug!(error = %e, "conversation read not bridged");
                }
            }
        }
        Ok(())
    }

    /// `sender` read the chat up to message `up_to`, or all of it (`None`).
    pub(super) async fn remote_read(
        &mut self,
        login: &Arc<UserLogin>,
        sender: &str,
        up_to: Option<&str>,
    ) -> Result<(), MatrixError> {
        let ctx = self.ctx.clone();
        let target: Option<(OwnedRoomId, OwnedEventId)> = match up_to {
            Some(target) => self.mapped_event(target).await,
            None => match self
                .record()
                .await
                .and_then(|r| OwnedRoomId::try_from(r.room_id).ok())
            {
                Some(room) => self.newest_message(&room).await.map(|e| (room, e)),
                None => None,
            },
        };
        let Some((room, event)) = target else {
            return Ok(());
        };
        let own = match sender == login.remote_id {
            true => self.own_puppet(login, &room).await,
            false => None,
        };
        if let Some(user) = own {
            // Read on another IM device: the user's own read marker moves, once.
            ctx.receipt_echoes.remember(&room, &user, event.as_str());
            ctx.matrix.read_receipt(&room, &user, &event).await?;
            ctx.metrics.bridged(Direction::ToMatrix, "read_receipt");
            return Ok(());
        }
        let ghost = ctx.ghosts.mxid(sender);
        ctx.matrix.read_receipt(&room, &ghost, &event).await?;
        ctx.metrics.bridged(Direction::ToMatrix, "read_receipt");
        Ok(())
    }
}
