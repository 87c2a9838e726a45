//! The systemd notification protocol (`sd_notify(3)`), without libsystemd: one datagram per
//! message to the `AF_UNIX` socket named by `NOTIFY_SOCKET` (a path, or an abstract socket when
//! it starts with `@`). Without `NOTIFY_SOCKET` every call is a no-op, so the daemon behaves
//! the same outside systemd.
//!
//! [`watchdog_interval`] reads `WATCHDOG_USEC` / `WATCHDOG_PID` and gives the ping period
//! (half the watchdog timeout, as `sd_watchdog_enabled(3)` recommends).

use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The environment variable naming the notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";
/// The environment variable with the watchdog timeout in microseconds.
pub const WATCHDOG_USEC_ENV: &str = "WATCHDOG_USEC";
/// The environment variable with the pid the watchdog is meant for.
pub const WATCHDOG_PID_ENV: &str = "WATCHDOG_PID";

/// Sends notifications to the service manager, or nothing when there is none.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    /// The socket's name as given (`/run/systemd/notify` or `@name`); `None`: no-op.
    socket: Option<String>,
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET` of the process environment (a no-op when unset).
    pub fn from_env() -> Self {
        Self::from_socket(std::env::var(NOTIFY_SOCKET_ENV).ok())
    }

    /// The notifier for an explicit socket name (a path, or `@name` for an abstract socket);
    /// `None` or an empty name gives the no-op notifier.
    pub fn from_socket(socket: Option<String>) -> Self {
        Self {
            socket: socket.filter(|s| !s.is_empty()),
        }
    }

    /// True when notifications go somewhere.
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends one message (`KEY=VALUE` lines). Ok without sending when disabled.
    pub fn notify(&self, message: &str) -> io::Result<()> {
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        let addr = socket_addr(socket)?;
        let sock = UnixDatagram::unbound()?;
        let sent = sock.send_to_addr(message.as_bytes(), &addr)?;
        if sent != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "notification datagram truncated",
            ));
        }
        Ok(())
    }

    /// `READY=1`: start-up finished.
    pub fn ready(&self) -> io::Result<()> {
        self.notify("READY=1\nSTATUS=running")
    }

    /// `STOPPING=1`: shutdown began.
    pub fn stopping(&self) -> io::Result<()> {
        self.notify("STOPPING=1\nSTATUS=shutting down")
    }

    /// `WATCHDOG=1`: still alive.
    pub fn watchdog(&self) -> io::Result<()> {
        self.notify("WATCHDOG=1")
    }

    /// `STATUS=...`: a one-line status shown by `systemctl status`.
    pub fn status(&self, status: &str) -> io::Result<()> {
        let line = status.replace('\n', " ");
        self.notify(&format!("STATUS={line}"))
    }
}

/// The socket address of a `NOTIFY_SOCKET` value.
fn socket_addr(socket: &str) -> io::Result<SocketAddr> {
    match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None if socket.starts_with('/') => SocketAddr::from_pathname(socket),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET is neither an absolute path nor an abstract name (@...)",
        )),
    }
}

/// The watchdog ping period: half of `WATCHDOG_USEC`, if it is set, positive, and meant for
/// this process (`WATCHDOG_PID` unset or equal to `pid`). `env` looks variables up (the
/// process environment in the daemon, a closure in tests).
pub fn watchdog_interval(env: &dyn Fn(&str) -> Option<String>, pid: u32) -> Option<Duration> {
    if let Some(for_pid) = env(WATCHDOG_PID_ENV) {
        if for_pid.trim().parse::<u32>().ok() != Some(pid) {
            return None;
        }
    }
    let usec: u64 = env(WATCHDOG_USEC_ENV)?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A datagram socket bound in a fresh temp folder, removed on drop.
    struct Listener {
        dir: PathBuf,
        sock: UnixDatagram,
    }

    impl Listener {
        fn new(name: &str) -> io::Result<Self> {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "imbridge-notify-{name}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir)?;
            let sock = UnixDatagram::bind(dir.join("notify"))?;
            sock.set_read_timeout(Some(Duration::from_secs(5)))?;
            Ok(Self { dir, sock })
        }

        fn path(&self) -> String {
            self.dir.join("notify").display().to_string()
        }

        fn recv(&self) -> io::Result<String> {
            let mut buf = [0u8; 512];
            let n = self.sock.recv(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn sends_ready_stopping_and_watchdog_to_a_path_socket() -> io::Result<()> {
        let listener = Listener::new("path")?;
        let notifier = Notifier::from_socket(Some(listener.path()));
        assert!(notifier.is_enabled());
        notifier.ready()?;
        assert_eq!(listener.recv()?, "READY=1\nSTATUS=running");
        notifier.watchdog()?;
        assert_eq!(listener.recv()?, "WATCHDOG=1");
        notifier.status("two\nlines")?;
        assert_eq!(listener.recv()?, "STATUS=two lines");
        notifier.stopping()?;
        assert_eq!(listener.recv()?, "STOPPING=1\nSTATUS=shutting down");
        Ok(())
    }

    #[test]
    fn sends_to_an_abstract_socket() -> io::Result<()> {
        let name = format!("imbridge-notify-test-{}", std::process::id());
        let sock = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)?;
        sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        Notifier::from_socket(Some(format!("@{name}"))).ready()?;
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf)?;
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running");
        Ok(())
    }

    #[test]
    fn no_socket_is_a_no_op() {
        let notifier = Notifier::from_socket(None);
        assert!(!notifier.is_enabled());
        assert!(notifier.ready().is_ok());
        assert!(Notifier::from_socket(Some(String::new()))
            .watchdog()
            .is_ok());
    }

    #[test]
    fn relative_socket_names_are_refused() {
        let err = Notifier::from_socket(Some("relative/notify".into())).ready();
        assert!(err.is_err());
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let notifier = Notifier::from_socket(Some("/nonexistent/imbridge/notify".into()));
        assert!(notifier.ready().is_err());
    }

    #[test]
    fn watchdog_interval_is_half_the_timeout_for_this_pid() {
        let env = |name: &str| match name {
            WATCHDOG_USEC_ENV => Some("30000000".to_owned()),
            WATCHDOG_PID_ENV => Some("42".to_owned()),
            _ => None,
        };
        assert_eq!(watchdog_interval(&env, 42), Some(Duration::from_secs(15)));
        assert_eq!(watchdog_interval(&env, 43), None);
        let no_pid = |name: &str| (name == WATCHDOG_USEC_ENV).then(|| "2000000".to_owned());
        assert_eq!(watchdog_interval(&no_pid, 7), Some(Duration::from_secs(1)));
        let zero = |name: &str| (name == WATCHDOG_USEC_ENV).then(|| "0".to_owned());
        assert_eq!(watchdog_interval(&zero, 7), None);
        let junk = |name: &str| (name == WATCHDOG_USEC_ENV).then(|| "soon".to_owned());
        assert_eq!(watchdog_interval(&junk, 7), None);
        assert_eq!(watchdog_interval(&|_| None, 7), None);
    }
}
