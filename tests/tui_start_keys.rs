//! Image to image in the TUI: the variation key on a history entry or the preview, start and
//! mask files chosen by path with completion, the strength keys, and what the queued job
//! carries. Driven through keys, checked as engine effects (no terminal, no model).

mod tui_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent};
use ideogram4::engine::{JobStatus, Queue};
use ideogram4::tui::app::Severity;
use ideogram4::tui::keymap::{Context, Key, KeyMap};
use ideogram4::tui::overlay_state::Overlay;
use ideogram4::tui::{Action, Pane};
use tui_support::*;

/// The key map's first key for `action` in `context`, as the tests press it.
fn key_for(context: Context, action: &Action) -> KeyEvent {
    let keymap = KeyMap::standard();
    let b = keymap
        .in_context(context)
        .find(|b| &b.action == action)
        .unwrap_or_else(|| panic!("{action:?} unbound in {context:?}"));
    KeyEvent::new(b.keys[0].code, b.keys[0].mods)
}

fn write_png(path: &Path, w: u32, h: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, 90, (y * 255 / h) as u8])
    });
    img.save(path).unwrap();
}

/// A queue whose first job finished into a real PNG in `dir`.
fn queue_with_output(dir: &Path) -> (Queue, PathBuf) {
    let out = dir.join("first.png");
    write_png(&out, 64, 48);
    let mut q = Queue::default();
    let mut spec = spec(7);
    spec.caption = fixture("fox.json");
    let id = q.push(spec);
    let job = q.get_mut(id).unwrap();
    job.status = JobStatus::Done {
        output: out.clone(),
    };
    job.finished = Some(NOW);
    (q, out)
}

#[test]
fn variation_key_on_a_history_entry_queues_a_job_from_its_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with("");
    let (queue, out) = queue_with_output(dir.path());
    app.set_queue(queue);
    app.handle_key(key_for(Context::Global, &Action::Focus(Pane::History)));
    app.handle_key(key_for(Context::History, &Action::Variation));
    let specs = submitted(&mut app);
    assert_eq!(specs.len(), 1, "{:?}", app.status);
    let start = specs[0]
        .start
        .as_ref()
        .expect("the job starts from an image");
    assert_eq!(start.source, out);
    assert_eq!(start.strength, 0.6, "default strength");
    assert_eq!(start.mask, None);
    assert_eq!(
        specs[0].caption,
        fixture("fox.json"),
        "its caption came back"
    );
    let (msg, severity) = app.status.clone().unwrap();
    assert_eq!(severity, Severity::Info, "{msg}");
    // The message names the strength keys as the key map has them.
    let up = KeyMap::standard()
        .in_context(Context::Params)
        .find(|b| b.action == Action::StrengthUp)
        .unwrap()
        .short_label();
    assert!(msg.contains("variation") && msg.contains(&up), "{msg}");
}

#[test]
fn variation_key_in_the_preview_uses_the_shown_image_and_the_chosen_strength() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with(&fixture("fox.json"));
    let (queue, out) = queue_with_output(dir.path());
    app.set_queue(queue);
    app.handle_key(key_for(Context::Global, &Action::Focus(Pane::Params)));
    for _ in 0..3 {
        app.handle_key(key_for(Context::Params, &Action::StrengthUp));
    }
    app.handle_key(key_for(Context::Params, &Action::StrengthDown));
    app.set_preview(ideogram4::tui::app::PreviewImage {
        image: std::sync::Arc::new(gradient(8, 8)),
        path: Some(out.clone()),
        title: "job 1".into(),
    });
    app.handle_key(key_for(Context::Global, &Action::Focus(Pane::Preview)));
    app.handle_key(key_for(Context::Panes, &Action::Variation));
    let specs = submitted(&mut app);
    assert_eq!(specs.len(), 1, "{:?}", app.status);
    let start = specs[0].start.as_ref().unwrap();
    assert_eq!(start.source, out);
    assert_eq!(start.strength, 0.7);
}

#[test]
fn variation_without_an_image_or_with_a_missing_file_queues_nothing() {
    let mut app = app_with(&fixture("fox.json"));
    app.handle_key(key_for(Context::Global, &Action::Focus(Pane::History)));
    app.handle_key(key_for(Context::History, &Action::Variation));
    assert!(submitted(&mut app).is_empty());
    // queue_of_every_kind's finished job points at a file that does not exist.
    app.set_queue(queue_of_every_kind());
    app.handle_key(key_for(Context::History, &Action::Variation));
    assert!(submitted(&mut app).is_empty());
    let (msg, severity) = app.status.clone().unwrap();
    assert_eq!(severity, Severity::Error);
    assert!(msg.contains("cannot start from"), "{msg}");
    assert!(app.start.source.is_none());
}

