//! The one table of key bindings. Key handling, the status line and the help overlay all read
//! it, so what the help says is what the keys do.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Motion, Pane, PresetChoice};

/// Where a binding applies. Lookup order: an open overlay's context alone; otherwise the
/// focused pane's, then [`Context::Panes`] (single keys that would type text in the editor),
/// then [`Context::Global`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    Panes,
    Editor,
    Diagnostics,
    Params,
    Queue,
    History,
    Help,
    Prompt,
    Picker,
    Guidance,
    /// The layout view of the caption's boxes.
    Layout,
}

impl Context {
    pub fn of_pane(pane: Pane) -> Context {
        match pane {
            Pane::Editor => Context::Editor,
            Pane::Diagnostics => Context::Diagnostics,
            Pane::Params => Context::Params,
            Pane::Queue => Context::Queue,
            Pane::History => Context::History,
            Pane::Progress | Pane::Preview => Context::Panes,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Panes => "Panes other than the editor",
            Context::Editor => "Caption editor",
            Context::Diagnostics => "Diagnostics",
            Context::Params => "Parameters",
            Context::Queue => "Queue",
            Context::History => "History",
            Context::Help => "Help",
            Context::Prompt => "Input line",
            Context::Picker => "Pickers",
            Context::Guidance => "Guidance schedule editor",
            Context::Layout => "Layout view (boxes)",
        }
    }

    /// The order the help overlay lists contexts in.
    pub const HELP_ORDER: [Context; 11] = [
        Context::Global,
        Context::Panes,
        Context::Editor,
        Context::Diagnostics,
        Context::Params,
        Context::Guidance,
        Context::Layout,
        Context::Queue,
        Context::History,
        Context::Picker,
        Context::Prompt,
    ];
}

/// One key with modifiers, as the terminal reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub const fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        Key { code, mods }
    }

    pub const fn plain(code: KeyCode) -> Key {
        Key::new(code, KeyModifiers::NONE)
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    pub const fn alt(c: char) -> Key {
        Key::new(KeyCode::Char(c), KeyModifiers::ALT)
    }

    pub const fn shift(code: KeyCode) -> Key {
        Key::new(code, KeyModifiers::SHIFT)
    }

    /// Canonical form for matching: terminals report `Shift` with upper-case letters and
    /// BackTab inconsistently, and Ctrl letters in either case.
    pub fn normalize(event: &KeyEvent) -> Key {
        let mut mods =
            event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let mut code = event.code;
        match code {
            KeyCode::Char(c) => {
                if mods.contains(KeyModifiers::CONTROL) || mods.contains(KeyModifiers::ALT) {
                    code = KeyCode::Char(c.to_ascii_lowercase());
                    if c.is_ascii_uppercase() {
                        mods |= KeyModifiers::SHIFT;
                    }
                    if c.is_ascii_alphabetic() {
                        // Ctrl-Shift-Z and Ctrl-Z are the same to most terminals.
                        mods.remove(KeyModifiers::SHIFT);
                    }
                } else {
                    mods.remove(KeyModifiers::SHIFT);
                }
            }
            KeyCode::BackTab => mods.remove(KeyModifiers::SHIFT),
            _ => {}
        }
        Key { code, mods }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c)
                if self.mods.contains(KeyModifiers::CONTROL)
                    || self.mods.contains(KeyModifiers::ALT) =>
            {
                write!(f, "{}", c.to_ascii_uppercase())
            }
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Del"),
            KeyCode::Insert => f.write_str("Ins"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Where a binding is advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// In the status line while its context is active, and in help.
    Status,
    /// In help only.
    Help,
    /// Nowhere: keys too obvious to list (arrows in the editor and the input line).
    Hidden,
}

/// One entry of the key map.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub context: Context,
    pub keys: Vec<Key>,
    pub action: Action,
    /// Empty for [`Shown::Hidden`] bindings.
    pub help: &'static str,
    pub shown: Shown,
}

