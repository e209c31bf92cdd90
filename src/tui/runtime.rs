//! The event loop: terminal events from the input thread, engine events from the engine
//! thread and a one-second tick, all on one tokio task. After each batch of events the screen
//! is drawn once from the latest state (television's "draw only the latest"), then terminal
//! graphics are refreshed if the preview moved or changed.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::Event;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use thiserror::Error;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::action::Action;
use super::app::{App, AppInit, Effect, EngineCommand};
use super::config::{Config, Dirs};
use super::keymap::{Context, KeyMap};
use super::output_sink::PatternSink;
use super::preview::{self, GraphicsKind, PreviewBackend};
use super::sysmem::MemoryProbe;
use super::terminal::{InputReader, TerminalGuard};
use super::theme::Theme;
use super::ui::{self, Drawn};
use crate::engine::persist::{self, SavedState};
use crate::engine::{
    Engine, EngineEvent, EngineOptions, JobStatus, ModelLoader, ModelSpec, OutputSink,
};
use crate::logging::error_chain;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub model: Option<String>,
    pub theme: Option<String>,
    pub caption_file: Option<PathBuf>,
    /// Problems found before the app started (no log file…), shown in its status line.
    pub notices: Vec<String>,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error("cannot read caption file {}", path.display())]
    CaptionFile { path: PathBuf, source: io::Error },
    #[error("terminal error")]
    Terminal(#[from] io::Error),
    #[error("no home directory found for the config and data folders")]
    NoDirs,
}

/// Everything read from disk before the terminal is touched, so that an unreadable caption
/// file is reported on a normal screen.
pub struct Startup {
    pub dirs: Dirs,
    pub config: Config,
    pub init: AppInit,
    pub saved_queue: crate::engine::Queue,
}

/// Reads config, theme, saved state and the caption file. Problems that the app can live with
/// become messages shown in its status line.
pub fn prepare(options: &RunOptions, dirs: Dirs) -> Result<Startup, RunError> {
    let mut messages = options.notices.clone();
    let config = match Config::load(&dirs.config_file()) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("config: {}; using defaults", error_chain(&e));
            messages.push(format!("{e}; using defaults"));
            Config::default()
        }
    };
    let theme_name = options
        .theme
        .clone()
        .unwrap_or_else(|| config.theme.clone());
    let (theme, theme_error) = Theme::load_or_default(&theme_name, Some(&dirs.themes_dir()));
    if let Some(e) = theme_error {
        tracing::warn!("theme: {}; using the dark theme", error_chain(&e));
        messages.push(format!("{e}; using the dark theme"));
    }
    if let Err(e) = crate::output::check_dir(&config.output_dir(&dirs)) {
        tracing::warn!("output folder: {e}");
        messages.push(e.to_string());
    }
    let saved = match persist::load(&dirs.state_file()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("saved state: {}", error_chain(&e));
            messages.push(e.to_string());
            None
        }
    };
    let caption_file = match &options.caption_file {
        Some(path) => {
            let text =
                crate::caption::input::read_file(path).map_err(|source| RunError::CaptionFile {
                    path: path.clone(),
                    source,
                })?;
            // Absolute, so the saved state still finds it from another folder.
            Some((
                std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
                text,
            ))
        }
        None => None,
    };
    let mut saved_queue = saved.as_ref().map(|s| s.queue.clone()).unwrap_or_default();
    let waiting = saved_queue.recover_after_restart();
    if waiting > 0 {
        if !saved_queue.paused {
            // Do not start heavy work the moment the app opens; the user decides.
            saved_queue.paused = true;
            tracing::info!(waiting, "restored waiting jobs; the queue starts paused");
        }
        // Said whether the pause is ours or was saved with the queue: either way nothing runs
        // until the user resumes, and the status line is where they look first.
        let resume = KeyMap::standard().key_in(Context::Queue, &Action::ToggleQueuePause);
        messages.push(format!(
            "restored {waiting} waiting job(s); the queue is paused ({resume} in {} resumes)",
            Context::Queue.title()
        ));
    }
    // Which model the app opens with: --model, else the last session's, else config.toml's.
    // Say so when the last session's wins over a different config.toml entry.
    let last_model = saved.as_ref().and_then(|s| s.model.clone());
    if let (None, Some(last)) = (&options.model, &last_model) {
        if *last != ModelSpec::parse(&config.model) {
            messages.push(format!(
                "model {last} from the last session (config.toml names {}; --model chooses)",
                config.model
            ));
        }
    }
    let mut init = AppInit::new(theme);
    init.model = options.model.as_deref().map(ModelSpec::parse);
    init.saved = saved.map(|mut s| {
        s.queue = saved_queue.clone();
        s
    });
    init.caption_file = caption_file;
    init.messages = messages;
    init.example_dirs = example_dirs();
    init.config = config.clone();
    init.dirs = Some(dirs.clone());
    Ok(Startup {
        dirs,
        config,
        init,
        saved_queue,
    })
}

