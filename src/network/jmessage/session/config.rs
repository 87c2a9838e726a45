//! A JMessage session's settings: the app's credentials, the user's, and the Web SDK 2.5.0's
//! timings (reference §B1).

use std::time::Duration;

use crate::network::jmessage::wire;

/// Settings of one session (one user).
#[derive(Clone)]
pub struct SessionConfig {
    /// The app's appkey.
    pub app_key: String,
    /// The app's masterSecret (only its md5 signature goes on the wire; never logged).
    pub master_secret: String,
    /// The username.
    pub username: String,
    /// The plaintext password (only its md5 goes on the wire; never logged).
    pub password: String,
    /// `c_init` `flag`: true = roaming sync on (1).
    pub roaming: bool,
    /// Wait for the server's `ack` before resending (SDK: 5 s).
    pub ack_timeout: Duration,
    /// Wait for the response before resending (SDK: 30 s).
    pub response_timeout: Duration,
    /// Resends before giving up (SDK: 5).
    pub retry_times: u32,
    /// `sync_check` cadence (SDK: 150 s).
    pub sync_interval: Duration,
    /// The longest the Engine.IO and socket.io handshakes may take.
    pub handshake_timeout: Duration,
    /// How long a send may wait in the outbox for a connection.
    pub queue_timeout: Duration,
    /// How many received message ids are remembered to drop duplicates.
    pub dedup_window: usize,
    /// Receipt a push that carried new messages or events (`msg_recv_v2` per message of a
    /// `msg_sync`, `sync_conversation_ack`, `sync_event_ack`, `sync_receipt_ack`) only when the
    /// owner says it stored them
    /// ([`super::SessionEvent::PushBatch`], [`super::Session::ack_push`]); `false` (the default): at once,
    /// as the SDK does. Unreceipted messages stay on the server and come again.
    pub defer_push_ack: bool,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("app_key", &self.app_key)
            .field("username", &self.username)
            .field("master_secret", &"<redacted>")
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// Defaults matching the Web SDK's timings.
    pub fn new(app_key: &str, master_secret: &str, username: &str, password: &str) -> Self {
        Self {
            app_key: app_key.to_owned(),
            master_secret: master_secret.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            roaming: false,
            ack_timeout: wire::ACK_TIMEOUT,
            response_timeout: wire::RESP_TIMEOUT,
            retry_times: wire::RETRY_TIMES,
            sync_interval: wire::SYNC_INTERVAL,
            handshake_timeout: Duration::from_secs(15),
            queue_timeout: Duration::from_secs(600),
            dedup_window: 4096,
            defer_push_ack: false,
        }
    }
}
