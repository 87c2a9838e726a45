//! imbridge: a Matrix puppeting bridge for the Chinese cloud IM services.
//!
//! Three layers, one folder each:
//! * [`network`]: one connector per IM service (client protocol + sandbox server),
//!   and the connector contract the bridge core drives;
//! * [`core`]: logins, portals, ghosts, commands, conversion; never names a network;
//! * [`matrix`]: the appservice side (transactions in, client API out).

pub mod network;
