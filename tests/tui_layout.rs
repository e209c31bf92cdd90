//! The layout view: boxes drawn on a canvas with the job's aspect ratio (insta snapshots at
//! two ratios), and keys that move, resize, add and undo boxes, checked on the exact JSON text.

mod tui_support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ideogram4::sampler::ImageSize;
use ideogram4::tui::layout_view::LayoutAction;
use ideogram4::tui::{Action, Pane};
use insta::assert_snapshot;
use tui_support::*;

fn layout_fixture() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layout/layout.json");
    std::fs::read_to_string(path).unwrap()
}

fn layout_app(width: u32, height: u32) -> ideogram4::tui::App {
    let mut app = app_with(&layout_fixture());
    app.params.size = ImageSize::new(width, height);
    app.apply(Action::Focus(Pane::Editor));
    app.handle_key(alt('l'));
    assert!(app.layout_view.is_some(), "Alt-L opens the layout view");
    app
}

fn shift(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::SHIFT)
}

#[test]
fn square_and_wide_canvases() {
    let mut app = layout_app(1024, 1024);
    let square = screen(&mut app, 100, 30);
    assert!(square.contains("Layout · 1024×1024 (1:1)"), "{square}");
    assert!(square.contains("3o no bbox"), "{square}");
    assert_snapshot!("layout_square_100x30", square);

    let mut app = layout_app(1920, 1088);
    // The second element (text) selected: drawn heavy-free, in double lines, on top.
    app.handle_key(key(KeyCode::Tab));
    let wide = screen(&mut app, 120, 32);
    assert!(wide.contains("Layout · 1920×1088 (30:17)"), "{wide}");
    assert_snapshot!("layout_wide_120x32", wide);
}

#[test]
fn the_element_under_the_cursor_is_selected_on_open() {
    let mut app = app_with(&layout_fixture());
    let text = app.editor.text().to_string();
    app.editor.set_cursor(text.find("\"Fuchs\"").unwrap());
    app.apply(Action::ToggleLayout);
    assert_eq!(app.layout_view.unwrap().selected, 1);
    assert_eq!(app.element_under_cursor(), Some(1));
    app.handle_key(key(KeyCode::Tab));
    assert_eq!(
        app.element_under_cursor(),
        Some(2),
        "selection moves the cursor along"
    );
}

#[test]
fn move_resize_fine_steps_and_undo_rewrite_only_the_box() {
    let original = layout_fixture();
    let mut app = layout_app(1024, 1024);
    assert_eq!(app.layout_view.unwrap().selected, 0);

    app.handle_key(key(KeyCode::Right));
    let after_move = original.replace("[300, 150, 900, 550]", "[300, 200, 900, 600]");
    assert_eq!(app.editor.text(), after_move);

    app.handle_key(ch('j'));
    let after_down = original.replace("[300, 150, 900, 550]", "[350, 200, 950, 600]");
    assert_eq!(app.editor.text(), after_down);

    // Coarse down again would pass 1000: the box stops at the edge.
    app.handle_key(key(KeyCode::Down));
    let at_edge = original.replace("[300, 150, 900, 550]", "[400, 200, 1000, 600]");
    assert_eq!(app.editor.text(), at_edge);

    app.handle_key(shift(KeyCode::Left));
    let narrower = original.replace("[300, 150, 900, 550]", "[400, 200, 1000, 550]");
    assert_eq!(app.editor.text(), narrower);

    app.handle_key(ch('f'));
    assert_eq!(app.layout_view.unwrap().step(), 5);
    app.handle_key(ch('K'));
    let fine = original.replace("[300, 150, 900, 550]", "[400, 200, 995, 550]");
    assert_eq!(app.editor.text(), fine);
    assert!(app.caption.warnings.is_empty(), "re-verified: clean");
    let status = app.status.clone().unwrap().0;
    assert!(
        status.contains("element 1 bbox [400, 200, 995, 550] · verifier: clean"),
        "{status}"
    );

    // Each change is one undo step.
    app.handle_key(ctrl('z'));
    assert_eq!(app.editor.text(), narrower);
    app.handle_key(ch('u'));
    assert_eq!(app.editor.text(), at_edge);
    app.handle_key(ctrl('y'));
    assert_eq!(app.editor.text(), narrower);
    for _ in 0..4 {
        app.handle_key(ctrl('z'));
    }
    assert_eq!(app.editor.text(), original);
}

#[test]
fn adding_a_box_and_messages_use_the_key_map() {
    let original = layout_fixture();
    let mut app = layout_app(1024, 1024);
    app.handle_key(key(KeyCode::Tab));
    app.handle_key(key(KeyCode::Tab));
    assert_eq!(app.layout_view.unwrap().selected, 2);
    app.handle_key(key(KeyCode::Up));
    let status = app.status.clone().unwrap().0;
    assert_eq!(status, "element 3 has no bbox; a adds one");
    assert_eq!(app.editor.text(), original);

    app.handle_key(ch('a'));
    let added = original.replace(
        "        \"type\": \"obj\",\n        \"desc\": \"a pine tree",
        "        \"type\": \"obj\",\n        \"bbox\": [250, 250, 750, 750],\n        \"desc\": \"a pine tree",
    );
    assert_eq!(app.editor.text(), added);
    assert!(app.caption.warnings.is_empty());
    app.handle_key(key(KeyCode::Left));
    assert_eq!(
        app.editor.text(),
        added.replace("[250, 250, 750, 750]", "[250, 200, 750, 700]")
    );

    // On the one-line element the box goes in with that element's spacing.
    app.apply(Action::Layout(LayoutAction::Prev));
    assert_eq!(app.layout_view.unwrap().selected, 1);
    app.handle_key(shift(KeyCode::Right));
    assert!(app
        .editor
        .text()
        .contains(r#"{"type": "text", "bbox": [200, 600, 400, 950], "text": "Fuchs""#));
}

#[test]
fn typing_does_not_reach_the_editor_and_esc_closes() {
    let original = layout_fixture();
    let mut app = layout_app(1024, 1024);
    app.handle_key(ch('x'));
    assert_eq!(app.editor.text(), original);
    app.handle_key(key(KeyCode::Esc));
    assert!(app.layout_view.is_none());
    app.handle_key(alt('l'));
    app.handle_key(key(KeyCode::Enter));
    assert!(app.layout_view.is_none());
    assert_eq!(
        app.editor.selected_text().map(|s| s.starts_with('{')),
        Some(true)
    );
}

#[test]
fn no_elements_no_view() {
    let mut app = app_with("plain words");
    app.handle_key(alt('l'));
    assert!(app.layout_view.is_none());
    assert!(app
        .status
        .clone()
        .unwrap()
        .0
        .contains("no elements to lay out"));
}
