//! The application state and everything that changes it. Keys become [`Action`]s through the
//! key map; engine events arrive through [`App::on_engine_event`]. Work that leaves the app
//! (engine commands, quitting, the clipboard) is queued as [`Effect`]s for the runtime, so the
//! whole app can be driven and checked in tests without a terminal or a model thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::{Action, Motion, Pane, PresetChoice};
use super::config::{Config, Dirs};
use super::editor::highlight::{self, Token};
use super::editor::Editor;
use super::keymap::{Context, Key, KeyMap};
use super::overlay::{GuidanceEditor, LineInput, Overlay, Picker, PickerItem, Prompt, PromptKind};
use super::params::{Field, ParamsState};
use super::sysmem::SystemMemory;
use super::theme::Theme;
use crate::caption::{self, Warning};
use crate::engine::persist::SavedState;
use crate::engine::{
    EngineEvent, Job, JobId, JobSpec, JobStatus, ModelSpec, Queue, RgbImage, SharedImage, StepInfo,
};
use crate::sampler::random_seed;

/// What the runtime must do on the app's behalf.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Engine(EngineCommand),
    /// Put text on the system clipboard (OSC 52), besides the editor's own.
    Clipboard(String),
    /// Clear and redraw the whole screen.
    Redraw,
    Quit,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineCommand {
    Submit(Vec<JobSpec>),
    Cancel(JobId),
    Retry(JobId),
    Remove(JobId),
    Move(JobId, isize),
    Pause(bool),
    Preload(ModelSpec),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatus {
    NotLoaded,
    Loading(ModelSpec),
    Ready {
        model: ModelSpec,
        description: String,
    },
    Failed {
        model: ModelSpec,
        error: String,
    },
}

/// The caption as the verifier and the colouring see it, redone when the text changes.
#[derive(Debug, Default)]
pub struct CaptionCache {
    revision: Option<u64>,
    pub warnings: Vec<Warning>,
    pub tokens: Vec<Token>,
    /// Byte ranges of the warnings, sorted.
    pub underlines: Vec<(usize, usize)>,
    pub format: CaptionFormat,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum CaptionFormat {
    Pretty,
    Minified,
    #[default]
    AsTyped,
}

/// A finished image: from this session's queue or from the output history index.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    pub path: PathBuf,
    /// The queue job that made it, while it is still listed.
    pub job: Option<JobId>,
    pub seed: u64,
    pub preset: String,
    pub size: crate::sampler::ImageSize,
    pub summary: String,
    pub finished: f64,
    /// The job's settings, when it came from the queue (fallback for loading back).
    pub spec: Option<JobSpec>,
}

impl HistoryItem {
    pub fn from_job(job: &Job) -> Option<HistoryItem> {
        Some(HistoryItem {
            path: job.output()?.to_path_buf(),
            job: Some(job.id),
            seed: job.spec.seed,
            preset: job.spec.params.label().to_string(),
            size: job.spec.size,
            summary: caption_summary(&job.spec.caption),
            finished: job.finished.unwrap_or(job.created),
            spec: Some(job.spec.clone()),
        })
    }

    pub fn from_index(entry: &crate::output::HistoryEntry) -> HistoryItem {
        HistoryItem {
            path: entry.path.clone(),
            job: None,
            seed: entry.seed,
            preset: entry.preset.clone(),
            size: crate::sampler::ImageSize::new(entry.width, entry.height),
            summary: entry.caption_summary.clone(),
            finished: entry.unix_seconds as f64,
            spec: None,
        }
    }

    pub fn label(&self) -> String {
        match self.job {
            Some(id) => format!("job {id} · seed {}", self.seed),
            None => format!("seed {}", self.seed),
        }
    }
}

pub fn caption_summary(caption: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(caption)
        .ok()
        .and_then(|v| {
            v.get("high_level_description")?
                .as_str()
                .map(str::to_string)
        });
    let s = from_json.unwrap_or_else(|| caption.to_string());
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone)]
pub struct PreviewImage {
    pub image: SharedImage,
    pub path: Option<PathBuf>,
    pub title: String,
}

#[derive(Debug, Default, Clone)]
pub struct ProgressView {
    pub job: Option<JobId>,
    pub stage: Option<String>,
    pub info: Option<StepInfo>,
    pub last_error: Option<String>,
}

pub struct App {
    pub keymap: KeyMap,
    pub theme: Theme,
    pub config: Config,
    pub dirs: Option<Dirs>,
    pub focus: Pane,
    /// Which of Queue / History / Preview the shared slot shows in the two-column layout.
    pub slot: Pane,
    pub zoomed: bool,
    pub overlay: Option<Overlay>,
    pub editor: Editor,
    pub caption_file: Option<PathBuf>,
    /// The text as last loaded or saved, to mark unsaved changes.
    saved_text: String,
    pub caption: CaptionCache,
    pub diag_selected: usize,
    pub params: ParamsState,
    pub queue: Queue,
    pub queue_selected: usize,
    pub history: Vec<HistoryItem>,
    pub history_selected: usize,
    pub model_status: ModelStatus,
    pub progress: ProgressView,
    pub system_memory: Option<SystemMemory>,
    pub mlx_memory: Option<crate::mlx::memory::Snapshot>,
    pub preview: Option<PreviewImage>,
    /// Bumped whenever the preview image changes, so the runtime knows to redraw graphics.
    pub preview_generation: u64,
    pub status: Option<(String, Severity)>,
    pub example_dirs: Vec<PathBuf>,
    pub cached_models: Vec<ModelSpec>,
    effects: Vec<Effect>,
    pub should_quit: bool,
    /// Set by the runtime: the clock used for elapsed times (seconds since the epoch).
    pub now: f64,
    pub show_line_numbers: bool,
    /// The last action applied (tests check that every binding reaches its action).
    pub last_action: Option<Action>,
    /// The idea line's expansion in flight.
    pub idea: super::idea::IdeaState,
    /// The layout view, when open.
    pub layout_view: Option<super::layout_view::LayoutView>,
    /// Image to image: what queued jobs start from.
    pub start: super::start::StartState,
}

