//! Logging setup: `tracing` events go to journald when stderr is the journal (systemd sets
//! `JOURNAL_STREAM` for a service whose stderr is connected to it), otherwise to stderr as
//! human-readable lines (colours only on a terminal).
//!
//! Level: `log.level` from the config applies to gozcu's own targets; dependencies log at
//! `warn` or less so `debug` stays readable. `RUST_LOG`, when set and valid, replaces this
//! filter entirely and wins over reloads. [`LogHandle::set_level`] changes the level live
//! on `SIGHUP`.
//!
//! Structured fields convention, used by every module:
//! - `camera_id` on every span or event about one camera (`info_span!("camera", camera_id =
//!   %cam.id)`), `event_id` (e.g. `"evt-42"`) on everything about one event.
//! - Journald receives fields upper-cased without prefix: `CAMERA_ID`, `EVENT_ID`, so
//!   `journalctl -u gozcu CAMERA_ID=cam-1` shows one camera. Span fields are included in
//!   every event inside the span. Do not name fields after journald's own (`message`,
//!   `priority`, `syslog_identifier`, `code_*`): they would be overwritten or confusing.
//! - Never log the server token or full client URLs with `token=`.
//!
//! Journal priorities follow syslog: error 3, warn 4, info 6, debug and trace 7.

use crate::config::LogLevel;
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Identifier shown by `journalctl` (`SYSLOG_IDENTIFIER=gozcu`).
pub const SYSLOG_IDENTIFIER: &str = "gozcu";

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("logging is already set up in this process; call logging::init once")]
    AlreadyInitialized,
    #[error("cannot change the log level: {0}")]
    Reload(String),
}

/// Keeps the live filter so the level can change on reload. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    rust_log: bool,
    journald: bool,
}

impl LogHandle {
    /// Applies a new `log.level`. Does nothing while `RUST_LOG` is in charge.
    pub fn set_level(&self, level: LogLevel) -> Result<(), LoggingError> {
        if self.rust_log {
            return Ok(());
        }
        self.filter
            .reload(EnvFilter::new(directive(level)))
            .map_err(|e| LoggingError::Reload(e.to_string()))
    }

    /// `true` when `RUST_LOG` set the filter (config levels are ignored).
    pub fn rust_log_overrides(&self) -> bool {
        self.rust_log
    }

    /// `true` when logs go to journald rather than stderr.
    pub fn to_journald(&self) -> bool {
        self.journald
    }
}

/// The filter directive for a config level: ours at `level`, dependencies at most `warn`.
pub fn directive(level: LogLevel) -> String {
    let ours = level_name(level);
    let deps = match level {
        LogLevel::Error => "error",
        _ => "warn",
    };
    format!("{deps},gozcu={ours}")
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    }
}

/// `true` when `JOURNAL_STREAM` (`"<device>:<inode>"`, decimal) names the file stderr is.
/// systemd sets it for services; a child whose stderr was redirected inherits the variable
/// but not the stream, hence the comparison.
pub fn stderr_is_journal(journal_stream: &str, stderr_dev: u64, stderr_ino: u64) -> bool {
    let Some((dev, ino)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    matches!(
        (dev.parse::<u64>(), ino.parse::<u64>()),
        (Ok(d), Ok(i)) if d == stderr_dev && i == stderr_ino
    )
}

fn journal_requested() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr()) {
        // dev_t and ino_t are narrower than u64 on some 32-bit targets.
        #[allow(clippy::useless_conversion)]
        Ok(st) => stderr_is_journal(&stream, u64::from(st.st_dev), u64::from(st.st_ino)),
        Err(_) => false,
    }
}

/// Journal priorities as syslog names them: info is 6 (tracing-journald's default makes it 5,
/// "notice", so every info line would pass `journalctl -p notice` and show in bold), debug
/// and trace are 7.
fn priorities() -> tracing_journald::PriorityMappings {
    use tracing_journald::Priority;
    tracing_journald::PriorityMappings {
        info: Priority::Informational,
        debug: Priority::Debug,
        trace: Priority::Debug,
        ..tracing_journald::PriorityMappings::new()
    }
}

/// Sets up the global subscriber. A second call returns `AlreadyInitialized`.
pub fn init(level: LogLevel) -> Result<LogHandle, LoggingError> {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (filter, bad_rust_log) = match rust_log.as_deref().map(EnvFilter::try_new) {
        Some(Ok(f)) => (Some(f), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, None),
    };
    let from_env = filter.is_some();
    let filter = filter.unwrap_or_else(|| EnvFilter::new(directive(level)));
    let (filter, handle) = reload::Layer::new(filter);

    let mut journald_error = None;
    let journald = if journal_requested() {
        match tracing_journald::layer() {
            Ok(l) => Some(
                l.with_syslog_identifier(SYSLOG_IDENTIFIER.to_string())
                    .with_field_prefix(None)
                    .with_priority_mappings(priorities()),
            ),
            Err(e) => {
                journald_error = Some(e);
                None
            }
        }
    } else {
        None
    };
    let stderr = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    let to_journald = journald.is_some();
    tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(stderr)
        .try_init()
        .map_err(|_| LoggingError::AlreadyInitialized)?;

    if let Some(e) = bad_rust_log {
        tracing::warn!("RUST_LOG ignored, it is not a valid filter ({e}); using log.level");
    }
    if let Some(e) = journald_error {
        tracing::warn!("cannot reach journald ({e}); logging to stderr");
    }
    Ok(LogHandle {
        filter: handle,
        rust_log: from_env,
        journald: to_journald,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_match_stderr_device_and_inode() {
        assert!(stderr_is_journal("8:12345", 8, 12345));
        assert!(stderr_is_journal("8:12345\n", 8, 12345));
        assert!(!stderr_is_journal("8:12345", 8, 12346));
        assert!(!stderr_is_journal("9:12345", 8, 12345));
        assert!(!stderr_is_journal("", 8, 12345));
        assert!(!stderr_is_journal("8", 8, 12345));
        assert!(!stderr_is_journal("x:y", 8, 12345));
        assert!(!stderr_is_journal("8:12345:1", 8, 12345));
    }

    #[test]
    fn directive_keeps_dependencies_quiet() {
        assert_eq!(directive(LogLevel::Debug), "warn,gozcu=debug");
        assert_eq!(directive(LogLevel::Error), "error,gozcu=error");
        assert_eq!(directive(LogLevel::Trace), "warn,gozcu=trace");
        for l in [LogLevel::Error, LogLevel::Info, LogLevel::Trace] {
            assert!(EnvFilter::try_new(directive(l)).is_ok());
        }
    }
}
