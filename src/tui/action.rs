//! Everything a person can ask the app to do. Keys map to these (see [`super::keymap`]), and
//! tests drive the app through them, so behaviour never depends on how a key arrived.

use serde::{Deserialize, Serialize};

/// The panes of the main screen, in focus (Tab) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pane {
    Editor,
    Diagnostics,
    Params,
    Queue,
    History,
    Progress,
    Preview,
}

impl Pane {
    pub const ALL: [Pane; 7] = [
        Pane::Editor,
        Pane::Diagnostics,
        Pane::Params,
        Pane::Queue,
        Pane::History,
        Pane::Progress,
        Pane::Preview,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Editor => "Caption",
            Pane::Diagnostics => "Diagnostics",
            Pane::Params => "Parameters",
            Pane::Queue => "Queue",
            Pane::History => "History",
            Pane::Progress => "Progress",
            Pane::Preview => "Preview",
        }
    }

    pub fn next(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// A cursor or selection movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    Left,
    Right,
    Up,
    Down,
    WordLeft,
    WordRight,
    LineStart,
    LineEnd,
    PageUp,
    PageDown,
    DocStart,
    DocEnd,
}

/// Which official preset (or Custom) to switch the parameters to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetChoice {
    Quality48,
    Default20,
    Turbo12,
    Custom,
    /// The TurboTime LoRA presets (8, 4, 2 steps; one DiT).
    TurboTime8,
    TurboTime4,
    TurboTime2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    // Application-wide.
    Quit,
    FocusNext,
    FocusPrev,
    Focus(Pane),
    ToggleZoom,
    ToggleHelp,
    Redraw,
    /// Queue the current caption and parameters as one job.
    Submit,
    /// Ask how many jobs to queue (successive seeds).
    SubmitMany,
    /// Apply every mechanical fix the verifier knows.
    ApplyFixes,
    /// Switch the caption between pretty-printed and minified.
    ToggleFormat,
    OpenFile,
    SaveFile,
    SaveFileAs,
    Examples,
    /// Turn plain text in the editor into a minimal caption.
    WrapPlainText,
    /// Close whatever overlay is open (help, prompt, picker).
    Close,

    // Editing (editor pane and one-line prompts).
    Insert(char),
    Paste(String),
    Newline,
    Backspace,
    Delete,
    Move(Motion),
    Select(Motion),
    SelectAll,
    Undo,
    Redo,
    Copy,
    Cut,
    PasteClipboard,

    // Lists and forms.
    /// Enter on a list row or form field.
    Activate,
    Increase,
    Decrease,

    // Parameters.
    Preset(PresetChoice),
    RandomSeed,
    ToggleSeedLock,
    CycleAspect,
    PickModel,
    EditGuidance,
    /// Open the adapter list (add / remove LoRAs, change their strength).
    PickAdapters,
    /// In the guidance editor: give every step the selected step's weight.
    FillGuidance,

    // Queue.
    MoveJobUp,
    MoveJobDown,
    CancelJob,
    RetryJob,
    RemoveJob,
    ToggleQueuePause,

    // History.
    LoadParams,

    // Image to image.
    /// Queue a variation of the selected history entry (or the preview's image).
    Variation,
    PickStartSource,
    PickStartMask,
    ClearStart,
    StrengthUp,
    StrengthDown,
    /// Complete the file name in a path prompt.
    CompletePath,

    // Magic prompt and layout view.
    /// Open the idea line (an idea expanded into a caption in the background).
    OpenIdea,
    /// Cancel the idea expansion in flight.
    CancelIdea,
    /// Open or close the layout view of the caption's boxes.
    ToggleLayout,
    Layout(super::layout_view::LayoutAction),
}