/// Everything the app starts from.
pub struct AppInit {
    pub theme: Theme,
    pub config: Config,
    pub dirs: Option<Dirs>,
    pub saved: Option<SavedState>,
    /// A caption file named on the command line (wins over the saved editor text).
    pub caption_file: Option<(PathBuf, String)>,
    pub model: Option<ModelSpec>,
    /// Problems found while starting (theme, config, saved state), shown in the status line.
    pub messages: Vec<String>,
    pub example_dirs: Vec<PathBuf>,
    pub cached_models: Vec<ModelSpec>,
}

impl AppInit {
    pub fn new(theme: Theme) -> AppInit {
        AppInit {
            theme,
            config: Config::default(),
            dirs: None,
            saved: None,
            caption_file: None,
            model: None,
            messages: Vec::new(),
            example_dirs: Vec::new(),
            cached_models: Vec::new(),
        }
    }
}

impl App {
    pub fn new(init: AppInit) -> App {
        let fresh = init.saved.is_none();
        let saved = init.saved.unwrap_or_default();
        let mut params = ParamsState {
            sampler: saved.params.clone(),
            size: saved.size,
            seed: saved.seed,
            seed_locked: saved.seed_locked,
            model: saved
                .model
                .clone()
                .unwrap_or_else(|| ModelSpec::parse(&init.config.model)),
            ..ParamsState::default()
        };
        if let crate::sampler::SamplerParams::Custom(c) = &saved.params {
            params.custom = c.clone();
        }
        if let Some(model) = init.model {
            params.model = model;
        }
        if fresh {
            params.seed = random_seed();
            if params.model == ModelSpec::Demo {
                // The demo's random weights make noise at any size; small sizes are quick.
                params.size = crate::sampler::ImageSize::new(256, 256);
            }
        }
        let (editor, caption_file) = match init.caption_file {
            Some((path, text)) => (Editor::new(text), Some(path)),
            None => {
                let mut e = Editor::new(saved.caption.clone());
                e.set_cursor(saved.cursor);
                (e, saved.caption_file.clone())
            }
        };
        let status =
            (!init.messages.is_empty()).then(|| (init.messages.join(" · "), Severity::Error));
        let mut app = App {
            keymap: KeyMap::standard(),
            theme: init.theme,
            config: init.config,
            dirs: init.dirs,
            focus: Pane::Editor,
            slot: Pane::Queue,
            zoomed: false,
            overlay: None,
            saved_text: editor.text().to_string(),
            editor,
            caption_file,
            caption: CaptionCache::default(),
            diag_selected: 0,
            params,
            queue: Queue::default(),
            queue_selected: 0,
            history: Vec::new(),
            history_selected: 0,
            model_status: ModelStatus::NotLoaded,
            progress: ProgressView::default(),
            system_memory: None,
            mlx_memory: None,
            preview: None,
            preview_generation: 0,
            status,
            example_dirs: init.example_dirs,
            cached_models: init.cached_models,
            effects: Vec::new(),
            should_quit: false,
            now: crate::engine::job::now(),
            show_line_numbers: true,
            last_action: None,
            idea: super::idea::IdeaState::default(),
            layout_view: None,
            start: super::start::StartState::default(),
        };
        app.set_queue(saved.queue);
        app.refresh_caption();
        app
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn info(&mut self, msg: impl Into<String>) {
        self.status = Some((msg.into(), Severity::Info));
    }

    pub fn error(&mut self, msg: impl Into<String>) {
        self.status = Some((msg.into(), Severity::Error));
    }

    pub fn is_modified(&self) -> bool {
        self.editor.text() != self.saved_text
    }

    /// The state to save between runs (the queue is the engine's copy when one runs).
    pub fn saved_state(&self) -> SavedState {
        SavedState {
            caption: self.editor.text().to_string(),
            caption_file: self.caption_file.clone(),
            cursor: self.editor.cursor(),
            params: self.params.sampler.clone(),
            size: self.params.size,
            seed: self.params.seed,
            seed_locked: self.params.seed_locked,
            model: Some(self.params.model.clone()),
            queue: self.queue.clone(),
            ..SavedState::default()
        }
    }

    /// Re-verifies and re-colours the caption if it changed.
    pub fn refresh_caption(&mut self) {
        if self.caption.revision == Some(self.editor.revision()) {
            return;
        }
        let text = self.editor.text();
        let warnings = caption::verify(text);
        let mut underlines: Vec<(usize, usize)> = warnings
            .iter()
            .map(|w| (w.span.start_byte, w.span.end_byte))
            .collect();
        underlines.sort_unstable();
        let format = if text.is_empty() {
            CaptionFormat::AsTyped
        } else if caption::format::minify(text).is_ok_and(|m| m == text) {
            CaptionFormat::Minified
        } else if caption::format::pretty(text).is_ok_and(|p| p == text) {
            CaptionFormat::Pretty
        } else {
            CaptionFormat::AsTyped
        };
        self.caption = CaptionCache {
            revision: Some(self.editor.revision()),
            tokens: highlight::tokenize(text),
            warnings,
            underlines,
            format,
        };
        self.diag_selected = self
            .diag_selected
            .min(self.caption.warnings.len().saturating_sub(1));
    }

    /// The contexts keys are looked up in, in order.
    pub fn contexts(&self) -> Vec<Context> {
        match &self.overlay {
            Some(Overlay::Help { .. }) => vec![Context::Help],
            Some(Overlay::Prompt(_)) => vec![Context::Prompt],
            Some(Overlay::Picker(_)) => vec![Context::Picker],
            Some(Overlay::Guidance(_)) => vec![Context::Guidance],
            None if self.layout_view.is_some() => vec![Context::Layout, Context::Global],
            None => {
                let pane = Context::of_pane(self.focus);
                let mut v = vec![pane];
                if self.focus != Pane::Editor && pane != Context::Panes {
                    v.push(Context::Panes);
                }
                v.push(Context::Global);
                v
            }
        }
    }

    pub fn handle_key(&mut self, event: KeyEvent) {
        if event.kind == KeyEventKind::Release {
            return;
        }
        let key = Key::normalize(&event);
        let contexts = self.contexts();
        let found = contexts
            .iter()
            .find_map(|c| self.keymap.lookup(*c, key))
            .map(|b| b.action.clone())
            .or_else(|| {
                // Quitting works from inside overlays too.
                (self.overlay.is_some())
                    .then(|| self.keymap.lookup(Context::Global, key))
                    .flatten()
                    .filter(|b| b.action == Action::Quit)
                    .map(|b| b.action.clone())
            });
        if let Some(action) = found {
            self.apply(action);
            return;
        }
        let typed = match key.code {
            KeyCode::Char(c) if (key.mods - KeyModifiers::SHIFT).is_empty() => Some(c),
            _ => None,
        };
        if let Some(c) = typed {
            match &mut self.overlay {
                Some(Overlay::Prompt(p)) => {
                    p.input.insert(&c.to_string());
                }
                None if self.focus == Pane::Editor && self.layout_view.is_none() => {
                    self.apply(Action::Insert(c))
                }
                _ => {}
            }
        }
    }

    /// Bracketed paste: into the prompt if one is open, else into the caption.
    pub fn handle_paste(&mut self, text: &str) {
        if let Some(Overlay::Prompt(p)) = &mut self.overlay {
            p.input.insert(text.lines().next().unwrap_or(""));
            return;
        }
        if self.overlay.is_some() || self.layout_view.is_some() {
            return;
        }
        self.focus = Pane::Editor;
        self.apply(Action::Paste(text.to_string()));
    }

    pub fn apply(&mut self, action: Action) {
        // A message answers the key that caused it; the next key makes room for the next.
        if !matches!(action, Action::Redraw) {
            self.status = None;
        }
        self.last_action = Some(action.clone());
        if self.overlay.is_some() && self.apply_overlay(&action) {
            self.refresh_caption();
            return;
        }
        match action {
            Action::Quit => {
                self.should_quit = true;
                self.effects.push(Effect::Quit);
            }
            Action::FocusNext => self.set_focus(self.focus.next()),
            Action::FocusPrev => self.set_focus(self.focus.prev()),
            Action::Focus(p) => self.set_focus(p),
            Action::ToggleZoom => self.zoomed = !self.zoomed,
            Action::ToggleHelp => self.overlay = Some(Overlay::Help { scroll: 0 }),
            Action::Redraw => self.effects.push(Effect::Redraw),
            Action::Submit => self.submit(1),
            Action::SubmitMany => self.open_prompt(PromptKind::SubmitMany, "2"),
            Action::ApplyFixes => self.apply_fixes(),
            Action::ToggleFormat => self.toggle_format(),
            Action::OpenFile => {
                let current = self
                    .caption_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                self.open_prompt(PromptKind::OpenFile, &current);
            }
            Action::SaveFile => match self.caption_file.clone() {
                Some(path) => self.save_to(&path),
                None => self.open_prompt(PromptKind::SaveAs, "caption.json"),
            },
            Action::SaveFileAs => {
                let current = self
                    .caption_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "caption.json".into());
                self.open_prompt(PromptKind::SaveAs, &current);
            }
            Action::Examples => self.open_examples(),
            Action::WrapPlainText => self.wrap_plain_text(),
            Action::Close => {}
            Action::Insert(c) => {
                if self.focus == Pane::Editor {
                    self.editor.insert_char(c);
                }
            }
            Action::Paste(text) => self.editor.insert_str(&text),
            Action::Newline => self.editor.newline(),
            Action::Backspace => self.editor.backspace(),
            Action::Delete => self.editor.delete(),
            Action::Select(m) => self.editor.motion(m, true),
            Action::SelectAll => self.editor.select_all(),
            Action::Undo => {
                if !self.editor.undo() {
                    self.info("nothing to undo");
                }
            }
            Action::Redo => {
                if !self.editor.redo() {
                    self.info("nothing to redo");
                }
            }
            Action::Copy => match self.editor.copy() {
                Some(s) => self.effects.push(Effect::Clipboard(s)),
                None => self.info("select text first (Shift+arrows, Ctrl-A)"),
            },
            Action::Cut => match self.editor.cut() {
                Some(s) => self.effects.push(Effect::Clipboard(s)),
                None => self.info("select text first (Shift+arrows, Ctrl-A)"),
            },
            Action::PasteClipboard => self.editor.paste_clipboard(),
            Action::Move(m) => self.move_in_pane(m),
            Action::Activate => self.activate(),
            Action::Increase | Action::Decrease => {
                if self.focus == Pane::Params {
                    if let Err(e) = self.params.adjust(action == Action::Increase) {
                        self.error(e);
                    }
                }
            }
            Action::Preset(choice) => {
                self.params.choose_preset(choice);
                if choice == PresetChoice::Custom {
                    self.info("Custom: steps, mu, std and guidance are unlocked");
                }
                if let Some((repo, _)) = self
                    .params
                    .sampler
                    .preset()
                    .and_then(crate::sampler::Preset::required_adapter)
                {
                    self.info(format!(
                        "{}: one DiT pass per step with the TurboTime LoRA ({repo}; get it \
                         with `ideogram4-tui models download {repo}`)",
                        self.params.sampler.label()
                    ));
                }
            }
            Action::RandomSeed => {
                self.params.seed = random_seed();
            }
            Action::ToggleSeedLock => {
                self.params.seed_locked = !self.params.seed_locked;
            }
            Action::CycleAspect => self.params.cycle_aspect(true),
            Action::PickModel => self.open_model_picker(),
            Action::PickAdapters => self.open_adapter_picker(0),
            Action::EditGuidance => self.open_guidance_editor(),
            Action::FillGuidance => {}
            Action::MoveJobUp => self.move_job(-1),
            Action::MoveJobDown => self.move_job(1),
            Action::CancelJob => {
                if let Some(job) = self.selected_job() {
                    let (id, status) = (job.id, job.status.clone());
                    if status.is_finished() {
                        self.info(format!("job {id} is already {}", status.label()));
                    } else {
                        self.effects.push(Effect::Engine(EngineCommand::Cancel(id)));
                    }
                }
            }
            Action::RetryJob => {
                if let Some(job) = self.selected_job() {
                    let id = job.id;
                    if job.status.is_finished() {
                        self.effects.push(Effect::Engine(EngineCommand::Retry(id)));
                    } else {
                        self.info(format!("job {id} has not finished"));
                    }
                }
            }
            Action::RemoveJob => {
                if let Some(job) = self.selected_job() {
                    let id = job.id;
                    if job.status == JobStatus::Running {
                        self.error(format!("job {id} is running; cancel it first (x)"));
                    } else {
                        self.effects.push(Effect::Engine(EngineCommand::Remove(id)));
                    }
                }
            }
            Action::ToggleQueuePause => {
                let paused = !self.queue.paused;
                self.effects
                    .push(Effect::Engine(EngineCommand::Pause(paused)));
                self.info(if paused {
                    "queue paused: the running job finishes, no new one starts"
                } else {
                    "queue resumed"
                });
            }
            Action::LoadParams => self.load_history_params(),
            Action::OpenIdea => self.open_idea(),
            Action::CancelIdea => self.cancel_idea(),
            Action::ToggleLayout => self.toggle_layout(),
            Action::Layout(a) => self.layout_action(a),
            Action::Variation => self.start_variation(),
            Action::PickStartSource => {
                let current = self.start_prompt_text(self.start.source.as_ref());
                self.open_prompt(PromptKind::StartSource, &current);
            }
            Action::PickStartMask => {
                let current = self.start_prompt_text(self.start.mask.as_ref());
                self.open_prompt(PromptKind::StartMask, &current);
            }
            Action::ClearStart => {
                self.start.clear();
                self.info("no start image: jobs start from noise");
            }
            Action::StrengthUp => self.adjust_strength(1),
            Action::StrengthDown => self.adjust_strength(-1),
            Action::CompletePath => {}
        }
        self.refresh_caption();
    }

