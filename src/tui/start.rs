//! The image-to-image choices of the TUI: a source (and optional mask) file, the strength, and
//! small thumbnails of both for the parameters pane. Queued jobs carry the paths
//! ([`StartPaths`]); the engine reads the files when the job runs.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

use crate::pipeline::start_files::{read_image, Fit};
use crate::pipeline::start_image::DEFAULT_STRENGTH;
use crate::pipeline::start_prepare::StartPaths;

/// Thumbnail size in cells; each cell shows two pixels (upper and lower half block).
pub const THUMB_COLS: u32 = 12;
pub const THUMB_ROWS: u32 = 4;
/// Strength moves in these steps.
pub const STRENGTH_STEP: f32 = 0.05;

/// A small RGB picture, `width` × `height` pixels (height even).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumb {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Thumb {
    /// Scales `image` to fit THUMB_COLS × (2·THUMB_ROWS) pixels, aspect kept.
    pub fn of(image: &image::RgbImage) -> Thumb {
        let (w, h) = image.dimensions();
        let (max_w, max_h) = (THUMB_COLS, THUMB_ROWS * 2);
        let scale = (max_w as f32 / w.max(1) as f32).min(max_h as f32 / h.max(1) as f32);
        let tw = ((w as f32 * scale).round() as u32).clamp(1, max_w);
        let th = ((h as f32 * scale).round() as u32).clamp(1, max_h);
        let th = th.div_ceil(2) * 2;
        let small = image::imageops::resize(image, tw, th, image::imageops::FilterType::Triangle);
        Thumb {
            width: tw,
            height: th,
            pixels: small.into_raw(),
        }
    }

    fn rgb(&self, x: u32, y: u32) -> Color {
        let i = ((y * self.width + x) * 3) as usize;
        match self.pixels.get(i..i + 3) {
            Some(p) => Color::Rgb(p[0], p[1], p[2]),
            None => Color::Reset,
        }
    }

    /// Half-block rows: the upper pixel is the foreground of `▀`, the lower its background.
    pub fn lines(&self) -> Vec<Line<'static>> {
        (0..self.height / 2)
            .map(|row| {
                Line::from(
                    (0..self.width)
                        .map(|x| {
                            Span::styled(
                                "▀",
                                Style::default()
                                    .fg(self.rgb(x, row * 2))
                                    .bg(self.rgb(x, row * 2 + 1)),
                            )
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .collect()
    }
}

/// A chosen file and its thumbnail.
#[derive(Debug, Clone, PartialEq)]
pub struct StartFile {
    pub path: PathBuf,
    pub thumb: Thumb,
}

impl StartFile {
    /// Reads the file now, so a bad path is reported when chosen, not when the job runs.
    pub fn read(path: &Path) -> Result<StartFile, String> {
        let loaded = read_image(path).map_err(|e| e.to_string())?;
        Ok(StartFile {
            path: path.to_path_buf(),
            thumb: Thumb::of(&loaded.image),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StartState {
    pub source: Option<StartFile>,
    pub mask: Option<StartFile>,
    pub strength: f32,
}

impl Default for StartState {
    fn default() -> Self {
        StartState {
            source: None,
            mask: None,
            strength: DEFAULT_STRENGTH,
        }
    }
}

impl StartState {
    /// What a job queued now starts from (nothing without a source).
    pub fn paths(&self) -> Option<StartPaths> {
        let source = self.source.as_ref()?;
        Some(StartPaths {
            source: source.path.clone(),
            mask: self.mask.as_ref().map(|m| m.path.clone()),
            strength: self.strength,
            fit: Fit::Crop,
            outpaint: None,
        })
    }

    /// Moves the strength by `steps` × [`STRENGTH_STEP`], within [0.05, 1].
    pub fn adjust_strength(&mut self, steps: i32) {
        let s = self.strength + steps as f32 * STRENGTH_STEP;
        // Two decimals, so repeated steps do not drift (0.6 + 0.05 shows as 0.65).
        self.strength = ((s * 100.0).round() / 100.0).clamp(STRENGTH_STEP, 1.0);
    }

    pub fn clear(&mut self) {
        self.source = None;
        self.mask = None;
    }
}

/// Completes the last path component of `text` against the folder's entries: as far as all
/// matches agree, with `/` after a single folder. Hidden entries only when asked for with a
/// leading dot. Returns the text unchanged when nothing matches.
pub fn complete_path(text: &str) -> String {
    let expanded = crate::files::expand_home(Path::new(text));
    let expanded = expanded.to_string_lossy();
    let (dir_part, prefix) = match text.rfind('/') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    };
    let folder = match expanded.rfind('/') {
        Some(i) => PathBuf::from(&expanded[..=i]),
        None => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return text.to_string();
    };
    let mut matches: Vec<(String, bool)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let visible = !name.starts_with('.') || prefix.starts_with('.');
            (name.starts_with(prefix) && visible).then(|| (name, e.path().is_dir()))
        })
        .collect();
    matches.sort();
    let Some((first, first_dir)) = matches.first().cloned() else {
        return text.to_string();
    };
    if matches.len() == 1 {
        let slash = if first_dir { "/" } else { "" };
        return format!("{dir_part}{first}{slash}");
    }
    let mut common = first;
    for (name, _) in &matches[1..] {
        let n = common
            .chars()
            .zip(name.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        common.truncate(n);
    }
    format!("{dir_part}{common}")
}

impl super::app::App {
    /// The prompt's starting text: the chosen file, else the current folder.
    pub(super) fn start_prompt_text(&self, file: Option<&StartFile>) -> String {
        file.map_or_else(|| "./".into(), |f| f.path.display().to_string())
    }

    pub(super) fn choose_start_file(
        &mut self,
        kind: &super::overlay_state::PromptKind,
        text: &str,
    ) {
        use super::overlay_state::PromptKind;
        if text.is_empty() {
            self.error("give a file name");
            return;
        }
        let path = crate::files::expand_home(Path::new(text));
        match StartFile::read(&path) {
            Ok(file) => {
                let what = if *kind == PromptKind::StartMask {
                    self.start.mask = Some(file);
                    "mask"
                } else {
                    self.start.source = Some(file);
                    "start image"
                };
                self.info(format!(
                    "{what}: {} · strength {} ({} to change)",
                    path.display(),
                    self.start.strength,
                    self.strength_keys()
                ));
            }
            Err(e) => self.error(format!("cannot use {}: {e}", path.display())),
        }
    }

    /// "[/]": the keys for less and more strength.
    fn strength_keys(&self) -> String {
        use super::action::Action;
        let key = |action| self.keymap.key_label(&action);
        format!("{}/{}", key(Action::StrengthDown), key(Action::StrengthUp))
    }

    pub(super) fn adjust_strength(&mut self, steps: i32) {
        self.start.adjust_strength(steps);
        let note = if self.start.source.is_some() {
            String::new()
        } else {
            format!(
                " (used once a start image is chosen: {})",
                self.keymap
                    .key_label(&super::action::Action::PickStartSource)
            )
        };
        self.info(format!("strength {}{note}", self.start.strength));
    }

    /// Queues a job that starts from a finished image: the selected history entry, or the
    /// preview's image from other panes. Its caption and parameters are loaded too, so the
    /// variation differs by the start image and strength only.
    pub(super) fn start_variation(&mut self) {
        use super::action::Pane;
        let from_history = self.focus == Pane::History;
        let selected = self.history.current().map(|h| h.path.clone());
        let path = if from_history {
            selected
        } else {
            self.preview
                .as_ref()
                .and_then(|p| p.path.clone())
                .or(selected)
        };
        let Some(path) = path else {
            self.info("no finished image to start from: select one in History");
            return;
        };
        let file = match StartFile::read(&path) {
            Ok(f) => f,
            Err(e) => {
                self.error(format!("cannot start from {}: {e}", path.display()));
                return;
            }
        };
        if self.history.select_path(&path) {
            self.load_history_params();
        }
        self.start.source = Some(file);
        self.start.mask = None;
        self.submit(1);
        let refused = matches!(self.status, Some((_, super::app::Severity::Error)));
        if !refused {
            self.info(format!(
                "queued a variation of {} at strength {} ({} in {} change it)",
                path.display(),
                self.start.strength,
                self.strength_keys(),
                super::keymap::Context::Params.title()
            ));
        }
    }
}

/// The parameters pane's start-image rows: names and strength, then the source and mask
/// thumbnails side by side. Nothing without a source, so text-to-image looks as before.
pub fn pane_lines(app: &super::app::App, width: usize) -> Vec<Line<'static>> {
    let Some(source) = &app.start.source else {
        return Vec::new();
    };
    let theme = &app.theme;
    let name = |f: &StartFile| {
        f.path.file_name().map_or_else(
            || f.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let mut text = format!("↻ from {} · strength {}", name(source), app.start.strength);
    if let Some(mask) = &app.start.mask {
        text.push_str(&format!(" · mask {}", name(mask)));
    }
    let mut lines = vec![Line::from(Span::styled(
        super::components::truncate(&text, width),
        Style::default().fg(theme.accent),
    ))];
    let left = source.thumb.lines();
    let right = app.start.mask.as_ref().map(|m| m.thumb.lines());
    let gap = " ".repeat(2 + (THUMB_COLS - source.thumb.width) as usize);
    for (i, row) in left.into_iter().enumerate() {
        let mut spans = row.spans;
        if let Some(mask_row) = right.as_ref().and_then(|r| r.get(i)) {
            spans.push(Span::raw(gap.clone()));
            spans.extend(mask_row.spans.iter().cloned());
        }
        lines.push(Line::from(spans));
    }
    lines
}

/// The mark of a job that starts from an image, for the queue and history lists.
pub const MARK: &str = "↻";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_steps_stay_on_the_grid() {
        let mut s = StartState::default();
        assert_eq!(s.strength, 0.6);
        s.adjust_strength(1);
        assert_eq!(s.strength, 0.65);
        s.adjust_strength(100);
        assert_eq!(s.strength, 1.0);
        s.adjust_strength(-100);
        assert_eq!(s.strength, 0.05);
    }

    #[test]
    fn completes_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("shots")).unwrap();
        std::fs::write(dir.path().join("source-a.png"), b"x").unwrap();
        std::fs::write(dir.path().join("source-b.png"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden.png"), b"x").unwrap();
        let base = format!("{}/", dir.path().display());
        assert_eq!(complete_path(&format!("{base}sh")), format!("{base}shots/"));
        assert_eq!(
            complete_path(&format!("{base}so")),
            format!("{base}source-")
        );
        assert_eq!(
            complete_path(&format!("{base}source-b")),
            format!("{base}source-b.png")
        );
        assert_eq!(
            complete_path(&format!("{base}.h")),
            format!("{base}.hidden.png")
        );
        assert_eq!(complete_path(&format!("{base}zz")), format!("{base}zz"));
    }

    #[test]
    fn thumbnails_keep_the_aspect() {
        let wide = image::RgbImage::from_pixel(200, 50, image::Rgb([10, 20, 30]));
        let t = Thumb::of(&wide);
        assert_eq!((t.width, t.height), (THUMB_COLS, 4));
        assert_eq!(t.lines().len(), 2);
        let tall = image::RgbImage::from_pixel(50, 200, image::Rgb([10, 20, 30]));
        let t = Thumb::of(&tall);
        assert_eq!((t.width, t.height), (2, THUMB_ROWS * 2));
    }
}
