//! Key handling: keys go through the key map to actions, and the actions change the app or
//! ask the engine for work (checked as effects, without a terminal).

mod tui_support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ideogram4::engine::{EngineEvent, ModelSpec};
use ideogram4::sampler::{Preset, SamplerParams};
use ideogram4::tui::app::{CaptionFormat, Severity};
use ideogram4::tui::keymap::{Context, Key};
use ideogram4::tui::overlay_state::Overlay;
use ideogram4::tui::{Action, Effect, EngineCommand, Pane};
use tui_support::*;

#[test]
fn typing_editing_undo_in_the_editor() {
    let mut app = app_with("");
    type_text(&mut app, "A red fox q?z");
    assert_eq!(
        app.editor.text(),
        "A red fox q?z",
        "q, ? and z type in the editor"
    );
    assert!(!app.should_quit);
    app.handle_key(ctrl('z'));
    assert_eq!(app.editor.text(), "A red fox ");
    app.handle_key(ctrl('y'));
    assert_eq!(app.editor.text(), "A red fox q?z");
    app.handle_key(key(KeyCode::Backspace));
    app.handle_key(KeyEvent::new(KeyCode::Left, KeyModifiers::SHIFT));
    app.handle_key(ctrl('x'));
    assert_eq!(app.editor.text(), "A red fox q");
    assert_eq!(app.take_effects(), vec![Effect::Clipboard("?".into())]);
}

#[test]
fn plain_text_wraps_into_a_caption_that_verifies() {
    let mut app = app_with("");
    type_text(&mut app, "a lighthouse at dawn");
    assert!(!app.caption.warnings.is_empty(), "plain text is not JSON");
    app.handle_key(ctrl('w'));
    assert!(app
        .editor
        .text()
        .contains("\"high_level_description\": \"a lighthouse at dawn\""));
    // Only the user's part is missing now; the structure is valid JSON.
    assert!(serde_json::from_str::<serde_json::Value>(app.editor.text()).is_ok());
    app.handle_key(ctrl('z'));
    assert_eq!(app.editor.text(), "a lighthouse at dawn");
}

#[test]
fn fix_a_planted_warning_then_submit() {
    let mut app = app_with(&fixture("fox_warning.json"));
    assert_eq!(app.caption.warnings.len(), 1);
    // Refused while the verifier objects, with the reason in the status line.
    app.handle_key(ctrl('r'));
    assert!(submitted(&mut app).is_empty());
    let (msg, sev) = app.status.clone().unwrap();
    assert_eq!(sev, Severity::Error);
    assert!(msg.contains("1 warning"), "{msg}");
    // Diagnostics: Enter jumps the cursor onto the span (selected).
    app.handle_key(alt('2'));
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.focus, Pane::Editor);
    assert_eq!(app.editor.selected_text(), Some("\"#ef8354\""));
    assert_eq!(app.editor.line_col(), (10, 7));
    // One key fixes it.
    app.handle_key(ctrl('f'));
    assert!(
        app.caption.warnings.is_empty(),
        "{:?}",
        app.caption.warnings
    );
    assert!(app.editor.text().contains("\"#EF8354\","));
    app.handle_key(ctrl('r'));
    let specs = submitted(&mut app);
    assert_eq!(specs.len(), 1);
    assert_eq!(
        specs[0].caption,
        app.editor.text(),
        "the job uses the text exactly as shown"
    );
    assert_eq!(specs[0].seed, 42);
    assert_eq!(specs[0].params, SamplerParams::Preset(Preset::Turbo12));
    assert_eq!(specs[0].model, ModelSpec::Demo);
}

#[test]
fn n_jobs_get_successive_seeds_and_unlocked_seeds_move_on() {
    let mut app = app_with(&fixture("fox.json"));
    app.handle_key(ctrl('n'));
    assert!(matches!(app.overlay, Some(Overlay::Prompt(_))));
    app.handle_key(key(KeyCode::Backspace));
    type_text(&mut app, "3");
    app.handle_key(key(KeyCode::Enter));
    let seeds: Vec<u64> = submitted(&mut app).iter().map(|s| s.seed).collect();
    assert_eq!(seeds, vec![42, 43, 44]);
    assert_eq!(app.params.seed, 42, "locked seed stays");
    app.handle_key(alt('3'));
    app.handle_key(ch('L'));
    assert!(!app.params.seed_locked);
    app.handle_key(ctrl('r'));
    assert_eq!(submitted(&mut app)[0].seed, 42);
    // Unlocked: the next job would get a fresh seed (equal only by a 1 in 2^32 chance).
    assert_ne!(app.params.seed, 42);
}

