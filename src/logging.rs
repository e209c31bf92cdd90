//! The log file: `<data dir>/logs/ideogram4-tui.log`, written through `tracing`.
//!
//! The terminal app owns the screen, so nothing here ever writes to the terminal: the file is
//! the only destination, and a write that fails is dropped rather than reported on stderr.
//! Each process appends; a file that has grown past [`ROTATE_BYTES`] is moved to
//! `ideogram4-tui.log.1` when the next process starts, so at most two files are kept.
//!
//! The level comes from `IDEOGRAM4_LOG` (`error`, `warn`, `info`, `debug`, `trace` or `off`;
//! default `info`). Captions are private text: log lines name them by
//! [`caption_digest`], never by content.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing::level_filters::LevelFilter;

/// The environment variable that sets the level.
pub const LEVEL_ENV: &str = "IDEOGRAM4_LOG";

/// The level used when `IDEOGRAM4_LOG` is unset or invalid.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// Size above which the log is rotated at startup.
pub const ROTATE_BYTES: u64 = 8 << 20;

const FILE_NAME: &str = "ideogram4-tui.log";

#[derive(Debug, Error)]
pub enum LogError {
    #[error("cannot create the log folder {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot rotate {} to {}: {source}", from.display(), to.display())]
    Rotate {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    #[error("cannot open the log file {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("a logger is already installed in this process")]
    AlreadyInstalled,
}

/// Where the log of a data directory lives.
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join("logs").join(FILE_NAME)
}

/// The previous log, kept after rotation.
pub fn rotated_path(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".1");
    log.with_file_name(name)
}

/// Parses a level name (case-insensitive, surrounding blanks ignored).
pub fn parse_level(text: &str) -> Option<LevelFilter> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::OFF),
        "error" => Some(LevelFilter::ERROR),
        "warn" | "warning" => Some(LevelFilter::WARN),
        "info" => Some(LevelFilter::INFO),
        "debug" => Some(LevelFilter::DEBUG),
        "trace" => Some(LevelFilter::TRACE),
        _ => None,
    }
}

/// The level an `IDEOGRAM4_LOG` value asks for, and a warning to show once when the value is
/// not a level (the default is used then). Unset or empty means the default.
pub fn level_from_env_value(value: Option<&str>) -> (LevelFilter, Option<String>) {
    match value {
        None => (DEFAULT_LEVEL, None),
        Some(v) if v.trim().is_empty() => (DEFAULT_LEVEL, None),
        Some(v) => match parse_level(v) {
            Some(level) => (level, None),
            None => (
                DEFAULT_LEVEL,
                Some(format!(
                    "{LEVEL_ENV}={v:?} is not a log level (error, warn, info, debug, trace or \
                     off); using {DEFAULT_LEVEL}"
                )),
            ),
        },
    }
}

/// Moves `log` to `log.1` (replacing an older one) when it is larger than `limit` bytes.
/// Returns whether it did. A missing log is not an error.
pub fn rotate_if_larger(log: &Path, limit: u64) -> Result<bool, LogError> {
    let size = match std::fs::metadata(log) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(LogError::Open {
                path: log.to_path_buf(),
                source,
            })
        }
    };
    if size <= limit {
        return Ok(false);
    }
    let to = rotated_path(log);
    std::fs::rename(log, &to).map_err(|source| LogError::Rotate {
        from: log.to_path_buf(),
        to,
        source,
    })?;
    Ok(true)
}

/// Creates the log folder, rotates an oversized log and opens the file for appending.
pub fn open_log(log: &Path, rotate_limit: u64) -> Result<(File, bool), LogError> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|source| LogError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let rotated = rotate_if_larger(log, rotate_limit)?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|source| LogError::Open {
            path: log.to_path_buf(),
            source,
        })?;
    Ok((file, rotated))
}

/// What [`install`] set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub path: PathBuf,
    pub level: LevelFilter,
    /// The previous log was moved to `.log.1` first.
    pub rotated: bool,
}

/// Makes `log` this process's only log destination: UTC RFC 3339 timestamps, level, target
/// and message, one line per event, no colour codes.
pub fn install(log: &Path, level: LevelFilter) -> Result<Installed, LogError> {
    let (file, rotated) = open_log(log, ROTATE_BYTES)?;
    let subscriber = tracing_subscriber::fmt()
        .with_writer(file)
        .with_max_level(level)
        .with_ansi(false)
        // The fallback for a failed write is stderr, which is the TUI's screen.
        .log_internal_errors(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).map_err(|_| LogError::AlreadyInstalled)?;
    Ok(Installed {
        path: log.to_path_buf(),
        level,
        rotated,
    })
}

