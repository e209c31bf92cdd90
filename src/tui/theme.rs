//! Colour themes: `themes/*.toml` (built in) or any TOML file with the same keys.
//!
//! A theme is a `[colors]` table of named slots. Slots left out keep the default (dark)
//! theme's colour, so a user theme can override two colours and nothing else; unknown slots
//! and unreadable colours are errors that name the key, because a typo silently ignored is
//! worse than a message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use thiserror::Error;

/// The themes shipped inside the binary, so `--theme light` works wherever it is installed.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
];

/// The theme used when none is chosen or the chosen one cannot be loaded.
pub const DEFAULT_THEME: &str = "dark";

#[derive(Debug, Error)]
pub enum ThemeError {
    #[error("theme {name:?} not found (built in: {builtin}; or give a path to a .toml file, or put {name}.toml in {dir})")]
    NotFound {
        name: String,
        builtin: String,
        dir: String,
    },
    #[error("cannot read theme file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("theme {origin} is not valid TOML: {message}")]
    Toml { origin: String, message: String },
    #[error("theme {origin}: unknown colour slot `{key}` (known: {known})")]
    UnknownSlot {
        origin: String,
        key: String,
        known: String,
    },
    #[error("theme {origin}: `{key}` = {value:?} is not a colour (use \"#rrggbb\", a colour name or \"reset\")")]
    BadColor {
        origin: String,
        key: String,
        value: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, String>,
}

macro_rules! theme_slots {
    ($($slot:ident),* $(,)?) => {
        /// Resolved colours for every part of the UI.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Theme {
            pub name: String,
            $(pub $slot: Color,)*
        }

        const SLOTS: &[&str] = &[$(stringify!($slot)),*];

        impl Theme {
    /// A tab or a choice in a row of them: accent-filled when `on`, dim otherwise.
    pub fn chip(&self, on: bool) -> Style {
        self.marked(on, (self.background, self.accent), self.dim)
    }

    /// A row of a picker: the selection's colours when `selected`.
    pub fn picker_row(&self, selected: bool) -> Style {
        self.marked(selected, (self.accent, self.selection_bg), self.foreground)
    }

    /// Bold `on` colours (foreground, background) when `on`, else the `off` foreground.
    fn marked(&self, on: bool, (fg, bg): (Color, Color), off: Color) -> Style {
        if on {
            Style::default().fg(fg).bg(bg).add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(off)
        }
    }

            fn set(&mut self, key: &str, color: Color) -> bool {
                match key {
                    $(stringify!($slot) => { self.$slot = color; true })*
                    _ => false,
                }
            }
        }
    };
}

theme_slots!(
    background,
    foreground,
    dim,
    border,
    border_focused,
    title,
    title_focused,
    accent,
    selection_bg,
    cursor_line_bg,
    json_key,
    json_string,
    json_number,
    json_literal,
    json_punct,
    diagnostic,
    fixable,
    ok,
    warn,
    error,
    locked,
    gauge,
    gauge_high,
    status_bg,
    status_fg,
    key,
);

impl Default for Theme {
    fn default() -> Self {
        let base = Theme {
            name: String::new(),
            background: Color::Reset,
            foreground: Color::Reset,
            dim: Color::DarkGray,
            border: Color::DarkGray,
            border_focused: Color::Blue,
            title: Color::Reset,
            title_focused: Color::Blue,
            accent: Color::Blue,
            selection_bg: Color::DarkGray,
            cursor_line_bg: Color::Reset,
            json_key: Color::Blue,
            json_string: Color::Green,
            json_number: Color::Yellow,
            json_literal: Color::Magenta,
            json_punct: Color::Gray,
            diagnostic: Color::Red,
            fixable: Color::Yellow,
            ok: Color::Green,
            warn: Color::Yellow,
            error: Color::Red,
            locked: Color::DarkGray,
            gauge: Color::Blue,
            gauge_high: Color::Red,
            status_bg: Color::Reset,
            status_fg: Color::Reset,
            key: Color::Yellow,
        };
        // The built-in dark theme is checked by a unit test, so this cannot fail in practice;
        // the named-colour base above is what a broken build would show.
        Theme::parse_over(base.clone(), BUILTIN[0].1, "dark (built in)").unwrap_or(base)
    }
}

