//! The JMessage side of the bridge's Synapse suites: the sandbox in this process, a bridge
//! config for `network.type: jmessage`, and a Rust JMessage client as the other party whose
//! received messages, read receipts and retractions are collected.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imbridge::network::jmessage::client::{Client, ClientConfig, LinkState};
use imbridge::network::jmessage::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::jmessage::session::{
    IncomingMessage, ReceiptChange, Retraction, SessionConfig, SessionEvent,
};
use tokio::sync::oneshot;

/// The sandbox app's AppKey.
pub const APP_KEY: &str = "jmbridgetestappkey000001";
/// The sandbox app's masterSecret.
pub const MASTER_SECRET: &str = "jm-bridge-master-secret-7731";
/// A second app of the same service ([`JmSandbox::start_cross`]), for cross-app users.
pub const OTHER_APP_KEY: &str = "jmbridgeotherappkey00002";
/// Its masterSecret.
pub const OTHER_SECRET: &str = "jm-bridge-other-secret-4410";
/// The bridge bot.
pub const BOT: &str = "@jmessagebot:localhost";

/// The ghost of JMessage user `user`.
pub fn ghost(user: &str) -> String {
    format!("@jmessage_{user}:localhost")
}

/// A JMessage sandbox on a loopback port, stopped when dropped.
pub struct JmSandbox {
    pub state: Arc<Sandbox>,
    /// The app [`OTHER_APP_KEY`] when started by [`JmSandbox::start_cross`].
    pub other: Option<Arc<Sandbox>>,
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    _stop: oneshot::Sender<()>,
}

impl JmSandbox {
    /// Starts a sandbox with `users` (`(name, password)`) registered.
    pub async fn start(users: &[(&str, &str)]) -> Self {
        Self::start_apps(users, None).await
    }

    /// Starts a sandbox serving two apps of one service: `users` in [`APP_KEY`] (the
    /// bridge's), `other_users` in [`OTHER_APP_KEY`].
    pub async fn start_cross(users: &[(&str, &str)], other_users: &[(&str, &str)]) -> Self {
        Self::start_apps(users, Some(other_users)).await
    }

    async fn start_apps(users: &[(&str, &str)], other_users: Option<&[(&str, &str)]>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!(
            "ws://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        );
        let state = Arc::new(Sandbox::new(SandboxConfig::new(APP_KEY, MASTER_SECRET)));
        for (name, password) in users {
            assert!(state.register(name, password), "{name} registered");
        }
        let other = other_users.map(|list| {
            let other = Arc::new(Sandbox::new(SandboxConfig::new(
                OTHER_APP_KEY,
                OTHER_SECRET,
            )));
            for (name, password) in list {
                assert!(other.register(name, password), "{name} registered");
            }
            sandbox::federate(&[state.clone(), other.clone()]);
            other
        });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sandbox::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            state,
            other,
            url,
            _stop: stop,
        }
    }
}

/// The JMessage side of a bridge config: the sandbox's websocket URL.
pub struct JmTarget<'a> {
    pub websocket_url: &'a str,
}

impl super::bridge_rig::BridgeNetwork for JmTarget<'_> {
    fn bot(&self) -> &str {
        BOT
    }

    fn write_config(&self, dir: &Path, synapse: &str, as_port: u16) -> PathBuf {
        write_config(dir, synapse, as_port, self.websocket_url)
    }
}

