//! The portal queue's dispatch: which handler each remote event and each Matrix event goes
//! to, and how a handler's failure is counted and logged.

use std::sync::Arc;

use tracing::{debug, warn};

use super::{failure_reason, PortalWorker};
use crate::core::connector::RemoteEvent;
use crate::core::logins::UserLogin;
use crate::core::matrix_api::MatrixEvent;
use crate::metrics::Direction;

impl PortalWorker {
    pub(super) async fn remote(&mut self, login: &Arc<UserLogin>, event: RemoteEvent) {
        let result = match event {
            RemoteEvent::Message(msg) => self.remote_message(login, msg).await,
            RemoteEvent::Remove { sender, target, .. } => {
                self.remote_remove(login, &sender, &target).await
            }
            RemoteEvent::Edit {
                sender,
                target,
                content,
                timestamp_ms,
                edit_count,
                ..
            } => {
                self.remote_edit(login, &sender, &target, content, timestamp_ms, edit_count)
                    .await
            }
            RemoteEvent::ChatInfoChange {
                chat,
                sender,
                change,
            } => {
                self.remote_info(login, &chat, sender.as_deref(), *change)
                    .await
            }
            RemoteEvent::ReadReceipt { sender, up_to, .. } => {
                self.remote_read(login, &sender, up_to.as_deref()).await
            }
            RemoteEvent::Typing { sender, active, .. } => {
                self.remote_typing(login, &sender, active).await
            }
            RemoteEvent::DeliveryReceipt { sender, target, .. } => {
                self.remote_delivered(login, &sender, &target).await;
                Ok(())
            }
            RemoteEvent::Reaction {
                sender,
                target,
                key,
                ..
            } => self.remote_reaction(login, &sender, &target, &key).await,
            RemoteEvent::ReactionRemove {
                sender,
                target,
                key,
                ..
            } => {
                self.remote_reaction_remove(login, &sender, &target, &key)
                    .await
            }
            RemoteEvent::ReactionSync {
                target,
                reactions,
                all_keys,
                ..
            } => {
                self.remote_reaction_sync(login, &target, &reactions, all_keys)
                    .await
            }
            RemoteEvent::ChatResync { chat, latest } => {
                self.remote_resync(login, &chat, &latest).await;
                Ok(())
            }
            RemoteEvent::ChatDelete { .. } => {
                self.remote_chat_gone().await;
                Ok(())
            }
            RemoteEvent::GroupInvitation {
                chat,
                inviter,
                reason,
            } => {
                self.remote_invitation(login, &chat, &inviter, reason.as_deref())
                    .await;
                Ok(())
            }
            RemoteEvent::ContactRequest { from, reason } => {
                self.remote_contact_request(login, &from, reason.as_deref())
                    .await;
                Ok(())
            }
            RemoteEvent::ContactUpdate { user, update } => {
                self.remote_contact_update(login, &user, update).await;
                Ok(())
            }
            RemoteEvent::Thread {
                root,
                thread,
                change,
                ..
            } => self.remote_thread(login, &root, &thread, change).await,
            other => {
                debug!(portal = %self.key, event = ?other, "remote event not bridged yet");
                Ok(())
            }
        };
        if let Err(e) = result {
            self.ctx
                .metrics
                .failed(Direction::ToMatrix, &failure_reason(&e));
            warn!(portal = %self.key, error = %e, "remote event not bridged");
        }
    }

    /// Handles a Matrix event; `replayed`: an earlier process may have handled it already
    /// (see [`Ctx::may_be_replayed`]).
    pub(super) async fn matrix(&mut self, event: MatrixEvent, replayed: bool) {
        let result = match event {
            MatrixEvent::Message {
                room,
                sender,
                event_id,
                content,
                origin_server_ts,
            } => {
                // A replayed message may have reached the network before the crash: its
                // send looks for it first (no earlier than the event itself).
                let maybe_sent_since = replayed.then_some(origin_server_ts);
                self.matrix_message(
                    &room,
                    &sender,
                    event_id.as_str(),
                    &content,
                    maybe_sent_since,
                )
                .await
            }
            MatrixEvent::Redaction {
                room,
                sender,
                event_id,
                redacts,
            } => {
                self.matrix_redaction(&room, &sender, event_id.as_str(), redacts.as_str())
                    .await
            }
            MatrixEvent::Receipt {
                room,
                user,
                event_id,
            } => self.matrix_receipt(&room, &user, event_id.as_str()).await,
            MatrixEvent::Typing { users, .. } => {
                self.matrix_typing(users).await;
                Ok(())
            }
            // About a user, not a room: handled before portals (`core::presence`).
            MatrixEvent::Presence { .. } => Ok(()),
            MatrixEvent::Reaction {
                room,
                sender,
                event_id,
                target,
                key,
            } => {
                self.matrix_reaction(
                    &room,
                    &sender,
                    event_id.as_str(),
                    target.as_str(),
                    &key,
                    replayed,
                )
                .await
            }
            MatrixEvent::Membership {
                room,
                sender,
                target,
                membership,
                ..
            } => {
                // The worker's view first (a ghost invited or kicked is not joined), then the
                // group on the network (which may have the ghost join).
                self.membership_changed(&target, &membership).await;
                self.matrix_group_member(&room, &sender, &target, &membership)
                    .await
            }
            MatrixEvent::RoomMeta {
                room,
                sender,
                name,
                topic,
                ..
            } => {
                self.matrix_room_meta(&room, &sender, name.as_deref(), topic.as_deref())
                    .await
            }
            MatrixEvent::PinnedEvents {
                room,
                sender,
                content,
                prev_content,
                ..
            } => {
                self.matrix_pins(&room, &sender, &content, prev_content.as_ref())
                    .await
            }
            MatrixEvent::PowerLevels {
                room,
                sender,
                content,
                prev_content,
                ..
            } => {
                self.matrix_power_levels(&room, &sender, &content, prev_content.as_ref())
                    .await
            }
            // Handled before the portal queue (upgrades, encryption notices).
            MatrixEvent::Tombstone { .. } | MatrixEvent::Encrypted { .. } => Ok(()),
        };
        if let Err(e) = result {
            self.ctx
                .metrics
                .failed(Direction::ToNetwork, &failure_reason(&e));
            warn!(portal = %self.key, error = %e, "Matrix event not bridged");
        }
    }
}
