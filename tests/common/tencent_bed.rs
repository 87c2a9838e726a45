//! The Tencent bridge test bed shared by the Tencent Synapse tests: the Tencent sandbox in
//! this process, real Synapse, the bridge binary configured for the sandbox, and helpers to
//! log a Matrix user in through the bot and to run an IM-side Rust client.

use std::sync::Arc;
use std::time::Duration;

use imbridge::network::tencent::client::{Client, ClientConfig, LinkState};
use imbridge::network::tencent::sandbox::{self, Sandbox, SandboxConfig};
use imbridge::network::tencent::session::{SessionConfig, SessionEvent};
use tokio::sync::{mpsc, oneshot};

use super::bridge::{BridgeProcess, TencentTarget};
use super::bridge_rig::{BridgeHost, HostOptions};
use super::matrix_user::MatrixUser;

/// The sandbox's SDKAppID.
pub const APP: u64 = 1_400_000_001;
/// The sandbox's SecretKey.
pub const KEY: &str = "sandbox-secret-key-for-e2e";
/// The bridge bot.
pub const BOT: &str = "@tencentbot:localhost";

/// Sandbox + Synapse + bridge; everything stops when dropped. Its [`BridgeHost`] (config,
/// log, Synapse, restarts, Matrix users) is reached through `Deref`.
pub struct TencentBed {
    pub host: BridgeHost,
    pub sb: Arc<Sandbox>,
    /// `ws://127.0.0.1:PORT` of the sandbox.
    pub ws: String,
    _stop: oneshot::Sender<()>,
}

impl std::ops::Deref for TencentBed {
    type Target = BridgeHost;
    fn deref(&self) -> &BridgeHost {
        &self.host
    }
}

impl TencentBed {
    /// Starts the sandbox (with `users` imported), Synapse and the bridge.
    pub async fn start(name: &str, users: &[&str]) -> (Self, BridgeProcess) {
        Self::start_with(name, users, &[], "").await
    }

    /// [`TencentBed::start`] with `bridge_lines` added to the config's `bridge:` section (e.g.
    /// `channel_queue_depth: 4`) and `extra` top-level config (e.g. a `metrics:` section).
    pub async fn start_with(
        name: &str,
        users: &[&str],
        bridge_lines: &[&str],
        extra: &str,
    ) -> (Self, BridgeProcess) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let ws = format!(
            "ws://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        );
        let sb = Arc::new(Sandbox::new(SandboxConfig::new(APP, KEY)));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sandbox::serve(listener, sb.clone(), async {
            let _ = stopped.await;
        }));
        for u in users {
            sb.import(u);
        }
        let network = TencentTarget {
            websocket_url: &ws,
            sdk_app_id: APP,
        };
        let options = HostOptions {
            bridge_lines,
            extra,
            double_puppet: false,
        };
        let (host, bridge) = BridgeHost::start_with(name, &network, &options);
        let bed = Self {
            host,
            sb,
            ws,
            _stop: stop,
        };
        (bed, bridge)
    }

    /// An IM-side Rust client logged in as `user` (fast reconnects); its events.
    pub async fn im_client(
        &self,
        user: &str,
        session: impl FnOnce(&mut SessionConfig),
    ) -> (Client, mpsc::Receiver<SessionEvent>) {
        let sig = self.sb.user_sig(user, 3600);
        let mut sc = SessionConfig::new(APP, user, &sig);
        session(&mut sc);
        let mut cfg = ClientConfig::new(&self.ws, sc);
        cfg.backoff = (Duration::from_millis(100), Duration::from_millis(500));
        let (client, events) = Client::start(cfg);
        let state = tokio::time::timeout(
            Duration::from_secs(10),
            client.wait_for(|s| matches!(s, LinkState::Connected | LinkState::Ended(_))),
        )
        .await
        .expect("the IM client logs in");
        assert_eq!(state, LinkState::Connected);
        (client, events)
    }

    /// Logs `mx` in as Tencent user `user` through the bot; the management room.
    pub async fn login(&self, mx: &mut MatrixUser, user: &str) -> String {
        let mgmt = mx.create_dm(BOT).await;
        for _ in 0..100 {
            if mx.members(&mgmt).await.iter().any(|m| m == BOT) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let sig = self.sb.user_sig(user, 3600);
        mx.send_text(&mgmt, &format!("login usersig {user} {sig}"))
            .await;
        mx.wait_body(&mgmt, |b| b.starts_with(&format!("Logged in as {user}")))
            .await;
        mgmt
    }
}
