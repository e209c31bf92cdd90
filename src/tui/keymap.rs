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

/// One entry of the key map.
#[derive(Debug, Clone)]
pub struct Binding {
    pub context: Context,
    pub keys: Vec<Key>,
    pub action: Action,
    pub help: &'static str,
    /// Shown in the status line when its context is active.
    pub status: bool,
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
}

pub struct KeyMap {
    bindings: Vec<Binding>,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap::standard()
    }
}

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

    /// The standard bindings. Global ones use Ctrl, Alt or function keys so they work while
    /// typing in the editor; single letters live in pane contexts.
    pub fn standard() -> KeyMap {
        use Action as A;
        use Context as C;
        use KeyCode as K;
        let mut b = Builder::default();
        let ctrl = |c| Key::ctrl(c);
        let plain = Key::plain;
        let ch = Key::ch;

        b.add(
            C::Global,
            [ctrl('q')],
            A::Quit,
            "quit (state is saved)",
            true,
        );
        b.add(
            C::Global,
            [plain(K::F(1))],
            A::ToggleHelp,
            "help: every key",
            true,
        );
        b.add(C::Global, [plain(K::Tab)], A::FocusNext, "next pane", true);
        b.add(
            C::Global,
            [plain(K::BackTab)],
            A::FocusPrev,
            "previous pane",
            false,
        );
        for (i, pane) in Pane::ALL.iter().enumerate() {
            let digit = char::from(b'1' + i as u8);
            b.add(
                C::Global,
                [Key::alt(digit)],
                A::Focus(*pane),
                pane_help(*pane),
                false,
            );
        }
        // Presets from any pane, the editor included: function keys never insert text.
        let presets = [
            (
                5,
                PresetChoice::Quality48,
                "preset V4_QUALITY_48 (any pane)",
            ),
            (
                6,
                PresetChoice::Default20,
                "preset V4_DEFAULT_20 (any pane)",
            ),
            (7, PresetChoice::Turbo12, "preset V4_TURBO_12 (any pane)"),
            (
                8,
                PresetChoice::TurboTime8,
                "preset V4_TURBOTIME_8 (any pane)",
            ),
            (
                9,
                PresetChoice::TurboTime4,
                "preset V4_TURBOTIME_4 (any pane)",
            ),
            (
                10,
                PresetChoice::TurboTime2,
                "preset V4_TURBOTIME_2 (any pane)",
            ),
        ];
        for (f, choice, help) in presets {
            b.add(C::Global, [plain(K::F(f))], A::Preset(choice), help, false);
        }
        b.add(
            C::Global,
            [plain(K::F(2))],
            A::ToggleZoom,
            "zoom the focused pane",
            true,
        );
        b.add(
            C::Global,
            [ctrl('r')],
            A::Submit,
            "run: queue caption + parameters",
            true,
        );
        b.add(
            C::Global,
            [ctrl('n')],
            A::SubmitMany,
            "queue N jobs (successive seeds)",
            false,
        );
        b.add(
            C::Global,
            [ctrl('f')],
            A::ApplyFixes,
            "apply the verifier's fixes",
            true,
        );
        b.add(
            C::Global,
            [ctrl('p')],
            A::ToggleFormat,
            "pretty / minified caption",
            false,
        );
        b.add(
            C::Global,
            [ctrl('o')],
            A::OpenFile,
            "open a caption file",
            false,
        );
        b.add(
            C::Global,
            [ctrl('s')],
            A::SaveFile,
            "save the caption",
            false,
        );
        b.add(
            C::Global,
            [Key::alt('s')],
            A::SaveFileAs,
            "save the caption as…",
            false,
        );
        b.add(
            C::Global,
            [ctrl('e')],
            A::Examples,
            "start from an example caption",
            false,
        );
        b.add(
            C::Global,
            [ctrl('w')],
            A::WrapPlainText,
            "wrap plain text into a caption",
            false,
        );
        b.add(
            C::Global,
            [ctrl('l')],
            A::Redraw,
            "redraw the screen",
            false,
        );

        add_magic_bindings(&mut b);

        b.add(C::Panes, [ch('q')], A::Quit, "quit", false);
        b.add(C::Panes, [ch('?')], A::ToggleHelp, "help", false);
        b.add(C::Panes, [ch('z')], A::ToggleZoom, "zoom", false);

        b.add(C::Editor, [ctrl('z')], A::Undo, "undo", false);
        b.add(C::Editor, [ctrl('y')], A::Redo, "redo", false);
        b.add(C::Editor, [ctrl('c')], A::Copy, "copy selection", false);
        b.add(C::Editor, [ctrl('x')], A::Cut, "cut selection", false);
        b.add(
            C::Editor,
            [ctrl('v')],
            A::PasteClipboard,
            "paste (terminal paste works too)",
            false,
        );
        b.add(C::Editor, [ctrl('a')], A::SelectAll, "select all", false);
        b.add(C::Editor, [plain(K::Enter)], A::Newline, "new line", false);
        b.add(
            C::Editor,
            [plain(K::Backspace)],
            A::Backspace,
            "delete before cursor",
            false,
        );
        b.add(
            C::Editor,
            [plain(K::Delete)],
            A::Delete,
            "delete at cursor",
            false,
        );
        let motions = [
            (K::Left, Motion::Left),
            (K::Right, Motion::Right),
            (K::Up, Motion::Up),
            (K::Down, Motion::Down),
            (K::Home, Motion::LineStart),
            (K::End, Motion::LineEnd),
            (K::PageUp, Motion::PageUp),
            (K::PageDown, Motion::PageDown),
        ];
        for (code, motion) in motions {
            b.add_hidden(C::Editor, [plain(code)], A::Move(motion));
            b.add_hidden(C::Editor, [Key::shift(code)], A::Select(motion));
        }
        b.add(
            C::Editor,
            [Key::new(K::Left, KeyModifiers::CONTROL)],
            A::Move(Motion::WordLeft),
            "word left",
            false,
        );
        b.add(
            C::Editor,
            [Key::new(K::Right, KeyModifiers::CONTROL)],
            A::Move(Motion::WordRight),
            "word right",
            false,
        );
        b.add(
            C::Editor,
            [Key::new(K::Home, KeyModifiers::CONTROL)],
            A::Move(Motion::DocStart),
            "start of caption",
            false,
        );
        b.add(
            C::Editor,
            [Key::new(K::End, KeyModifiers::CONTROL)],
            A::Move(Motion::DocEnd),
            "end of caption",
            false,
        );
        b.add_hidden(
            C::Editor,
            [Key::new(
                K::Left,
                KeyModifiers::CONTROL | KeyModifiers::SHIFT,
            )],
            A::Select(Motion::WordLeft),
        );
        b.add_hidden(
            C::Editor,
            [Key::new(
                K::Right,
                KeyModifiers::CONTROL | KeyModifiers::SHIFT,
            )],
            A::Select(Motion::WordRight),
        );

        b.add(
            C::Diagnostics,
            [plain(K::Up), ch('k')],
            A::Move(Motion::Up),
            "previous warning",
            false,
        );
        b.add(
            C::Diagnostics,
            [plain(K::Down), ch('j')],
            A::Move(Motion::Down),
            "next warning",
            false,
        );
        b.add(
            C::Diagnostics,
            [plain(K::Enter)],
            A::Activate,
            "jump to the warning in the caption",
            true,
        );
        b.add(
            C::Diagnostics,
            [ch('f')],
            A::ApplyFixes,
            "apply fixes",
            true,
        );

        b.add(
            C::Params,
            [plain(K::Up), ch('k')],
            A::Move(Motion::Up),
            "previous field",
            false,
        );
        b.add(
            C::Params,
            [plain(K::Down), ch('j')],
            A::Move(Motion::Down),
            "next field",
            false,
        );
        b.add(
            C::Params,
            [plain(K::Right), ch('+'), ch('l')],
            A::Increase,
            "increase / next choice",
            false,
        );
        b.add(
            C::Params,
            [plain(K::Left), ch('-'), ch('h')],
            A::Decrease,
            "decrease / previous choice",
            false,
        );
        b.add(
            C::Params,
            [plain(K::Enter)],
            A::Activate,
            "edit the field",
            true,
        );
        b.add(
            C::Params,
            [ch('1')],
            A::Preset(PresetChoice::Quality48),
            "preset V4_QUALITY_48",
            true,
        );
        b.add(
            C::Params,
            [ch('2')],
            A::Preset(PresetChoice::Default20),
            "preset V4_DEFAULT_20",
            true,
        );
        b.add(
            C::Params,
            [ch('3')],
            A::Preset(PresetChoice::Turbo12),
            "preset V4_TURBO_12",
            true,
        );
        b.add(
            C::Params,
            [ch('4'), ch('c')],
            A::Preset(PresetChoice::Custom),
            "Custom (unlocks steps, mu, std, guidance)",
            true,
        );
        for (key, choice, help) in [
            (
                '5',
                PresetChoice::TurboTime8,
                "preset V4_TURBOTIME_8 (TurboTime LoRA)",
            ),
            ('6', PresetChoice::TurboTime4, "preset V4_TURBOTIME_4"),
            ('7', PresetChoice::TurboTime2, "preset V4_TURBOTIME_2"),
        ] {
            b.add(C::Params, [ch(key)], A::Preset(choice), help, false);
        }
        b.add(
            C::Params,
            [ch('A')],
            A::PickAdapters,
            "LoRA adapters: Enter adds/removes, ←/→ strength",
            true,
        );
        b.add(
            C::Params,
            [ch('g')],
            A::EditGuidance,
            "guidance schedule editor",
            false,
        );
        b.add(
            C::Params,
            [ch('a')],
            A::CycleAspect,
            "next aspect preset",
            false,
        );
        b.add(
            C::Params,
            [ch('r')],
            A::RandomSeed,
            "randomise the seed",
            false,
        );
        b.add(
            C::Params,
            [ch('L')],
            A::ToggleSeedLock,
            "lock / unlock the seed",
            false,
        );
        b.add(
            C::Params,
            [ch('m')],
            A::PickModel,
            "choose the model",
            false,
        );

        b.add(
            C::Guidance,
            [plain(K::Left), ch('h')],
            A::Move(Motion::Left),
            "previous step",
            false,
        );
        b.add(
            C::Guidance,
            [plain(K::Right), ch('l')],
            A::Move(Motion::Right),
            "next step",
            false,
        );
        b.add(
            C::Guidance,
            [plain(K::Up), ch('+'), ch('k')],
            A::Increase,
            "weight +0.5",
            true,
        );
        b.add(
            C::Guidance,
            [plain(K::Down), ch('-'), ch('j')],
            A::Decrease,
            "weight −0.5",
            true,
        );
        b.add(
            C::Guidance,
            [ch('=')],
            A::FillGuidance,
            "every step takes this weight",
            true,
        );
        b.add(
            C::Guidance,
            [plain(K::Enter)],
            A::Activate,
            "type the whole list (sampling order)",
            true,
        );
        b.add(
            C::Guidance,
            [plain(K::Esc), ch('q')],
            A::Close,
            "close",
            true,
        );

        b.add(
            C::Queue,
            [plain(K::Up), ch('k')],
            A::Move(Motion::Up),
            "previous job",
            false,
        );
        b.add(
            C::Queue,
            [plain(K::Down), ch('j')],
            A::Move(Motion::Down),
            "next job",
            false,
        );
        b.add(
            C::Queue,
            [ch('a'), plain(K::Enter)],
            A::Submit,
            "add a job",
            true,
        );
        b.add(C::Queue, [ch('n')], A::SubmitMany, "add N jobs", true);
        b.add(
            C::Queue,
            [ch('K'), Key::shift(K::Up)],
            A::MoveJobUp,
            "move job up",
            true,
        );
        b.add(
            C::Queue,
            [ch('J'), Key::shift(K::Down)],
            A::MoveJobDown,
            "move job down",
            true,
        );
        b.add(
            C::Queue,
            [ch('x'), plain(K::Delete)],
            A::CancelJob,
            "cancel (running or waiting)",
            true,
        );
        b.add(C::Queue, [ch('r')], A::RetryJob, "retry", true);
        b.add(
            C::Queue,
            [ch('d')],
            A::RemoveJob,
            "remove from the list",
            true,
        );
        b.add(
            C::Queue,
            [ch('p')],
            A::ToggleQueuePause,
            "pause / resume the queue",
            true,
        );

        b.add(
            C::History,
            [plain(K::Up), ch('k')],
            A::Move(Motion::Up),
            "previous image",
            false,
        );
        b.add(
            C::History,
            [plain(K::Down), ch('j')],
            A::Move(Motion::Down),
            "next image",
            false,
        );
        b.add(
            C::History,
            [plain(K::Enter)],
            A::Activate,
            "show in the preview",
            true,
        );
        b.add(
            C::History,
            [ch('l')],
            A::LoadParams,
            "load its caption + parameters",
            true,
        );

        b.add(
            C::Help,
            [plain(K::Esc), plain(K::F(1)), ch('?'), ch('q')],
            A::Close,
            "close help",
            true,
        );
        b.add(
            C::Help,
            [plain(K::Up), ch('k')],
            A::Move(Motion::Up),
            "scroll up",
            false,
        );
        b.add(
            C::Help,
            [plain(K::Down), ch('j')],
            A::Move(Motion::Down),
            "scroll down",
            false,
        );
        b.add(
            C::Help,
            [plain(K::PageUp)],
            A::Move(Motion::PageUp),
            "page up",
            false,
        );
        b.add(
            C::Help,
            [plain(K::PageDown), ch(' ')],
            A::Move(Motion::PageDown),
            "page down",
            false,
        );

        b.add(
            C::Picker,
            [plain(K::Up), ch('k')],
            A::Move(Motion::Up),
            "previous",
            false,
        );
        b.add(
            C::Picker,
            [plain(K::Down), ch('j')],
            A::Move(Motion::Down),
            "next",
            false,
        );
        b.add(C::Picker, [plain(K::Enter)], A::Activate, "choose", true);
        b.add(
            C::Picker,
            [plain(K::Right), ch('+')],
            A::Increase,
            "adapter list: stronger",
            false,
        );
        b.add(
            C::Picker,
            [plain(K::Left), ch('-')],
            A::Decrease,
            "adapter list: weaker",
            false,
        );
        b.add(
            C::Picker,
            [plain(K::Esc), ch('q')],
            A::Close,
            "cancel",
            true,
        );

        b.add(C::Prompt, [plain(K::Enter)], A::Activate, "accept", true);
        b.add(C::Prompt, [plain(K::Esc)], A::Close, "cancel", true);
        b.add_hidden(C::Prompt, [plain(K::Backspace)], A::Backspace);
        b.add_hidden(C::Prompt, [plain(K::Delete)], A::Delete);
        b.add_hidden(C::Prompt, [plain(K::Left)], A::Move(Motion::Left));
        b.add_hidden(C::Prompt, [plain(K::Right)], A::Move(Motion::Right));
        b.add_hidden(
            C::Prompt,
            [plain(K::Home), ctrl('a')],
            A::Move(Motion::LineStart),
        );
        b.add_hidden(
            C::Prompt,
            [plain(K::End), ctrl('e')],
            A::Move(Motion::LineEnd),
        );

        add_start_bindings(&mut b);
        KeyMap { bindings: b.0 }
    }
}

