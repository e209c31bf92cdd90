//! Frame time of the terminal app on a 10 KB caption: one keystroke handled (edit, verify,
//! colour) and the screen redrawn through the real crossterm backend into memory (the
//! escape sequences a terminal would receive), at 160×48 and 100×30.
//!
//! `cargo run --release --example tui_frame_time`

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ideogram4::engine::persist::SavedState;
use ideogram4::engine::ModelSpec;
use ideogram4::sampler::{ImageSize, Preset};
use ideogram4::tui::preview::PreviewBackend;
use ideogram4::tui::{ui, App, AppInit, Pane, Theme};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

/// A caption of at least 10 KB that passes the verifier: the fox caption with many elements.
fn big_caption() -> String {
    let element = |i: usize| {
        format!(
            "      {{\n        \"type\": \"obj\",\n        \"desc\": \"lantern number {i} hanging from a low branch, glowing warm yellow in the dusk\",\n        \"color_palette\": [\n          \"#FFD166\"\n        ]\n      }}"
        )
    };
    let mut n = 1;
    loop {
        let elements: Vec<String> = (0..n).map(element).collect();
        let text = format!(
            "{{\n  \"high_level_description\": \"A flat vector illustration of a fox reading a book under a tree at dusk.\",\n  \"style_description\": {{\n    \"aesthetics\": \"cozy, whimsical, clean shapes\",\n    \"lighting\": \"dusky ambient light with a warm lantern glow\",\n    \"medium\": \"illustration\",\n    \"art_style\": \"flat vector illustration, children's book style\",\n    \"color_palette\": [\n      \"#2B2D42\",\n      \"#EF8354\",\n      \"#FFD166\"\n    ]\n  }},\n  \"compositional_deconstruction\": {{\n    \"background\": \"rolling hills under a purple evening sky\",\n    \"elements\": [\n{}\n    ]\n  }}\n}}\n",
            elements.join(",\n")
        );
        if text.len() >= 10 * 1024 {
            return text;
        }
        n += 1;
    }
}

/// Counts the bytes a terminal would receive and drops them.
#[derive(Clone, Default)]
struct CountingSink(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let pretty = big_caption();
    // Minified, the whole caption is one soft-wrapped line: the editor's worst case.
    let minified = ideogram4::caption::format::minify(&pretty).expect("valid JSON");
    for (label, caption) in [("pretty", pretty), ("minified", minified)] {
        let warnings = ideogram4::caption::verify(&caption);
        assert!(warnings.is_empty(), "{warnings:?}");
        println!(
            "{label} caption: {} bytes, {} lines, verifier clean",
            caption.len(),
            caption.lines().count()
        );
        measure(&caption);
    }
}

fn measure(caption: &str) {
    let caption = caption.to_string();
    for (w, h) in [(160u16, 48u16), (100, 30)] {
        let mut init = AppInit::new(Theme::default());
        init.saved = Some(SavedState {
            caption: caption.clone(),
            params: Preset::Turbo12.into(),
            size: ImageSize::new(256, 256),
            seed: 1,
            model: Some(ModelSpec::Demo),
            ..SavedState::default()
        });
        let mut app = App::new(init);
        app.apply(ideogram4::tui::Action::Focus(Pane::Editor));
        // Edit in the middle of the caption, inside a description string.
        let middle = caption
            .find("lantern number 40")
            .unwrap_or(caption.len() / 2);
        app.editor.set_cursor(middle);
        let sink = CountingSink::default();
        let backend = CrosstermBackend::new(sink.clone());
        let mut terminal = Terminal::with_options(
            backend,
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
            },
        )
        .expect("in-memory terminal");
        terminal
            .draw(|f| {
                ui::draw(f, &mut app, PreviewBackend::HalfBlocks);
            })
            .expect("draw");
        let mut handle = Vec::new();
        let mut frame = Vec::new();
        let before = sink.0.load(std::sync::atomic::Ordering::Relaxed);
        for i in 0..400 {
            let key = if i % 2 == 0 {
                KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)
            } else {
                KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)
            };
            let t0 = Instant::now();
            app.handle_key(key);
            let t1 = Instant::now();
            terminal
                .draw(|f| {
                    ui::draw(f, &mut app, PreviewBackend::HalfBlocks);
                })
                .expect("draw");
            let t2 = Instant::now();
            handle.push(t1 - t0);
            frame.push(t2 - t0);
        }
        assert_eq!(app.editor.text(), caption, "edits cancel out");
        handle.sort();
        frame.sort();
        println!(
            "{w}x{h}: keystroke->redrawn median {:.2} ms, p95 {:.2} ms, max {:.2} ms (key handling + verify: median {:.2} ms); {} bytes to the terminal per frame",
            percentile(&frame, 0.5).as_secs_f64() * 1e3,
            percentile(&frame, 0.95).as_secs_f64() * 1e3,
            frame.last().unwrap().as_secs_f64() * 1e3,
            percentile(&handle, 0.5).as_secs_f64() * 1e3,
            (sink.0.load(std::sync::atomic::Ordering::Relaxed) - before) / frame.len()
        );
    }
}
