//! Shared test fixtures: the Synapse and bridge rigs, Matrix users, the official-SDK agent, and
//! each network's sandbox with its Rust clients (Easemob's re-exported here).
#![allow(dead_code)]

/// Prints a line with the time since the test started.
#[allow(unused_macros)]
macro_rules! say {
    ($t0:expr, $($arg:tt)*) => {
        eprintln!("[{:>7.2}s] {}", $t0.elapsed().as_secs_f64(), format!($($arg)*))
    };
}

pub mod bridge;
pub mod bridge_rig;
#[cfg(feature = "easemob")]
mod easemob;
#[cfg(feature = "easemob")]
pub use easemob::*;
#[cfg(feature = "jmessage")]
pub mod jmessage;
#[cfg(feature = "jmessage")]
pub mod jmessage_connector;
#[cfg(feature = "jmessage")]
pub mod jmessage_sdk;
pub mod matrix_user;
pub mod prometheus;
pub mod push_rules;
pub mod relay;
pub mod sdk_agent;
#[cfg(feature = "easemob")]
pub mod service_env;
pub mod synapse;
pub mod temp_dir;
#[cfg(feature = "tencent")]
pub mod tencent_bed;
#[cfg(feature = "tencent")]
pub mod tencent_rig;
