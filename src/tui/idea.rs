//! The idea line: a plain idea typed in a one-line prompt is expanded into a caption by the
//! magic prompt backend of config.toml, on a background thread, with a spinner in the status
//! line and a key to cancel. The result replaces the editor's text as one undoable edit.

use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use super::action::{Action, Pane};
use super::app::App;
use super::overlay_state::{LineInput, Overlay, Prompt, PromptKind};
use crate::caption;
use crate::magic::{self, Cancel, ExpandOptions, Expansion, MagicError};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// An expansion in flight.
pub struct Running {
    cancel: Cancel,
    result: Receiver<Result<Expansion, MagicError>>,
    started: Instant,
    /// Backend and model, for the status line.
    pub label: String,
}

#[derive(Default)]
pub struct IdeaState {
    pub running: Option<Running>,
    /// The last idea typed, offered again when the line reopens.
    pub last_idea: String,
}

impl std::fmt::Debug for IdeaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdeaState")
            .field("running", &self.running.as_ref().map(|r| &r.label))
            .finish_non_exhaustive()
    }
}

impl IdeaState {
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The spinner frame for now.
    pub fn spinner(&self) -> &'static str {
        match &self.running {
            Some(r) => SPINNER[(r.started.elapsed().as_millis() / 100) as usize % SPINNER.len()],
            None => "",
        }
    }
}

impl App {
    /// Opens the idea line (or says what is running).
    pub fn open_idea(&mut self) {
        if let Some(r) = &self.idea.running {
            let cancel = self.keymap.key_label(&Action::CancelIdea);
            self.info(format!("{} is still expanding; {cancel} cancels", r.label));
            return;
        }
        let describe = self.config.magic_prompt.describe();
        self.overlay = Some(Overlay::Prompt(Prompt {
            kind: PromptKind::Idea(describe),
            input: LineInput::new(&self.idea.last_idea),
        }));
    }

    /// Starts expanding `idea` in the background.
    pub fn start_idea(&mut self, idea: &str) {
        let idea = idea.trim().to_string();
        if idea.is_empty() {
            self.error("type an idea, e.g. a red fox in the snow at dawn");
            return;
        }
        self.idea.last_idea = idea.clone();
        let config = self.config.magic_prompt.clone();
        let backend = match magic::build_from_env(&config) {
            Ok(b) => b,
            Err(e) => {
                self.error(format!("magic prompt: {e}"));
                return;
            }
        };
        let label = backend.label();
        let size = self.params.size;
        let options = ExpandOptions {
            aspect_ratio: magic::aspect_ratio_from_size(size.width, size.height),
            keep_bboxes: config.keep_bboxes,
        };
        let cancel = Cancel::new();
        let (tx, rx) = mpsc::channel();
        let worker_cancel = cancel.clone();
        let spawned = std::thread::Builder::new()
            .name("magic-prompt".into())
            .spawn(move || {
                let result = magic::expand(backend.as_ref(), &idea, &options, &worker_cancel);
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            self.error(format!("magic prompt: cannot start a thread: {e}"));
            return;
        }
        self.idea.running = Some(Running {
            cancel,
            result: rx,
            started: Instant::now(),
            label,
        });
    }

    /// Cancels the expansion in flight, if any.
    pub fn cancel_idea(&mut self) {
        if let Some(r) = self.idea.running.take() {
            r.cancel.cancel();
            self.info(format!("idea expansion by {} cancelled", r.label));
        }
    }

    /// Takes a finished expansion into the editor; returns whether anything changed.
    pub fn poll_idea(&mut self) -> bool {
        let Some(running) = &self.idea.running else {
            return false;
        };
        let result = match running.result.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => Err(MagicError::Cancelled),
        };
        let label = running.label.clone();
        self.idea.running = None;
        match result {
            Ok(expansion) => self.take_expansion(expansion),
            Err(MagicError::Cancelled) => self.info("idea expansion cancelled"),
            Err(e) => self.error(format!("magic prompt ({label}) failed: {e}")),
        }
        true
    }

    fn take_expansion(&mut self, expansion: Expansion) {
        // Pretty for editing; the job uses the text as shown, which the model reads the same.
        let text = caption::format::pretty(&expansion.caption).unwrap_or(expansion.caption);
        self.editor.replace_all(text);
        self.editor.set_cursor(0);
        self.focus = Pane::Editor;
        self.refresh_caption();
        let undo = self.keymap.key_label(&Action::Undo);
        let verdict = match self.caption.warnings.len() {
            0 => "verifier: clean".to_string(),
            n => format!("{n} warning(s) left, see Diagnostics"),
        };
        let retried = if expansion.retried {
            " after one retry"
        } else {
            ""
        };
        self.info(format!(
            "caption from idea by {}{retried} · {verdict} ({undo} undoes)",
            expansion.backend
        ));
    }
}

/// `⠋ idea: openai local · Esc cancel │ ` while an expansion runs, else nothing.
pub fn status_segment(app: &App) -> String {
    match &app.idea.running {
        Some(r) => format!(
            "{} idea: {} · {} cancel │",
            app.idea.spinner(),
            r.label,
            app.keymap.key_label(&Action::CancelIdea)
        ),
        None => String::new(),
    }
}
