//! TUI: presets from any pane (F5–F10, the editor included, without typing), the DiT-passes
//! line, and the adapter list (lora_dir files: add, strength, remove) reaching queued jobs.

mod tui_support;

use crossterm::event::KeyCode;
use ideogram4::model::adapter::AdapterTarget;
use ideogram4::sampler::Preset;
use ideogram4::tui::overlay_state::Overlay;
use ideogram4::tui::{Effect, EngineCommand, Pane};
use tui_support::*;

#[test]
fn function_keys_switch_presets_from_the_editor_without_typing() {
    let mut app = app_with("");
    app.focus = Pane::Editor;
    type_text(&mut app, "ab");
    app.handle_key(key(KeyCode::F(8)));
    assert_eq!(app.params.sampler.preset(), Some(Preset::TurboTime8));
    assert_eq!(app.editor.text(), "ab", "no character was typed");
    assert_eq!(app.focus, Pane::Editor);
    let text = screen(&mut app, 140, 40);
    assert!(text.contains("8 steps × 1 = 8 DiT passes"), "{text}");
    app.handle_key(key(KeyCode::F(5)));
    assert_eq!(app.params.sampler.preset(), Some(Preset::Quality48));
    let text = screen(&mut app, 140, 40);
    assert!(text.contains("48 steps × 2 = 96 DiT passes"), "{text}");
    app.handle_key(key(KeyCode::F(10)));
    assert_eq!(app.params.sampler.preset(), Some(Preset::TurboTime2));
}

#[test]
fn adapter_list_adds_strengthens_and_removes_and_jobs_carry_it() {
    let dir = std::env::temp_dir().join(format!("ideogram4-tui-lora-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lora");
    for f in [
        "lora_peft_r4_alpha8.safetensors",
        "lokr_f4_r2_alpha1.safetensors",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut app = app_with(&fixture("fox.json"));
    app.config.lora_dir = Some(dir.clone());
    app.focus = Pane::Params;
    app.handle_key(ch('A'));
    let Some(Overlay::Picker(p)) = &app.overlay else {
        panic!("no adapter list");
    };
    assert_eq!(p.items.len(), 2);
    // Sorted: lokr first. Add the second (peft), make it stronger twice.
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Enter));
    app.handle_key(key(KeyCode::Right));
    app.handle_key(key(KeyCode::Right));
    assert_eq!(app.params.adapters.len(), 1);
    assert_eq!(app.params.adapters[0].strength, 1.2);
    assert_eq!(app.params.adapters[0].target, AdapterTarget::Cond);
    let Some(Overlay::Picker(p)) = &app.overlay else {
        panic!("the list stays open");
    };
    assert!(
        p.items[1].label().contains("@1.20"),
        "{}",
        p.items[1].label()
    );
    app.handle_key(key(KeyCode::Esc));
    // Zoomed, the pane is as wide as the screen: the summary line shows the adapters.
    app.handle_key(key(KeyCode::F(2)));
    let text = screen(&mut app, 140, 40);
    assert!(
        text.contains("lora_peft_r4_alpha8.safetensors@1.20"),
        "{text}"
    );

    app.handle_key(key(KeyCode::F(2)));
    app.take_effects();
    app.handle_key(ctrl('r'));
    let specs: Vec<_> = app
        .take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Engine(EngineCommand::Submit(s)) => Some(s),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].adapters, app.params.adapters);

    // Enter on an applied adapter removes it.
    app.handle_key(ch('A'));
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Enter));
    assert!(app.params.adapters.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
