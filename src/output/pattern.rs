//! Output file names: `{date}`, `{time}`, `{seed}`, `{preset}`, `{n}` patterns and the
//! collision counter that keeps existing files from being overwritten.

use std::path::{Path, PathBuf};

use super::clock::Timestamp;
use super::OutputError;
use crate::files::expand_home;

/// Placeholders a pattern may use.
pub const PLACEHOLDERS: [&str; 5] = ["date", "time", "seed", "preset", "n"];

/// The values substituted into a pattern.
#[derive(Debug, Clone, Copy)]
pub struct PatternFields<'a> {
    /// `{seed}`.
    pub seed: u64,
    /// `{preset}`: the preset's official name or `custom` ([`crate::sampler::SamplerParams::label`]).
    pub preset: &'a str,
    /// `{date}` (`YYYY-MM-DD`) and `{time}` (`HHMMSS`), in the timestamp's zone.
    pub time: Timestamp,
}

/// How the collision counter is written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Counter {
    /// The pattern has `{n}`: candidates are `0001`, `0002`, … in its place.
    Placeholder,
    /// No `{n}`: the plain name first, then `-1`, `-2`, … before the extension.
    Suffix,
}

/// An output path whose collision counter is still open.
///
/// Build one with [`expand_pattern`] or [`OutputName::from_path`]; [`super::save_image`]
/// takes candidates from it until one is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputName {
    dir: PathBuf,
    before: String,
    after: String,
    extension: Option<String>,
    counter: Counter,
}

impl OutputName {
    /// An explicit path (e.g. `--out picture.png`). If it exists, `picture-1.png`,
    /// `picture-2.png`, … are tried.
    pub fn from_path(path: &Path) -> Self {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (stem, extension) = split_extension(&file);
        Self {
            dir,
            before: stem,
            after: String::new(),
            extension,
            counter: Counter::Suffix,
        }
    }

    /// The folder the candidates are in (empty for the current folder).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file name's extension as written (without the dot), if it has one.
    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }

    /// Give the name an extension if it has none.
    pub fn set_extension_if_missing(&mut self, extension: &str) {
        if self.extension.is_none() {
            self.extension = Some(extension.to_string());
        }
    }

    /// Candidate `k` (0-based): the first choice for `k = 0`, then the alternatives.
    pub fn candidate(&self, k: u32) -> PathBuf {
        let mut name = self.before.clone();
        match self.counter {
            Counter::Placeholder => {
                name.push_str(&format!("{:04}", u64::from(k) + 1));
                name.push_str(&self.after);
            }
            Counter::Suffix => {
                name.push_str(&self.after);
                if k > 0 {
                    name.push_str(&format!("-{k}"));
                }
            }
        }
        if let Some(ext) = &self.extension {
            name.push('.');
            name.push_str(ext);
        }
        self.dir.join(name)
    }
}

/// Expand a pattern such as `"{date}/ideogram-{time}-{seed}-{preset}"` into an
/// [`OutputName`].
///
/// * Relative patterns are relative to `base_dir`; `~/` means the home folder.
/// * `{n}` (file-name part only) is the collision counter, written `0001`, `0002`, …; without
///   it, a taken name gets `-1`, `-2`, … appended.
/// * `{{` and `}}` are literal braces; any other `{word}` is an error naming the known ones.
/// * With no extension, [`super::save_image`] appends the chosen format's.
pub fn expand_pattern(
    pattern: &str,
    base_dir: &Path,
    fields: &PatternFields<'_>,
) -> Result<OutputName, OutputError> {
    if pattern.trim().is_empty() {
        return Err(OutputError::Pattern(
            "the output name pattern is empty".into(),
        ));
    }
    // A marker that cannot occur in a path marks where {n} goes.
    const MARK: char = '\u{0}';
    let mut expanded = String::with_capacity(pattern.len() + 32);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                expanded.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                expanded.push('}');
            }
            '{' => {
                let mut word = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    word.push(c);
                }
                if !closed {
                    return Err(OutputError::Pattern(format!(
                        "unclosed '{{' in output name pattern {pattern:?}"
                    )));
                }
                match word.as_str() {
                    "date" => expanded.push_str(&fields.time.date_string()),
                    "time" => expanded.push_str(&fields.time.time_string()),
                    "seed" => expanded.push_str(&fields.seed.to_string()),
                    "preset" => expanded.push_str(fields.preset),
                    "n" => {
                        if expanded.contains(MARK) {
                            return Err(OutputError::Pattern(
                                "{n} may appear only once in the output name pattern".into(),
                            ));
                        }
                        expanded.push(MARK);
                    }
                    _ => {
                        return Err(OutputError::Pattern(format!(
                            "unknown placeholder {{{word}}} in output name pattern; known: {}",
                            PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                        )))
                    }
                }
            }
            '}' => {
                return Err(OutputError::Pattern(format!(
                "stray '}}' in output name pattern {pattern:?} (write '}}}}' for a literal brace)"
            )))
            }
            _ => expanded.push(c),
        }
    }

    if expanded.ends_with('/') || expanded.ends_with(std::path::MAIN_SEPARATOR) {
        return Err(OutputError::Pattern(format!(
            "output name pattern {pattern:?} has no file name (it ends with a folder separator)"
        )));
    }
    let path = expand_home(&expanded);
    let path = if path.is_absolute() {
        path
    } else {
        base_dir.join(path)
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| {
            OutputError::Pattern(format!("output name pattern {pattern:?} has no file name"))
        })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.to_string_lossy().contains(MARK) {
        return Err(OutputError::Pattern(
            "{n} must be in the file name, not in a folder name".into(),
        ));
    }
    let (stem, extension) = split_extension(&file);
    let (before, after, counter) = match stem.split_once(MARK) {
        Some((b, a)) => (b.to_string(), a.to_string(), Counter::Placeholder),
        None => (stem, String::new(), Counter::Suffix),
    };
    if before.is_empty() && after.is_empty() && counter == Counter::Suffix {
        return Err(OutputError::Pattern(format!(
            "output name pattern {pattern:?} has no file name"
        )));
    }
    Ok(OutputName {
        dir,
        before,
        after,
        extension,
        counter,
    })
}

