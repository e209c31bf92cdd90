//! The application state and the router of its changes. Keys become [`Action`]s through the
//! key map and go to the piece of state they belong to (the editor, the parameters, an open
//! overlay, the jobs…), which handles them next to its data and leaves what concerns others
//! (messages naming keys, engine commands) to the router; engine events arrive through
//! [`App::on_engine_event`]. Work that leaves the app
//! (engine commands, quitting, the clipboard) is queued as [`Effect`]s for the runtime, so the
//! whole app can be driven and checked in tests without a terminal or a model thread.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::{Action, Motion, Pane, PresetChoice};
use super::config::{Config, Dirs};
use super::editor::{EditOutcome, Editor};
use super::keymap::{Context, Key, KeyMap};
use super::list;
use super::overlay_state::{
    GuidanceEditor, Overlay, OverlayOutcome, Picker, PickerItem, Prompt, PromptKind,
};
use super::params_state::{fmt_num, guidance_text, Field, ParamsState, Refusal};
use super::sysmem::SystemMemory;
use super::theme::Theme;
use crate::engine::persist::SavedState;
use crate::engine::{EngineEvent, JobId, JobSpec, ModelSpec, Queue, SharedImage, StepInfo};
use crate::model::adapter::{AdapterTarget, AdapterUse};
use crate::sampler::random_seed;

