//! The idea line: Ctrl-G, an idea, Enter; the expansion runs in the background against a
//! local server, shows in the status line, can be cancelled, and lands as one undoable edit.

mod magic_support;
mod tui_support;

use std::time::{Duration, Instant};

use crossterm::event::KeyCode;
use ideogram4::magic::{BackendKind, MagicConfig};
use ideogram4::tui::overlay_state::Overlay;
use ideogram4::tui::App;
use magic_support::*;
use tui_support::*;

const KEY: &str = "sk-tui-test-77c0e1";

fn app_for(server: &FakeServer) -> App {
    let mut app = app_with(&fixture("fox.json"));
    app.config.magic_prompt = MagicConfig {
        backend: BackendKind::OpenAi,
        base_url: Some(format!("{}/v1", server.base())),
        model: Some("qwen2.5:14b".into()),
        timeout_s: 10,
        ..MagicConfig::default()
    };
    app
}

fn submit_idea(app: &mut App, idea: &str) {
    app.handle_key(ctrl('g'));
    let Some(Overlay::Prompt(p)) = &app.overlay else {
        panic!("Ctrl-G opens the idea line")
    };
    assert_eq!(p.kind.title(), "Idea → caption (openai qwen2.5:14b)");
    type_text(app, idea);
    app.handle_key(key(KeyCode::Enter));
}

fn wait_done(app: &mut App) {
    let start = Instant::now();
    while app.idea.is_running() {
        app.poll_idea();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "expansion never finished"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn idea_becomes_the_caption_as_one_undoable_edit() {
    let server = FakeServer::start(vec![chat_ok(GOOD_REPLY).delayed(Duration::from_millis(300))]);
    let mut app = app_for(&server);
    // A key from config.toml: sent to the server, kept out of the saved state.
    app.config.magic_prompt.api_key = Some(KEY.into());
    let before = app.editor.text().to_string();
    submit_idea(&mut app, "a red fox in the snow");
    assert!(app.idea.is_running());
    let shown = screen(&mut app, 160, 48);
    assert!(
        shown.contains(" idea: openai qwen2.5:14b · Esc cancel │"),
        "{shown}"
    );
    wait_done(&mut app);
    let expected = ideogram4::caption::format::pretty(GOOD_STRIPPED).unwrap();
    assert_eq!(app.editor.text(), expected);
    assert!(app.caption.warnings.is_empty());
    let status = app.status.clone().unwrap().0;
    assert_eq!(
        status,
        "caption from idea by openai qwen2.5:14b · verifier: clean (Ctrl-Z undoes)"
    );
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let state = serde_json::to_string(&app.saved_state()).unwrap();
    assert!(!state.contains(KEY));
    assert!(!format!("{:?}", app.config).contains(KEY));
    let body = server.requests()[0].json();
    assert_eq!(
        body["messages"][1]["content"],
        "TARGET IMAGE ASPECT RATIO: 1:1 (width:height).\nUser idea: a red fox in the snow"
    );
    app.handle_key(ctrl('z'));
    assert_eq!(app.editor.text(), before);
    // The idea is offered again.
    app.handle_key(ctrl('g'));
    let Some(Overlay::Prompt(p)) = &app.overlay else {
        panic!("idea line")
    };
    assert_eq!(p.input.text, "a red fox in the snow");
}

#[test]
fn esc_cancels_and_leaves_the_editor_alone() {
    let server = FakeServer::start(vec![chat_ok(GOOD_REPLY).delayed(Duration::from_secs(5))]);
    let mut app = app_for(&server);
    let before = app.editor.text().to_string();
    submit_idea(&mut app, "a fox");
    while server.requests().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    app.handle_key(key(KeyCode::Esc));
    assert!(!app.idea.is_running());
    assert_eq!(
        app.status.clone().unwrap().0,
        "idea expansion by openai qwen2.5:14b cancelled"
    );
    assert!(!app.poll_idea());
    assert_eq!(app.editor.text(), before);
}

#[test]
fn failures_show_in_the_status_line() {
    let server = FakeServer::start(vec![api_error(503, "model is loading")]);
    let mut app = app_for(&server);
    let before = app.editor.text().to_string();
    submit_idea(&mut app, "a fox");
    wait_done(&mut app);
    let (msg, severity) = app.status.clone().unwrap();
    assert_eq!(severity, ideogram4::tui::app::Severity::Error);
    assert!(
        msg.starts_with("magic prompt (openai qwen2.5:14b) failed: "),
        "{msg}"
    );
    assert!(msg.contains("HTTP 503"), "{msg}");
    assert_eq!(app.editor.text(), before);

    // A backend that needs a key says which variable, before sending anything.
    app.config.magic_prompt.backend = BackendKind::Ideogram;
    std::env::remove_var("IDEOGRAM_API_KEY");
    app.config.magic_prompt.api_key = None;
    submit_idea_any(&mut app, "a fox");
    let msg = app.status.clone().unwrap().0;
    assert!(msg.contains("set IDEOGRAM_API_KEY"), "{msg}");
}

fn submit_idea_any(app: &mut App, idea: &str) {
    app.handle_key(ctrl('g'));
    // Clear the remembered idea.
    for _ in 0..40 {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(app, idea);
    app.handle_key(key(KeyCode::Enter));
}
