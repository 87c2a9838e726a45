//! Easemob / Agora Chat: the msync client protocol (as the official Web SDK speaks it),
//! its REST API, and a sandbox server.

pub mod client;
pub mod compression;
pub mod connector;
pub mod error;
pub mod events;
pub mod jid;
pub mod message;
pub mod proto;
pub mod rest;
pub mod sandbox;
pub mod session;
