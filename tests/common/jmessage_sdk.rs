//! The JMessage set-up shared by the official-SDK suites (`jmessage_conformance`,
//! `jmessage_groups`, `jmessage_media`): an in-process JMessage sandbox on a loopback port
//! with users whose password is `<name>-pw`, our Rust client logged in as one of them, and the
//! official Web SDK 2.5.0 bundle (from ../shared/vendor, never copied into the project)
//! initialised and logged in through `tests/sdk/jmessage-agent.js`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use imbridge::network::jmessage::client::{unix_ms, Client, ClientConfig, LinkState};
use imbridge::network::jmessage::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::jmessage::session::{IncomingMessage, SessionConfig, SessionEvent};
use imbridge::network::jmessage::wire;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::sdk_agent::{jmessage_bundle, SdkAgent};

/// The sandbox app's AppKey.
pub const APP_KEY: &str = "testappkey000000000000aa";
/// The sandbox app's masterSecret.
pub const SECRET: &str = "testmastersecret00000000";
/// A second app of the same service ([`JmSandbox::start_cross`]), for cross-app users.
pub const OTHER_APP_KEY: &str = "otherappkey00000000000bb";
/// Its masterSecret.
pub const OTHER_SECRET: &str = "othermastersecret0000000";

/// A running JMessage sandbox; stopped on drop.
pub struct JmSandbox {
    pub sandbox: Arc<Sandbox>,
    /// The app [`OTHER_APP_KEY`] when started by [`JmSandbox::start_cross`].
    pub other: Option<Arc<Sandbox>>,
    pub addr: std::net::SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl JmSandbox {
    /// Starts a sandbox with `users` registered (password `<name>-pw`).
    pub async fn start(users: &[&str]) -> Self {
        Self::start_apps(users, None).await
    }

    /// Starts a sandbox serving two apps of one service: `users` in [`APP_KEY`],
    /// `other_users` in [`OTHER_APP_KEY`] (passwords `<name>-pw`).
    pub async fn start_cross(users: &[&str], other_users: &[&str]) -> Self {
        Self::start_apps(users, Some(other_users)).await
    }

    async fn start_apps(users: &[&str], other_users: Option<&[&str]>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let sandbox = Arc::new(Sandbox::new(SandboxConfig::new(APP_KEY, SECRET)));
        for u in users {
            sandbox.register(u, &format!("{u}-pw"));
        }
        let other = other_users.map(|names| {
            let other = Arc::new(Sandbox::new(SandboxConfig::new(
                OTHER_APP_KEY,
                OTHER_SECRET,
            )));
            for u in names {
                other.register(u, &format!("{u}-pw"));
            }
            sandbox::federate(&[sandbox.clone(), other.clone()]);
            other
        });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sandbox::serve(listener, sandbox.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            sandbox,
            other,
            addr,
            _stop: stop,
        }
    }

    /// The socket.io address (`ws://127.0.0.1:PORT`).
    pub fn server(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Our Rust client logged in as `user` (bounded: 10 s).
    pub async fn client(&self, user: &str) -> (Client, mpsc::Receiver<SessionEvent>) {
        self.client_of(APP_KEY, SECRET, user).await
    }

    /// Our Rust client logged in as `user` of app `app_key` (bounded: 10 s).
    pub async fn client_of(
        &self,
        app_key: &str,
        secret: &str,
        user: &str,
    ) -> (Client, mpsc::Receiver<SessionEvent>) {
        let cfg = ClientConfig::new(
            &self.server(),
            SessionConfig::new(app_key, secret, user, &format!("{user}-pw")),
        );
        let (client, events) = Client::start(cfg);
        let state = tokio::time::timeout(
            Duration::from_secs(10),
            client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
        )
        .await
        .expect("client logs in");
        assert_eq!(state, LinkState::Connected);
        (client, events)
    }
}

/// The SDK bundle, or `None` after printing why the test is skipped.
pub fn bundle() -> Option<PathBuf> {
    let found = jmessage_bundle();
    if found.is_none() {
        eprintln!("skipped: JMessage SDK bundle not found");
    }
    found
}

/// `init` arguments signed with `secret` now (the SDK's `JIM.init` fields).
pub fn init_args(secret: &str) -> Value {
    init_args_of(APP_KEY, secret)
}

/// `init` arguments for app `app_key` signed with `secret` now.
pub fn init_args_of(app_key: &str, secret: &str) -> Value {
    let ts = unix_ms();
    let rs = "abcdefghij0123456789xyz";
    json!({"appkey": app_key, "random_str": rs, "timestamp": ts, "flag": 0,
        "signature": wire::signature(app_key, ts, rs, secret)})
}

/// An SDK agent initialised and logged in as `user`.
pub async fn sdk_login(bundle: &Path, sb: &JmSandbox, user: &str) -> SdkAgent {
    sdk_login_of(bundle, sb, APP_KEY, SECRET, user).await
}

/// An SDK agent initialised for app `app_key` and logged in as its `user`.
pub async fn sdk_login_of(
    bundle: &Path,
    sb: &JmSandbox,
    app_key: &str,
    secret: &str,
    user: &str,
) -> SdkAgent {
    let mut a = SdkAgent::spawn_jmessage(bundle, &sb.server()).await;
    let r = a.ok("init", init_args_of(app_key, secret)).await;
    assert_eq!(r["code"], 0, "{r}");
    let r = a
        .ok(
            "login",
            json!({"username": user, "password": format!("{user}-pw")}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    a
}

/// The next event of the Rust client that `pick` maps to something (bounded: 10 s).
pub async fn next<T>(
    events: &mut mpsc::Receiver<SessionEvent>,
    pick: impl Fn(SessionEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(e)) => {
                if let Some(t) = pick(e) {
                    return t;
                }
            }
            Ok(None) => panic!("client task ended"),
            Err(_) => panic!("expected event did not arrive within 10 s"),
        }
    }
}

/// The Rust client's next message (bounded: 10 s).
pub async fn message(events: &mut mpsc::Receiver<SessionEvent>) -> IncomingMessage {
    next(events, |e| match e {
        SessionEvent::Message(m) => Some(m),
        _ => None,
    })
    .await
}
