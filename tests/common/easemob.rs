//! The in-process Easemob sandbox and its Rust clients, for the Easemob suites (re-exported
//! by `common`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use imbridge::network::easemob::client::{ClientConfig, Credential, EasemobClient};
use imbridge::network::easemob::events::SessionEvent;
use imbridge::network::easemob::sandbox::{self, Sandbox, SandboxConfig};
use tokio::sync::oneshot;

pub const APP_KEY: &str = "conformance#sandbox";

/// A sandbox running in this process on a loopback port; stopped when dropped.
pub struct TestSandbox {
    pub addr: SocketAddr,
    pub state: Arc<Sandbox>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestSandbox {
    pub async fn start() -> Self {
        Self::start_with(SandboxConfig::new(APP_KEY)).await
    }

    pub async fn start_with(cfg: SandboxConfig) -> Self {
        let state = Sandbox::open(cfg).expect("sandbox state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let mut sb = Self {
            addr,
            state,
            stop: None,
            task: None,
        };
        sb.serve(listener);
        sb
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        let st = self.state.clone();
        self.task = Some(tokio::spawn(async move {
            let _ = sandbox::serve(listener, st, async {
                let _ = stopped.await;
            })
            .await;
        }));
        self.stop = Some(stop);
    }

    /// Serves the same state on the same port again after [`TestSandbox::stop`] (the end of
    /// an outage).
    pub async fn serve_again(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind the same loopback port again");
        self.serve(listener);
    }

    pub fn rest_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/websocket", self.addr)
    }

    pub fn user(&self, name: &str, password: &str) {
        self.state.ensure_user(name, password).expect("user");
    }

    pub fn client_config(&self, user: &str, password: &str, resource: &str) -> ClientConfig {
        let mut cfg = ClientConfig::new(
            APP_KEY,
            &self.rest_url(),
            &self.ws_url(),
            user,
            Credential::Password(password.to_owned()),
            resource,
        );
        cfg.backoff = (Duration::from_millis(100), Duration::from_millis(500));
        cfg
    }

    /// Logs a Rust client in.
    pub async fn rust_client(
        &self,
        user: &str,
        password: &str,
    ) -> (
        EasemobClient,
        imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    ) {
        EasemobClient::login(self.client_config(user, password, &format!("imbridge_{user}")))
            .await
            .expect("rust client login")
    }

    /// Logs a Rust client in as a phone (`resource`, OS type Android): a second device of
    /// `user` that does not kick the bridge's own (web-type) session, as the sandbox allows
    /// one device per platform.
    pub async fn phone_client(
        &self,
        user: &str,
        password: &str,
        resource: &str,
    ) -> (
        EasemobClient,
        imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    ) {
        let mut cfg = self.client_config(user, password, resource);
        let mut tuning =
            imbridge::network::easemob::session::SessionConfig::new(APP_KEY, user, "", resource);
        tuning.os_type = 1; // OS_ANDROID
        cfg.tuning = Some(tuning);
        EasemobClient::login(cfg)
            .await
            .unwrap_or_else(|e| panic!("{user}'s phone logs in: {e:?}"))
    }

    /// Stops the server (live sockets are dropped).
    pub async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(mut t) = self.task.take() {
            // Graceful: the server saves its state on the way out.
            if tokio::time::timeout(Duration::from_secs(5), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Waits (bounded) for the first event matching `pick`, skipping others.
pub async fn next_event<T>(
    events: &mut imbridge::core::event_channel::BoxedReceiver<SessionEvent>,
    what: &str,
    mut pick: impl FnMut(&SessionEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("event stream ended while waiting for {what}"));
        if let Some(v) = pick(&ev) {
            return v;
        }
    }
}