#[test]
fn presets_lock_custom_unlocks_and_guidance_is_edited_in_sampling_order() {
    let mut app = app_with(&fixture("fox.json"));
    app.handle_key(alt('3'));
    app.handle_key(ch('1'));
    assert_eq!(app.params.sampler, SamplerParams::Preset(Preset::Quality48));
    app.handle_key(key(KeyCode::Down)); // steps
    app.handle_key(key(KeyCode::Right));
    assert_eq!(app.params.sampler.steps(), 48, "locked");
    assert!(app
        .status
        .as_ref()
        .unwrap()
        .0
        .contains("locked by preset V4_QUALITY_48"));
    app.handle_key(ch('c'));
    app.handle_key(key(KeyCode::Right));
    assert_eq!(app.params.sampler.steps(), 49);
    // The guidance editor starts at the first executed step; raise it by one notch.
    app.handle_key(ch('g'));
    app.handle_key(key(KeyCode::Up));
    app.handle_key(key(KeyCode::Esc));
    let loop_order = app.params.sampler.guidance_loop_order();
    assert_eq!(loop_order.len(), 49);
    assert_eq!(
        *loop_order.last().unwrap(),
        7.5,
        "first executed step is the last loop index"
    );
    assert_eq!(&loop_order[..3], &[3.0, 3.0, 3.0], "polish steps untouched");
    // Typed list, sampling order.
    app.handle_key(ch('g'));
    app.handle_key(key(KeyCode::Enter));
    for _ in 0..400 {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "5,6,2");
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(
        app.params.sampler.guidance_loop_order(),
        vec![2.0, 6.0, 5.0]
    );
    assert_eq!(app.params.sampler.steps(), 3);
}

#[test]
fn preset_picker_lists_official_names() {
    let mut app = app_with(&fixture("fox.json"));
    app.handle_key(alt('3'));
    app.handle_key(key(KeyCode::Enter));
    let Some(Overlay::Picker(p)) = &app.overlay else {
        panic!("picker expected")
    };
    let labels: Vec<String> = p.items.iter().map(|i| i.label()).collect();
    for name in ["V4_QUALITY_48", "V4_DEFAULT_20", "V4_TURBO_12", "Custom"] {
        assert!(labels.iter().any(|l| l.contains(name)), "{labels:?}");
    }
    app.handle_key(key(KeyCode::Up));
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.params.sampler, SamplerParams::Preset(Preset::Default20));
}

#[test]
fn queue_keys_become_engine_commands() {
    let mut app = app_with(&fixture("fox.json"));
    app.set_queue(queue_of_every_kind());
    app.handle_key(alt('4'));
    app.handle_key(key(KeyCode::Down)); // job 2 (failed)
    app.handle_key(ch('r'));
    app.handle_key(key(KeyCode::Down)); // job 3 (running)
    app.handle_key(ch('x'));
    app.handle_key(ch('d'));
    app.handle_key(key(KeyCode::Down)); // job 4 (waiting)
    app.handle_key(ch('K'));
    assert_eq!(app.queue_selected, 2, "selection follows the moved job");
    app.handle_key(ch('p'));
    let commands: Vec<EngineCommand> = app
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Engine(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(
        commands,
        vec![
            EngineCommand::Retry(2),
            EngineCommand::Cancel(3),
            EngineCommand::Move(4, -1),
            EngineCommand::Pause(true),
        ],
        "removing the running job is refused"
    );
}

#[test]
fn history_loads_parameters_back() {
    let mut app = app_with("");
    app.set_queue(queue_of_every_kind());
    app.handle_key(alt('5'));
    app.handle_key(ch('l'));
    assert_eq!(app.editor.text(), fixture("fox.json"));
    assert_eq!(app.params.seed, 1);
    assert!(app.params.seed_locked);
}

#[test]
fn pretty_minify_toggle_and_paste() {
    let mut app = app_with(&fixture("fox.json"));
    app.handle_key(ctrl('p'));
    assert_eq!(app.caption.format, CaptionFormat::Pretty);
    app.handle_key(ctrl('p'));
    assert_eq!(app.caption.format, CaptionFormat::Minified);
    assert_eq!(app.editor.text().lines().count(), 1);
    app.handle_key(alt('4'));
    app.handle_paste("\r\n");
    assert_eq!(app.focus, Pane::Editor, "a paste goes to the caption");
    assert_eq!(app.caption.format, CaptionFormat::AsTyped);
}

#[test]
fn focus_zoom_help_quit() {
    let mut app = app_with("");
    app.handle_key(key(KeyCode::Tab));
    assert_eq!(app.focus, Pane::Diagnostics);
    app.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.focus, Pane::Editor);
    app.handle_key(key(KeyCode::F(2)));
    assert!(app.zoomed);
    app.handle_key(key(KeyCode::F(1)));
    assert!(matches!(app.overlay, Some(Overlay::Help { .. })));
    app.handle_key(ch('q'));
    assert!(
        app.overlay.is_none() && !app.should_quit,
        "q closes help first"
    );
    app.handle_key(alt('6'));
    app.handle_key(ch('q'));
    assert!(app.should_quit);
}

