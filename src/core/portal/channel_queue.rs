//! The lossy side of a channel portal's queue: a bounded buffer of its IM → Matrix events
//! that drops the oldest when full (counted in `imbridge_channel_events_dropped_total`, and
//! acked in the login's inbox so a restart does not bring them back), what may be dropped,
//! and how the portal worker takes its next item (lossless work first).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Weak;

use tokio::sync::{mpsc, Notify};
use tracing::{debug, warn};

use super::{PortalWorker, Portals, Work};
use crate::core::connector::RemoteEvent;

/// The bounded, lossy buffer of a channel portal's IM → Matrix events: when full, the oldest
/// event is dropped for the newest (a busy public room loses its backlog, not its present).
pub(super) struct ChannelBuffer {
    items: std::sync::Mutex<VecDeque<Work>>,
    /// Signalled on every push (a permit is kept when the worker is busy).
    ready: Notify,
    /// The most events held (`bridge.channel_queue_depth`, at least 1).
    capacity: usize,
}

impl ChannelBuffer {
    /// An empty buffer of at most `capacity` events (at least 1).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            items: std::sync::Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Appends `work`; returns the oldest event dropped to make room, if any.
    pub(super) fn push(&self, work: Work) -> Option<Work> {
        let dropped = match self.items.lock() {
            Ok(mut items) => {
                let dropped = if items.len() >= self.capacity {
                    items.pop_front()
                } else {
                    None
                };
                items.push_back(work);
                dropped
            }
            Err(_) => Some(work),
        };
        self.ready.notify_one();
        dropped
    }

    fn pop(&self) -> Option<Work> {
        self.items.lock().ok()?.pop_front()
    }

    pub(super) fn len(&self) -> usize {
        self.items.lock().map(|i| i.len()).unwrap_or(0)
    }
}

/// Whether a remote event of a channel portal may be dropped when the portal is busy:
/// messages only when the network marked them ([`crate::core::connector::RemoteMessage::droppable`]:
/// one network may mark every chat-room message, another only live-room likes); other events all but
/// the ones that open, rename or end the portal (typing, receipts, reactions: transient).
pub(super) fn droppable(event: &RemoteEvent) -> bool {
    match event {
        RemoteEvent::Message(m) => m.droppable,
        RemoteEvent::ChatDelete { .. } => false,
        RemoteEvent::ChatInfoChange { change, .. } => {
            !change.members_added.is_empty() || !change.members_removed.is_empty()
        }
        _ => true,
    }
}

impl Portals {
    /// An event of channel portal `key` dropped unbridged: counted, and acked in its login's
    /// inbox so it is not handed over again after a restart.
    pub(super) async fn drop_channel_event(&self, key: &str, dropped: Work) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
        let Some(ctx) = self.ctx.get().and_then(Weak::upgrade) else {
            return;
        };
        ctx.metrics.channel_events_dropped.inc(&[]);
        if let Work::Remote {
            login,
            seq: Some(seq),
            ..
        } = dropped
        {
            if let Err(e) = ctx.store.ack(&login.queue(), seq).await {
                warn!(portal = %key, seq, error = %e, "inbox ack of a dropped event failed");
            }
        }
        debug!(portal = %key, "channel busy: its oldest pending event was dropped");
    }
}

impl PortalWorker {
    /// The next item: lossless work first, then the channel buffer's oldest event; `None`
    /// once the queue is closed.
    pub(super) async fn next(
        rx: &mut mpsc::Receiver<Work>,
        buffer: Option<&ChannelBuffer>,
    ) -> Option<Work> {
        let Some(buffer) = buffer else {
            return rx.recv().await;
        };
        loop {
            match rx.try_recv() {
                Ok(work) => return Some(work),
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            if let Some(work) = buffer.pop() {
                return Some(work);
            }
            tokio::select! {
                work = rx.recv() => return work,
                _ = buffer.ready.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::connector::{ChatId, ChatInfoChange};
    use crate::core::matrix_api::MatrixEvent;

    #[test]
    fn a_full_channel_buffer_drops_its_oldest() {
        let buffer = ChannelBuffer::new(2);
        let work = |seq| Work::Matrix {
            event: MatrixEvent::Presence {
                user: ruma::user_id!("@a:x").to_owned(),
                presence: "online".into(),
                status_msg: None,
            },
            seq,
        };
        let seq_of = |w: Option<Work>| match w {
            Some(Work::Matrix { seq, .. }) => Some(seq),
            _ => None,
        };
        assert!(buffer.push(work(1)).is_none());
        assert!(buffer.push(work(2)).is_none());
        assert_eq!(seq_of(buffer.push(work(3))), Some(1));
        assert_eq!(buffer.len(), 2);
        assert_eq!(seq_of(buffer.pop()), Some(2));
        assert_eq!(seq_of(buffer.pop()), Some(3));
        assert!(buffer.pop().is_none());
    }

    #[test]
    fn only_news_that_opens_renames_or_ends_a_channel_is_kept_when_busy() {
        let chat = ChatId::channel("7");
        let info = |change: ChatInfoChange| RemoteEvent::ChatInfoChange {
            chat: chat.clone(),
            sender: None,
            change: Box::new(change),
        };
        assert!(!droppable(&info(ChatInfoChange::default())));
        assert!(!droppable(&info(ChatInfoChange {
            name: Some("lobby".into()),
            ..Default::default()
        })));
        assert!(droppable(&info(ChatInfoChange {
            members_added: vec!["bob".into()],
            ..Default::default()
        })));
        assert!(!droppable(&RemoteEvent::ChatDelete { chat: chat.clone() }));
        assert!(droppable(&RemoteEvent::Typing {
            chat: chat.clone(),
            sender: "bob".into(),
            active: true,
        }));
        let message = |droppable| {
            RemoteEvent::Message(crate::core::connector::RemoteMessage {
                id: "m".into(),
                chat: chat.clone(),
                sender: "bob".into(),
                from_self: false,
                timestamp_ms: 0,
                content: crate::core::connector::MessageContent::text("hi"),
                reply_to: None,
                thread_root: None,
                droppable,
                extra: Default::default(),
                edit_count: 0,
                alt_id: None,
            })
        };
        assert!(
            !droppable(&message(false)),
            "a message is kept unless marked"
        );
        assert!(droppable(&message(true)));
    }
}
