//! The terminal app: a ratatui + crossterm interface on a tokio loop that never blocks on the
//! engine.
//!
//! * [`app`]: the state, routing each [`action::Action`] to the piece it belongs to; each
//!   piece handles its own keys next to its data: [`editor`] (the caption buffer),
//!   [`document`] (the caption's file, verification, reformatting), [`params_state`] (the
//!   parameters form), [`overlay_state`] (help, prompts, pickers, the guidance editor),
//!   [`jobs`] (the mirrored queue and the history), [`idea`], [`start`], [`layout_view`];
//! * [`keymap`]: the one key table (handling, status line, help and every message that names
//!   a key read it);
//! * [`components`]: one drawing module per pane, [`ui`] puts them together by [`layout`];
//!   [`list`] scrolls every list;
//! * [`theme`], [`config`]: TOML files under the config directory;
//! * [`preview`]: images as half-blocks or terminal graphics (viuer);
//! * [`terminal`], [`runtime`]: raw mode, the input thread, the event loop.

pub mod action;
pub mod app;
pub mod components;
pub mod config;
pub mod document;
pub mod editor;
pub mod idea;
pub mod jobs;
pub mod keymap;
pub mod layout;
pub mod layout_view;
pub mod list;
pub mod output_sink;
pub mod overlay_state;
pub mod params_state;
pub mod preview;
pub mod runtime;
pub mod signals;
pub mod sixel;
pub mod start;
pub mod state_save;
pub mod sysmem;
pub mod terminal;
pub mod termquery;
pub mod theme;
pub mod tmux;
pub mod ui;

pub use action::{Action, Motion, Pane, PresetChoice};
pub use app::{App, AppInit, Effect, EngineCommand};
pub use theme::Theme;
