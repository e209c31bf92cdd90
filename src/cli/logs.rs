//! Starts this run's log file (see `ideogram4::logging`) before any subcommand runs.
//!
//! Problems are never fatal: a bad `IDEOGRAM4_LOG` falls back to info (said once on stderr,
//! before the terminal app takes the screen), and a log that cannot be opened means no log
//! (said once on stderr, or in the terminal app's status line).

use std::path::PathBuf;

use ideogram4::logging::{self, LEVEL_ENV};
use ideogram4::tui::config::Dirs;
use tracing::level_filters::LevelFilter;

/// What became of the log for this run.
#[derive(Debug, Clone)]
pub struct LogSetup {
    /// Where the log goes (or would go); `None` without a home folder.
    pub path: Option<PathBuf>,
    pub level: LevelFilter,
    /// Why nothing is logged, when nothing is.
    pub problem: Option<String>,
}

impl LogSetup {
    /// One line for `doctor`: the path and level, or why there is no log.
    pub fn describe(&self) -> String {
        match (&self.path, &self.problem) {
            (Some(path), None) => format!("{} (level {})", path.display(), self.level),
            (Some(path), Some(problem)) => format!("{} (not written: {problem})", path.display()),
            (None, Some(problem)) => problem.clone(),
            (None, None) => "none".into(),
        }
    }
}

/// Installs the log for `subcommand` and writes the start line. `tui`: the terminal app,
/// which shows an unopenable log in its status line instead of on stderr.
pub fn start(subcommand: &str, tui: bool) -> LogSetup {
    let value = std::env::var_os(LEVEL_ENV).map(|v| v.to_string_lossy().into_owned());
    let (level, warning) = logging::level_from_env_value(value.as_deref());
    if let Some(w) = &warning {
        eprintln!("warning: {w}");
    }
    let Some(dirs) = Dirs::standard() else {
        return LogSetup {
            path: None,
            level,
            problem: Some("no home folder found, so no log file".into()),
        };
    };
    let path = logging::log_path(&dirs.data_dir);
    if level == LevelFilter::OFF {
        return LogSetup {
            path: Some(path),
            level,
            problem: Some(format!("{LEVEL_ENV}=off")),
        };
    }
    match logging::install(&path, level) {
        Ok(installed) => {
            tracing::info!(
                version = env!("CARGO_PKG_VERSION"),
                subcommand,
                pid = std::process::id(),
                level = %level,
                "ideogram4-tui started"
            );
            if installed.rotated {
                tracing::info!(
                    "the previous log grew past {} MiB and was moved to {}",
                    logging::ROTATE_BYTES >> 20,
                    logging::rotated_path(&path).display()
                );
            }
            if let Some(w) = warning {
                tracing::warn!("{w}");
            }
            LogSetup {
                path: Some(path),
                level,
                problem: None,
            }
        }
        Err(e) => {
            let problem = format!("no log file this run: {e}");
            if !tui {
                eprintln!("warning: {problem}");
            }
            LogSetup {
                path: Some(path),
                level,
                problem: Some(problem),
            }
        }
    }
}
