//! One service test's world: Synapse, the Easemob sandbox, the bridge binary (debug log), a
//! Matrix user logged in to the IM side through the bot, and bob's IM client collecting what
//! it receives; plus the secrets that must never reach the bridge's log.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bridge::{
    generate_double_puppet_registration, generate_registration, log_leaks, registration_value,
    use_postgres, wait_bot_joined, write_config_with, BridgeProcess,
};
use super::matrix_user::MatrixUser;
use super::synapse::{free_port, Synapse};
use super::TestSandbox;
use imbridge::network::easemob::client::EasemobClient;
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::jid::Conversation;
use imbridge::network::easemob::message::{Body, Content, IncomingMessage, OutgoingMessage};

/// alice's IM password, given to the bot in `login` (must never reach the log).
pub const IM_PASSWORD: &str = "impw-Hk52-alice-secret";
/// The Matrix user's password (never given to the bridge; must not reach its log either).
pub const MX_PASSWORD: &str = "mxpw-Zq81-matrix-secret";

pub use super::temp_dir::TempDir;

/// Texts bob's IM client received: (sender, text, when), in arrival order; and every message
/// whole, for tests that look at more than the text.
#[derive(Clone, Default)]
pub struct Inbox(
    pub Arc<Mutex<Vec<(String, String, Instant)>>>,
    pub Arc<Mutex<Vec<IncomingMessage>>>,
);