pub use super::document::{CaptionCache, CaptionFormat};
pub use super::jobs::{load_png, HistoryItem, HistoryList};

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
    pub(crate) slot: Pane,
    pub zoomed: bool,
    pub overlay: Option<Overlay>,
    pub editor: Editor,
    pub caption_file: Option<PathBuf>,
    /// The text as last loaded or saved, to mark unsaved changes.
    pub(super) saved_text: String,
    pub caption: CaptionCache,
    pub(crate) diag_selected: usize,
    pub params: ParamsState,
    pub(crate) queue: Queue,
    pub queue_selected: usize,
    pub(crate) history: HistoryList,
    pub(crate) model_status: ModelStatus,
    pub(crate) progress: ProgressView,
    pub system_memory: Option<SystemMemory>,
    pub(crate) mlx_memory: Option<crate::mlx::memory::Snapshot>,
    pub(crate) preview: Option<PreviewImage>,
    /// Bumped whenever the preview image changes, so the runtime knows to redraw graphics.
    pub(crate) preview_generation: u64,
    pub status: Option<(String, Severity)>,
    pub(crate) example_dirs: Vec<PathBuf>,
    pub cached_models: Vec<ModelSpec>,
    effects: Vec<Effect>,
    pub should_quit: bool,
    /// Set by the runtime: the clock used for elapsed times (seconds since the epoch).
    pub now: f64,
    pub(crate) show_line_numbers: bool,
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
            history: HistoryList::default(),
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

    pub(super) fn push_effect(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    pub fn info(&mut self, msg: impl Into<String>) {
        self.status = Some((msg.into(), Severity::Info));
    }

    pub fn error(&mut self, msg: impl Into<String>) {
        self.status = Some((msg.into(), Severity::Error));
    }

    /// A refused parameter change; a preset's lock says which key chooses Custom.
    fn refuse(&mut self, refusal: Refusal) {
        if !refusal.locked {
            return self.error(refusal.message);
        }
        let custom = self.custom_key();
        self.error(format!("{refusal}; press {custom} (Custom) to change it"));
    }

    /// The key that chooses the Custom sampler in Parameters.
    fn custom_key(&self) -> String {
        self.keymap
            .letter_in(Context::Params, &Action::Preset(PresetChoice::Custom))
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

    /// Routes an action to the piece of state it belongs to.
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
            Action::OpenFile
            | Action::SaveFile
            | Action::SaveFileAs
            | Action::Examples
            | Action::WrapPlainText
            | Action::ApplyFixes
            | Action::ToggleFormat => self.document_action(&action),
            Action::Close | Action::FillGuidance | Action::CompletePath => {}
            Action::Insert(_) if self.focus != Pane::Editor => {}
            Action::Move(m) => self.move_in_pane(m),
            Action::Activate => self.activate(),
            Action::Increase | Action::Decrease if self.focus != Pane::Params => {}
            Action::Increase | Action::Decrease => {
                if let Err(e) = self.params.adjust(action == Action::Increase) {
                    self.refuse(e);
                }
            }
            Action::Preset(choice) => {
                if let Some(note) = self.params.choose_preset_noted(choice) {
                    self.info(note);
                }
            }
            Action::RandomSeed => self.params.seed = random_seed(),
            Action::ToggleSeedLock => self.params.seed_locked = !self.params.seed_locked,
            Action::CycleAspect => self.params.cycle_aspect(true),
            Action::PickModel => self.open_model_picker(),
            Action::PickAdapters => self.open_adapter_picker(0),
            Action::EditGuidance => self.open_guidance_editor(),
            Action::MoveJobUp
            | Action::MoveJobDown
            | Action::CancelJob
            | Action::RetryJob
            | Action::RemoveJob
            | Action::ToggleQueuePause => self.queue_action(&action),
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
            editing => self.edit(&editing),
        }
        self.refresh_caption();
    }

    /// The editor's keys, and what they leave to say.
    fn edit(&mut self, action: &Action) {
        match self.editor.apply(action) {
            EditOutcome::Clipboard(s) => self.effects.push(Effect::Clipboard(s)),
            EditOutcome::NothingSelected => {
                let keys = &self.keymap;
                let message = format!(
                    "select text first ({}/{}, {})",
                    keys.key_label(&Action::Select(Motion::Left)),
                    keys.key_label(&Action::Select(Motion::Right)),
                    keys.key_label(&Action::SelectAll)
                );
                self.info(message);
            }
            EditOutcome::NothingToUndo => self.info("nothing to undo"),
            EditOutcome::NothingToRedo => self.info("nothing to redo"),
            EditOutcome::Done | EditOutcome::NotMine => {}
        }
    }

    fn set_focus(&mut self, pane: Pane) {
        self.focus = pane;
        if matches!(pane, Pane::Queue | Pane::History | Pane::Preview) {
            self.slot = pane;
        }
    }

    pub(super) fn open_prompt(&mut self, kind: PromptKind, initial: &str) {
        self.overlay = Some(Overlay::Prompt(Prompt::new(kind, initial)));
    }

    /// Keys while an overlay is open: the overlay handles its own, what it asks of the rest
    /// is routed here. Returns false when the action is not the overlay's.
    fn apply_overlay(&mut self, action: &Action) -> bool {
        let Some(overlay) = self.overlay.take() else {
            return false;
        };
        match overlay.apply(action) {
            OverlayOutcome::Stay(o) => self.overlay = Some(o),
            OverlayOutcome::Closed => {}
            OverlayOutcome::Pass(o) => {
                self.overlay = Some(o);
                return false;
            }
            OverlayOutcome::Accept(prompt) => self.accept_prompt(prompt),
            OverlayOutcome::Pick { item, index } => {
                let adapters = matches!(item, PickerItem::Adapter { .. });
                self.pick(item);
                if adapters {
                    self.open_adapter_picker(index);
                }
            }
            OverlayOutcome::AdapterStrength { path, delta, index } => {
                if let Some(a) = self.params.adapters.iter_mut().find(|a| a.path == path) {
                    a.strength = ((a.strength + delta) * 100.0).round() / 100.0;
                }
                self.open_adapter_picker(index);
            }
            OverlayOutcome::GuidanceChanged(g) => {
                let values = g.values.clone();
                self.overlay = Some(Overlay::Guidance(g));
                if let Err(e) = self.params.set_guidance_sampling_order(values) {
                    self.refuse(e);
                }
            }
            OverlayOutcome::GuidanceLocked(g) => {
                self.overlay = Some(Overlay::Guidance(g));
                self.error(format!(
                    "the schedule is fixed by preset {}; press {} in {} for Custom",
                    self.params.sampler.label(),
                    self.custom_key(),
                    Context::Params.title()
                ));
            }
            OverlayOutcome::TypeGuidance(g) => {
                let text = guidance_text(&self.params.sampler);
                let list = if text.contains(',') {
                    text
                } else {
                    g.values
                        .iter()
                        .map(|v| fmt_num(f64::from(*v)))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                self.open_prompt(PromptKind::GuidanceList, &list);
            }
        }
        true
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
                    self.refuse(e);
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
                    Err(e) => self.refuse(e),
                },
                Err(e) => self.error(e.to_string()),
            },
        }
    }

    fn open_adapter_picker(&mut self, selected: usize) {
        let keys = &self.keymap;
        let title = format!(
            "LoRA adapters · {} add/remove · {}/{} strength · {} done",
            keys.key_in(Context::Picker, &Action::Activate),
            keys.key_in(Context::Picker, &Action::Decrease),
            keys.key_in(Context::Picker, &Action::Increase),
            keys.key_in(Context::Picker, &Action::Close),
        );
        let lora_dir = self.config.lora_dir.as_deref();
        match Picker::adapters(title, lora_dir, &self.params.adapters, selected) {
            Some(picker) => self.overlay = Some(Overlay::Picker(picker)),
            None => self.info(
                "no adapters: set lora_dir in config.toml or `ideogram4-tui models download OWNER/NAME`",
            ),
        }
    }

    fn open_guidance_editor(&mut self) {
        let editor = GuidanceEditor::new(&self.params, self.overlay.as_ref());
        self.overlay = Some(Overlay::Guidance(editor));
    }

    fn open_model_picker(&mut self) {
        let picker = Picker::models(&self.cached_models, &self.params.model);
        self.overlay = Some(Overlay::Picker(picker));
    }

    fn pick(&mut self, item: PickerItem) {
        match item {
            PickerItem::Adapter { path, strength } => {
                if strength.is_some() {
                    self.params.adapters.retain(|a| a.path != path);
                } else {
                    let target = AdapterUse::default_target(&path, AdapterTarget::Cond);
                    self.params.adapters.push(AdapterUse {
                        path,
                        strength: 1.0,
                        target,
                    });
                }
            }
            PickerItem::Preset(choice) => self.apply(Action::Preset(choice)),
            PickerItem::Example(path) => self.load_example(&path),
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
        match self.focus {
            Pane::Editor => self.edit(&Action::Move(m)),
            Pane::Diagnostics => {
                self.diag_selected = list::step(self.diag_selected, self.caption.warnings.len(), m)
            }
            Pane::Params => {
                self.params.selected = list::step(self.params.selected, Field::ALL.len(), m)
            }
            Pane::Queue => {
                self.queue_selected = list::step(self.queue_selected, self.queue.jobs.len(), m)
            }
            Pane::History => self.history.step(m),
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
                    Field::Preset => {
                        self.overlay = Some(Overlay::Picker(Picker::presets(&self.params)))
                    }
                    Field::SeedLock | Field::Aspect => {
                        if let Err(e) = self.params.adjust(true) {
                            self.refuse(e);
                        }
                    }
                    f if f.preset_locked() && !self.params.is_custom() => {
                        self.refuse(self.params.locked(f))
                    }
                    f => {
                        let v = self.params.value_text(f);
                        self.open_prompt(PromptKind::Field(f), &v);
                    }
                }
            }
            Pane::History => self.show_history_item(),
            _ => {}
        }
    }

    pub fn set_preview(&mut self, preview: PreviewImage) {
        self.preview = Some(preview);
        self.preview_generation += 1;
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
            EngineEvent::Stage { job, stage, .. } => {
                self.progress.job = Some(job);
                self.progress.stage = Some(stage);
            }
            // A warning shows where the stage does, until the next stage replaces it.
            EngineEvent::Warning { job, warning } => {
                self.progress.job = Some(job);
                self.progress.stage = Some(warning.to_string());
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
