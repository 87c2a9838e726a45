//! Network connectors: one folder per IM service.
//!
//! Each connector holds its service's client protocol and a sandbox server that speaks the
//! same protocol, so the bridge can be tested and tried without a cloud account.

#[cfg(feature = "easemob")]
pub mod easemob;
#[cfg(any(feature = "tencent", feature = "jmessage"))]
pub mod image_header;
#[cfg(feature = "jmessage")]
pub mod jmessage;
#[cfg(any(feature = "tencent", feature = "jmessage"))]
pub mod sandbox_store;
#[cfg(feature = "tencent")]
pub mod tencent;
pub mod websocket;
