//! Log output: the `tracing` subscriber the binary installs. Four formats (`logging.format`):
//!
//! * `pretty`: human-readable lines, coloured only when stderr is a terminal;
//! * `journald`: for systemd's journal: one line per event prefixed with its syslog priority
//!   (`<3>` error … `<7>` debug, which journald stores as the entry's priority) and without a
//!   timestamp (the journal adds its own);
//! * `json`: one JSON object per line;
//! * `auto` (the default): `journald` when stderr is connected to the journal (systemd sets
//!   `JOURNAL_STREAM` to that stream's device and inode), else `pretty`.

use std::fmt;
use std::io::IsTerminal as _;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// The format `auto` resolves to here and now.
pub fn resolve(format: LogFormat) -> LogFormat {
    match format {
        LogFormat::Auto if stderr_is_journal() => LogFormat::Journald,
        LogFormat::Auto => LogFormat::Pretty,
        other => other,
    }
}

/// True when `JOURNAL_STREAM` names the stream stderr is connected to.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Log targets capped at `info` whatever the filter says: below that they print values that
/// may be secrets (`tokio_postgres::query` logs every statement's parameters at `debug`, and
/// logins are stored with their remote credentials).
pub const SECRET_BEARING_TARGETS: &[&str] = &["tokio_postgres::query"];

/// Installs the global subscriber: `filter` as an `EnvFilter` directive (`RUST_LOG` wins
/// when set), with [`SECRET_BEARING_TARGETS`] capped at `info`, lines to stderr in `format`.
pub fn init(filter: &str, format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    for target in SECRET_BEARING_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match resolve(format) {
        LogFormat::Json => builder.json().init(),
        LogFormat::Journald => builder.with_ansi(false).event_format(JournaldFormat).init(),
        LogFormat::Pretty | LogFormat::Auto => {
            builder.with_ansi(std::io::stderr().is_terminal()).init()
        }
    }
}

/// Writes a fatal error (why the process exits) to stderr, every line marked as an error
/// (`<3>`) when stderr is the journal, so `journalctl -p err` shows why a start failed. Used
/// outside the tracing subscriber, which may not exist yet (config errors).
pub fn fatal(text: &str) {
    let journal = stderr_is_journal();
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.lines() {
        if journal {
            out.push_str("<3>");
        }
        out.push_str(line);
        out.push('\n');
    }
    eprint!("{out}");
}

/// The syslog priority journald reads from a `<N>` line prefix.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// `<priority>target: message key=value …`, one line per event.
pub struct JournaldFormat;

impl<S, N> FormatEvent<S, N> for JournaldFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write!(writer, "<{}>{}: ", priority(meta.level()), meta.target())?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}: ", span.name())?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journald_lines_carry_the_priority_and_no_timestamp() {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_writer(move || out.clone())
            .with_ansi(false)
            .event_format(JournaldFormat)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(user = "@a:x", "login failed");
            tracing::warn!("slow homeserver");
            tracing::info!(count = 2, "restoring logins");
            tracing::debug!("detail");
        });
        let text = String::from_utf8(buffer.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let target = module_path!();
        assert_eq!(
            lines,
            [
                format!("<3>{target}: login failed user=\"@a:x\""),
                format!("<4>{target}: slow homeserver"),
                format!("<6>{target}: restoring logins count=2"),
                format!("<7>{target}: detail"),
            ]
        );
    }

    #[test]
    fn auto_is_pretty_without_a_journal_stream() {
        // The test runner's stderr is not the journal (JOURNAL_STREAM, if inherited, names
        // another stream or none).
        if std::env::var_os("JOURNAL_STREAM").is_none() {
            assert_eq!(resolve(LogFormat::Auto), LogFormat::Pretty);
        }
        assert_eq!(resolve(LogFormat::Json), LogFormat::Json);
        assert_eq!(resolve(LogFormat::Journald), LogFormat::Journald);
    }
}
