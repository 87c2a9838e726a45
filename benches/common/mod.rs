//! Helpers shared by the per-network benchmarks (`benches/easemob.rs`, `tencent.rs`,
//! `jmessage.rs`): a sandbox in its own process, a free loopback port, this process's RSS.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An `imbridge sandbox …` process, killed when dropped.
pub struct SandboxProcess(Child);

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `imbridge sandbox <network> --listen 127.0.0.1:<port> <args…>` (logging at warn,
/// output discarded) and waits up to 5 s for the port to answer.
pub fn start_sandbox(network: &str, port: u16, args: &[String]) -> SandboxProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_imbridge"))
        .args(["sandbox", network, "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandbox starts");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    SandboxProcess(child)
}

/// A free loopback port (or `fallback` if the system will not say).
pub fn free_port(fallback: u16) -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(fallback)
}

/// This process's resident set (`VmRSS` of `/proc/self/status`), KiB; 0 where unreadable.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
