//! Bounded event channels whose items travel boxed.
//!
//! tokio's `mpsc` allocates its first block of 32 slots when a channel is made, so an idle
//! channel of a large event costs 32 × the event's size: 9.5 KB for a 296-byte
//! [`RemoteEvent`](super::connector::RemoteEvent), 12 KB for a 376-byte session event. Every
//! login holds such channels for its whole life (network session → connector → core), mostly
//! empty, so at 10 000 idle logins that is hundreds of MiB of empty slots. Boxed, a slot is
//! one pointer (256 bytes a block), and the cost moves to one allocation per event in flight,
//! which only busy logins pay.
//!
//! [`BoxedSender`] and [`BoxedReceiver`] take and give the events unboxed, with the same
//! method names and errors as `tokio::sync::mpsc`, so users see plain events.

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

/// A bounded channel of `capacity` events (`capacity` ≥ 1, as for `mpsc::channel`; 0 is
/// raised to 1) whose slots hold boxes.
pub fn boxed_channel<T>(capacity: usize) -> (BoxedSender<T>, BoxedReceiver<T>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (BoxedSender(tx), BoxedReceiver(rx))
}

/// The sending half of [`boxed_channel`]; cheap to clone.
pub struct BoxedSender<T>(mpsc::Sender<Box<T>>);

impl<T> Clone for BoxedSender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> std::fmt::Debug for BoxedSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedSender")
            .field("closed", &self.0.is_closed())
            .finish()
    }
}

impl<T> BoxedSender<T> {
    /// Sends, waiting for room; the event comes back in the error when the receiver is gone.
    /// The event is boxed at the call, so the returned future holds a pointer, not the
    /// event (a caller's task that awaits it stays small).
    pub fn send(
        &self,
        event: T,
    ) -> impl std::future::Future<Output = Result<(), SendError<T>>> + Send + '_
    where
        T: Send,
    {
        let boxed = Box::new(event);
        async move {
            self.0
                .send(boxed)
                .await
                .map_err(|SendError(b)| SendError(*b))
        }
    }

    /// Sends if there is room now; the event comes back in the error otherwise.
    pub fn try_send(&self, event: T) -> Result<(), TrySendError<T>> {
        self.0.try_send(Box::new(event)).map_err(|e| match e {
            TrySendError::Full(b) => TrySendError::Full(*b),
            TrySendError::Closed(b) => TrySendError::Closed(*b),
        })
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Resolves when the receiver is gone.
    pub async fn closed(&self) {
        self.0.closed().await
    }

    /// Free slots now.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

/// The receiving half of [`boxed_channel`].
pub struct BoxedReceiver<T>(mpsc::Receiver<Box<T>>);

impl<T> std::fmt::Debug for BoxedReceiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedReceiver").finish_non_exhaustive()
    }
}

impl<T> BoxedReceiver<T> {
    /// The next event; `None` once every sender is gone and the channel is empty.
    pub async fn recv(&mut self) -> Option<T> {
        self.0.recv().await.map(|b| *b)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.0.try_recv().map(|b| *b)
    }

    /// Stops new sends; what is queued can still be received.
    pub fn close(&mut self) {
        self.0.close()
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_pass_unboxed_in_order_and_come_back_when_closed() {
        let (tx, mut rx) = boxed_channel::<[u8; 300]>(2);
        tx.send([1; 300]).await.expect("room");
        tx.try_send([2; 300]).expect("room");
        assert!(matches!(tx.try_send([3; 300]), Err(TrySendError::Full(v)) if v[0] == 3));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.recv().await.map(|v| v[0]), Some(1));
        assert_eq!(rx.try_recv().map(|v| v[0]), Ok(2));
        drop(rx);
        assert!(tx.is_closed());
        let back = tx.send([4; 300]).await.expect_err("closed");
        assert_eq!(back.0[0], 4);
    }
}
