//! Easemob / Agora Chat: the msync client protocol (as the official Web SDK speaks it),
//! its REST API, and a sandbox server.

pub mod compression;
pub mod error;
pub mod events;
pub mod jid;
pub mod message;
pub mod proto;
pub mod sandbox;
pub mod session;