impl Inbox {
    /// Collects the text messages of `events` in the background (this also keeps the client's
    /// event channel drained, so it never blocks the client).
    pub fn collect(mut events: imbridge::core::event_channel::BoxedReceiver<SessionEvent>) -> Self {
        let inbox = Self::default();
        let out = inbox.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if let SessionEvent::Message(m) = ev {
                    if let Body::Content(Content::Text { text }) = &m.body {
                        if let Ok(mut v) = out.0.lock() {
                            v.push((m.from.clone(), text.clone(), Instant::now()));
                        }
                    }
                    if let Ok(mut all) = out.1.lock() {
                        all.push(m);
                    }
                }
            }
        });
        inbox
    }

    /// Texts from `from`, in arrival order.
    pub fn texts_from(&self, from: &str) -> Vec<String> {
        self.0
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|(f, _, _)| f == from)
                    .map(|(_, t, _)| t.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<IncomingMessage> {
        self.1.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Waits (bounded) for a message matching `what`; returns it.
    pub async fn wait_message(
        &self,
        what: impl Fn(&IncomingMessage) -> bool,
        deadline: Duration,
    ) -> Option<IncomingMessage> {
        let end = Instant::now() + deadline;
        while Instant::now() < end {
            if let Some(m) = self.messages().into_iter().find(|m| what(m)) {
                return Some(m);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// Waits (bounded) until a text from `from` satisfies `what`.
    pub async fn wait(&self, from: &str, what: impl Fn(&str) -> bool, deadline: Duration) -> bool {
        let end = Instant::now() + deadline;
        while Instant::now() < end {
            if self.texts_from(from).iter().any(|t| what(t)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// One test's world: Synapse, the sandbox, the bridge, a Matrix user (mx1) logged in as the IM
/// user alice, and bob on the IM side. Fields drop in order: the bridge first, the folder last.
pub struct Env {
    pub bridge: Option<BridgeProcess>,
    pub bob: EasemobClient,
    pub bob_inbox: Inbox,
    pub mx: MatrixUser,
    pub mgmt: String,
    pub dm: String,
    // Stopped / removed after the bridge by their drop guards.
    pub synapse: Synapse,
    pub sandbox: TestSandbox,
    pub config: PathBuf,
    pub reg: PathBuf,
    pub log: PathBuf,
    pub as_port: u16,
    pub t0: Instant,
    pub _dir: TempDir,
}

impl Env {
    /// Starts everything up to a running bridge and a registered Matrix user; `extra` is
    /// appended to the bridge config.
    pub async fn start(name: &str, extra: &str) -> Self {
        Self::start_opts(name, extra, false, false).await
    }

    /// [`Env::start`] with the bridge on a PostgreSQL database of its own whatever
    /// `IMBRIDGE_TEST_STORE` says; `None` (after saying "skipped: no PostgreSQL" and why)
    /// where PostgreSQL is not available.
    pub async fn start_on_postgres(name: &str, extra: &str) -> Option<Self> {
        if let Err(why) = imbridge::store::testing::PgCluster::shared() {
            eprintln!("skipped: no PostgreSQL ({why})");
            return None;
        }
        Some(Self::start_opts(name, extra, false, true).await)
    }

    /// [`Env::start`] with double puppeting by the appservice method: a second registration
    /// (`generate-registration --double-puppet`) loaded by Synapse and its `as_token` in
    /// `double_puppet.secrets.localhost`.
    pub async fn start_with_double_puppet(name: &str, extra: &str) -> Self {
        Self::start_opts(name, extra, true, false).await
    }

    async fn start_opts(name: &str, extra: &str, double_puppet: bool, postgres: bool) -> Self {
        let t0 = Instant::now();
        let dir = TempDir::new(name);
        if postgres {
            use_postgres(&dir.0).unwrap_or_else(|why| panic!("no PostgreSQL database: {why}"));
        }
        let sandbox = TestSandbox::start().await;
        sandbox.user("alice", IM_PASSWORD);
        sandbox.user("bob", "bob-pw");
        let as_port = free_port();
        // Synapse needs the registration, which needs the config, which needs Synapse's port:
        // write the config with a placeholder, generate, start Synapse, rewrite the config.
        let hint = format!("http://127.0.0.1:{}", free_port());
        let config = write_config_with(&dir.0, &hint, as_port, &sandbox, extra);
        let reg = generate_registration(&config, &dir.0);
        let mut extra = extra.to_owned();
        let synapse = if double_puppet {
            let dp_reg = generate_double_puppet_registration(&config, &dir.0);
            let token = registration_value(&dp_reg, "as_token");
            extra.push_str(&format!(
                "double_puppet:\n  secrets:\n    localhost: \"as_token:{token}\"\n"
            ));
            Synapse::start(&dir.0.join("synapse"), &[&reg, &dp_reg])
        } else {
            Synapse::start(&dir.0.join("synapse"), &[&reg])
        };
        let config = write_config_with(&dir.0, &synapse.url(), as_port, &sandbox, &extra);
        say!(t0, "Synapse up at {}", synapse.url());
        let log = dir.0.join("bridge.log");
        let bridge = BridgeProcess::start(&config, &log, as_port);
        say!(t0, "bridge started (pid {})", bridge.pid());
        let token = synapse.register("mx1", MX_PASSWORD);
        let mx = MatrixUser::new(&synapse.url(), "@mx1:localhost", &token);
        let (bob, bob_events) = sandbox.rust_client("bob", "bob-pw").await;
        Self {
            bridge: Some(bridge),
            bob,
            bob_inbox: Inbox::collect(bob_events),
            mx,
            mgmt: String::new(),
            dm: String::new(),
            synapse,
            sandbox,
            config,
            reg,
            log,
            as_port,
            t0,
            _dir: dir,
        }
    }

    /// mx1 logs in to the IM sandbox as alice through the bot (one-line form).
    pub async fn login(&mut self) {
        self.mgmt = self.mx.create_dm("@easemobbot:localhost").await;
        wait_bot_joined(&self.mx, &self.mgmt).await;
        self.mx
            .send_text(&self.mgmt, &format!("login alice {IM_PASSWORD}"))
            .await;
        self.mx
            .wait_body(&self.mgmt, |b| b.starts_with("Logged in as alice"))
            .await;
        say!(self.t0, "mx1 logged in as alice");
    }

    /// bob writes to alice; mx1 accepts the DM portal's invite and sees the text.
    pub async fn open_dm(&mut self) {
        self.bob_send("hello alice").await;
        self.dm = self
            .mx
            .accept_new_invite(std::slice::from_ref(&self.mgmt))
            .await;
        self.mx.wait_body(&self.dm, |b| b == "hello alice").await;
        say!(self.t0, "DM portal {} open", self.dm);
    }

    pub async fn bob_send(&self, text: &str) {
        self.bob
            .send(OutgoingMessage::text(Conversation::single("alice"), text))
            .await
            .unwrap_or_else(|e| panic!("bob sends {text:?}: {e:?}"));
    }

    pub fn bridge(&mut self) -> &mut BridgeProcess {
        self.bridge.as_mut().expect("the bridge runs")
    }

    /// Starts the bridge again on the same config and database.
    pub fn restart(&mut self) {
        self.bridge = Some(BridgeProcess::start(&self.config, &self.log, self.as_port));
        say!(
            self.t0,
            "bridge restarted (pid {})",
            self.bridge.as_ref().map_or(0, |b| b.pid())
        );
    }

    /// Stops the bridge, adds `settings` (YAML lines, e.g. `"max_catchup_messages: 3"`) to the
    /// config's `bridge:` section and starts it again (`start`: false leaves it stopped).
    pub fn set_bridge_settings(&mut self, settings: &[&str], start: bool) {
        self.bridge().terminate();
        let config = std::fs::read_to_string(&self.config).expect("config");
        let lines: String = settings.iter().map(|l| format!("  {l}\n")).collect();
        let changed = config.replace(
            "bridge:\n  permissions:",
            &format!("bridge:\n{lines}  permissions:"),
        );
        assert_ne!(config, changed, "the bridge section is where expected");
        std::fs::write(&self.config, changed).expect("config rewritten");
        if start {
            self.restart();
        }
    }

    /// The secrets that must never reach the bridge's log.
    pub fn secrets(&self) -> Vec<(&'static str, String)> {
        vec![
            ("as_token", registration_value(&self.reg, "as_token")),
            ("hs_token", registration_value(&self.reg, "hs_token")),
            ("the Matrix user's password", MX_PASSWORD.to_owned()),
            ("the IM password given to login", IM_PASSWORD.to_owned()),
            ("the Matrix user's access token", self.mx.token().to_owned()),
        ]
    }

    /// Stops the bridge (SIGTERM) and lists the secrets found in its log.
    pub fn stop_and_find_leaks(&mut self) -> Vec<String> {
        if let Some(mut b) = self.bridge.take() {
            b.stop();
        }
        let secrets = self.secrets();
        let pairs: Vec<(&str, &str)> = secrets.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let leaks = log_leaks(&self.log, &pairs);
        say!(self.t0, "secrets in the bridge log: {leaks:#?}");
        leaks
    }
}