impl Binding {
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A short label for the status line: the first key only.
    pub fn short_label(&self) -> String {
        self.keys
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    pub fn in_status_line(&self) -> bool {
        self.shown == Shown::Status
    }
}

/// One row per binding: `Context Shown [keys] action => "help";`.
macro_rules! key_table {
    ($($context:ident $shown:ident [$($key:expr),+] $action:expr => $help:literal;)*) => {
        vec![$(Binding {
            context: Context::$context,
            keys: vec![$($key),+],
            action: $action,
            help: $help,
            shown: Shown::$shown,
        }),*]
    };
}

/// Short names for the key table.
mod keys {
    use super::Key;
    use crossterm::event::{KeyCode, KeyModifiers};

    pub const TAB: Key = Key::plain(KeyCode::Tab);
    pub const BACKTAB: Key = Key::plain(KeyCode::BackTab);
    pub const ENTER: Key = Key::plain(KeyCode::Enter);
    pub const ESC: Key = Key::plain(KeyCode::Esc);
    pub const BACKSPACE: Key = Key::plain(KeyCode::Backspace);
    pub const DELETE: Key = Key::plain(KeyCode::Delete);
    pub const UP: Key = Key::plain(KeyCode::Up);
    pub const DOWN: Key = Key::plain(KeyCode::Down);
    pub const LEFT: Key = Key::plain(KeyCode::Left);
    pub const RIGHT: Key = Key::plain(KeyCode::Right);
    pub const HOME: Key = Key::plain(KeyCode::Home);
    pub const END: Key = Key::plain(KeyCode::End);
    pub const PGUP: Key = Key::plain(KeyCode::PageUp);
    pub const PGDN: Key = Key::plain(KeyCode::PageDown);

    pub const fn ch(c: char) -> Key {
        Key::ch(c)
    }
    pub const fn ctrl(c: char) -> Key {
        Key::ctrl(c)
    }
    pub const fn alt(c: char) -> Key {
        Key::alt(c)
    }
    pub const fn f(n: u8) -> Key {
        Key::plain(KeyCode::F(n))
    }
    pub const fn shift(key: Key) -> Key {
        Key::new(key.code, key.mods.union(KeyModifiers::SHIFT))
    }
    pub const fn ctrl_k(key: Key) -> Key {
        Key::new(key.code, key.mods.union(KeyModifiers::CONTROL))
    }
}

pub struct KeyMap {
    bindings: Vec<Binding>,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap::standard()
    }
}

/// What a message names when no key is bound: never a key that does something else.
const UNBOUND: &str = "?";

impl KeyMap {
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    pub fn lookup(&self, context: Context, key: Key) -> Option<&Binding> {
        self.bindings
            .iter()
            .find(|b| b.context == context && b.keys.contains(&key))
    }

