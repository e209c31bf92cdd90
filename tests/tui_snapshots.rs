//! Screens of the terminal app drawn on ratatui's TestBackend and compared with insta
//! snapshots (tests/snapshots/): the main screen, each pane, the help overlay and error
//! states, at two terminal sizes (100×30 two columns, 160×48 three columns) plus a small one.

mod tui_support;

use crossterm::event::KeyCode;
use ideogram4::engine::{EngineEvent, StepInfo};
use ideogram4::mlx::memory::Snapshot;
use ideogram4::tui::Pane;
use insta::assert_snapshot;
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(100, 30), (160, 48)];

#[test]
fn main_screen_clean_caption() {
    for (w, h) in SIZES {
        let mut app = app_with(&fixture("fox.json"));
        with_preview(&mut app);
        app.set_queue(queue_of_every_kind());
        assert_snapshot!(format!("main_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn main_screen_small_terminal_shows_one_pane_with_tabs() {
    let mut app = app_with(&fixture("fox.json"));
    assert_snapshot!("main_60x20", screen(&mut app, 60, 20));
}

#[test]
fn planted_warning_is_counted_listed_and_underlined() {
    for (w, h) in SIZES {
        let mut app = app_with(&fixture("fox_warning.json"));
        let terminal = draw(&mut app, w, h);
        let buf = terminal.backend().buffer();
        let text = buffer_text(buf);
        assert!(text.contains("Diagnostics (1)"), "{text}");
        // The underline sits on the value "#ef8354" (9 cells with quotes) on line 10.
        let underlined = underlined_ranges(buf);
        assert_eq!(underlined.len(), 1, "{underlined:?}");
        assert_snapshot!(
            format!("warning_{w}x{h}"),
            format!("{text}\n{}", underlined.join("\n"))
        );
    }
}

#[test]
fn wide_characters_take_two_cells_and_underlines_follow_them() {
    // Minified, so the broken colour sits on the same (soft-wrapped) line as the CJK text
    // and the emoji; its underline must start where the colour is drawn, in cells.
    let pretty = fixture("fox_cjk.json").replacen("\"#2B2D42\"", "\"#2b2d42\"", 1);
    let caption = ideogram4::caption::format::minify(&pretty).unwrap();
    let mut app = app_with(&caption);
    app.apply(ideogram4::tui::Action::Focus(Pane::Editor));
    app.apply(ideogram4::tui::Action::ToggleZoom);
    let terminal = draw(&mut app, 100, 30);
    let buf = terminal.backend().buffer();
    let text = buffer_text(buf);
    let underlined = underlined_ranges(buf);
    assert_eq!(underlined.len(), 1, "{underlined:?}");
    // Where the quoted colour is on screen, counting cells (wide characters count 2).
    let (row, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("\"#2b2d42\""))
        .expect("colour on screen");
    let before = &line[..line.find("\"#2b2d42\"").unwrap()];
    let col = unicode_width::UnicodeWidthStr::width(before);
    assert_eq!(
        underlined[0],
        format!("row {row}: cells {col}..{}", col + 9)
    );
    assert!(text.contains("夕暮れの木の下で本を読むキツネ 🦊"), "{text}");
    assert_snapshot!(
        "editor_cjk_minified",
        format!("{text}\n{}", underlined.join("\n"))
    );
}

#[test]
fn each_pane_zoomed() {
    for pane in Pane::ALL {
        let mut app = app_with(&fixture("fox_warning.json"));
        app.set_queue(queue_of_every_kind());
        with_preview(&mut app);
        app.on_engine_event(EngineEvent::Progress {
            job: 3,
            info: StepInfo {
                step: 5,
                total: 12,
                seconds_per_step: 0.42,
                eta_seconds: 2.94,
                memory: Snapshot {
                    active: 300 << 20,
                    peak: 512 << 20,
                    cache: 64 << 20,
                },
            },
        });
        app.apply(ideogram4::tui::Action::Focus(pane));
        app.apply(ideogram4::tui::Action::ToggleZoom);
        app.status = None;
        assert_snapshot!(
            format!("pane_{:?}", pane).to_lowercase(),
            screen(&mut app, 100, 30)
        );
    }
}

#[test]
fn help_overlay_is_generated_from_the_key_map() {
    for (w, h) in SIZES {
        let mut app = app_with(&fixture("fox.json"));
        app.handle_key(key(KeyCode::F(1)));
        let text = screen(&mut app, w, h);
        for b in app
            .keymap
            .bindings()
            .iter()
            .filter(|b| !b.help.is_empty())
            .take(12)
        {
            assert!(text.contains(b.help), "help lacks {:?}", b.help);
        }
        assert_snapshot!(format!("help_{w}x{h}"), text);
    }
}

#[test]
fn custom_parameters_and_guidance_editor() {
    let mut app = app_with(&fixture("fox.json"));
    app.handle_key(alt('3'));
    app.handle_key(ch('c'));
    app.handle_key(ch('g'));
    for _ in 0..11 {
        app.handle_key(key(KeyCode::Right));
    }
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Down));
    assert_snapshot!("guidance_editor", screen(&mut app, 100, 30));
    app.handle_key(key(KeyCode::Esc));
    assert_snapshot!("params_custom", screen(&mut app, 100, 30));
}

#[test]
fn error_states() {
    // An engine failure: status line, queue row and progress pane all say it.
    let mut app = app_with(&fixture("fox.json"));
    app.set_queue(queue_of_every_kind());
    app.on_engine_event(EngineEvent::Failed {
        job: 2,
        error: "model demo could not be loaded: out of memory".into(),
    });
    assert_snapshot!("error_job_failed", screen(&mut app, 100, 30));

    // A model that cannot load, and an invalid size for the real model.
    let mut app = app_with(&fixture("fox.json"));
    app.on_engine_event(EngineEvent::ModelFailed {
        model: ideogram4::engine::ModelSpec::Dir("/models/missing".into()),
        error: "/models/missing/transformer: no such folder".into(),
    });
    app.params.model = ideogram4::engine::ModelSpec::Repo("ideogram-ai/ideogram-4-nf4".into());
    app.params.size = ideogram4::sampler::ImageSize::new(1000, 4000);
    assert_snapshot!("error_model_and_size", screen(&mut app, 160, 48));

    // A broken theme at start: the message shows, the default theme is used.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[colors]\naccent = \"blurple\"\n").unwrap();
    let (theme, err) = ideogram4::tui::Theme::load_or_default(bad.to_str().unwrap(), None);
    let mut init = ideogram4::tui::AppInit::new(theme);
    init.messages
        .push(format!("{}; using the dark theme", err.unwrap()));
    let mut app = ideogram4::tui::App::new(init);
    app.now = NOW;
    let text = screen(&mut app, 100, 30);
    assert!(
        text.contains("`accent` = \"blurple\" is not a colour"),
        "{text}"
    );
}

#[test]
fn light_theme_draws_the_same_layout() {
    let mut dark = app_with(&fixture("fox.json"));
    let mut light = app_with(&fixture("fox.json"));
    light.theme = ideogram4::tui::Theme::load("light", None).unwrap();
    let a = draw(&mut dark, 100, 30);
    let b = draw(&mut light, 100, 30);
    assert_eq!(
        buffer_text(a.backend().buffer()),
        buffer_text(b.backend().buffer())
    );
    assert_ne!(a.backend().buffer(), b.backend().buffer(), "colours differ");
}

#[test]
fn params_pane_with_start_image_thumbnails() {
    use ideogram4::tui::start::StartFile;
    use ratatui::style::Color;
    let dir = tempfile::tempdir().unwrap();
    // A source with a red left half and a blue right half; a mask white at the top.
    let source = image::RgbImage::from_fn(64, 32, |x, _| {
        if x < 32 {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([20, 20, 220])
        }
    });
    let mask = image::RgbImage::from_fn(64, 32, |_, y| {
        if y < 16 {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb([0, 0, 0])
        }
    });
    let (source_path, mask_path) = (dir.path().join("source.png"), dir.path().join("mask.png"));
    source.save(&source_path).unwrap();
    mask.save(&mask_path).unwrap();
    let mut app = app_with(&fixture("fox.json"));
    app.start.source = Some(StartFile::read(&source_path).unwrap());
    app.start.mask = Some(StartFile::read(&mask_path).unwrap());
    app.start.adjust_strength(-2);
    app.handle_key(alt('3'));
    app.handle_key(ch('z'));
    let terminal = draw(&mut app, 100, 30);
    let buf = terminal.backend().buffer();
    let text = buffer_text(buf);
    assert!(
        text.contains("↻ from source.png · strength 0.5 · mask mask.png"),
        "{text}"
    );
    // The first thumbnail row: red cells, then blue ones; the mask's top row white over white.
    let (row, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains('▀'))
        .expect("thumbnail rows");
    let first = line.chars().position(|c| c == '▀').unwrap() as u16;
    let cell = |x: u16| &buf[(first + x, row as u16)];
    assert_eq!(cell(0).fg, Color::Rgb(220, 20, 20));
    assert_eq!(cell(11).bg, Color::Rgb(20, 20, 220));
    let mask_first = first + 12 + 2;
    assert_eq!(buf[(mask_first, row as u16)].fg, Color::Rgb(255, 255, 255));
    let last_row = row as u16 + 2;
    assert_eq!(buf[(mask_first, last_row)].bg, Color::Rgb(0, 0, 0));
    assert_snapshot!("params_start_image", text);
}