/// `name.ext` → (`name`, Some(`ext`)) when `ext` looks like an extension (1–5 ASCII
/// alphanumerics) and `name` is not empty; otherwise the whole name and `None`.
fn split_extension(file: &str) -> (String, Option<String>) {
    if let Some((stem, ext)) = file.rsplit_once('.') {
        let looks_like_ext =
            (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric());
        if looks_like_ext && !stem.is_empty() {
            return (stem.to_string(), Some(ext.to_string()));
        }
    }
    (file.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> PatternFields<'static> {
        PatternFields {
            seed: 42,
            preset: "V4_TURBO_12",
            // 2025-11-23 02:34:56 UTC
            time: Timestamp::new(1_763_865_296, 0),
        }
    }

    #[test]
    fn expands_every_placeholder() {
        let name = expand_pattern(
            "{date}/img-{time}-{seed}-{preset}-{n}.png",
            Path::new("/out"),
            &fields(),
        )
        .unwrap();
        assert_eq!(name.extension(), Some("png"));
        assert_eq!(
            name.candidate(0),
            PathBuf::from("/out/2025-11-23/img-023456-42-V4_TURBO_12-0001.png")
        );
        assert_eq!(
            name.candidate(1),
            PathBuf::from("/out/2025-11-23/img-023456-42-V4_TURBO_12-0002.png")
        );
    }

    #[test]
    fn suffix_counter_and_missing_extension() {
        let mut name = expand_pattern("ideogram_{seed}", Path::new("out"), &fields()).unwrap();
        assert_eq!(name.extension(), None);
        name.set_extension_if_missing("webp");
        assert_eq!(name.candidate(0), PathBuf::from("out/ideogram_42.webp"));
        assert_eq!(name.candidate(2), PathBuf::from("out/ideogram_42-2.webp"));
        let abs = expand_pattern("/tmp/x/{{lit}}_{seed}.JPG", Path::new("out"), &fields()).unwrap();
        assert_eq!(abs.candidate(0), PathBuf::from("/tmp/x/{lit}_42.JPG"));
        assert_eq!(abs.extension(), Some("JPG"));
    }

    #[test]
    fn from_path_counter() {
        let name = OutputName::from_path(Path::new("a/b/picture.v2.png"));
        assert_eq!(name.candidate(0), PathBuf::from("a/b/picture.v2.png"));
        assert_eq!(name.candidate(1), PathBuf::from("a/b/picture.v2-1.png"));
        let bare = OutputName::from_path(Path::new("picture"));
        assert_eq!(bare.extension(), None);
        assert_eq!(bare.candidate(3), PathBuf::from("picture-3"));
    }

    #[test]
    fn pattern_errors() {
        let f = fields();
        let err = |p: &str| {
            expand_pattern(p, Path::new("."), &f)
                .unwrap_err()
                .to_string()
        };
        assert!(err("img-{sed}.png").contains("unknown placeholder {sed}"));
        assert!(err("img-{sed}.png").contains("{date}, {time}, {seed}, {preset}, {n}"));
        assert!(err("img-{seed.png").contains("unclosed"));
        assert!(err("img-}.png").contains("stray"));
        assert!(err("{n}/img.png").contains("file name, not in a folder"));
        assert!(err("{n}-{n}.png").contains("only once"));
        assert!(err("  ").contains("empty"));
        assert!(err("out/").contains("no file name"));
        assert!(err("..").contains("no file name"));
    }

    #[test]
    fn home_expansion() {
        let name = expand_pattern("~/pics/{seed}.png", Path::new("/elsewhere"), &fields()).unwrap();
        let c = name.candidate(0);
        assert!(c.ends_with("pics/42.png"), "{}", c.display());
        assert!(!c.starts_with("/elsewhere"));
    }
}