/// A short, stable name for a caption in logs (64-bit FNV-1a as hex): the same caption gives
/// the same digest in every run, and the text itself never reaches the log.
pub fn caption_digest(caption: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in caption.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// An error with its whole chain of causes on one line (`outer: cause: root`). A cause whose
/// text the line already holds is skipped: many messages quote their source.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_only_above_the_limit_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_path(dir.path());
        // Nothing there yet: nothing to rotate, and the folder is created on open.
        assert!(!rotate_if_larger(&log, 10).unwrap());
        let (_, rotated) = open_log(&log, 10).unwrap();
        assert!(!rotated);
        assert!(log.is_file());

        std::fs::write(&log, b"0123456789").unwrap();
        assert!(
            !rotate_if_larger(&log, 10).unwrap(),
            "exactly the limit stays"
        );
        std::fs::write(&log, b"first run, eleven+").unwrap();
        assert!(rotate_if_larger(&log, 10).unwrap());
        assert!(!log.exists());
        let old = rotated_path(&log);
        assert_eq!(old.file_name().unwrap(), "ideogram4-tui.log.1");
        assert_eq!(std::fs::read(&old).unwrap(), b"first run, eleven+");

        // The next oversized log replaces the old one; the reopened log starts empty.
        std::fs::write(&log, b"second run, also too long").unwrap();
        let (file, rotated) = open_log(&log, 10).unwrap();
        assert!(rotated);
        assert_eq!(file.metadata().unwrap().len(), 0);
        assert_eq!(std::fs::read(&old).unwrap(), b"second run, also too long");
        let kept: Vec<_> = std::fs::read_dir(log.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
    }

    #[test]
    fn open_appends_to_an_existing_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_path(dir.path());
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::fs::write(&log, b"earlier\n").unwrap();
        let (mut file, _) = open_log(&log, ROTATE_BYTES).unwrap();
        io::Write::write_all(&mut file, b"later\n").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "earlier\nlater\n");
    }

    #[test]
    fn a_file_in_place_of_the_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("logs"), b"not a folder").unwrap();
        let err = open_log(&log_path(dir.path()), ROTATE_BYTES).unwrap_err();
        assert!(matches!(err, LogError::CreateDir { .. }), "{err:?}");
        assert!(err.to_string().contains("logs"), "{err}");
    }

    #[test]
    fn levels_parse_and_bad_values_fall_back_with_one_warning() {
        assert_eq!(parse_level("debug"), Some(LevelFilter::DEBUG));
        assert_eq!(parse_level(" TRACE "), Some(LevelFilter::TRACE));
        assert_eq!(parse_level("off"), Some(LevelFilter::OFF));
        assert_eq!(parse_level("verbose"), None);
        assert_eq!(
            level_from_env_value(None),
            (LevelFilter::INFO, None::<String>)
        );
        assert_eq!(level_from_env_value(Some("")), (LevelFilter::INFO, None));
        assert_eq!(
            level_from_env_value(Some("warn")),
            (LevelFilter::WARN, None)
        );
        let (level, warning) = level_from_env_value(Some("bogus"));
        assert_eq!(level, LevelFilter::INFO);
        let warning = warning.unwrap();
        assert!(
            warning.contains("\"bogus\"") && warning.contains("using info"),
            "{warning}"
        );
    }

    #[test]
    fn caption_digest_is_stable_and_hides_the_text() {
        // FNV-1a 64 reference values.
        assert_eq!(caption_digest(""), "cbf29ce484222325");
        assert_eq!(caption_digest("a"), "af63dc4c8601ec8c");
        let d = caption_digest("A red fox in the snow.");
        assert_eq!(d.len(), 16);
        assert_ne!(d, caption_digest("A red fox in the snow!"));
    }

    #[test]
    fn error_chain_names_every_cause_once() {
        let err = LogError::Open {
            path: PathBuf::from("/x/ideogram4-tui.log"),
            source: io::Error::other("disk full"),
        };
        // The message already quotes its source: not repeated.
        assert_eq!(
            error_chain(&err),
            "cannot open the log file /x/ideogram4-tui.log: disk full"
        );

        #[derive(Debug, Error)]
        #[error("saving the state")]
        struct Outer(#[source] io::Error);
        let outer = Outer(io::Error::other("read-only file system"));
        assert_eq!(
            error_chain(&outer),
            "saving the state: read-only file system"
        );
    }
}
