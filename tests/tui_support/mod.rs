//! Shared set-up for the TUI tests: an app in a known state, drawn on a TestBackend.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ideogram4::engine::persist::SavedState;
use ideogram4::engine::{Job, JobSpec, JobStatus, ModelSpec, Queue, RgbImage};
use ideogram4::sampler::{ImageSize, Preset};
use ideogram4::tui::app::{App, AppInit, PreviewImage};
use ideogram4::tui::preview::PreviewBackend;
use ideogram4::tui::sysmem::SystemMemory;
use ideogram4::tui::{ui, Effect, EngineCommand, Theme};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;
use ratatui::Terminal;

pub const NOW: f64 = 1_763_900_000.0;

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tui")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An app with `caption`, the Turbo preset, a locked seed and fixed memory figures.
pub fn app_with(caption: &str) -> App {
    let saved = SavedState {
        caption: caption.to_string(),
        params: Preset::Turbo12.into(),
        size: ImageSize::new(256, 256),
        seed: 42,
        seed_locked: true,
        model: Some(ModelSpec::Demo),
        ..SavedState::default()
    };
    let mut init = AppInit::new(Theme::load("dark", None).unwrap());
    init.saved = Some(saved);
    init.example_dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tui")];
    let mut app = App::new(init);
    app.now = NOW;
    app.system_memory = Some(SystemMemory {
        total: 24 << 30,
        used: 9 << 30,
        swap_total: 4 << 30,
        swap_used: 1 << 29,
        rss: 700 << 20,
    });
    app
}

pub fn spec(seed: u64) -> JobSpec {
    JobSpec {
        caption: fixture("fox.json"),
        params: Preset::Turbo12.into(),
        size: ImageSize::new(256, 256),
        seed,
        model: ModelSpec::Demo,
        adapters: Vec::new(),
        start: None,
    }
}

/// A queue with one job in each state, timestamps fixed.
pub fn queue_of_every_kind() -> Queue {
    let mut q = Queue::default();
    for seed in 1..=5 {
        q.push(spec(seed));
    }
    let set = |j: &mut Job, status: JobStatus, started: Option<f64>, finished: Option<f64>| {
        j.status = status;
        j.created = NOW - 100.0;
        j.started = started;
        j.finished = finished;
    };
    set(
        &mut q.jobs[0],
        JobStatus::Done {
            output: "/out/2026-11-23_1_V4_TURBO_12.png".into(),
        },
        Some(NOW - 90.0),
        Some(NOW - 80.0),
    );
    set(
        &mut q.jobs[1],
        JobStatus::Failed {
            error: "model demo could not be loaded: out of memory".into(),
        },
        Some(NOW - 79.0),
        Some(NOW - 78.5),
    );
    set(&mut q.jobs[2], JobStatus::Running, Some(NOW - 12.0), None);
    q.jobs[2].step = 5;
    q.jobs[2].total_steps = 12;
    set(&mut q.jobs[3], JobStatus::Waiting, None, None);
    set(&mut q.jobs[4], JobStatus::Cancelled, None, Some(NOW - 5.0));
    q
}

/// A smooth 32×32 test picture: red grows to the right, blue downwards.
pub fn gradient(w: u32, h: u32) -> RgbImage {
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            pixels.extend([(x * 255 / (w - 1)) as u8, 64, (y * 255 / (h - 1)) as u8]);
        }
    }
    RgbImage {
        width: w,
        height: h,
        pixels,
    }
}

pub fn with_preview(app: &mut App) {
    app.set_preview(PreviewImage {
        image: Arc::new(gradient(32, 32)),
        path: Some("/out/2026-11-23_1_V4_TURBO_12.png".into()),
        title: "job 1 · seed 1".into(),
    });
}

pub fn draw(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| {
            ui::draw(f, app, PreviewBackend::HalfBlocks);
        })
        .unwrap();
    terminal
}

/// The screen as text.
pub fn screen(app: &mut App, width: u16, height: u16) -> String {
    let terminal = draw(app, width, height);
    buffer_text(terminal.backend().buffer())
}

pub fn buffer_text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut skip = 0;
        for x in 0..buf.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            out.push_str(sym);
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
        }
        out.push('\n');
    }
    out
}

/// Underlined cells per row as `row: start..end` cell ranges (styles are not in the text).
pub fn underlined_ranges(buf: &Buffer) -> Vec<String> {
    let mut out = Vec::new();
    for y in 0..buf.area.height {
        let mut start = None;
        for x in 0..=buf.area.width {
            let on = x < buf.area.width && buf[(x, y)].modifier.contains(Modifier::UNDERLINED);
            match (on, start) {
                (true, None) => start = Some(x),
                (false, Some(s)) => {
                    out.push(format!("row {y}: cells {s}..{x}"));
                    start = None;
                }
                _ => {}
            }
        }
    }
    out
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

pub fn alt(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)
}

pub fn ch(c: char) -> KeyEvent {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(KeyCode::Char(c), mods)
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        if c == '\n' {
            app.handle_key(key(KeyCode::Enter));
        } else {
            app.handle_key(ch(c));
        }
    }
}

/// The job specs the app asked the engine to queue since the last look at its effects.
pub fn submitted(app: &mut App) -> Vec<JobSpec> {
    app.take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Engine(EngineCommand::Submit(specs)) => Some(specs),
            _ => None,
        })
        .flatten()
        .collect()
}