/// Where example captions are looked for: next to the working directory, next to the
/// executable (installed layouts), and the source tree this binary was built from.
pub fn example_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("examples/captions")];
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            dirs.push(dir.join("examples/captions"));
            dirs.push(dir.join("../share/ideogram4-tui/examples/captions"));
        }
    }
    dirs.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/captions"
    )));
    dirs
}

/// Makes the engine's model loader once the config is read (it may set load options).
pub type LoaderFactory = Box<dyn FnOnce(&Config) -> Box<dyn ModelLoader>>;

/// Runs the app until the user quits. The loader comes from the caller (it knows the
/// pipeline); images are written by a [`PatternSink`] as the config says.
pub fn run(
    options: RunOptions,
    make_loader: LoaderFactory,
    cached_models: Vec<ModelSpec>,
) -> Result<(), RunError> {
    let dirs = Dirs::standard().ok_or(RunError::NoDirs)?;
    let mut startup = prepare(&options, dirs)?;
    startup.init.cached_models = cached_models;
    let loader = make_loader(&startup.config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    runtime.block_on(event_loop(startup, loader))
}

async fn event_loop(startup: Startup, loader: Box<dyn ModelLoader>) -> Result<(), RunError> {
    let Startup {
        dirs,
        config,
        init,
        saved_queue,
    } = startup;
    let sink = PatternSink::new(
        config.output_dir(&dirs),
        config.filename_pattern.clone(),
        &dirs.data_dir,
    );
    tracing::info!(
        model = %config.model,
        output_dir = %config.output_dir(&dirs).display(),
        data_dir = %dirs.data_dir.display(),
        "terminal app starting"
    );
    let history = sink.history().load();
    let output: Box<dyn OutputSink> = Box::new(sink);
    let guard = TerminalGuard::enter()?;
    // Asked before the input thread exists: the answer arrives on stdin.
    let mut backend = preview::detect(config.preview);
    let (key_tx, mut key_rx) = unbounded_channel::<Event>();
    let input = InputReader::spawn(move |ev| key_tx.send(ev).is_ok())?;
    let (sig_tx, mut sig_rx) = unbounded_channel::<i32>();
    let signals = super::signals::SignalForwarder::spawn(move |sig| sig_tx.send(sig).is_ok())?;
    let (eng_tx, mut eng_rx) = unbounded_channel::<EngineEvent>();
    let engine = Engine::start(
        EngineOptions {
            cache_limit: config.mlx_cache_limit_mb.map(|mb| (mb as usize) << 20),
            preview_every: config.live_preview_every,
            ..EngineOptions::default()
        },
        loader,
        output,
        saved_queue,
        Box::new(move |e| {
            let _ = eng_tx.send(e);
        }),
    );
    let mut app = App::new(init);
    app.set_queue(engine.queue());
    match history {
        Ok(h) => app.add_history_entries(&h.entries),
        Err(e) => {
            tracing::warn!("history index: {}", error_chain(&e));
            app.error(format!("history index: {e}"));
        }
    }
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let mut probe = MemoryProbe::default();
    app.system_memory = Some(probe.sample());
    let mut graphics = GraphicsState::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Spinner frames and the result check while an idea is being expanded.
    let mut spin = tokio::time::interval(Duration::from_millis(100));
    let state_file = dirs.state_file();
    let mut last_saved = String::new();
    let keep_finished = config.keep_finished_jobs;
    let mut last_statuses = super::state_save::status_fingerprint(&engine.queue());

    let result: Result<(), RunError> = loop {
        // Every wake-up below changes something on screen; one draw covers the whole batch.
        if let Err(e) = render(&mut terminal, &mut app, &mut backend, &mut graphics, &input) {
            break Err(e.into());
        }
        if app.should_quit {
            break Ok(());
        }
        tokio::select! {
            ev = key_rx.recv() => match ev {
                Some(ev) => handle_terminal_event(&mut app, ev, &mut graphics),
                None => break Ok(()),
            },
            Some(ev) = eng_rx.recv() => app.on_engine_event(ev),
            Some(sig) = sig_rx.recv() => {
                // As Ctrl-Q: the shutdown below saves, stops the engine and restores.
                tracing::info!(signal = super::signals::name(sig), "quitting on a signal");
                break Ok(());
            }
            _ = tick.tick() => {
                app.system_memory = Some(probe.sample());
                save_if_changed(&app, &engine, &state_file, &mut last_saved, keep_finished);
            }
            _ = spin.tick(), if app.idea.is_running() => {}
        }
        app.poll_idea();
        // Take everything already waiting, then draw once.
        drain(&mut key_rx, &mut eng_rx, &mut app, &mut graphics);
        for effect in app.take_effects() {
            match effect {
                Effect::Engine(cmd) => run_command(&engine, cmd, &mut app),
                Effect::Clipboard(text) => {
                    let _ = write_osc52(&text);
                }
                Effect::Redraw => {
                    let _ = terminal.clear();
                    graphics.forget();
                }
                Effect::Quit => {}
            }
        }
        // A job changed status: on disk now, not at the next tick (a kill in between would
        // run a finished job again).
        let statuses = super::state_save::status_fingerprint(&engine.queue());
        if statuses != last_statuses {
            save_if_changed(&app, &engine, &state_file, &mut last_saved, keep_finished);
            last_statuses = statuses;
        }
    };

    // Quitting: stop the engine (a running job is put back to waiting), save, restore.
    let queue = engine.shutdown();
    let waiting = queue
        .jobs
        .iter()
        .filter(|j| j.status == JobStatus::Waiting)
        .count();
    tracing::info!(waiting, "terminal app quitting; waiting jobs are saved");
    let mut state: SavedState = app.saved_state();
    state.queue = queue;
    super::state_save::prune_finished(&mut state.queue, keep_finished);
    if let Err(e) = persist::save(&state_file, &state) {
        tracing::error!("saving the app state: {}", error_chain(&e));
    }
    drop(signals);
    drop(input);
    drop(terminal);
    drop(guard);
    result
}

fn drain(
    keys: &mut UnboundedReceiver<Event>,
    engine: &mut UnboundedReceiver<EngineEvent>,
    app: &mut App,
    graphics: &mut GraphicsState,
) {
    while let Ok(ev) = keys.try_recv() {
        handle_terminal_event(app, ev, graphics);
    }
    while let Ok(ev) = engine.try_recv() {
        app.on_engine_event(ev);
    }
}

fn handle_terminal_event(app: &mut App, ev: Event, graphics: &mut GraphicsState) {
    match ev {
        Event::Key(key) => app.handle_key(key),
        Event::Paste(text) => app.handle_paste(&text),
        Event::Resize(_, _) => graphics.forget(),
        _ => {}
    }
}

fn run_command(engine: &Engine, cmd: EngineCommand, app: &mut App) {
    match cmd {
        EngineCommand::Submit(specs) => {
            engine.submit(specs);
        }
        EngineCommand::Cancel(id) => {
            engine.cancel(id);
        }
        EngineCommand::Retry(id) => {
            engine.retry(id);
        }
        EngineCommand::Remove(id) => {
            engine.remove(id);
        }
        EngineCommand::Move(id, delta) => {
            engine.move_job(id, delta);
        }
        EngineCommand::Pause(p) => engine.set_paused(p),
        EngineCommand::Preload(model) => engine.preload(model),
    }
    app.set_queue(engine.queue());
}

fn save_if_changed(
    app: &App,
    engine: &Engine,
    path: &std::path::Path,
    last: &mut String,
    keep_finished: usize,
) {
    let mut state = app.saved_state();
    state.queue = engine.queue();
    super::state_save::prune_finished(&mut state.queue, keep_finished);
    // A running job is saved as waiting: if the process dies it runs again next time.
    for job in &mut state.queue.jobs {
        if job.status == JobStatus::Running {
            job.status = JobStatus::Waiting;
            job.started = None;
        }
    }
    let Ok(json) = serde_json::to_string(&state) else {
        return;
    };
    if json != *last && persist::save(path, &state).is_ok() {
        *last = json;
    }
}

/// What was last put on screen with terminal graphics.
#[derive(Default)]
struct GraphicsState {
    shown: Option<(u64, ratatui::layout::Rect)>,
}

impl GraphicsState {
    /// The screen was cleared: whatever was shown is gone.
    fn forget(&mut self) {
        self.shown = None;
    }
}

fn render(
    terminal: &mut Terminal<CrosstermBackend<io::Stdout>>,
    app: &mut App,
    backend: &mut PreviewBackend,
    graphics: &mut GraphicsState,
    input: &InputReader,
) -> io::Result<()> {
    app.now = crate::engine::job::now();
    let mut drawn = Drawn::default();
    terminal.draw(|f| drawn = ui::draw(f, app, *backend))?;
    let PreviewBackend::Graphics(kind) = *backend else {
        return Ok(());
    };
    let want = match (drawn.graphics_area, &app.preview) {
        (Some(area), Some(_)) => Some((app.preview_generation, area)),
        _ => None,
    };
    if want == graphics.shown {
        return Ok(());
    }
    if graphics.shown.is_some() {
        // The old image may sit in cells ratatui believes are blank: clear and redraw.
        if kind == GraphicsKind::Kitty {
            preview::kitty_clear(&mut io::stdout())?;
        }
        terminal.clear()?;
        terminal.draw(|f| drawn = ui::draw(f, app, *backend))?;
    }
    graphics.shown = None;
    if let (Some((generation, area)), Some(p)) = (want, &app.preview) {
        let image = p.image.clone();
        let result = input.paused(|| preview::print_graphics(&image, area, kind));
        match result {
            Ok(()) => graphics.shown = Some((generation, area)),
            Err(e) => {
                tracing::warn!("{} failed ({e}); using half-blocks", backend.label());
                app.error(format!(
                    "{} failed ({e}); using half-blocks",
                    backend.label()
                ));
                *backend = PreviewBackend::HalfBlocks;
                terminal.clear()?;
                terminal.draw(|f| {
                    ui::draw(f, app, *backend);
                })?;
            }
        }
    }
    Ok(())
}

/// Copies to the system clipboard through the terminal (works over SSH and in tmux with
/// `set-clipboard on`).
fn write_osc52(text: &str) -> io::Result<()> {
    let mut out = io::stdout();
    write!(out, "\x1b]52;c;{}\x07", preview::base64(text.as_bytes()))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs_in(root: &std::path::Path) -> Dirs {
        Dirs {
            config_dir: root.join("config"),
            data_dir: root.join("data"),
        }
    }

    fn small_job() -> crate::engine::JobSpec {
        crate::engine::JobSpec {
            caption: "{}".into(),
            params: crate::sampler::Preset::Turbo12.into(),
            size: crate::sampler::ImageSize::new(64, 64),
            seed: 1,
            model: ModelSpec::Demo,
            adapters: Vec::new(),
            start: None,
        }
    }

    #[test]
    fn a_queue_saved_paused_is_announced_on_restore() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = dirs_in(dir.path());
        let mut saved = SavedState::default();
        saved.queue.push(small_job());
        saved.queue.paused = true;
        persist::save(&dirs.state_file(), &saved).unwrap();
        let startup = prepare(&RunOptions::default(), dirs).unwrap();
        let joined = startup.init.messages.join("\n");
        assert!(
            joined.contains("restored 1 waiting job(s); the queue is paused"),
            "{joined}"
        );
        assert!(startup.saved_queue.paused);
    }

    #[test]
    fn prepare_reports_problems_and_pauses_restored_work() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = dirs_in(dir.path());
        std::fs::create_dir_all(dirs.themes_dir()).unwrap();
        std::fs::write(
            dirs.themes_dir().join("broken.toml"),
            "[colors]\naccent = \"#12345\"\n",
        )
        .unwrap();
        let mut saved = SavedState::default();
        saved.queue.push(small_job());
        persist::save(&dirs.state_file(), &saved).unwrap();
        let options = RunOptions {
            theme: Some("broken".into()),
            ..RunOptions::default()
        };
        let startup = prepare(&options, dirs.clone()).unwrap();
        let joined = startup.init.messages.join("\n");
        assert!(
            joined.contains("`accent` = \"#12345\" is not a colour"),
            "{joined}"
        );
        assert!(joined.contains("restored 1 waiting job(s)"), "{joined}");
        assert!(startup.saved_queue.paused);
        assert_eq!(startup.init.theme.name, "dark");

        let noticed = RunOptions {
            notices: vec!["no log file this run: cannot create the log folder".into()],
            ..RunOptions::default()
        };
        let startup = prepare(&noticed, dirs.clone()).unwrap();
        assert_eq!(
            startup.init.messages.first().map(String::as_str),
            Some("no log file this run: cannot create the log folder")
        );

        let missing = RunOptions {
            caption_file: Some(dir.path().join("nope.json")),
            ..RunOptions::default()
        };
        let err = prepare(&missing, dirs).err().unwrap().to_string();
        assert!(err.starts_with("cannot read caption file"), "{err}");
    }

    #[test]
    fn the_last_sessions_model_winning_over_config_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = dirs_in(dir.path());
        std::fs::create_dir_all(&dirs.config_dir).unwrap();
        std::fs::write(
            dirs.config_file(),
            format!("model = \"demo\"\noutput_dir = {:?}\n", dir.path()),
        )
        .unwrap();
        let saved = SavedState {
            model: Some(ModelSpec::parse("someone/other-model")),
            ..SavedState::default()
        };
        persist::save(&dirs.state_file(), &saved).unwrap();
        let startup = prepare(&RunOptions::default(), dirs.clone()).unwrap();
        let joined = startup.init.messages.join("\n");
        assert!(
            joined.contains("from the last session (config.toml names demo; --model chooses)"),
            "{joined}"
        );
        // An explicit --model is no surprise: nothing to say.
        let chosen = RunOptions {
            model: Some("demo".into()),
            ..RunOptions::default()
        };
        let startup = prepare(&chosen, dirs).unwrap();
        assert!(
            startup.init.messages.is_empty(),
            "{:?}",
            startup.init.messages
        );
    }
}
