//! A network-parameterised Synapse rig for the bridge suites of the networks other than
//! Easemob (whose suites have `service_env`): a throw-away Synapse with the bridge's
//! registration, the bridge binary with the network's config, a Matrix user `@mx1:localhost`
//! and their management room with the bot joined. A network says how its config is written
//! ([`BridgeNetwork`]); the suites keep their own IM peer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::bridge::{
    generate_registration, write_tencent_config_with, BridgeProcess, TencentTarget,
};
use super::matrix_user::MatrixUser;
use super::service_env::TempDir;
use super::synapse::{free_port, Synapse};

/// The network side of a bridge config.
pub trait BridgeNetwork {
    /// The bridge bot's Matrix id (`@tencentbot:localhost`).
    fn bot(&self) -> &str;
    /// Writes `bridge.yaml` (and whatever files it names) in `dir` for the homeserver at
    /// `synapse` and the appservice on `as_port`; returns its path.
    fn write_config(&self, dir: &Path, synapse: &str, as_port: u16) -> PathBuf;
}

impl BridgeNetwork for TencentTarget<'_> {
    fn bot(&self) -> &str {
        "@tencentbot:localhost"
    }

    fn write_config(&self, dir: &Path, synapse: &str, as_port: u16) -> PathBuf {
        write_tencent_config_with(dir, synapse, as_port, self, "")
    }
}

/// Synapse, the bridge and `@mx1:localhost` with a management room the bot joined.
pub struct BridgeRig {
    pub config: PathBuf,
    pub reg: PathBuf,
    pub log: PathBuf,
    pub as_port: u16,
    pub bridge: BridgeProcess,
    pub mx: MatrixUser,
    pub mgmt: String,
    // Dropped last: Synapse, then the directory.
    pub synapse: Synapse,
    pub dir: TempDir,
}

impl BridgeRig {
    /// Starts everything for `network` in a new temp dir named after `name`.
    pub async fn start(name: &str, network: &dyn BridgeNetwork) -> Self {
        let dir = TempDir::new(name);
        let as_port = free_port();
        // The registration first (the config needs some homeserver address), then Synapse
        // with it, then the config with Synapse's real address.
        let hint = format!("http://127.0.0.1:{}", free_port());
        let config = network.write_config(&dir.0, &hint, as_port);
        let reg = generate_registration(&config, &dir.0);
        let synapse = Synapse::start(&dir.0.join("synapse"), &[&reg]);
        let config = network.write_config(&dir.0, &synapse.url(), as_port);
        let log = dir.0.join("bridge.log");
        let bridge = BridgeProcess::start(&config, &log, as_port);
        let token = synapse.register("mx1", "mxpw-rig-matrix-secret");
        let mx = MatrixUser::new(&synapse.url(), "@mx1:localhost", &token);
        let bot = network.bot();
        let mgmt = mx.create_dm(bot).await;
        for _ in 0..100 {
            if mx.members(&mgmt).await.iter().any(|m| m == bot) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self {
            config,
            reg,
            log,
            as_port,
            bridge,
            mx,
            mgmt,
            synapse,
            dir,
        }
    }

    /// Starts the bridge again on the same config, store and log (after a stop or kill).
    pub fn restart(&mut self) {
        self.bridge = BridgeProcess::start(&self.config, &self.log, self.as_port);
    }

    /// Sends `text` to the bot in the management room; returns its event id.
    pub async fn command(&mut self, text: &str) -> String {
        let mgmt = self.mgmt.clone();
        self.mx.send_text(&mgmt, text).await
    }

    /// Waits (up to 10 s) until event `event` of the management room is redacted (its body
    /// gone); `what` names it in the failure.
    pub async fn assert_redacted(&self, event: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.mx.event(&self.mgmt, event).await;
            if e["content"]["body"].is_null() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the {what} message was not redacted: {e}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