#[test]
fn engine_events_update_the_screen_and_errors_do_not_stop_the_app() {
    let mut app = app_with(&fixture("fox.json"));
    app.set_queue(queue_of_every_kind());
    app.on_engine_event(EngineEvent::Failed {
        job: 3,
        error: "boom".into(),
    });
    assert_eq!(
        app.status.clone().unwrap(),
        ("job 3 failed: boom".into(), Severity::Error)
    );
    type_text(&mut app, "x");
    assert!(app.status.is_none(), "the next key clears the message");
    assert!(app.editor.text().starts_with('x'));
}

/// Every documented binding, pressed where its context is active, reaches its action: the
/// help overlay cannot promise a key that does something else.
#[test]
fn every_binding_reaches_its_action() {
    let keymap = ideogram4::tui::keymap::KeyMap::standard();
    let mut checked = 0;
    for b in keymap.bindings() {
        for k in &b.keys {
            let mut app = app_with(&fixture("fox.json"));
            app.set_queue(queue_of_every_kind());
            match b.context {
                Context::Global => app.focus = Pane::Editor,
                Context::Panes => app.focus = Pane::Progress,
                Context::Editor => app.focus = Pane::Editor,
                Context::Diagnostics => app.focus = Pane::Diagnostics,
                Context::Params => app.focus = Pane::Params,
                Context::Queue => app.focus = Pane::Queue,
                Context::History => app.focus = Pane::History,
                Context::Help => app.apply(Action::ToggleHelp),
                Context::Prompt => app.apply(Action::SubmitMany),
                Context::Picker => app.apply(Action::PickModel),
                Context::Guidance => {
                    app.focus = Pane::Params;
                    app.apply(Action::EditGuidance);
                }
                Context::Layout => app.apply(Action::ToggleLayout),
            }
            app.last_action = None;
            app.handle_key(KeyEvent::new(k.code, k.mods));
            assert_eq!(
                app.last_action.as_ref(),
                Some(&b.action),
                "{k} in {:?} (normalised {:?})",
                b.context,
                Key::normalize(&KeyEvent::new(k.code, k.mods))
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn examples_and_model_pickers() {
    let mut app = app_with("");
    app.handle_key(ctrl('e'));
    let Some(Overlay::Picker(p)) = &app.overlay else {
        panic!("examples picker expected")
    };
    let labels: Vec<String> = p.items.iter().map(|i| i.label()).collect();
    assert_eq!(labels, vec!["fox.json", "fox_cjk.json", "fox_warning.json"]);
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.editor.text(), fixture("fox.json"));
    app.handle_key(ctrl('z'));
    assert_eq!(app.editor.text(), "", "loading an example is undoable");

    app.cached_models = vec![ModelSpec::Repo("ideogram-ai/ideogram-4-nf4".into())];
    app.handle_key(alt('3'));
    app.handle_key(ch('m'));
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(
        app.params.model,
        ModelSpec::Repo("ideogram-ai/ideogram-4-nf4".into())
    );
    assert_eq!(
        app.take_effects(),
        vec![Effect::Engine(EngineCommand::Preload(ModelSpec::Repo(
            "ideogram-ai/ideogram-4-nf4".into()
        )))]
    );
    // "other": a typed folder.
    app.handle_key(ch('m'));
    app.handle_key(key(KeyCode::End));
    for _ in 0..5 {
        app.handle_key(key(KeyCode::Down));
    }
    app.handle_key(key(KeyCode::Enter));
    assert!(matches!(app.overlay, Some(Overlay::Prompt(_))));
    for _ in 0..60 {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "/models/ideogram-4-fp8");
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(
        app.params.model,
        ModelSpec::Dir("/models/ideogram-4-fp8".into())
    );
    // The real model's size rules now apply.
    assert!(app.params.problems().is_empty());
    app.params.size = ideogram4::sampler::ImageSize::new(64, 64);
    assert!(
        app.params.problems()[0].contains("outside the supported range"),
        "{:?}",
        app.params.problems()
    );
}

#[test]
fn save_as_and_open_a_caption_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.json");
    let mut app = app_with(&fixture("fox.json"));
    type_text(&mut app, " ");
    assert!(app.is_modified());
    app.handle_key(alt('s'));
    for _ in 0..40 {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, path.to_str().unwrap());
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), app.editor.text());
    assert!(!app.is_modified());
    assert_eq!(app.caption_file.as_deref(), Some(path.as_path()));
    // Ctrl-S now saves to the same file without asking.
    type_text(&mut app, "x");
    app.handle_key(ctrl('s'));
    assert!(app.editor.text().starts_with(" x{"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), app.editor.text());
    // Ctrl-O opens another file; a missing one is an error message, not a crash.
    std::fs::write(dir.path().join("other.json"), "{}").unwrap();
    app.handle_key(ctrl('o'));
    for _ in 0..200 {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, dir.path().join("other.json").to_str().unwrap());
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.editor.text(), "{}");
    app.handle_key(ctrl('o'));
    type_text(&mut app, "-missing");
    app.handle_key(key(KeyCode::Enter));
    let (msg, sev) = app.status.clone().unwrap();
    assert_eq!(sev, Severity::Error);
    assert!(msg.starts_with("cannot open"), "{msg}");
    assert_eq!(app.editor.text(), "{}");
}
