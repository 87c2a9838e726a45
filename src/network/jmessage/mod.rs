//! JiGuang JMessage (极光 IM): the socket.io (Engine.IO v3) client protocol the official
//! JMessage Web SDK 2.5.0 speaks (codec, sans-I/O session, tokio client task) and a sandbox
//! server.
//!
//! Protocol facts: /work/shared/reference/tencent-jmessage-protocol.md part B.

pub mod across;
pub mod client;
pub mod connector;
pub mod eio;
pub mod report;
pub mod sandbox;
pub mod session;
pub mod wire;