    pub fn in_context(&self, context: Context) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| b.context == context)
    }

    /// The key a message names for `action`: the first key of its first binding, wherever
    /// that is. Messages and hints take key names from here so they say what the keys do.
    pub fn key_label(&self, action: &Action) -> String {
        self.bindings
            .iter()
            .find(|b| &b.action == action)
            .map_or_else(|| UNBOUND.into(), Binding::short_label)
    }

    /// The first key for `action` in `context`.
    pub fn key_in(&self, context: Context, action: &Action) -> String {
        self.lookup_action(context, action)
            .map_or_else(|| UNBOUND.into(), Binding::short_label)
    }

    /// The letter for `action` in `context` when it has one besides a digit or a named key
    /// ("c" for Custom, bound to 4 and c), else its first key.
    pub fn letter_in(&self, context: Context, action: &Action) -> String {
        let Some(b) = self.lookup_action(context, action) else {
            return UNBOUND.into();
        };
        let letter = b.keys.iter().find(|k| {
            matches!(k.code, KeyCode::Char(c) if c.is_ascii_alphabetic()) && k.mods.is_empty()
        });
        letter.map_or_else(|| b.short_label(), ToString::to_string)
    }

    fn lookup_action(&self, context: Context, action: &Action) -> Option<&Binding> {
        self.bindings
            .iter()
            .find(|b| b.context == context && &b.action == action)
    }

    /// The standard bindings, in the order help lists them. Global ones use Ctrl, Alt or
    /// function keys so they work while typing in the editor; single letters live in pane
    /// contexts.
    pub fn standard() -> KeyMap {
        use super::layout_view::{Dir, LayoutAction as L};
        use keys::*;
        use Action as A;
        use Motion as M;
        use PresetChoice as P;
        let bindings = key_table! {
            // context  shown   keys                  action                   => help
            Global      Status  [ctrl('q')]           A::Quit                  => "quit (state is saved)";
            Global      Status  [f(1)]                A::ToggleHelp            => "help: every key";
            Global      Status  [TAB]                 A::FocusNext             => "next pane";
            Global      Help    [BACKTAB]             A::FocusPrev             => "previous pane";
            Global      Help    [alt('1')]            A::Focus(Pane::Editor)   => "focus the caption editor";
            Global      Help    [alt('2')]            A::Focus(Pane::Diagnostics) => "focus diagnostics";
            Global      Help    [alt('3')]            A::Focus(Pane::Params)   => "focus parameters";
            Global      Help    [alt('4')]            A::Focus(Pane::Queue)    => "focus the queue";
            Global      Help    [alt('5')]            A::Focus(Pane::History)  => "focus history";
            Global      Help    [alt('6')]            A::Focus(Pane::Progress) => "focus progress + memory";
            Global      Help    [alt('7')]            A::Focus(Pane::Preview)  => "focus the preview";
            // Presets from any pane, the editor included: function keys never insert text.
            Global      Help    [f(5)]                A::Preset(P::Quality48)  => "preset V4_QUALITY_48 (any pane)";
            Global      Help    [f(6)]                A::Preset(P::Default20)  => "preset V4_DEFAULT_20 (any pane)";
            Global      Help    [f(7)]                A::Preset(P::Turbo12)    => "preset V4_TURBO_12 (any pane)";
            Global      Help    [f(8)]                A::Preset(P::TurboTime8) => "preset V4_TURBOTIME_8 (any pane)";
            Global      Help    [f(9)]                A::Preset(P::TurboTime4) => "preset V4_TURBOTIME_4 (any pane)";
            Global      Help    [f(10)]               A::Preset(P::TurboTime2) => "preset V4_TURBOTIME_2 (any pane)";
            Global      Status  [f(2)]                A::ToggleZoom            => "zoom the focused pane";
            Global      Status  [ctrl('r')]           A::Submit                => "run: queue caption + parameters";
            Global      Help    [ctrl('n')]           A::SubmitMany            => "queue N jobs (successive seeds)";
            Global      Status  [ctrl('f')]           A::ApplyFixes            => "apply the verifier's fixes";
            Global      Help    [ctrl('p')]           A::ToggleFormat          => "pretty / minified caption";
            Global      Help    [ctrl('o')]           A::OpenFile              => "open a caption file";
            Global      Help    [ctrl('s')]           A::SaveFile              => "save the caption";
            Global      Help    [alt('s')]            A::SaveFileAs            => "save the caption as…";
            Global      Help    [ctrl('e')]           A::Examples              => "start from an example caption";
            Global      Help    [ctrl('w')]           A::WrapPlainText         => "wrap plain text into a caption";
            Global      Help    [ctrl('l')]           A::Redraw                => "redraw the screen";
            Global      Help    [ctrl('g')]           A::OpenIdea              => "idea → caption (magic prompt)";
            Global      Help    [ESC]                 A::CancelIdea            => "cancel the idea expansion";
            Global      Help    [alt('l')]            A::ToggleLayout          => "layout view: the caption's boxes";

            Layout      Status  [UP, ch('k')]         A::Layout(L::Move(Dir::Up))      => "move the box";
            Layout      Hidden  [DOWN, ch('j')]       A::Layout(L::Move(Dir::Down))    => "";
            Layout      Hidden  [LEFT, ch('h')]       A::Layout(L::Move(Dir::Left))    => "";
            Layout      Hidden  [RIGHT, ch('l')]      A::Layout(L::Move(Dir::Right))   => "";
            Layout      Status  [shift(UP), ch('K')]  A::Layout(L::Resize(Dir::Up))    => "resize (bottom / right edge)";
            Layout      Hidden  [shift(DOWN), ch('J')] A::Layout(L::Resize(Dir::Down)) => "";
            Layout      Hidden  [shift(LEFT), ch('H')] A::Layout(L::Resize(Dir::Left)) => "";
            Layout      Hidden  [shift(RIGHT), ch('L')] A::Layout(L::Resize(Dir::Right)) => "";
            Layout      Status  [TAB, ch('n')]        A::Layout(L::Next)       => "next element";
            Layout      Help    [BACKTAB, ch('p')]    A::Layout(L::Prev)       => "previous element";
            Layout      Status  [ch('f')]             A::Layout(L::ToggleFine) => "fine / coarse steps";
            Layout      Status  [ch('a')]             A::Layout(L::AddBox)     => "add a bbox to the element";
            Layout      Status  [ctrl('z'), ch('u')]  A::Undo                  => "undo";
            Layout      Help    [ctrl('y')]           A::Redo                  => "redo";
            Layout      Help    [ENTER]               A::Layout(L::Jump)       => "edit the element's text";
            Layout      Status  [ESC, ch('q')]        A::Layout(L::Close)      => "close";

            Panes       Help    [ch('q')]             A::Quit                  => "quit";
            Panes       Help    [ch('?')]             A::ToggleHelp            => "help";
            Panes       Help    [ch('z')]             A::ToggleZoom            => "zoom";

            Editor      Help    [ctrl('z')]           A::Undo                  => "undo";
            Editor      Help    [ctrl('y')]           A::Redo                  => "redo";
            Editor      Help    [ctrl('c')]           A::Copy                  => "copy selection";
            Editor      Help    [ctrl('x')]           A::Cut                   => "cut selection";
            Editor      Help    [ctrl('v')]           A::PasteClipboard        => "paste (terminal paste works too)";
            Editor      Help    [ctrl('a')]           A::SelectAll             => "select all";
            Editor      Help    [ENTER]               A::Newline               => "new line";
            Editor      Help    [BACKSPACE]           A::Backspace             => "delete before cursor";
            Editor      Help    [DELETE]              A::Delete                => "delete at cursor";
            Editor      Hidden  [LEFT]                A::Move(M::Left)         => "";
            Editor      Hidden  [shift(LEFT)]         A::Select(M::Left)       => "";
            Editor      Hidden  [RIGHT]               A::Move(M::Right)        => "";
            Editor      Hidden  [shift(RIGHT)]        A::Select(M::Right)      => "";
            Editor      Hidden  [UP]                  A::Move(M::Up)           => "";
            Editor      Hidden  [shift(UP)]           A::Select(M::Up)         => "";
            Editor      Hidden  [DOWN]                A::Move(M::Down)         => "";
            Editor      Hidden  [shift(DOWN)]         A::Select(M::Down)       => "";
            Editor      Hidden  [HOME]                A::Move(M::LineStart)    => "";
            Editor      Hidden  [shift(HOME)]         A::Select(M::LineStart)  => "";
            Editor      Hidden  [END]                 A::Move(M::LineEnd)      => "";
            Editor      Hidden  [shift(END)]          A::Select(M::LineEnd)    => "";
            Editor      Hidden  [PGUP]                A::Move(M::PageUp)       => "";
            Editor      Hidden  [shift(PGUP)]         A::Select(M::PageUp)     => "";
            Editor      Hidden  [PGDN]                A::Move(M::PageDown)     => "";
            Editor      Hidden  [shift(PGDN)]         A::Select(M::PageDown)   => "";
            Editor      Help    [ctrl_k(LEFT)]        A::Move(M::WordLeft)     => "word left";
            Editor      Help    [ctrl_k(RIGHT)]       A::Move(M::WordRight)    => "word right";
            Editor      Help    [ctrl_k(HOME)]        A::Move(M::DocStart)     => "start of caption";
            Editor      Help    [ctrl_k(END)]         A::Move(M::DocEnd)       => "end of caption";
            Editor      Hidden  [shift(ctrl_k(LEFT))] A::Select(M::WordLeft)   => "";
            Editor      Hidden  [shift(ctrl_k(RIGHT))] A::Select(M::WordRight) => "";

            Diagnostics Help    [UP, ch('k')]         A::Move(M::Up)           => "previous warning";
            Diagnostics Help    [DOWN, ch('j')]       A::Move(M::Down)         => "next warning";
            Diagnostics Status  [ENTER]               A::Activate              => "jump to the warning in the caption";
            Diagnostics Status  [ch('f')]             A::ApplyFixes            => "apply fixes";

            Params      Help    [UP, ch('k')]         A::Move(M::Up)           => "previous field";
            Params      Help    [DOWN, ch('j')]       A::Move(M::Down)         => "next field";
            Params      Help    [RIGHT, ch('+'), ch('l')] A::Increase          => "increase / next choice";
            Params      Help    [LEFT, ch('-'), ch('h')] A::Decrease           => "decrease / previous choice";
            Params      Status  [ENTER]               A::Activate              => "edit the field";
            Params      Status  [ch('1')]             A::Preset(P::Quality48)  => "preset V4_QUALITY_48";
            Params      Status  [ch('2')]             A::Preset(P::Default20)  => "preset V4_DEFAULT_20";
            Params      Status  [ch('3')]             A::Preset(P::Turbo12)    => "preset V4_TURBO_12";
            Params      Status  [ch('4'), ch('c')]    A::Preset(P::Custom)     => "Custom (unlocks steps, mu, std, guidance)";
            Params      Help    [ch('5')]             A::Preset(P::TurboTime8) => "preset V4_TURBOTIME_8 (TurboTime LoRA)";
            Params      Help    [ch('6')]             A::Preset(P::TurboTime4) => "preset V4_TURBOTIME_4";
            Params      Help    [ch('7')]             A::Preset(P::TurboTime2) => "preset V4_TURBOTIME_2";
            Params      Status  [ch('A')]             A::PickAdapters          => "LoRA adapters: Enter adds/removes, ←/→ strength";
            Params      Help    [ch('g')]             A::EditGuidance          => "guidance schedule editor";
            Params      Help    [ch('a')]             A::CycleAspect           => "next aspect preset";
            Params      Help    [ch('r')]             A::RandomSeed            => "randomise the seed";
            Params      Help    [ch('L')]             A::ToggleSeedLock        => "lock / unlock the seed";
            Params      Help    [ch('m')]             A::PickModel             => "choose the model";

            Guidance    Help    [LEFT, ch('h')]       A::Move(M::Left)         => "previous step";
            Guidance    Help    [RIGHT, ch('l')]      A::Move(M::Right)        => "next step";
            Guidance    Status  [UP, ch('+'), ch('k')] A::Increase             => "weight +0.5";
            Guidance    Status  [DOWN, ch('-'), ch('j')] A::Decrease           => "weight −0.5";
            Guidance    Status  [ch('=')]             A::FillGuidance          => "every step takes this weight";
            Guidance    Status  [ENTER]               A::Activate              => "type the whole list (sampling order)";
            Guidance    Status  [ESC, ch('q')]        A::Close                 => "close";

            Queue       Help    [UP, ch('k')]         A::Move(M::Up)           => "previous job";
            Queue       Help    [DOWN, ch('j')]       A::Move(M::Down)         => "next job";
            Queue       Status  [ch('a'), ENTER]      A::Submit                => "add a job";
            Queue       Status  [ch('n')]             A::SubmitMany            => "add N jobs";
            Queue       Status  [ch('K'), shift(UP)]  A::MoveJobUp             => "move job up";
            Queue       Status  [ch('J'), shift(DOWN)] A::MoveJobDown          => "move job down";
            Queue       Status  [ch('x'), DELETE]     A::CancelJob             => "cancel (running or waiting)";
            Queue       Status  [ch('r')]             A::RetryJob              => "retry";
            Queue       Status  [ch('d')]             A::RemoveJob             => "remove from the list";
            Queue       Status  [ch('p')]             A::ToggleQueuePause      => "pause / resume the queue";

            History     Help    [UP, ch('k')]         A::Move(M::Up)           => "previous image";
            History     Help    [DOWN, ch('j')]       A::Move(M::Down)         => "next image";
            History     Status  [ENTER]               A::Activate              => "show in the preview";
            History     Status  [ch('l')]             A::LoadParams            => "load its caption + parameters";

            Help        Status  [ESC, f(1), ch('?'), ch('q')] A::Close         => "close help";
            Help        Help    [UP, ch('k')]         A::Move(M::Up)           => "scroll up";
            Help        Help    [DOWN, ch('j')]       A::Move(M::Down)         => "scroll down";
            Help        Help    [PGUP]                A::Move(M::PageUp)       => "page up";
            Help        Help    [PGDN, ch(' ')]       A::Move(M::PageDown)     => "page down";

            Picker      Help    [UP, ch('k')]         A::Move(M::Up)           => "previous";
            Picker      Help    [DOWN, ch('j')]       A::Move(M::Down)         => "next";
            Picker      Status  [ENTER]               A::Activate              => "choose";
            Picker      Help    [RIGHT, ch('+')]      A::Increase              => "adapter list: stronger";
            Picker      Help    [LEFT, ch('-')]       A::Decrease              => "adapter list: weaker";
            Picker      Status  [ESC, ch('q')]        A::Close                 => "cancel";

            Prompt      Status  [ENTER]               A::Activate              => "accept";
            Prompt      Status  [ESC]                 A::Close                 => "cancel";
            Prompt      Hidden  [BACKSPACE]           A::Backspace             => "";
            Prompt      Hidden  [DELETE]              A::Delete                => "";
            Prompt      Hidden  [LEFT]                A::Move(M::Left)         => "";
            Prompt      Hidden  [RIGHT]               A::Move(M::Right)        => "";
            Prompt      Hidden  [HOME, ctrl('a')]     A::Move(M::LineStart)    => "";
            Prompt      Hidden  [END, ctrl('e')]      A::Move(M::LineEnd)      => "";

            // Image to image: variations of finished images, start and mask files, strength.
            History     Status  [ch('v')]             A::Variation             => "variation: rerun it starting from this image";
            Panes       Help    [ch('v')]             A::Variation             => "variation of the image in the preview";
            Params      Help    [ch('i')]             A::PickStartSource       => "start image: choose a source file";
            Params      Help    [ch('I')]             A::PickStartMask         => "start image: choose a mask (white = repaint)";
            Params      Help    [ch(']')]             A::StrengthUp            => "start image: more strength (further from the source)";
            Params      Help    [ch('[')]             A::StrengthDown          => "start image: less strength (closer to the source)";
            Params      Help    [ch('x')]             A::ClearStart            => "start image: drop source and mask (text to image)";
            Prompt      Help    [TAB]                 A::CompletePath          => "complete the file name";
        };
        KeyMap { bindings }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn no_key_is_bound_twice_where_both_could_fire() {
        let map = KeyMap::standard();
        // A pane context is searched before Panes and Global; a key bound in both would make
        // the later one unreachable from that pane, which is fine only when intended.
        let mut seen: HashSet<(Context, Key)> = HashSet::new();
        for b in map.bindings() {
            for k in &b.keys {
                assert!(
                    seen.insert((b.context, *k)),
                    "{k} bound twice in {:?}",
                    b.context
                );
            }
        }
        for b in map.in_context(Context::Global) {
            for k in &b.keys {
                let plain_char = matches!(k.code, KeyCode::Char(_)) && k.mods.is_empty();
                assert!(!plain_char, "global {k} would swallow typing");
            }
        }
    }

    #[test]
    fn hidden_bindings_and_only_they_have_no_help() {
        for b in KeyMap::standard().bindings() {
            assert_eq!(b.shown == Shown::Hidden, b.help.is_empty(), "{b:?}");
        }
    }

    #[test]
    fn normalises_shifted_and_control_keys() {
        let e = KeyEvent::new(KeyCode::Char('K'), KeyModifiers::SHIFT);
        assert_eq!(Key::normalize(&e), Key::ch('K'));
        let e = KeyEvent::new(
            KeyCode::Char('R'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT,
        );
        assert_eq!(Key::normalize(&e), Key::ctrl('r'));
        let e = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(Key::normalize(&e), Key::plain(KeyCode::BackTab));
        assert_eq!(Key::ctrl('r').to_string(), "Ctrl-R");
        assert_eq!(Key::shift(KeyCode::Up).to_string(), "Shift-↑");
    }
}
