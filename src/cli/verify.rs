//! `ideogram4-tui verify [--json] [--fix] PATH...`: the official caption verifier on files, with
//! compiler-style output.
//!
//! Files are read like the reference's `verify_file` (`Path.read_text(encoding="utf-8")`):
//! strict UTF-8 and universal newlines, so `\r\n` and `\r` count as `\n`. Exit status: 0 when
//! every file is clean, 1 when any has a warning, 2 when any cannot be read (the highest wins).

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ideogram4::caption::{self, Warning};
use serde::Serialize;
use unicode_width::UnicodeWidthChar;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON array of {"path", "warnings": [{"message", "json_path", "line", "column",
    /// "end_line", "end_column"}]} instead of diagnostics.
    #[arg(long)]
    json: bool,
    /// Rewrite what can be fixed mechanically (key order, hex colour case, \uXXXX escapes of
    /// non-ASCII text) in place, then report what is left. With `-` the fixed caption goes to
    /// stdout and the report to stderr.
    #[arg(long)]
    fix: bool,
    /// Caption files to check; `-` reads standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

const CLEAN: u8 = 0;
const WARNED: u8 = 1;
const UNREADABLE: u8 = 2;

/// What came of one input.
struct Outcome {
    /// How the input is named in output (`<stdin>` for `-`).
    display: String,
    /// The text the warnings refer to (after newline translation), or why there is none.
    result: Result<(String, Vec<Warning>), String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut stdin_text: Option<Result<String, String>> = None;
    let mut fixed_stdin: Option<String> = None;
    let mut outcomes = Vec::with_capacity(args.paths.len());
    for path in &args.paths {
        let is_stdin = path.as_os_str() == "-";
        let read = if is_stdin {
            stdin_text.get_or_insert_with(read_stdin).clone()
        } else {
            read_file(path)
        };
        let display = if is_stdin {
            "<stdin>".to_owned()
        } else {
            path.display().to_string()
        };
        let result = match read {
            Err(e) => Err(e),
            Ok(raw) if args.fix => {
                let fixed = caption::fix::apply_fixes(&raw).unwrap_or_else(|_| raw.clone());
                if is_stdin {
                    fixed_stdin = Some(fixed.clone());
                } else if fixed != raw {
                    write_in_place(path, &fixed)?;
                    eprintln!("fixed {display}");
                }
                Ok(checked(fixed))
            }
            Ok(raw) => Ok(checked(raw)),
        };
        outcomes.push(Outcome { display, result });
    }

    let report = if args.json {
        json_report(&args.paths, &outcomes)?
    } else {
        human_report(&outcomes)
    };
    match fixed_stdin {
        // The fixed caption owns stdout; the report moves to stderr.
        Some(fixed) => {
            let mut out = io::stdout().lock();
            out.write_all(fixed.as_bytes())?;
            out.flush()?;
            io::stderr().write_all(report.as_bytes())?;
        }
        None => {
            let mut out = io::stdout().lock();
            out.write_all(report.as_bytes())?;
            out.flush()?;
        }
    }
    let status = outcomes
        .iter()
        .map(|o| match &o.result {
            Err(_) => UNREADABLE,
            Ok((_, warnings)) if warnings.is_empty() => CLEAN,
            Ok(_) => WARNED,
        })
        .max()
        .unwrap_or(CLEAN);
    Ok(ExitCode::from(status))
}

fn checked(raw: String) -> (String, Vec<Warning>) {
    let text = universal_newlines(&raw).into_owned();
    let warnings = caption::verify(&text);
    (text, warnings)
}

fn read_file(path: &Path) -> Result<String, String> {
    caption::input::read_file(path).map_err(read_error)
}

fn read_stdin() -> Result<String, String> {
    caption::input::read_stdin().map_err(read_error)
}

fn read_error(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::InvalidData => format!("not UTF-8: {e}"),
        io::ErrorKind::FileTooLarge => e.to_string(),
        _ => format!("cannot read: {e}"),
    }
}

/// Python's text-mode reading: `\r\n` and a lone `\r` both become `\n`.
fn universal_newlines(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\r') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Replaces the file atomically, so a crash never leaves half a caption.
fn write_in_place(path: &Path, text: &str) -> anyhow::Result<()> {
    ideogram4::files::write_atomic(path, text.as_bytes(), ideogram4::files::Replace::Allow)
        .with_context(|| format!("replacing {}", path.display()))
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: Cow<'a, str>,
    warnings: Vec<JsonWarning<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonWarning<'a> {
    message: &'a str,
    json_path: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
}

fn json_report(paths: &[PathBuf], outcomes: &[Outcome]) -> anyhow::Result<String> {
    let files: Vec<JsonFile<'_>> = paths
        .iter()
        .zip(outcomes)
        .map(|(path, outcome)| {
            let (warnings, error) = match &outcome.result {
                Ok((_, warnings)) => (warnings.iter().map(json_warning).collect(), None),
                Err(e) => (Vec::new(), Some(e.as_str())),
            };
            JsonFile {
                path: path.to_string_lossy(),
                warnings,
                error,
            }
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&files)?;
    text.push('\n');
    Ok(text)
}

fn json_warning(w: &Warning) -> JsonWarning<'_> {
    JsonWarning {
        message: &w.message,
        json_path: &w.json_path,
        line: w.span.line,
        column: w.span.column,
        end_line: w.span.end_line,
        end_column: w.span.end_column,
    }
}

fn human_report(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let mut total = 0;
    for outcome in outcomes {
        match &outcome.result {
            Err(e) => out.push_str(&format!("{}: error: {e}\n", outcome.display)),
            Ok((text, warnings)) => {
                total += warnings.len();
                for w in warnings {
                    diagnostic(&mut out, &outcome.display, text, w);
                }
            }
        }
    }
    if total > 0 {
        out.push_str(&format!(
            "{total} warning{} in {} file{}\n",
            if total == 1 { "" } else { "s" },
            outcomes.len(),
            if outcomes.len() == 1 { "" } else { "s" }
        ));
    }
    out
}

/// Widest slice of a source line shown under a diagnostic, in terminal cells.
const MAX_SHOWN: usize = 100;

/// `path:line:col: warning: message`, the line, and carets under the range.
fn diagnostic(out: &mut String, display: &str, text: &str, w: &Warning) {
    let span = w.span;
    out.push_str(&format!(
        "{display}:{}:{}: warning: {}\n",
        span.line, span.column, w.message
    ));
    let line = text.split('\n').nth(span.line - 1).unwrap_or("");
    let chars: Vec<char> = line.chars().collect();
    let start = (span.column - 1).min(chars.len());
    // A range running past this line is underlined to its end; an empty one gets one caret.
    let end = if span.end_line == span.line {
        (span.end_column - 1).clamp(start, chars.len())
    } else {
        chars.len()
    };
    // Minified captions are one long line: show a window around the range.
    let first = start.saturating_sub(MAX_SHOWN / 3);
    let mut last = first;
    let mut cells = 0;
    while last < chars.len() && cells + cell_width(chars[last]) <= MAX_SHOWN {
        cells += cell_width(chars[last]);
        last += 1;
    }
    let gutter = span.line.to_string();
    let pad = " ".repeat(gutter.len());
    let mut shown = String::new();
    let mut marks = String::new();
    if first > 0 {
        shown.push_str("...");
        marks.push_str("   ");
    }
    for (i, &c) in chars.iter().enumerate().take(last).skip(first) {
        let width = cell_width(c);
        shown.push(if c.is_control() { ' ' } else { c });
        let mark = if (start..end.max(start + 1)).contains(&i) {
            '^'
        } else {
            ' '
        };
        marks.extend(std::iter::repeat_n(mark, width));
    }
    if start >= last {
        marks.push('^');
    }
    if last < chars.len() {
        shown.push_str("...");
    }
    let note = if w.fixable { " fixable with --fix" } else { "" };
    out.push_str(&format!(
        "{gutter} | {shown}\n{pad} | {}{note}\n",
        marks.trim_end()
    ));
}

fn cell_width(c: char) -> usize {
    if c.is_control() {
        1
    } else {
        c.width().unwrap_or(1)
    }
}
