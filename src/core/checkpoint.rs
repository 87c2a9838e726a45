//! [`Checkpoint`]: how a connector learns that the core has durably stored the events it was
//! given, so that it acknowledges them to the IM server only then. A connector sends
//! [`RemoteEvent::Checkpoint`](super::connector::RemoteEvent::Checkpoint) after a batch and
//! waits on the paired [`CheckpointWait`]; the core calls [`Checkpoint::done`] once every event
//! before it is on disk. A crash before that point leaves the batch unacknowledged on the
//! server, which delivers it again; the core's message map drops what was already bridged.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The core's side: call [`Checkpoint::done`] once everything before it is stored. Dropping
/// every clone without calling it releases the waiter with `false`: the events were not
/// stored, and the connector leaves the batch unacknowledged so the server delivers it again.
#[derive(Clone)]
pub struct Checkpoint(Arc<Mutex<Option<oneshot::Sender<()>>>>);

/// The connector's side: resolves when the core called [`Checkpoint::done`] (`true`) or
/// dropped the checkpoint without storing (`false`).
pub struct CheckpointWait(oneshot::Receiver<()>);

impl Checkpoint {
    /// A new checkpoint and what its sender waits on.
    pub fn new() -> (Self, CheckpointWait) {
        let (tx, rx) = oneshot::channel();
        (Self(Arc::new(Mutex::new(Some(tx)))), CheckpointWait(rx))
    }

    /// Everything sent before this checkpoint is durably stored.
    pub fn done(&self) {
        let sender = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }
}

impl CheckpointWait {
    /// Waits for the core; `true` when it confirmed, `false` when it dropped the checkpoint.
    pub async fn wait(self) -> bool {
        self.0.await.is_ok()
    }
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpoint")
    }
}

impl PartialEq for Checkpoint {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn done_releases_the_waiter_once() {
        let (checkpoint, wait) = Checkpoint::new();
        let copy = checkpoint.clone();
        assert_eq!(copy, checkpoint);
        checkpoint.done();
        copy.done(); // a second call is harmless
        assert!(wait.wait().await);
    }

    #[tokio::test]
    async fn dropping_without_done_releases_with_false() {
        let (checkpoint, wait) = Checkpoint::new();
        drop(checkpoint);
        assert!(!wait.wait().await);
    }
}