impl Theme {
    /// Parses a theme file's text over the default theme. `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Theme, ThemeError> {
        Theme::parse_over(Theme::default(), text, origin)
    }

    fn parse_over(mut theme: Theme, text: &str, origin: &str) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Toml {
            origin: origin.to_string(),
            message: e.message().to_string(),
        })?;
        if let Some(name) = file.name {
            theme.name = name;
        }
        for (key, value) in &file.colors {
            let color = parse_color(value).ok_or_else(|| ThemeError::BadColor {
                origin: origin.to_string(),
                key: key.clone(),
                value: value.clone(),
            })?;
            if !theme.set(key, color) {
                return Err(ThemeError::UnknownSlot {
                    origin: origin.to_string(),
                    key: key.clone(),
                    known: SLOTS.join(", "),
                });
            }
        }
        Ok(theme)
    }

    /// Finds a theme by name or path: a path to a `.toml` file, then `<user_dir>/NAME.toml`,
    /// then the built-in themes.
    pub fn load(name_or_path: &str, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        let as_path = Path::new(name_or_path);
        let looks_like_path = name_or_path.ends_with(".toml") || name_or_path.contains('/');
        if looks_like_path {
            return Theme::load_file(as_path);
        }
        if let Some(dir) = user_dir {
            let candidate = dir.join(format!("{name_or_path}.toml"));
            if candidate.is_file() {
                return Theme::load_file(&candidate);
            }
        }
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Theme::parse(text, &format!("{name_or_path} (built in)"));
        }
        Err(ThemeError::NotFound {
            name: name_or_path.to_string(),
            builtin: BUILTIN
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            dir: user_dir.map_or_else(
                || "the config folder's themes/".into(),
                |d| d.display().to_string(),
            ),
        })
    }

    fn load_file(path: &Path) -> Result<Theme, ThemeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ThemeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut theme = Theme::parse(&text, &path.display().to_string())?;
        if theme.name.is_empty() || theme.name == DEFAULT_THEME {
            theme.name = path
                .file_stem()
                .map_or_else(|| "custom".into(), |s| s.to_string_lossy().into_owned());
        }
        Ok(theme)
    }

    /// Loads `name`, or the default theme with the error to show the user.
    pub fn load_or_default(name: &str, user_dir: Option<&Path>) -> (Theme, Option<ThemeError>) {
        match Theme::load(name, user_dir) {
            Ok(theme) => (theme, None),
            Err(err) => (Theme::default(), Some(err)),
        }
    }
}

/// `#rrggbb`, `#rgb`, a ratatui colour name, or `reset`.
pub fn parse_color(text: &str) -> Option<Color> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix('#') {
        let digits: Vec<u8> = hex
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()?;
        return match digits.as_slice() {
            [r, g, b] => Some(Color::Rgb(r * 17, g * 17, b * 17)),
            [r1, r2, g1, g2, b1, b2] => Some(Color::Rgb(r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2)),
            _ => None,
        };
    }
    let lower = t.to_ascii_lowercase().replace(['_', '-', ' '], "");
    Some(match lower.as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_parse_and_set_every_slot() {
        for (name, text) in BUILTIN {
            let theme = Theme::parse(text, name).unwrap();
            assert_eq!(theme.name, *name);
            let file: ThemeFile = toml::from_str(text).unwrap();
            for slot in SLOTS {
                assert!(file.colors.contains_key(*slot), "{name} lacks {slot}");
            }
        }
        assert_ne!(
            Theme::load("dark", None).unwrap(),
            Theme::load("light", None).unwrap()
        );
    }

    #[test]
    fn partial_theme_keeps_defaults() {
        let t = Theme::parse("[colors]\naccent = \"#ff0000\"\n", "t").unwrap();
        assert_eq!(t.accent, Color::Rgb(255, 0, 0));
        assert_eq!(t.json_key, Theme::default().json_key);
    }

    #[test]
    fn errors_name_the_key() {
        let e = Theme::parse("[colors]\naccnt = \"red\"\n", "x.toml").unwrap_err();
        assert!(e.to_string().contains("unknown colour slot `accnt`"), "{e}");
        let e = Theme::parse("[colors]\naccent = \"#12\"\n", "x.toml").unwrap_err();
        assert!(
            e.to_string().contains("`accent` = \"#12\" is not a colour"),
            "{e}"
        );
        let e = Theme::parse("[colors\n", "x.toml").unwrap_err();
        assert!(
            e.to_string().starts_with("theme x.toml is not valid TOML"),
            "{e}"
        );
        let (t, e) = Theme::load_or_default("nope", None);
        assert_eq!(t.name, "dark");
        assert!(e.unwrap().to_string().contains("\"nope\" not found"));
    }

    #[test]
    fn colours() {
        assert_eq!(parse_color("#abc"), Some(Color::Rgb(0xaa, 0xbb, 0xcc)));
        assert_eq!(parse_color("Light-Blue"), Some(Color::LightBlue));
        assert_eq!(parse_color("#ggg000"), None);
    }
}
