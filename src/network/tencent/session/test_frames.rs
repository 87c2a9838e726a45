//! Test helpers shared by the session's unit tests: draining a session's output, answering
//! one of its requests, and finding a request by `servcmd`.

use serde_json::Value;

use super::{Output, Session, SessionEvent};
use crate::network::tencent::wire::{self, Frame};

/// The frames the session sent and the events it raised, in order, until it has no more.
pub(super) fn drain(s: &mut Session) -> (Vec<Frame>, Vec<SessionEvent>) {
    let (mut frames, mut events) = (Vec::new(), Vec::new());
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => frames.push(wire::decode(t.as_bytes()).expect("decodes")),
            Output::Event(e) => events.push(*e),
            _ => {}
        }
    }
    (frames, events)
}

/// The server's reply `body` to request `to`, as the bytes the session reads.
pub(super) fn reply(to: &Frame, body: Value) -> Vec<u8> {
    wire::encode(&to.head, &body).into_bytes()
}

/// The first frame of `frames` with `servcmd` `cmd` (a test failure if none).
pub(super) fn find<'a>(frames: &'a [Frame], cmd: &str) -> &'a Frame {
    frames
        .iter()
        .find(|f| f.head.servcmd == cmd)
        .unwrap_or_else(|| panic!("{cmd} sent"))
}
