//! IM delivery receipts → Matrix: when the peer's IM device acknowledges a message the Matrix
//! user sent (Easemob's DELIVER_ACK, a `RemoteEvent::DeliveryReceipt`), the bot posts the
//! message's send status once more with `delivered_to_users: [peer's ghost]`, as mautrix
//! bridges do for DMs. Group chats are left out: one status per member and message would flood
//! the room, and mautrix does the same.

use std::sync::Arc;

use tracing::debug;

use super::{chat_of_key, PortalWorker};
use crate::core::connector::ChatKind;
use crate::core::logins::UserLogin;
use crate::core::send_status;
use crate::metrics::Direction;

impl PortalWorker {
    /// `sender`'s device received remote message `target`.
    pub(super) async fn remote_delivered(
        &mut self,
        login: &Arc<UserLogin>,
        sender: &str,
        target: &str,
    ) {
        let direct = chat_of_key(&self.key).is_some_and(|c| c.kind == ChatKind::Direct);
        if !direct || sender == login.remote_id || !self.ctx.cfg.bridge.message_status_events {
            return;
        }
        let Some((room, event)) = self.mapped_event(target).await else {
            debug!(portal = %self.key, target, "delivery receipt for an unknown message");
            return;
        };
        let ghost = self.ctx.ghosts.mxid(sender);
        send_status::report_delivered(&self.ctx, &room, event.as_str(), &ghost).await;
        self.ctx
            .metrics
            .bridged(Direction::ToMatrix, "delivery_receipt");
    }
}
