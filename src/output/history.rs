//! An append-only index of finished outputs (`history.jsonl`, one JSON object per line).
//!
//! Each entry is appended with a single `write` on a file opened in append mode and then
//! synced, so concurrent writers (the TUI and a `generate` run) do not interleave and a crash
//! can at worst leave one torn last line, which [`History::load`] skips and the next
//! [`History::append`] terminates.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::clock::Timestamp;
use super::record::GenerationRecord;
use super::OutputError;

/// One finished output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Where the image was written.
    pub path: PathBuf,
    /// A one-line summary of the caption (see [`caption_summary`]).
    pub caption_summary: String,
    /// Seed.
    pub seed: u64,
    /// Preset name or `custom`.
    pub preset: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// When the image was finished, RFC 3339 in local time.
    pub timestamp: String,
    /// The same instant as Unix seconds (for sorting).
    pub unix_seconds: i64,
}

/// Longest caption summary [`HistoryEntry::from_record`] produces, in characters.
pub const SUMMARY_CHARS: usize = 120;

impl HistoryEntry {
    /// The entry for an output written at `path` from `record`.
    pub fn from_record(path: &Path, record: &GenerationRecord, finished: Timestamp) -> Self {
        Self {
            path: path.to_path_buf(),
            caption_summary: caption_summary(&record.caption, SUMMARY_CHARS),
            seed: record.seed,
            preset: record.sampler.label().to_string(),
            width: record.width,
            height: record.height,
            timestamp: finished.rfc3339(),
            unix_seconds: finished.unix_seconds,
        }
    }
}

/// A short, single-line description of a caption: its `high_level_description` when it is a
/// JSON caption that has one, otherwise its text; whitespace collapsed, cut to `max_chars`
/// characters with a trailing `…`.
pub fn caption_summary(caption: &str, max_chars: usize) -> String {
    let described = serde_json::from_str::<serde_json::Value>(caption)
        .ok()
        .and_then(|v| {
            v.get("high_level_description")
                .and_then(|d| d.as_str())
                .map(str::to_string)
        });
    let text = described.unwrap_or_else(|| caption.to_string());
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max_chars {
        return collapsed;
    }
    let mut cut: String = collapsed
        .chars()
        .take(max_chars.saturating_sub(1))
        .collect();
    cut.push('…');
    cut
}

/// What [`History::load`] found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryLoad {
    /// Entries in the order they were appended (oldest first).
    pub entries: Vec<HistoryEntry>,
    /// Lines that could not be read (a torn write, hand edits); skipped.
    pub skipped_lines: usize,
}

/// The history index in one folder.
#[derive(Debug, Clone)]
pub struct History {
    file: PathBuf,
}

impl History {
    /// File name of the index inside its folder.
    pub const FILE_NAME: &'static str = "history.jsonl";

    /// The index kept in `dir` (created on the first append).
    pub fn new(dir: &Path) -> Self {
        Self {
            file: dir.join(Self::FILE_NAME),
        }
    }

    /// Path of the index file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Append one entry durably.
    pub fn append(&self, entry: &HistoryEntry) -> Result<(), OutputError> {
        let mut line = serde_json::to_string(entry)
            .map_err(|e| OutputError::Metadata(format!("history entry: {e}")))?;
        line.push('\n');
        let io_err = |source| OutputError::Io {
            path: self.file.clone(),
            source,
        };
        if let Some(dir) = self.file.parent() {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.file)
            .map_err(io_err)?;
        if ends_without_newline(&mut file).map_err(io_err)? {
            line.insert(0, '\n');
        }
        file.write_all(line.as_bytes()).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        Ok(())
    }

    /// All entries, oldest first. A missing file is an empty history.
    pub fn load(&self) -> Result<HistoryLoad, OutputError> {
        let text = match fs::read(&self.file) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(HistoryLoad::default()),
            Err(source) => {
                return Err(OutputError::Io {
                    path: self.file.clone(),
                    source,
                })
            }
        };
        let mut load = HistoryLoad::default();
        for line in text.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<HistoryEntry>(line) {
                Ok(entry) => load.entries.push(entry),
                Err(_) => load.skipped_lines += 1,
            }
        }
        Ok(load)
    }
}

fn ends_without_newline(file: &mut fs::File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::{ImageSize, Preset};

    fn entry(seed: u64) -> HistoryEntry {
        let rec = GenerationRecord::new(
            r#"{"high_level_description": "A  small orange robot\nwaters a cactus."}"#,
            Preset::Turbo12.into(),
            seed,
            ImageSize::new(512, 768),
            "demo",
            "bf16",
        );
        HistoryEntry::from_record(
            Path::new("/out/img.png"),
            &rec,
            Timestamp::new(1_763_865_296, 0),
        )
    }

    #[test]
    fn append_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(&dir.path().join("data"));
        assert_eq!(history.load().unwrap(), HistoryLoad::default());
        history.append(&entry(1)).unwrap();
        history.append(&entry(2)).unwrap();
        let load = history.load().unwrap();
        assert_eq!(load.skipped_lines, 0);
        assert_eq!(load.entries, vec![entry(1), entry(2)]);
        let e = &load.entries[0];
        assert_eq!(e.caption_summary, "A small orange robot waters a cactus.");
        assert_eq!(e.preset, "V4_TURBO_12");
        assert_eq!((e.width, e.height), (512, 768));
        assert_eq!(e.timestamp, "2025-11-23T02:34:56+00:00");
    }

    #[test]
    fn torn_last_line_is_skipped_and_terminated() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(dir.path());
        history.append(&entry(1)).unwrap();
        // Simulate a crash in the middle of a write.
        let mut f = OpenOptions::new()
            .append(true)
            .open(history.path())
            .unwrap();
        f.write_all(br#"{"path":"/out/x.png","capt"#).unwrap();
        drop(f);
        history.append(&entry(3)).unwrap();
        let load = history.load().unwrap();
        assert_eq!(load.skipped_lines, 1);
        assert_eq!(load.entries, vec![entry(1), entry(3)]);
    }

    #[test]
    fn summaries() {
        assert_eq!(
            caption_summary("plain   text\nprompt", 50),
            "plain text prompt"
        );
        assert_eq!(caption_summary("abcdefghij", 5), "abcd…");
        assert_eq!(caption_summary("日本語のキャプション", 4), "日本語…");
        assert_eq!(caption_summary(r#"{"other": 1}"#, 50), r#"{"other": 1}"#);
    }
}
