//! The bridge binary as a child process for end-to-end tests: its config, its registration,
//! starting and stopping it (SIGTERM, SIGKILL), and checking its log for secrets.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::matrix_user::MatrixUser;
#[cfg(feature = "easemob")]
use super::{TestSandbox, APP_KEY};

/// The log filter the bridge runs with in tests (everything at debug, so the secret checks see
/// what an operator debugging a problem would see).
pub const BRIDGE_LOG_FILTER: &str = "debug";

/// The bridge process. Dropping it stops it (SIGTERM, then SIGKILL after a bounded wait).
pub struct BridgeProcess {
    child: Child,
    exited: Option<ExitStatus>,
}

impl BridgeProcess {
    /// Starts the bridge with `config`, appending its stderr to `log`, and waits (bounded) until
    /// the appservice port accepts connections.
    pub fn start(config: &Path, log: &Path, as_port: u16) -> Self {
        let log_file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_imbridge"))
            .arg("-c")
            .arg(config)
            .env("RUST_LOG", BRIDGE_LOG_FILTER)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("bridge starts");
        let mut bridge = Self {
            child,
            exited: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", as_port)).is_ok() {
                return bridge;
            }
            if let Ok(Some(status)) = bridge.child.try_wait() {
                bridge.exited = Some(status);
                panic!(
                    "the bridge exited at start-up ({status}); log {}:\n{}",
                    log.display(),
                    tail(log, 40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bridge
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded, 30 s) for the exit; SIGKILL after that. Returns how
    /// it exited (`None` when it had to be killed).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exited {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.exited = self.child.wait().ok();
        None
    }

    /// SIGKILL: no chance to drain or flush anything.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
        self.exited
    }

    /// Stops the bridge (SIGTERM, bounded), ignoring how it exited.
    pub fn stop(&mut self) {
        let _ = self.terminate();
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `text` without ANSI escape sequences (the log is coloured even when written to a file).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The bridge log, without colours.
pub fn read_log(path: &Path) -> String {
    strip_ansi(&std::fs::read_to_string(path).unwrap_or_default())
}

/// Waits (bounded, 20 s) until `items` (what a test's IM client collected) holds one that
/// `pick` accepts; returns a copy of it. Fails naming `what`, with the log's tail.
pub async fn wait_item<T: Clone>(
    items: &std::sync::Mutex<Vec<T>>,
    what: &str,
    log: &Path,
    pick: impl Fn(&T) -> bool,
) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let found = items
            .lock()
            .ok()
            .and_then(|v| v.iter().find(|i| pick(i)).cloned());
        if let Some(item) = found {
            return item;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never came\n{}",
            tail(log, 40)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The last `lines` lines of a log file (for failure messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = read_log(path);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Writes the bridge config (`bridge.yaml` in `dir`) for a homeserver at `synapse`.
#[cfg(feature = "easemob")]
pub fn write_config(dir: &Path, synapse: &str, as_port: u16, sandbox: &TestSandbox) -> PathBuf {
    write_config_with(dir, synapse, as_port, sandbox, "")
}

/// [`write_config`] with `extra` (top-level YAML sections) appended.
#[cfg(feature = "easemob")]
pub fn write_config_with(
    dir: &Path,
    synapse: &str,
    as_port: u16,
    sandbox: &TestSandbox,
    extra: &str,
) -> PathBuf {
    let path = dir.join("bridge.yaml");
    let text = format!(
        r#"homeserver:
  address: {synapse}
  domain: localhost
appservice:
  address: http://127.0.0.1:{as_port}
  hostname: 127.0.0.1
  port: {as_port}
  id: easemob
  bot:
    username: easemobbot
    displayname: Easemob bridge bot
    avatar: ""
  registration: registration.yaml
  username_template: "easemob_{{{{.}}}}"
bridge:
  permissions:
    "localhost": user
database:
{database}
logging:
  level: info
network:
  type: easemob
  easemob:
    app_key: "{APP_KEY}"
    rest_url: {rest}
    websocket_url: {ws}
{extra}"#,
        database = database_section(dir),
        rest = sandbox.rest_url(),
        ws = sandbox.ws_url(),
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// Environment variable choosing the store the Synapse suites run the bridge on: `sled`
/// (the default) or `postgres` (a database in a throw-away cluster of this test process).
pub const TEST_STORE_ENV: &str = "IMBRIDGE_TEST_STORE";

/// The `database:` keys for a bridge in `dir`: a sled folder there, or with
/// `IMBRIDGE_TEST_STORE=postgres` a PostgreSQL database made for `dir` once (its URI kept in
/// `dir/postgres-uri`, so a rewritten config or a restart finds the same data). Panics when
/// PostgreSQL is asked for but unavailable: a suite run on PostgreSQL must not pass on sled.
pub fn database_section(dir: &Path) -> String {
    let sled = format!("  path: {}", dir.join("bridge.sled").display());
    let keep = dir.join("postgres-uri");
    if let Ok(uri) = std::fs::read_to_string(&keep) {
        // A test that asked for PostgreSQL itself (see `use_postgres`).
        return format!("{sled}\n  type: postgres\n  uri: \"{uri}\"\n  max_connections: 4");
    }
    match std::env::var(TEST_STORE_ENV).as_deref() {
        Ok("postgres") => {}
        Ok("sled") | Err(_) => return sled,
        Ok(other) => panic!("{TEST_STORE_ENV}={other}: use sled or postgres"),
    }
    let uri = match std::fs::read_to_string(&keep) {
        Ok(uri) => uri,
        Err(_) => {
            let cluster = imbridge::store::testing::PgCluster::shared()
                .unwrap_or_else(|why| panic!("{TEST_STORE_ENV}=postgres: no PostgreSQL ({why})"));
            let uri = cluster
                .create_database()
                .unwrap_or_else(|why| panic!("cannot create a test database: {why}"));
            std::fs::write(&keep, &uri).expect("postgres-uri written");
            uri
        }
    };
    format!("{sled}\n  type: postgres\n  uri: \"{uri}\"\n  max_connections: 4")
}

/// Makes the bridge in `dir` use a new PostgreSQL database of the shared throw-away cluster,
/// whatever `IMBRIDGE_TEST_STORE` says (for tests that need PostgreSQL, like failover). The
/// reason when there is no PostgreSQL here.
pub fn use_postgres(dir: &Path) -> Result<(), String> {
    let cluster = imbridge::store::testing::PgCluster::shared().map_err(|e| e.to_string())?;
    let uri = cluster.create_database().map_err(|e| e.to_string())?;
    std::fs::write(dir.join("postgres-uri"), uri).map_err(|e| e.to_string())
}

/// Runs `imbridge generate-registration` for `config`, writing `dir/registration.yaml`.
pub fn generate_registration(config: &Path, dir: &Path) -> PathBuf {
    let reg = dir.join("registration.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .arg("-c")
        .arg(config)
        .args(["generate-registration", "-o"])
        .arg(&reg)
        .output()
        .expect("generate-registration runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    reg
}

/// Runs `imbridge generate-registration --double-puppet` for `config`, writing
/// `dir/doublepuppet-registration.yaml`.
pub fn generate_double_puppet_registration(config: &Path, dir: &Path) -> PathBuf {
    let reg = dir.join("doublepuppet-registration.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .arg("-c")
        .arg(config)
        .args(["generate-registration", "--double-puppet", "-o"])
        .arg(&reg)
        .output()
        .expect("generate-registration --double-puppet runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    reg
}

/// A top-level `key:` of the registration file (`as_token`, `hs_token`).
pub fn registration_value(reg: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(reg).expect("registration");
    let prefix = format!("{key}:");
    text.lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .map(|t| t.trim().trim_matches('"').trim_matches('\'').to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("{key} in {}", reg.display()))
}

/// Which of `secrets` (name, value) appear in the log file: one line per leaked secret with
/// the first lines it appears on (the value masked). An empty log counts as a problem too.
pub fn log_leaks(log: &Path, secrets: &[(&str, &str)]) -> Vec<String> {
    let text = read_log(log);
    if text.is_empty() {
        return vec![format!("the bridge log {} is empty", log.display())];
    }
    let mut leaks = Vec::new();
    for (name, value) in secrets {
        assert!(value.len() >= 6, "secret {name} too short to search for");
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains(value))
            .map(|l| l.replace(value, &format!("<{name}>")))
            .collect();
        if !lines.is_empty() {
            let shown: Vec<String> = lines
                .iter()
                .take(3)
                .map(|l| l.chars().take(400).collect())
                .collect();
            leaks.push(format!(
                "{name} appears on {} line(s) of the bridge log {}, e.g.:\n  {}",
                lines.len(),
                log.display(),
                shown.join("\n  ")
            ));
        }
    }
    leaks
}

/// Asserts that none of `secrets` (name, value) appears in the log file (see [`log_leaks`]).
pub fn assert_log_free_of(log: &Path, secrets: &[(&str, &str)]) {
    let leaks = log_leaks(log, secrets);
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// Waits (bounded) until the bridge bot joined `room`.
pub async fn wait_bot_joined(user: &MatrixUser, room: &str) {
    for _ in 0..100 {
        if user
            .members(room)
            .await
            .iter()
            .any(|m| m == "@easemobbot:localhost")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the bot did not join {room}");
}

/// The Tencent side of a bridge config: the sandbox's websocket URL and SDKAppID.
pub struct TencentTarget<'a> {
    pub websocket_url: &'a str,
    pub sdk_app_id: u64,
}

/// Writes a bridge config (`bridge.yaml` in `dir`) for the Tencent network: bot
/// `@tencentbot:localhost`, ghosts `@tencent_<id>:localhost`; `extra` (top-level YAML
/// sections) appended.
pub fn write_tencent_config_with(
    dir: &Path,
    synapse: &str,
    as_port: u16,
    tencent: &TencentTarget<'_>,
    extra: &str,
) -> PathBuf {
    let path = dir.join("bridge.yaml");
    let text = format!(
        r#"homeserver:
  address: {synapse}
  domain: localhost
appservice:
  address: http://127.0.0.1:{as_port}
  hostname: 127.0.0.1
  port: {as_port}
  id: tencent
  bot:
    username: tencentbot
    displayname: Tencent bridge bot
    avatar: ""
  registration: registration.yaml
  username_template: "tencent_{{{{.}}}}"
bridge:
  permissions:
    "localhost": user
database:
{database}
logging:
  level: info
network:
  type: tencent
  tencent:
    sdk_app_id: {app}
    websocket_url: {ws}
{extra}"#,
        database = database_section(dir),
        app = tencent.sdk_app_id,
        ws = tencent.websocket_url,
    );
    std::fs::write(&path, text).expect("config written");
    path
}