/// Writes the masterSecret file and a bridge config (`bridge.yaml` in `dir`) for
/// `network.type: jmessage`: bot `@jmessagebot:localhost`, ghosts `@jmessage_<user>` named
/// `<nickname> (JMessage)` (the default template of a JMessage bridge), send status events (`com.beeper.message_send_status`) on.
pub fn write_config(dir: &Path, synapse: &str, as_port: u16, websocket_url: &str) -> PathBuf {
    let secret = dir.join("jmessage.secret");
    std::fs::write(&secret, format!("{MASTER_SECRET}\n")).expect("secret file written");
    let path = dir.join("bridge.yaml");
    let text = format!(
        r#"homeserver:
  address: {synapse}
  domain: localhost
appservice:
  address: http://127.0.0.1:{as_port}
  hostname: 127.0.0.1
  port: {as_port}
  id: jmessage
  bot:
    username: jmessagebot
    displayname: JMessage bridge bot
    avatar: ""
  registration: registration.yaml
  username_template: "jmessage_{{{{.}}}}"
bridge:
  permissions:
    "localhost": user
  message_status_events: true
database:
{database}
logging:
  level: info
network:
  type: jmessage
  jmessage:
    app_key: {APP_KEY}
    master_secret_file: jmessage.secret
    websocket_url: {websocket_url}
"#,
        database = super::bridge::database_section(dir),
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// What a [`JmPeer`] received.
#[derive(Default)]
struct Seen {
    messages: Vec<IncomingMessage>,
    receipts: Vec<ReceiptChange>,
    retractions: Vec<Retraction>,
}

/// A JMessage user on our Rust client, collecting the messages, read receipts
/// (`receipt_change`) and retractions it receives.
pub struct JmPeer {
    pub client: Client,
    seen: Arc<Mutex<Seen>>,
}

impl JmPeer {
    /// Logs `user` in (bounded) and starts collecting.
    pub async fn login(url: &str, user: &str, password: &str) -> Self {
        Self::login_to(url, APP_KEY, MASTER_SECRET, user, password).await
    }

    /// Logs `user` of app `app_key` in (bounded) and starts collecting.
    pub async fn login_to(
        url: &str,
        app_key: &str,
        secret: &str,
        user: &str,
        password: &str,
    ) -> Self {
        let mut cfg = ClientConfig::new(url, SessionConfig::new(app_key, secret, user, password));
        cfg.backoff = (Duration::from_millis(100), Duration::from_millis(500));
        let (client, mut events) = Client::start(cfg);
        let state = tokio::time::timeout(
            Duration::from_secs(10),
            client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
        )
        .await
        .expect("the peer logs in within 10 s");
        assert_eq!(state, LinkState::Connected, "{user} logs in");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let out = seen.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                let Ok(mut v) = out.lock() else { break };
                match e {
                    SessionEvent::Message(m) => v.messages.push(m),
                    SessionEvent::ReceiptChange(r) => v.receipts.push(r),
                    SessionEvent::Retracted(r) => v.retractions.push(r),
                    _ => {}
                }
            }
        });
        Self { client, seen }
    }

    /// Waits (up to `within`) for a received message satisfying `what`; `None` if none came.
    pub async fn wait_message(
        &self,
        what: impl Fn(&IncomingMessage) -> bool,
        within: Duration,
    ) -> Option<IncomingMessage> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let found = self
                .seen
                .lock()
                .ok()
                .and_then(|v| v.messages.iter().find(|m| what(m)).cloned());
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Waits (up to `within`) until a `receipt_change` satisfying `what` came.
    pub async fn wait_receipt(
        &self,
        what: impl Fn(&ReceiptChange) -> bool,
        within: Duration,
    ) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.seen.lock().is_ok_and(|v| v.receipts.iter().any(&what)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Waits (up to `within`) until the retraction of message `msg_id` came.
    pub async fn wait_retraction(&self, msg_id: i64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self
                .seen
                .lock()
                .is_ok_and(|v| v.retractions.iter().any(|r| r.msg_ids.contains(&msg_id)))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Sends `text` to `to`; panics when the server refuses it.
    pub async fn send(&self, to: &str, text: &str) {
        self.client
            .send_text(to, text, None)
            .await
            .unwrap_or_else(|e| panic!("the peer's send of {text:?} failed: {e}"));
    }

    /// The texts (text messages) received from `from` so far, in order.
    pub fn texts_from(&self, from: &str) -> Vec<String> {
        self.seen
            .lock()
            .map(|v| {
                v.messages
                    .iter()
                    .filter(|m| m.from == from && m.msg_type == "text")
                    .map(|m| m.text.clone().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (up to `within`) until a text from `from` satisfies `what`.
    pub async fn wait(&self, from: &str, what: impl Fn(&str) -> bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.texts_from(from).iter().any(|t| what(t)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}