    fn set_focus(&mut self, pane: Pane) {
        self.focus = pane;
        if matches!(pane, Pane::Queue | Pane::History | Pane::Preview) {
            self.slot = pane;
        }
    }

    fn open_prompt(&mut self, kind: PromptKind, initial: &str) {
        self.overlay = Some(Overlay::Prompt(Prompt {
            kind,
            input: LineInput::new(initial),
        }));
    }

    /// Keys while an overlay is open. Returns false when the action is not the overlay's.
    fn apply_overlay(&mut self, action: &Action) -> bool {
        let Some(overlay) = self.overlay.take() else {
            return false;
        };
        match overlay {
            Overlay::Help { scroll } => {
                let scroll = match action {
                    Action::Close | Action::ToggleHelp => return true,
                    Action::Move(Motion::Up) => scroll.saturating_sub(1),
                    Action::Move(Motion::Down) => scroll.saturating_add(1),
                    Action::Move(Motion::PageUp) => scroll.saturating_sub(10),
                    Action::Move(Motion::PageDown) => scroll.saturating_add(10),
                    _ => scroll,
                };
                self.overlay = Some(Overlay::Help { scroll });
                !matches!(action, Action::Quit)
            }
            Overlay::Prompt(mut p) => {
                match action {
                    Action::Close => {}
                    Action::Activate => self.accept_prompt(p),
                    Action::Backspace => {
                        p.input.backspace();
                        self.overlay = Some(Overlay::Prompt(p));
                    }
                    Action::Delete => {
                        p.input.delete();
                        self.overlay = Some(Overlay::Prompt(p));
                    }
                    Action::Move(Motion::Left) => {
                        p.input.left();
                        self.overlay = Some(Overlay::Prompt(p));
                    }
                    Action::Move(Motion::Right) => {
                        p.input.right();
                        self.overlay = Some(Overlay::Prompt(p));
                    }
                    Action::Move(Motion::LineStart) => {
                        p.input.cursor = 0;
                        self.overlay = Some(Overlay::Prompt(p));
                    }
                    Action::Move(Motion::LineEnd) => {
                        p.input.cursor = p.input.text.len();
                        self.overlay = Some(Overlay::Prompt(p));
                    }
                    Action::CompletePath => {
                        if matches!(
                            p.kind,
                            PromptKind::StartSource
                                | PromptKind::StartMask
                                | PromptKind::OpenFile
                                | PromptKind::SaveAs
                        ) {
                            p.input = LineInput::new(super::start::complete_path(&p.input.text));
                        }
                        self.overlay = Some(Overlay::Prompt(p));
                    }
                    Action::Quit => return false,
                    _ => self.overlay = Some(Overlay::Prompt(p)),
                }
                true
            }
            Overlay::Picker(mut picker) => {
                match action {
                    Action::Close => {}
                    Action::Move(Motion::Up) => {
                        picker.selected = picker.selected.saturating_sub(1);
                        self.overlay = Some(Overlay::Picker(picker));
                    }
                    Action::Move(Motion::Down) => {
                        picker.selected =
                            (picker.selected + 1).min(picker.items.len().saturating_sub(1));
                        self.overlay = Some(Overlay::Picker(picker));
                    }
                    Action::Activate => {
                        if let Some(item) = picker.items.get(picker.selected).cloned() {
                            let adapters = matches!(item, PickerItem::Adapter { .. });
                            self.pick(item);
                            if adapters {
                                self.open_adapter_picker(picker.selected);
                            }
                        }
                    }
                    Action::Increase | Action::Decrease => {
                        if let Some(PickerItem::Adapter { path, .. }) =
                            picker.items.get(picker.selected)
                        {
                            let step = if *action == Action::Increase {
                                0.1
                            } else {
                                -0.1
                            };
                            if let Some(a) =
                                self.params.adapters.iter_mut().find(|a| &a.path == path)
                            {
                                a.strength = ((a.strength + step) * 100.0).round() / 100.0;
                            }
                            self.open_adapter_picker(picker.selected);
                        } else {
                            self.overlay = Some(Overlay::Picker(picker));
                        }
                    }
                    Action::Quit => return false,
                    _ => self.overlay = Some(Overlay::Picker(picker)),
                }
                true
            }
            Overlay::Guidance(mut g) => {
                let n = g.values.len();
                match action {
                    Action::Close => return true,
                    Action::Quit => return false,
                    Action::Move(Motion::Left) => g.selected = g.selected.saturating_sub(1),
                    Action::Move(Motion::Right) => {
                        g.selected = (g.selected + 1).min(n.saturating_sub(1))
                    }
                    Action::Increase | Action::Decrease | Action::FillGuidance if g.locked => {
                        self.error(format!(
                            "the schedule is fixed by preset {}; press c in Parameters for Custom",
                            self.params.sampler.label()
                        ));
                    }
                    Action::Increase | Action::Decrease => {
                        if let Some(v) = g.values.get_mut(g.selected) {
                            let delta = if *action == Action::Increase {
                                0.5
                            } else {
                                -0.5
                            };
                            *v = (*v + delta).max(0.0);
                        }
                        let values = g.values.clone();
                        if let Err(e) = self.params.set_guidance_sampling_order(values) {
                            self.error(e);
                        }
                    }
                    Action::FillGuidance => {
                        if let Some(v) = g.values.get(g.selected).copied() {
                            g.values.iter_mut().for_each(|x| *x = v);
                        }
                        let values = g.values.clone();
                        if let Err(e) = self.params.set_guidance_sampling_order(values) {
                            self.error(e);
                        }
                    }
                    Action::Activate if !g.locked => {
                        let text = super::params::guidance_text(&self.params.sampler);
                        let list = if text.contains(',') {
                            text
                        } else {
                            g.values
                                .iter()
                                .map(|v| super::params::fmt_num(f64::from(*v)))
                                .collect::<Vec<_>>()
                                .join(",")
                        };
                        self.open_prompt(PromptKind::GuidanceList, &list);
                        return true;
                    }
                    _ => {}
                }
                self.overlay = Some(Overlay::Guidance(g));
                true
            }
        }
    }