/// The idea line and the layout view.
fn add_magic_bindings(b: &mut Builder) {
    use super::layout_view::{Dir, LayoutAction as L};
    use Action as A;
    use Context as C;
    use KeyCode as K;
    let plain = Key::plain;
    let ch = Key::ch;
    b.add(
        C::Global,
        [Key::ctrl('g')],
        A::OpenIdea,
        "idea → caption (magic prompt)",
        false,
    );
    b.add(
        C::Global,
        [plain(K::Esc)],
        A::CancelIdea,
        "cancel the idea expansion",
        false,
    );
    b.add(
        C::Global,
        [Key::alt('l')],
        A::ToggleLayout,
        "layout view: the caption's boxes",
        false,
    );
    let dirs = [
        (K::Up, 'k', Dir::Up),
        (K::Down, 'j', Dir::Down),
        (K::Left, 'h', Dir::Left),
        (K::Right, 'l', Dir::Right),
    ];
    for (i, (code, letter, dir)) in dirs.into_iter().enumerate() {
        let help = if i == 0 { "move the box" } else { "" };
        b.add(
            C::Layout,
            [plain(code), ch(letter)],
            A::Layout(L::Move(dir)),
            help,
            i == 0,
        );
    }
    for (i, (code, letter, dir)) in dirs.into_iter().enumerate() {
        let help = if i == 0 {
            "resize (bottom / right edge)"
        } else {
            ""
        };
        b.add(
            C::Layout,
            [Key::shift(code), ch(letter.to_ascii_uppercase())],
            A::Layout(L::Resize(dir)),
            help,
            i == 0,
        );
    }
    b.add(
        C::Layout,
        [plain(K::Tab), ch('n')],
        A::Layout(L::Next),
        "next element",
        true,
    );
    b.add(
        C::Layout,
        [plain(K::BackTab), ch('p')],
        A::Layout(L::Prev),
        "previous element",
        false,
    );
    b.add(
        C::Layout,
        [ch('f')],
        A::Layout(L::ToggleFine),
        "fine / coarse steps",
        true,
    );
    b.add(
        C::Layout,
        [ch('a')],
        A::Layout(L::AddBox),
        "add a bbox to the element",
        true,
    );
    b.add(C::Layout, [Key::ctrl('z'), ch('u')], A::Undo, "undo", true);
    b.add(C::Layout, [Key::ctrl('y')], A::Redo, "redo", false);
    b.add(
        C::Layout,
        [plain(K::Enter)],
        A::Layout(L::Jump),
        "edit the element's text",
        false,
    );
    b.add(
        C::Layout,
        [plain(K::Esc), ch('q')],
        A::Layout(L::Close),
        "close",
        true,
    );
}

