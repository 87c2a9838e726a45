//! A real Synapse for tests, started with the project's scripts and always stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free loopback port, never one this process handed out before: the port is free when
/// picked but bound later (by Synapse, by the bridge), and the kernel may offer a released
/// port again, which once gave a test's bridge its Synapse's port.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    for _ in 0..1000 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.insert(port) {
            return port;
        }
    }
    panic!("no loopback port left that this process did not hand out already")
}

/// A running Synapse (stopped when dropped).
pub struct Synapse {
    pub dir: PathBuf,
    pub port: u16,
    registrations: Vec<PathBuf>,
}

impl Synapse {
    /// Starts Synapse in `dir` on a free port with the given appservice registrations.
    pub fn start(dir: &Path, registrations: &[&Path]) -> Self {
        let port = free_port();
        let synapse = Self {
            dir: dir.to_owned(),
            port,
            registrations: registrations.iter().map(|r| r.to_path_buf()).collect(),
        };
        synapse.launch();
        synapse
    }

    /// Stops Synapse and starts it again on the same folder, port and registrations (its
    /// database and its appservice transaction state persist).
    pub fn restart(&self) {
        self.stop();
        self.launch();
    }

    fn stop(&self) {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/synapse/stop.sh"))
            .arg("--dir")
            .arg(&self.dir)
            .output();
    }

    fn launch(&self) {
        let (dir, port) = (&self.dir, self.port);
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("scripts/synapse/start.sh"))
            .args(["--dir"])
            .arg(dir)
            .args(["--port", &port.to_string()]);
        for r in &self.registrations {
            cmd.arg("--appservice").arg(r);
        }
        let out = cmd.output().expect("start.sh runs");
        assert!(
            out.status.success(),
            "Synapse did not start:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers a user and returns its access token.
    pub fn register(&self, user: &str, password: &str) -> String {
        let out = Command::new("bash")
            .arg(repo().join("scripts/synapse/register-user.sh"))
            .arg("--dir")
            .arg(&self.dir)
            .args(["--port", &self.port.to_string(), user, password])
            .output()
            .expect("register-user.sh runs");
        assert!(
            out.status.success(),
            "user not registered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}
