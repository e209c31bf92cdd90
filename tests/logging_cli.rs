//! The log file, through the real binary: `generate --model demo` (seconds) with HOME and the
//! data folder pointed at a scratch folder, so the log lands there and nowhere else.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ideogram4::logging::caption_digest;

const CAPTION: &str = r##"{"high_level_description": "A red fox in the snow.", "style_description": {"aesthetics": "calm", "lighting": "soft morning light", "photo": "35mm lens", "medium": "photograph", "color_palette": ["#C0392B", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a snowy forest", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox"}]}}
"##;

const LOG_NAME: &str = "ideogram4-tui.log";

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ideogram4-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("home")).unwrap();
        std::fs::create_dir_all(p.join("data")).unwrap();
        std::fs::write(p.join("caption.json"), CAPTION).unwrap();
        Scratch(p)
    }

    /// The data folders `directories` may pick here: XDG_DATA_HOME on Linux, under HOME on
    /// macOS.
    fn data_dirs(&self) -> Vec<PathBuf> {
        vec![
            self.0.join("data/ideogram4-tui"),
            self.0
                .join("home/Library/Application Support/ideogram4-tui"),
        ]
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"));
        c.current_dir(&self.0)
            .env("HOME", self.0.join("home"))
            .env("XDG_DATA_HOME", self.0.join("data"))
            .env("XDG_CONFIG_HOME", self.0.join("config"))
            .env_remove("IDEOGRAM4_LOG")
            .env_remove("IDEOGRAM4_MODEL");
        c
    }

    /// `generate` on the demo model, 64×48, 2 steps, seed 7.
    fn generate(&self, level: Option<&str>, out: &str) -> Output {
        let mut c = self.command();
        if let Some(level) = level {
            c.env("IDEOGRAM4_LOG", level);
        }
        c.args([
            "generate",
            "--model",
            "demo",
            "--width",
            "64",
            "--height",
            "48",
            "--steps",
            "2",
            "--seed",
            "7",
            "--caption-file",
            "caption.json",
            "--out",
            out,
        ])
        .output()
        .expect("run ideogram4-tui")
    }

    /// Every log file written under the scratch folder.
    fn logs(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.0, &mut found);
        found
    }

    /// The one log file's text.
    fn log_text(&self) -> String {
        let logs = self.logs();
        assert_eq!(logs.len(), 1, "expected one log, found {logs:?}");
        assert!(
            self.data_dirs()
                .iter()
                .any(|d| logs[0] == d.join("logs").join(LOG_NAME)),
            "log at an unexpected place: {}",
            logs[0].display()
        );
        std::fs::read_to_string(&logs[0]).unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found);
        } else if path.file_name().is_some_and(|n| n == LOG_NAME) {
            found.push(path);
        }
    }
}

fn succeeded(out: &Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {stderr}",
        out.status.code()
    );
    (String::from_utf8(out.stdout.clone()).unwrap(), stderr)
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn generate_logs_job_start_and_finish_but_not_the_caption() {
    let s = Scratch::new("generate");
    let (stdout, stderr) = succeeded(&s.generate(None, "fox.png"));
    assert_eq!(stdout.trim(), "./fox.png");
    // The log goes to its file only; stderr is as it always was.
    assert!(
        !stderr.contains("log file") && !stderr.contains("INFO"),
        "stderr: {stderr}"
    );
    let log = s.log_text();

    let started = lines_with(&log, "ideogram4-tui started");
    assert_eq!(started.len(), 1, "{log}");
    assert!(started[0].contains("subcommand=\"generate\""), "{log}");
    assert!(
        started[0].contains(concat!("version=\"", env!("CARGO_PKG_VERSION"))),
        "{log}"
    );
    // `2026-11-23T06:13:36.123456Z  INFO ideogram4_tui::cli::logs: …`
    let first = started[0];
    assert!(
        first.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && first.as_bytes()[10] == b'T'
            && first.split_whitespace().next().unwrap().ends_with('Z'),
        "timestamp is not RFC 3339 UTC: {first}"
    );
    assert!(first.contains(" INFO "), "{first}");

    let loaded = lines_with(&log, "model loaded");
    assert_eq!(loaded.len(), 1, "{log}");
    assert!(loaded[0].contains("resident_bytes="), "{log}");

    let job = lines_with(&log, "job started");
    assert_eq!(job.len(), 1, "{log}");
    for field in [
        "seed=7",
        "steps=2",
        "size=64x48",
        "model=demo",
        &format!("caption_chars={}", CAPTION.chars().count()),
        &format!("caption={}", caption_digest(CAPTION)),
    ] {
        assert!(job[0].contains(field), "{field} missing: {}", job[0]);
    }

    let finished = lines_with(&log, "job finished");
    assert_eq!(finished.len(), 1, "{log}");
    let output = std::fs::canonicalize(s.0.join("fox.png")).unwrap();
    for field in [
        "seed=7",
        &format!("output={}", output.display()),
        "peak_memory=",
        "seconds=",
    ] {
        assert!(
            finished[0].contains(field),
            "{field} missing: {}",
            finished[0]
        );
    }
    assert!(
        lines_with(&log, "ideogram4-tui finished").len() == 1,
        "{log}"
    );

    // Private text never reaches the log, and info hides per-step lines.
    for secret in ["red fox", "snowy forest", "high_level_description"] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
    assert!(!log.contains("DEBUG"), "{log}");

    // A second run appends; at debug it adds the steps.
    succeeded(&s.generate(Some("debug"), "fox2.png"));
    let log = s.log_text();
    assert_eq!(lines_with(&log, "ideogram4-tui started").len(), 2, "{log}");
    assert_eq!(lines_with(&log, "job finished").len(), 2, "{log}");
    let steps = lines_with(&log, " DEBUG ")
        .into_iter()
        .filter(|l| l.contains("step=") && l.contains("total=2"))
        .count();
    assert_eq!(steps, 2, "expected one debug line per step:\n{log}");
    assert!(!log.contains("red fox"), "{log}");
}

