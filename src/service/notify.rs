//! The systemd notification protocol (`sd_notify(3)`) through the `sd-notify` crate: `READY=1`
//! after start-up, `STOPPING=1` at shutdown, `WATCHDOG=1` pings and `STATUS=` lines, sent as
//! one datagram per call to the socket named by `NOTIFY_SOCKET`. Without `NOTIFY_SOCKET` every
//! call is a no-op, so the daemon behaves the same outside systemd. A [`Notifier`] can also
//! hand its messages to a function instead (tests, embedders).
//!
//! [`watchdog_interval`] gives the ping period from `WATCHDOG_USEC` / `WATCHDOG_PID`: half the
//! watchdog timeout, as `sd_watchdog_enabled(3)` recommends.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

/// The environment variable naming the notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// A function receiving each notification's text (`KEY=VALUE` lines joined by `\n`).
pub type NotifyFn = Arc<dyn Fn(&str) -> io::Result<()> + Send + Sync>;

#[derive(Clone, Default)]
enum Sink {
    /// No service manager: nothing is sent.
    #[default]
    Disabled,
    /// The service manager of `NOTIFY_SOCKET`, through `sd-notify`.
    Systemd,
    /// A function (tests, embedders).
    Function(NotifyFn),
}

/// Sends notifications to the service manager, or nothing when there is none.
#[derive(Clone, Default)]
pub struct Notifier {
    sink: Sink,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sink = match self.sink {
            Sink::Disabled => "disabled",
            Sink::Systemd => "systemd",
            Sink::Function(_) => "function",
        };
        f.debug_struct("Notifier").field("sink", &sink).finish()
    }
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET` of the process environment (a no-op when unset or
    /// empty).
    pub fn from_env() -> Self {
        let set = std::env::var_os(NOTIFY_SOCKET_ENV).is_some_and(|s| !s.is_empty());
        Self {
            sink: if set { Sink::Systemd } else { Sink::Disabled },
        }
    }

    /// A notifier that hands each message to `f` instead of a socket.
    pub fn from_fn(f: impl Fn(&str) -> io::Result<()> + Send + Sync + 'static) -> Self {
        Self {
            sink: Sink::Function(Arc::new(f)),
        }
    }

    /// The notifier that sends nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// True when notifications go somewhere.
    pub fn is_enabled(&self) -> bool {
        !matches!(self.sink, Sink::Disabled)
    }

    /// Sends one message made of these states. Ok without sending when disabled; the socket's
    /// errors (missing, refused, truncated) otherwise.
    fn notify(&self, states: &[NotifyState<'_>]) -> io::Result<()> {
        match &self.sink {
            Sink::Disabled => Ok(()),
            Sink::Systemd => sd_notify::notify(states),
            Sink::Function(f) => {
                let mut text = String::new();
                for (i, state) in states.iter().enumerate() {
                    if i > 0 {
                        text.push('\n');
                    }
                    let _ = write!(text, "{state}");
                }
                f(&text)
            }
        }
    }

    /// `READY=1`: start-up finished.
    pub fn ready(&self) -> io::Result<()> {
        self.notify(&[NotifyState::Ready, NotifyState::Status("running")])
    }

    /// `STOPPING=1`: shutdown began.
    pub fn stopping(&self) -> io::Result<()> {
        self.notify(&[NotifyState::Stopping, NotifyState::Status("shutting down")])
    }

    /// `WATCHDOG=1`: still alive.
    pub fn watchdog(&self) -> io::Result<()> {
        self.notify(&[NotifyState::Watchdog])
    }

    /// `STATUS=...`: a one-line status shown by `systemctl status` (newlines become spaces).
    pub fn status(&self, status: &str) -> io::Result<()> {
        let line = status.replace('\n', " ");
        self.notify(&[NotifyState::Status(&line)])
    }
}

/// The watchdog ping period: half of `WATCHDOG_USEC` when it is set, positive and meant for
/// this process (`WATCHDOG_PID` unset or ours), at least 1 ms; `None` otherwise.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|timeout| !timeout.is_zero())
        .map(|timeout| (timeout / 2).max(Duration::from_millis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::sync::Mutex;

    #[test]
    fn messages_have_the_sd_notify_shape() -> io::Result<()> {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let notifier = Notifier::from_fn(move |m| {
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(m.to_owned());
            Ok(())
        });
        assert!(notifier.is_enabled());
        notifier.ready()?;
        notifier.watchdog()?;
        notifier.status("two\nlines")?;
        notifier.stopping()?;
        let got = got.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(
            got,
            [
                "READY=1\nSTATUS=running",
                "WATCHDOG=1",
                "STATUS=two lines",
                "STOPPING=1\nSTATUS=shutting down"
            ]
        );
        Ok(())
    }

    #[test]
    fn disabled_is_a_no_op() {
        let notifier = Notifier::disabled();
        assert!(!notifier.is_enabled());
        assert!(notifier.ready().is_ok());
        assert!(notifier.watchdog().is_ok());
    }

    /// The one test touching the process environment: `NOTIFY_SOCKET` names a bound socket,
    /// and the datagram `sd-notify` sends arrives there.
    #[test]
    fn systemd_sink_reaches_notify_socket() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("imbridge-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path)?;
        sock.set_read_timeout(Some(Duration::from_secs(5)))?;
        std::env::set_var(NOTIFY_SOCKET_ENV, &path);
        let notifier = Notifier::from_env();
        let sent = notifier.ready();
        std::env::remove_var(NOTIFY_SOCKET_ENV);
        sent?;
        let mut buf = [0u8; 128];
        let n = sock.recv(&mut buf)?;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running\n");
        Ok(())
    }
}