    fn accept_prompt(&mut self, prompt: Prompt) {
        let text = prompt.input.text.trim().to_string();
        match prompt.kind {
            PromptKind::OpenFile => self.open_file(Path::new(&text)),
            PromptKind::SaveAs => {
                if text.is_empty() {
                    self.error("give a file name");
                    return;
                }
                let path = crate::files::expand_home(Path::new(&text));
                self.save_to(&path);
            }
            PromptKind::SubmitMany => match text.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => self.submit(n),
                _ => self.error(format!("{text:?}: give a number of jobs from 1 to 1000")),
            },
            PromptKind::Field(field) => {
                if let Err(e) = self.params.set_from_text(field, &text) {
                    self.error(e);
                } else if field == Field::Model {
                    self.model_chosen();
                }
            }
            PromptKind::Idea(_) => self.start_idea(&text),
            PromptKind::StartSource | PromptKind::StartMask => {
                self.choose_start_file(&prompt.kind, &text)
            }
            PromptKind::GuidanceList => match crate::sampler::parse_guidance_list(&text) {
                Ok(list) => match self.params.set_guidance_sampling_order(list) {
                    Ok(()) => self.open_guidance_editor(),
                    Err(e) => self.error(e),
                },
                Err(e) => self.error(e.to_string()),
            },
        }
    }

    /// The adapter list: files in `lora_dir` of config.toml and adapter repos in the
    /// Hugging Face cache, the applied ones marked with their strength.
    fn open_adapter_picker(&mut self, selected: usize) {
        let mut paths: Vec<std::path::PathBuf> = Vec::new();
        if let Some(dir) = &self.config.lora_dir {
            paths.extend(crate::model::adapter::root_safetensors(
                &crate::files::expand_home(dir),
            ));
        }
        let env = crate::weights::hub::HubEnv::from_env();
        if let Ok(repos) = crate::weights::hub::cache::scan(&env.hub_cache) {
            for repo in repos
                .iter()
                .filter(|r| !crate::weights::hub::cache::looks_like_ideogram4(r))
            {
                if let Some(rev) = repo.revisions.first() {
                    paths.extend(crate::model::adapter::root_safetensors(&rev.snapshot));
                }
            }
        }
        for a in &self.params.adapters {
            if !paths.contains(&a.path) {
                paths.push(a.path.clone());
            }
        }
        if paths.is_empty() {
            self.info(
                "no adapters: set lora_dir in config.toml or `ideogram4-tui models download OWNER/NAME`",
            );
            return;
        }
        let items: Vec<PickerItem> = paths
            .into_iter()
            .map(|path| {
                let strength = self
                    .params
                    .adapters
                    .iter()
                    .find(|a| a.path == path)
                    .map(|a| a.strength);
                PickerItem::Adapter { path, strength }
            })
            .collect();
        let selected = selected.min(items.len() - 1);
        self.overlay = Some(Overlay::Picker(Picker {
            title: "LoRA adapters · Enter add/remove · ←/→ strength · Esc done".into(),
            items,
            selected,
        }));
    }

    fn pick(&mut self, item: PickerItem) {
        match item {
            PickerItem::Adapter { path, strength } => {
                if strength.is_some() {
                    self.params.adapters.retain(|a| a.path != path);
                } else {
                    let target = crate::model::adapter::AdapterUse::default_target(
                        &path,
                        crate::model::adapter::AdapterTarget::Cond,
                    );
                    self.params
                        .adapters
                        .push(crate::model::adapter::AdapterUse {
                            path,
                            strength: 1.0,
                            target,
                        });
                }
            }
            PickerItem::Preset(choice) => self.apply(Action::Preset(choice)),
            PickerItem::Example(path) => match std::fs::read_to_string(&path) {
                Ok(text) => {
                    self.editor.replace_all(text);
                    self.caption_file = None;
                    self.focus = Pane::Editor;
                    self.info(format!("example {} loaded (Ctrl-Z undoes)", path.display()));
                }
                Err(e) => self.error(format!("cannot read {}: {e}", path.display())),
            },
            PickerItem::Model(model) => {
                self.params.model = model;
                self.model_chosen();
            }
            PickerItem::ModelOther => {
                let current = self.params.model.to_string();
                self.open_prompt(PromptKind::Field(Field::Model), &current);
            }
        }
    }

    fn model_chosen(&mut self) {
        let model = self.params.model.clone();
        self.info(format!("model {model}: loading in the background"));
        self.effects
            .push(Effect::Engine(EngineCommand::Preload(model)));
    }

    fn move_in_pane(&mut self, m: Motion) {
        let step = |sel: usize, len: usize| -> usize {
            match m {
                Motion::Up => sel.saturating_sub(1),
                Motion::Down => (sel + 1).min(len.saturating_sub(1)),
                Motion::PageUp => sel.saturating_sub(10),
                Motion::PageDown => (sel + 10).min(len.saturating_sub(1)),
                Motion::DocStart => 0,
                Motion::DocEnd => len.saturating_sub(1),
                _ => sel,
            }
        };
        match self.focus {
            Pane::Editor => self.editor.motion(m, false),
            Pane::Diagnostics => {
                self.diag_selected = step(self.diag_selected, self.caption.warnings.len())
            }
            Pane::Params => self.params.selected = step(self.params.selected, Field::ALL.len()),
            Pane::Queue => self.queue_selected = step(self.queue_selected, self.queue.jobs.len()),
            Pane::History => {
                self.history_selected = step(self.history_selected, self.history.len())
            }
            Pane::Progress | Pane::Preview => {}
        }
    }

    fn activate(&mut self) {
        match self.focus {
            Pane::Diagnostics => {
                if let Some(w) = self.caption.warnings.get(self.diag_selected) {
                    let (start, end) = (w.span.start_byte, w.span.end_byte);
                    self.editor.select_range(start, end);
                    self.focus = Pane::Editor;
                    self.info(format!("{}:{} {}", w.span.line, w.span.column, w.message));
                }
            }
            Pane::Params => {
                let field = self.params.field();
                match field {
                    Field::Guidance => self.open_guidance_editor(),
                    Field::Model => self.open_model_picker(),
                    Field::Preset => self.open_preset_picker(),
                    Field::SeedLock | Field::Aspect => {
                        if let Err(e) = self.params.adjust(true) {
                            self.error(e);
                        }
                    }
                    f if f.preset_locked() && !self.params.is_custom() => self.error(format!(
                        "{} is locked by preset {}; press c (Custom) to change it",
                        f.label(),
                        self.params.sampler.label()
                    )),
                    f => {
                        let v = self.params.value_text(f);
                        self.open_prompt(PromptKind::Field(f), &v);
                    }
                }
            }
            Pane::History => {
                if let Some(item) = self.history.get(self.history_selected).cloned() {
                    self.show_history_item(&item);
                }
            }
            _ => {}
        }
    }

    fn open_preset_picker(&mut self) {
        let items: Vec<PickerItem> = [
            PresetChoice::Quality48,
            PresetChoice::Default20,
            PresetChoice::Turbo12,
            PresetChoice::TurboTime8,
            PresetChoice::TurboTime4,
            PresetChoice::TurboTime2,
            PresetChoice::Custom,
        ]
        .into_iter()
        .map(PickerItem::Preset)
        .collect();
        let selected = match self.params.sampler.preset() {
            Some(crate::sampler::Preset::Quality48) => 0,
            Some(crate::sampler::Preset::Default20) => 1,
            Some(crate::sampler::Preset::Turbo12) => 2,
            Some(crate::sampler::Preset::TurboTime8) => 3,
            Some(crate::sampler::Preset::TurboTime4) => 4,
            Some(crate::sampler::Preset::TurboTime2) => 5,
            None => 6,
        };
        self.overlay = Some(Overlay::Picker(Picker {
            title: "Sampler preset".into(),
            items,
            selected,
        }));
    }

    fn open_guidance_editor(&mut self) {
        let values = self.params.guidance_sampling_order();
        let selected = match &self.overlay {
            Some(Overlay::Guidance(g)) => g.selected.min(values.len().saturating_sub(1)),
            _ => 0,
        };
        self.overlay = Some(Overlay::Guidance(GuidanceEditor {
            values,
            selected,
            locked: !self.params.is_custom(),
        }));
    }

    fn open_model_picker(&mut self) {
        let mut items = vec![PickerItem::Model(ModelSpec::Demo)];
        for m in &self.cached_models {
            if !items.contains(&PickerItem::Model(m.clone())) {
                items.push(PickerItem::Model(m.clone()));
            }
        }
        let current = PickerItem::Model(self.params.model.clone());
        if !items.contains(&current) {
            items.push(current.clone());
        }
        items.push(PickerItem::ModelOther);
        let selected = items.iter().position(|i| *i == current).unwrap_or(0);
        self.overlay = Some(Overlay::Picker(Picker {
            title: "Model".into(),
            items,
            selected,
        }));
    }

    /// Example captions: `*.json` in the example folders, sorted by name.
    pub fn example_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in &self.example_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json")
                    && !files.iter().any(|f| f.file_name() == p.file_name())
                {
                    files.push(p);
                }
            }
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        files
    }

    fn open_examples(&mut self) {
        let files = self.example_files();
        if files.is_empty() {
            self.error("no example captions found (looked in examples/captions)");
            return;
        }
        self.overlay = Some(Overlay::Picker(Picker {
            title: "Example captions".into(),
            items: files.into_iter().map(PickerItem::Example).collect(),
            selected: 0,
        }));
    }

    fn open_file(&mut self, path: &Path) {
        let path = crate::files::expand_home(path);
        match crate::caption::input::read_file(&path) {
            Ok(text) => {
                self.editor.reset(text);
                self.saved_text = self.editor.text().to_string();
                self.info(format!("opened {}", path.display()));
                self.caption_file = Some(path);
                self.focus = Pane::Editor;
            }
            Err(e) => self.error(format!("cannot open {}: {e}", path.display())),
        }
    }

    fn save_to(&mut self, path: &Path) {
        match crate::files::write_atomic(
            path,
            self.editor.text().as_bytes(),
            crate::files::Replace::Allow,
        ) {
            Ok(()) => {
                self.saved_text = self.editor.text().to_string();
                self.caption_file = Some(path.to_path_buf());
                self.info(format!("saved {}", path.display()));
            }
            Err(e) => self.error(format!("cannot save {}: {e}", path.display())),
        }
    }

    fn apply_fixes(&mut self) {
        let fixable = self.caption.warnings.iter().filter(|w| w.fixable).count();
        if fixable == 0 {
            self.info("no warning here has a mechanical fix");
            return;
        }
        match caption::fix::apply_fixes(self.editor.text()) {
            Ok(fixed) => {
                self.editor.replace_all(fixed);
                self.refresh_caption();
                self.info(format!(
                    "fixed {fixable} warning(s); {} left (Ctrl-Z undoes)",
                    self.caption.warnings.len()
                ));
            }
            Err(e) => self.error(format!("cannot fix: {e}")),
        }
    }

    fn toggle_format(&mut self) {
        let text = self.editor.text().to_string();
        let to_minified = self.caption.format == CaptionFormat::Pretty;
        let result = if to_minified {
            caption::format::minify(&text)
        } else {
            caption::format::pretty(&text)
        };
        match result {
            Ok(t) => {
                self.editor.replace_all(t);
                self.info(if to_minified {
                    "minified: the job uses the text exactly as shown"
                } else {
                    "pretty-printed: the job uses the text exactly as shown"
                });
            }
            Err(e) => self.error(format!("not valid JSON, cannot reformat: {e}")),
        }
    }

    fn wrap_plain_text(&mut self) {
        let text = self.editor.text().trim().to_string();
        if text.is_empty() {
            self.info("type a description first, then Ctrl-W wraps it into a caption");
            return;
        }
        if text.starts_with('{') {
            self.error("the editor already holds JSON; Ctrl-W wraps plain text only");
            return;
        }
        self.editor.replace_all(caption::wrap_plain_text(&text));
        self.info("wrapped into a caption; fill in style_description and the elements");
    }

    pub(super) fn submit(&mut self, count: usize) {
        self.refresh_caption();
        let text = self.editor.text().to_string();
        if text.trim().is_empty() {
            self.error("the caption is empty; write one or press Ctrl-E for examples");
            return;
        }
        if !self.caption.warnings.is_empty() {
            let n = self.caption.warnings.len();
            self.error(format!(
                "not queued: the caption has {n} warning(s) the official pipeline refuses; see Diagnostics (Ctrl-F fixes the mechanical ones)"
            ));
            return;
        }
        if let Some(problem) = self.params.problems().into_iter().next() {
            self.error(format!("not queued: {problem}"));
            return;
        }
        let specs: Vec<JobSpec> = (0..count as u64)
            .map(|i| JobSpec {
                caption: text.clone(),
                params: self.params.sampler.clone(),
                size: self.params.size,
                seed: self.params.seed.wrapping_add(i),
                model: self.params.model.clone(),
                adapters: self.params.adapters.clone(),
                start: self.start.paths(),
            })
            .collect();
        let first_seed = self.params.seed;
        self.effects
            .push(Effect::Engine(EngineCommand::Submit(specs)));
        if !self.params.seed_locked {
            self.params.seed = random_seed();
        }
        self.info(if count == 1 {
            format!("queued 1 job (seed {first_seed})")
        } else {
            format!(
                "queued {count} jobs (seeds {first_seed}..{})",
                first_seed.wrapping_add(count as u64 - 1)
            )
        });
    }

    pub fn selected_job(&self) -> Option<&Job> {
        self.queue.jobs.get(self.queue_selected)
    }

    fn move_job(&mut self, delta: isize) {
        let Some(job) = self.selected_job() else {
            return;
        };
        let id = job.id;
        let Some(target) = self
            .queue_selected
            .checked_add_signed(delta)
            .filter(|t| *t < self.queue.jobs.len())
        else {
            return;
        };
        self.effects
            .push(Effect::Engine(EngineCommand::Move(id, delta)));
        // Follow the job; the engine's next queue event confirms the order.
        self.queue.jobs.swap(self.queue_selected, target);
        self.queue_selected = target;
    }

    /// Replaces the mirrored queue and the history derived from it.
    pub fn set_queue(&mut self, queue: Queue) {
        let selected_id = self.selected_job().map(|j| j.id);
        self.queue = queue;
        if let Some(id) = selected_id {
            if let Some(i) = self.queue.jobs.iter().position(|j| j.id == id) {
                self.queue_selected = i;
            }
        }
        self.queue_selected = self
            .queue_selected
            .min(self.queue.jobs.len().saturating_sub(1));
        let mut history: Vec<HistoryItem> = self
            .queue
            .jobs
            .iter()
            .filter_map(HistoryItem::from_job)
            .collect();
        // Keep images whose job was removed from the queue (or that came from the index):
        // history is about files.
        for old in &self.history {
            if !history.iter().any(|h| h.path == old.path) {
                let mut old = old.clone();
                old.job = None;
                history.push(old);
            }
        }
        history.sort_by(|a, b| b.finished.total_cmp(&a.finished));
        self.history = history;
        self.history_selected = self
            .history_selected
            .min(self.history.len().saturating_sub(1));
    }

    fn show_history_item(&mut self, item: &HistoryItem) {
        match load_png(&item.path) {
            Ok(image) => {
                self.set_preview(PreviewImage {
                    image: Arc::new(image),
                    path: Some(item.path.clone()),
                    title: item.label(),
                });
                self.info(format!("showing {}", item.path.display()));
            }
            Err(e) => self.error(format!("cannot show {}: {e}", item.path.display())),
        }
    }

    pub fn set_preview(&mut self, preview: PreviewImage) {
        self.preview = Some(preview);
        self.preview_generation += 1;
    }

    /// Adds entries of the output history index (older sessions, `generate` runs).
    pub fn add_history_entries(&mut self, entries: &[crate::output::HistoryEntry]) {
        for e in entries {
            if !self.history.iter().any(|h| h.path == e.path) {
                self.history.push(HistoryItem::from_index(e));
            }
        }
        self.history
            .sort_by(|a, b| b.finished.total_cmp(&a.finished));
    }

    pub(super) fn load_history_params(&mut self) {
        let Some(item) = self.history.get(self.history_selected).cloned() else {
            self.info("no finished image selected");
            return;
        };
        // The record embedded in the file is the truth; the queue's copy is the fallback
        // when the file cannot be read.
        let (caption, sampler, size, seed, model, source) =
            match crate::output::read_record(&item.path) {
                Ok(r) => {
                    let size = r.size();
                    (
                        r.caption,
                        r.sampler,
                        size,
                        r.seed,
                        ModelSpec::parse(&r.model),
                        "embedded parameters",
                    )
                }
                Err(e) => match item.spec {
                    Some(spec) => (
                        spec.caption,
                        spec.params,
                        spec.size,
                        spec.seed,
                        spec.model,
                        "queue (file unreadable)",
                    ),
                    None => {
                        self.error(format!("cannot load parameters: {e}"));
                        return;
                    }
                },
            };
        self.editor.replace_all(caption);
        if let crate::sampler::SamplerParams::Custom(c) = &sampler {
            self.params.custom = c.clone();
        }
        self.params.sampler = sampler;
        self.params.size = size;
        self.params.seed = seed;
        self.params.seed_locked = true;
        self.params.model = model;
        self.info(format!(
            "loaded caption and parameters from {} ({source}); seed locked at {seed}",
            item.path.display()
        ));
    }

    pub fn on_engine_event(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Queue(q) => self.set_queue(q),
            EngineEvent::ModelLoading { model } => self.model_status = ModelStatus::Loading(model),
            EngineEvent::ModelReady {
                model, description, ..
            } => self.model_status = ModelStatus::Ready { model, description },
            EngineEvent::ModelFailed { model, error } => {
                self.error(format!("model {model} failed to load: {error}"));
                self.progress.last_error = Some(error.clone());
                self.model_status = ModelStatus::Failed { model, error };
            }
            EngineEvent::Started { job } => {
                self.progress.job = Some(job);
                self.progress.info = None;
                self.progress.stage = None;
            }
            EngineEvent::Stage { job, stage } => {
                self.progress.job = Some(job);
                self.progress.stage = Some(stage);
            }
            EngineEvent::Progress { job, info } => {
                self.progress.job = Some(job);
                self.progress.info = Some(info);
                self.mlx_memory = Some(info.memory);
            }
            EngineEvent::Finished {
                job,
                output,
                image,
                seconds,
            } => {
                self.info(format!(
                    "job {job} done in {seconds:.1}s: {}",
                    output.display()
                ));
                let seed = self.queue.get(job).map(|j| j.spec.seed);
                self.set_preview(PreviewImage {
                    image,
                    path: Some(output),
                    title: match seed {
                        Some(s) => format!("job {job} · seed {s}"),
                        None => format!("job {job}"),
                    },
                });
                self.progress.job = None;
            }
            EngineEvent::Preview {
                job,
                step,
                total,
                image,
            } => {
                // Only while that job still runs: a late preview must not replace the result.
                if self.progress.job == Some(job) {
                    self.set_preview(PreviewImage {
                        image,
                        path: None,
                        title: format!("job {job} · step {step}/{total} · preview"),
                    });
                }
            }
            EngineEvent::Failed { job, error } => {
                self.error(format!("job {job} failed: {error}"));
                self.progress.last_error = Some(error);
                self.progress.job = None;
            }
            EngineEvent::Cancelled { job } => {
                self.info(format!("job {job} cancelled"));
                self.progress.job = None;
            }
        }
    }
}

/// Reads a PNG into RGB (for the preview of history items).
pub fn load_png(path: &Path) -> Result<RgbImage, String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?
        .to_rgb8();
    Ok(RgbImage {
        width: img.width(),
        height: img.height(),
        pixels: img.into_raw(),
    })
}