#[test]
fn a_bogus_level_warns_once_and_logs_at_info() {
    let s = Scratch::new("bogus");
    let (_, stderr) = succeeded(&s.generate(Some("bogus"), "fox.png"));
    assert_eq!(
        stderr.matches("IDEOGRAM4_LOG").count(),
        1,
        "stderr: {stderr}"
    );
    assert!(stderr.contains("\"bogus\""), "stderr: {stderr}");
    let log = s.log_text();
    assert_eq!(lines_with(&log, "job started").len(), 1, "{log}");
    assert_eq!(lines_with(&log, "job finished").len(), 1, "{log}");
    let warned = lines_with(&log, "\"bogus\"");
    assert!(
        warned.len() == 1 && warned[0].contains(" WARN "),
        "the bad value is not logged once as a warning:\n{log}"
    );
    assert!(!log.contains("DEBUG"), "{log}");
}

#[test]
fn a_failing_command_logs_its_error_chain() {
    let s = Scratch::new("error");
    let out = s
        .command()
        .args([
            "generate",
            "--model",
            "demo",
            "--caption-file",
            "missing.json",
        ])
        .output()
        .expect("run ideogram4-tui");
    assert_eq!(out.status.code(), Some(2));
    let log = s.log_text();
    let errors = lines_with(&log, " ERROR ");
    assert_eq!(errors.len(), 1, "{log}");
    // The context and its cause, as on stderr.
    assert!(
        errors[0].contains("generate failed: reading missing.json: "),
        "{}",
        errors[0]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let cause = stderr
        .trim()
        .trim_start_matches("error: reading missing.json: ");
    assert!(errors[0].contains(cause), "{} vs {stderr}", errors[0]);
}

#[test]
fn an_unwritable_log_folder_does_not_stop_generate() {
    let s = Scratch::new("unwritable");
    // A file where the logs folder should be: fails for root too, unlike permissions.
    for data in s.data_dirs() {
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("logs"), b"in the way").unwrap();
    }
    let (stdout, stderr) = succeeded(&s.generate(None, "fox.png"));
    assert_eq!(stdout.trim(), "./fox.png");
    assert!(s.0.join("fox.png").is_file());
    assert_eq!(
        stderr.matches("no log file this run").count(),
        1,
        "stderr: {stderr}"
    );
    assert!(s.logs().is_empty(), "{:?}", s.logs());
}

#[test]
fn doctor_prints_the_log_path() {
    let s = Scratch::new("doctor");
    let out = s
        .command()
        .args(["doctor", "--json"])
        .output()
        .expect("run ideogram4-tui");
    // Exit status says whether MLX is healthy here; the report is printed either way.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let line = report["log_file"].as_str().expect("a log_file entry");
    let logs = s.logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        line.starts_with(&logs[0].display().to_string()) && line.ends_with("(level info)"),
        "{line}"
    );
}
