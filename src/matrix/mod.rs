//! The Matrix side of the bridge: the appservice HTTP listener (transactions in) and the
//! client-server API (as the bot or any ghost, out).
//!
//! * [`settings`]: [`AppserviceSettings`], the homeserver and registration facts;
//! * [`client`]: [`HomeserverClient`], the core's [`MatrixApi`](crate::core::matrix_api::MatrixApi)
//!   over ruma requests with appservice identity assertion (plus a token-restored matrix-sdk
//!   client for the bot);
//! * [`appservice`]: the axum listener the homeserver pushes transactions to, handing parsed
//!   [`MatrixEvent`](crate::core::matrix_api::MatrixEvent)s to a
//!   [`MatrixEventSink`](crate::core::matrix_api::MatrixEventSink);
//! * [`provisioning`]: the provisioning HTTP API (mautrix bridgev2 paths) on the same
//!   listener;
//! * [`transaction`]: the transaction parser.

mod account_settings;
pub mod appservice;
pub mod client;
mod media;
mod power;
pub mod provisioning;
pub mod settings;
pub mod transaction;
mod transport;
mod wire;

#[cfg(test)]
mod tests;

pub use appservice::{router, serve, AppserviceState, IsOurs, MemoryTxnDedup, TxnDedup};
pub use client::HomeserverClient;
pub use settings::AppserviceSettings;
