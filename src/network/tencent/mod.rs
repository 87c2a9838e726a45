//! Tencent Cloud Chat (TIM / IM): the websocket client protocol the official Web SDK
//! (`@tencentcloud/chat`) speaks, UserSig tickets, and a sandbox server.
//!
//! Protocol facts: /work/shared/reference/tencent-jmessage-protocol.md part A.

pub mod client;
pub mod connector;
pub mod cos;
pub mod elem;
pub mod sandbox;
pub mod session;
pub mod usersig;
pub mod wire;