/// Image to image: variations of finished images, start and mask files, strength.
fn add_start_bindings(b: &mut Builder) {
    use Action as A;
    use Context as C;
    b.add(
        C::History,
        [Key::ch('v')],
        A::Variation,
        "variation: rerun it starting from this image",
        true,
    );
    b.add(
        C::Panes,
        [Key::ch('v')],
        A::Variation,
        "variation of the image in the preview",
        false,
    );
    b.add(
        C::Params,
        [Key::ch('i')],
        A::PickStartSource,
        "start image: choose a source file",
        false,
    );
    b.add(
        C::Params,
        [Key::ch('I')],
        A::PickStartMask,
        "start image: choose a mask (white = repaint)",
        false,
    );
    b.add(
        C::Params,
        [Key::ch(']')],
        A::StrengthUp,
        "start image: more strength (further from the source)",
        false,
    );
    b.add(
        C::Params,
        [Key::ch('[')],
        A::StrengthDown,
        "start image: less strength (closer to the source)",
        false,
    );
    b.add(
        C::Params,
        [Key::ch('x')],
        A::ClearStart,
        "start image: drop source and mask (text to image)",
        false,
    );
    b.add(
        C::Prompt,
        [Key::plain(KeyCode::Tab)],
        A::CompletePath,
        "complete the file name",
        false,
    );
}

fn pane_help(pane: Pane) -> &'static str {
    match pane {
        Pane::Editor => "focus the caption editor",
        Pane::Diagnostics => "focus diagnostics",
        Pane::Params => "focus parameters",
        Pane::Queue => "focus the queue",
        Pane::History => "focus history",
        Pane::Progress => "focus progress + memory",
        Pane::Preview => "focus the preview",
    }
}

#[derive(Default)]
struct Builder(Vec<Binding>);

impl Builder {
    fn add<const N: usize>(
        &mut self,
        context: Context,
        keys: [Key; N],
        action: Action,
        help: &'static str,
        status: bool,
    ) {
        self.0.push(Binding {
            context,
            keys: keys.to_vec(),
            action,
            help,
            status,
        });
    }

    /// A binding too obvious for the help list (arrow keys in the editor).
    fn add_hidden<const N: usize>(&mut self, context: Context, keys: [Key; N], action: Action) {
        self.add(context, keys, action, "", false);
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