#[test]
fn source_and_mask_by_path_with_completion_then_cleared() {
    let dir = tempfile::tempdir().unwrap();
    write_png(&dir.path().join("photo-source.png"), 40, 30);
    write_png(&dir.path().join("photo-mask.png"), 40, 30);
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    let base = format!("{}/", dir.path().display());
    let mut app = app_with(&fixture("fox.json"));
    app.handle_key(key_for(Context::Global, &Action::Focus(Pane::Params)));

    app.handle_key(key_for(Context::Params, &Action::PickStartSource));
    let Some(Overlay::Prompt(p)) = &mut app.overlay else {
        panic!("a prompt opens");
    };
    p.input = ideogram4::tui::overlay_state::LineInput::new(format!("{base}photo-"));
    let tab = key_for(Context::Prompt, &Action::CompletePath);
    app.handle_key(tab);
    let Some(Overlay::Prompt(p)) = &app.overlay else {
        panic!("the prompt stays open");
    };
    assert_eq!(
        p.input.text,
        format!("{base}photo-"),
        "two matches: no change"
    );
    type_text(&mut app, "s");
    app.handle_key(tab);
    let Some(Overlay::Prompt(p)) = &app.overlay else {
        panic!("the prompt stays open");
    };
    assert_eq!(p.input.text, format!("{base}photo-source.png"));
    app.handle_key(key(KeyCode::Enter));
    assert!(app.overlay.is_none());
    assert_eq!(
        app.start.source.as_ref().map(|s| s.path.clone()),
        Some(dir.path().join("photo-source.png"))
    );

    app.handle_key(key_for(Context::Params, &Action::PickStartMask));
    let Some(Overlay::Prompt(p)) = &mut app.overlay else {
        panic!("a prompt opens");
    };
    p.input = ideogram4::tui::overlay_state::LineInput::new(format!("{base}notes.txt"));
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.status.as_ref().map(|s| s.1), Some(Severity::Error));
    assert!(
        app.start.mask.is_none(),
        "a file that is no image is refused"
    );

    app.handle_key(key_for(Context::Params, &Action::PickStartMask));
    let Some(Overlay::Prompt(p)) = &mut app.overlay else {
        panic!("a prompt opens");
    };
    p.input = ideogram4::tui::overlay_state::LineInput::new(format!("{base}photo-m"));
    app.handle_key(tab);
    app.handle_key(key(KeyCode::Enter));
    app.handle_key(key_for(Context::Params, &Action::StrengthDown));
    app.handle_key(ctrl('r'));
    let specs = submitted(&mut app);
    assert_eq!(specs.len(), 1, "{:?}", app.status);
    let start = specs[0].start.as_ref().unwrap();
    assert_eq!(start.mask, Some(dir.path().join("photo-mask.png")));
    assert_eq!(start.strength, 0.55);

    app.handle_key(key_for(Context::Params, &Action::ClearStart));
    app.handle_key(ctrl('r'));
    let specs = submitted(&mut app);
    assert_eq!(specs[0].start, None, "text to image again");
}

#[test]
fn start_keys_do_not_collide_with_other_bindings() {
    // Lookup goes pane context, then Panes, then Global: a key bound twice within one context
    // would make one binding unreachable.
    let keymap = KeyMap::standard();
    let mut seen: HashMap<(Context, Key), &Action> = HashMap::new();
    for b in keymap.bindings() {
        for k in &b.keys {
            if let Some(other) = seen.insert((b.context, *k), &b.action) {
                panic!("{k} in {:?}: {other:?} and {:?}", b.context, b.action);
            }
        }
    }
    let start_actions = [
        Action::Variation,
        Action::PickStartSource,
        Action::PickStartMask,
        Action::StrengthUp,
        Action::StrengthDown,
        Action::ClearStart,
        Action::CompletePath,
    ];
    for action in &start_actions {
        for b in keymap.bindings().iter().filter(|b| &b.action == action) {
            for k in &b.keys {
                // A single key in Panes must not shadow a Global binding (the Ctrl-G / Alt-L
                // kind): Panes is looked up first.
                if b.context == Context::Panes {
                    assert!(keymap.lookup(Context::Global, *k).is_none(), "{k}");
                }
                assert!(
                    !k.mods.contains(crossterm::event::KeyModifiers::CONTROL),
                    "{k}: Ctrl keys are global"
                );
            }
        }
    }
}
