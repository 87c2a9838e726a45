//! The processes the benchmark runs: the Easemob sandbox and the bridge (the `imbridge`
//! binary with a config, as in production), each its own child process stopped on drop; and
//! the bridge's CPU time read from `/proc/<pid>/stat`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::homeserver::DOMAIN;

/// The sandbox's app key.
pub const APP: &str = "bench#standin";
/// Password of every IM user.
pub const PASSWORD: &str = "pw";

/// The `imbridge` binary: `BENCH_IMBRIDGE` if set, else the one cargo built with this bench.
fn imbridge_bin() -> std::ffi::OsString {
    std::env::var_os("BENCH_IMBRIDGE").unwrap_or_else(|| env!("CARGO_BIN_EXE_imbridge").into())
}

/// A child process, killed (the sandbox) or terminated (the bridge) when dropped.
pub struct Proc {
    child: Child,
    graceful: bool,
}

impl Proc {
    /// Wraps a started child: on drop it is terminated (SIGTERM, then SIGKILL) when
    /// `graceful`, else killed.
    pub fn from_child(child: Child, graceful: bool) -> Self {
        Self { child, graceful }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, bounded wait, then SIGKILL.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if self.graceful {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILL: no chance to drain or flush anything (fault injection).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18383)
}

pub fn wait_port(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Starts `imbridge sandbox easemob` on `port` with `users` (password [`PASSWORD`]).
pub fn start_sandbox(port: u16, users: &[String]) -> Result<Proc, String> {
    start_sandbox_at(port, users, None)
}

/// [`start_sandbox`] keeping its state in `data` when given (`--data`), so a restarted
/// sandbox knows the tokens it issued before.
pub fn start_sandbox_at(port: u16, users: &[String], data: Option<&Path>) -> Result<Proc, String> {
    let mut cmd = Command::new(imbridge_bin());
    if let Some(dir) = data {
        cmd.arg("sandbox").arg("easemob").arg("--data").arg(dir);
    } else {
        cmd.args(["sandbox", "easemob"]);
    }
    cmd.arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .args(["--app-key", APP])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for u in users {
        cmd.args(["--user", &format!("{u}:{PASSWORD}")]);
    }
    let child = cmd.spawn().map_err(|e| format!("sandbox: {e}"))?;
    let proc = Proc {
        child,
        graceful: false,
    };
    if !wait_port(port, Duration::from_secs(10)) {
        return Err("the sandbox did not listen within 10 s".into());
    }
    Ok(proc)
}

/// Where the bridge keeps its state.
pub enum StoreChoice {
    Sled,
    Postgres(String),
}

/// Writes `dir/bridge.yaml`: homeserver at `hs_port`, appservice on `as_port`, the sandbox
/// at `sandbox_port`, the store as chosen. Tokens are inline (`token` for both).
pub fn write_config(
    dir: &Path,
    hs_port: u16,
    as_port: u16,
    sandbox_port: u16,
    token: &str,
    store: &StoreChoice,
) -> Result<PathBuf, String> {
    let sled = dir.join("bridge.sled");
    let database = match store {
        StoreChoice::Sled => format!("  path: {}", sled.display()),
        StoreChoice::Postgres(uri) => {
            format!("  type: postgres\n  uri: \"{uri}\"\n  max_connections: 10")
        }
    };
    let text = format!(
        r#"homeserver:
  address: http://127.0.0.1:{hs_port}
  domain: {DOMAIN}
appservice:
  address: http://127.0.0.1:{as_port}
  hostname: 127.0.0.1
  port: {as_port}
  id: bench
  bot: {{ username: bot, displayname: Bench bot, avatar: "" }}
  as_token: "{token}"
  hs_token: "{token}"
  username_template: "easemob_{{{{.}}}}"
bridge:
  permissions:
    "{DOMAIN}": user
database:
{database}
logging:
  level: info
network:
  type: easemob
  easemob:
    app_key: "{APP}"
    rest_url: http://127.0.0.1:{sandbox_port}
    websocket_url: ws://127.0.0.1:{sandbox_port}/websocket
"#
    );
    let path = dir.join("bridge.yaml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Starts `imbridge -c config` (stderr appended to `log`, filter `BENCH_BRIDGE_LOG` if set,
/// else the config's `info`) and waits until the appservice port listens.
pub fn start_bridge(config: &Path, log: &Path, as_port: u16) -> Result<Proc, String> {
    let mut proc = spawn_bridge(config, log)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if !proc.running() {
            return Err(format!("the bridge exited at start; see {}", log.display()));
        }
        if wait_port(as_port, Duration::from_millis(100)) {
            return Ok(proc);
        }
    }
    Err("the bridge did not listen within 30 s".into())
}

/// Starts `imbridge -c config` as [`start_bridge`] does, without waiting for anything (a
/// standby on a PostgreSQL store listens only once it holds the lease).
pub fn spawn_bridge(config: &Path, log: &Path) -> Result<Proc, String> {
    let log_file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(imbridge_bin());
    cmd.arg("-c").arg(config).env_remove("RUST_LOG");
    if let Ok(filter) = std::env::var("BENCH_BRIDGE_LOG") {
        cmd.env("RUST_LOG", filter);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("bridge: {e}"))?;
    Ok(Proc {
        child,
        graceful: true,
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// User + system CPU time of process `pid` so far (`utime + stime` of `/proc/<pid>/stat`).
pub fn cpu_time(pid: u32, ticks: f64) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // `rest` starts at field 3, so field n is at index n - 3.
    Duration::from_secs_f64((tick(11) + tick(12)) as f64 / ticks)
}

/// Resident memory of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
