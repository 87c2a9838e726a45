//! imbridge: a Matrix puppeting bridge for the Chinese cloud IM services.
//!
//! Three layers, one folder each:
//! * [`network`]: one connector per IM service (client protocol + sandbox server);
//! * [`core`]: logins, portals, ghosts, commands, conversion, and the connector contract;
//!   it never names a network;
//! * [`matrix`]: the appservice side (transactions in, client API out).
//!
//! Shared infrastructure: [`config`] (the YAML file), [`store`] (the sled database),
//! [`metrics`] (the metric families every layer feeds), [`logging`] (terminal, journald or
//! JSON output) and [`service`] (systemd notification, watchdog, health and metrics listener).

pub mod config;
pub mod core;
pub mod daemon;
pub mod logging;
pub mod matrix;
pub mod metrics;
pub mod network;
pub mod service;
pub mod store;
