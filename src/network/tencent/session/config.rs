//! The settings of one session ([`SessionConfig`]), with the Web SDK's cadence as defaults.

use std::collections::HashMap;
use std::time::Duration;

/// Settings of one session (one user, one instance).
#[derive(Clone)]
pub struct SessionConfig {
    /// The app's SDKAppID.
    pub sdk_app_id: u64,
    /// The user id (`identifier`).
    pub identifier: String,
    /// The UserSig (see [`super::super::usersig`]).
    pub user_sig: String,
    /// `platform` in the head (7 = Web, as the Web SDK).
    pub platform: u32,
    /// Idle time after which `heartbeat.alive` is sent. The SDK uses 10 s.
    pub idle_ping: Duration,
    /// How long the ping reply may take before the link is declared dead. The SDK uses 3 s.
    pub ping_timeout: Duration,
    /// Reply timeout of an ordinary request. The SDK uses 15 s.
    pub request_timeout: Duration,
    /// Reply timeout of `wslogin`. The SDK uses 90 s.
    pub login_timeout: Duration,
    /// How long a message may wait in the outbox for a connection.
    pub queue_timeout: Duration,
    /// How many received message keys are remembered to drop duplicates.
    pub dedup_window: usize,
    /// Acknowledge a push that carried messages only when the owner says it stored them
    /// ([`super::SessionEvent::PushBatch`], [`super::Session::ack_push`]); `false` (the default):
    /// acknowledge at once, as the SDK does.
    pub defer_push_ack: bool,
    /// The last group `MsgSeq` the owner has per group (kept across restarts): the login
    /// catch-up fetches what came after ([`super::Session::set_group_cursor`]).
    pub group_cursors: HashMap<String, u64>,
    /// For a joined group without a cursor: how many of its newest messages the login
    /// catch-up fetches (0, the default: start at its next message).
    pub group_catch_up: u64,
    /// Ask for per-message read receipts on every group message sent (`NeedReadReceipt: 1`,
    /// the SDK's `needReadReceipt`; never for live rooms); `false` by default, as the SDK.
    pub group_read_receipts: bool,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("identifier", &self.identifier)
            .field("user_sig", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// Defaults matching the Web SDK's cadence.
    pub fn new(sdk_app_id: u64, identifier: &str, user_sig: &str) -> Self {
        Self {
            sdk_app_id,
            identifier: identifier.to_owned(),
            user_sig: user_sig.to_owned(),
            platform: 7,
            idle_ping: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(15),
            login_timeout: Duration::from_secs(90),
            queue_timeout: Duration::from_secs(600),
            dedup_window: 4096,
            group_cursors: HashMap::new(),
            group_catch_up: 0,
            defer_push_ack: false,
            group_read_receipts: false,
        }
    }
}
