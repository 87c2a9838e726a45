//! A network-parameterised Synapse rig for the bridge suites of the networks other than
//! Easemob (whose suites have `service_env`): a throw-away Synapse with the bridge's
//! registration, the bridge binary with the network's config, a Matrix user `@mx1:localhost`
//! and their management room with the bot joined. A network says how its config is written
//! ([`BridgeNetwork`]); the suites keep their own IM peer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::bridge::{
    generate_double_puppet_registration, generate_registration, registration_value,
    write_tencent_config_with, BridgeProcess, TencentTarget,
};
use super::matrix_user::MatrixUser;
use super::synapse::{free_port, Synapse};
use super::temp_dir::TempDir;

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

/// What a suite adds to the network's config: `bridge_lines` put into the `bridge:` section
/// (e.g. `channel_queue_depth: 4`), `extra` top-level sections (e.g. `metrics:`), and
/// double puppeting by the appservice method (a second registration Synapse loads, its
/// `as_token` as the config's `double_puppet.secrets` for `localhost`).
#[derive(Default)]
pub struct HostOptions<'a> {
    pub bridge_lines: &'a [&'a str],
    pub extra: &'a str,
    pub double_puppet: bool,
}

/// A throw-away Synapse with the bridge's registration and the bridge's config, log and
/// appservice port: what every network's Synapse suite starts the bridge binary on.
pub struct BridgeHost {
    pub config: PathBuf,
    pub reg: PathBuf,
    pub log: PathBuf,
    pub as_port: u16,
    // Dropped last: Synapse, then the directory.
    pub synapse: Synapse,
    pub dir: TempDir,
}

impl BridgeHost {
    /// Synapse and the bridge for `network` in a new temp dir named after `name`.
    pub fn start(name: &str, network: &dyn BridgeNetwork) -> (Self, BridgeProcess) {
        Self::start_with(name, network, &HostOptions::default())
    }

    /// [`BridgeHost::start`] with `options` added to the config.
    pub fn start_with(
        name: &str,
        network: &dyn BridgeNetwork,
        options: &HostOptions<'_>,
    ) -> (Self, BridgeProcess) {
        let dir = TempDir::new(name);
        let as_port = free_port();
        // The registrations first (the config needs some homeserver address), then Synapse
        // with them, then the config with Synapse's real address.
        let hint = format!("http://127.0.0.1:{}", free_port());
        let config = network.write_config(&dir.0, &hint, as_port);
        let reg = generate_registration(&config, &dir.0);
        let mut regs = vec![reg.clone()];
        let mut dp_token = None;
        if options.double_puppet {
            let dp_reg = generate_double_puppet_registration(&config, &dir.0);
            dp_token = Some(registration_value(&dp_reg, "as_token"));
            regs.push(dp_reg);
        }
        let reg_refs: Vec<&Path> = regs.iter().map(PathBuf::as_path).collect();
        let synapse = Synapse::start(&dir.0.join("synapse"), &reg_refs);
        let config = network.write_config(&dir.0, &synapse.url(), as_port);
        let text = std::fs::read_to_string(&config).expect("config read");
        let lines: String = options
            .bridge_lines
            .iter()
            .map(|l| format!("  {l}\n"))
            .collect();
        let mut text = text.replacen("bridge:\n", &format!("bridge:\n{lines}"), 1);
        text.push_str(options.extra);
        if let Some(token) = dp_token {
            text.push_str(&format!(
                "\ndouble_puppet:\n  secrets:\n    localhost: \"as_token:{token}\"\n"
            ));
        }
        std::fs::write(&config, text).expect("config written");
        let log = dir.0.join("bridge.log");
        let bridge = BridgeProcess::start(&config, &log, as_port);
        let host = Self {
            config,
            reg,
            log,
            as_port,
            synapse,
            dir,
        };
        (host, bridge)
    }

    /// The bridge started again on the same config, store and log (after a stop or kill).
    pub fn restart(&self) -> BridgeProcess {
        BridgeProcess::start(&self.config, &self.log, self.as_port)
    }

    /// A Matrix user `@localpart:localhost` registered on Synapse.
    pub fn matrix_user(&self, localpart: &str, password: &str) -> MatrixUser {
        let token = self.synapse.register(localpart, password);
        MatrixUser::new(
            &self.synapse.url(),
            &format!("@{localpart}:localhost"),
            &token,
        )
    }
}

/// Synapse, the bridge and `@mx1:localhost` with a management room the bot joined.
pub struct BridgeRig {
    pub bridge: BridgeProcess,
    pub mx: MatrixUser,
    pub mgmt: String,
    /// Dropped after the bridge.
    pub host: BridgeHost,
}

impl std::ops::Deref for BridgeRig {
    type Target = BridgeHost;
    fn deref(&self) -> &BridgeHost {
        &self.host
    }
}

impl BridgeRig {
    /// Starts everything for `network` in a new temp dir named after `name`.
    pub async fn start(name: &str, network: &dyn BridgeNetwork) -> Self {
        Self::start_with(name, network, &HostOptions::default()).await
    }

    /// [`BridgeRig::start`] with `options` added to the config.
    pub async fn start_with(
        name: &str,
        network: &dyn BridgeNetwork,
        options: &HostOptions<'_>,
    ) -> Self {
        let (host, bridge) = BridgeHost::start_with(name, network, options);
        let mx = host.matrix_user("mx1", "mxpw-rig-matrix-secret");
        let bot = network.bot();
        let mgmt = mx.create_dm(bot).await;
        for _ in 0..100 {
            if mx.members(&mgmt).await.iter().any(|m| m == bot) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self {
            bridge,
            mx,
            mgmt,
            host,
        }
    }

    /// Starts the bridge again on the same config, store and log (after a stop or kill).
    pub fn restart(&mut self) {
        self.bridge = self.host.restart();
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
