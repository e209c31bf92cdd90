//! The output location is checked before any work starts, with the true reason in one line:
//! a path through a regular file is reported as such (it used to read as "name taken" 10,000
//! times), and an unwritable folder fails before the model loads, naming its cause once.

use std::process::{Command, Output};

use ideogram4::output::{save_image, FolderError, OutputError, OutputName, RgbImage, SaveOptions};

const CAPTION: &str = r##"{"high_level_description": "A red fox in the snow.", "style_description": {"aesthetics": "calm", "lighting": "soft morning light", "photo": "35mm lens", "medium": "photograph", "color_palette": ["#C0392B", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a snowy forest", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox"}]}}"##;

fn generate(dir: &std::path::Path, out: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .current_dir(dir)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("IDEOGRAM4_LOG", "off")
        .env_remove("IDEOGRAM4_MODEL")
        .args([
            "generate",
            "--model",
            "demo",
            "--caption",
            CAPTION,
            "--width",
            "64",
            "--height",
            "48",
            "--steps",
            "1",
            "--seed",
            "7",
            "--out",
            out,
        ])
        .output()
        .expect("run ideogram4-tui")
}

fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_path_through_a_regular_file_is_named_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("existing.png"), b"not a folder").unwrap();
    let out = generate(tmp.path(), "existing.png/x.png");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        error_lines(&out),
        ["error: cannot write images to ./existing.png: ./existing.png is a file, not a folder"],
        "{stderr}"
    );
    assert!(!stderr.contains("loading"), "work started: {stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_folder_fails_before_the_model_loads_with_its_cause_once() {
    // sysfs refuses new entries to everyone, root included.
    let tmp = tempfile::tempdir().unwrap();
    let out = generate(tmp.path(), "/sys/ideogram4-never/x.png");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: cannot write images to /sys/ideogram4-never: "),
        "{stderr}"
    );
    assert_eq!(lines[0].matches("os error").count(), 1, "{stderr}");
    assert!(!stderr.contains("loading"), "work started: {stderr}");
}

#[test]
fn saving_through_a_regular_file_says_so_instead_of_trying_every_name() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("existing.png");
    std::fs::write(&file, b"x").unwrap();
    let pixels = vec![0u8; 4 * 4 * 3];
    let image = RgbImage::new(4, 4, &pixels).unwrap();
    let e = save_image(
        &OutputName::from_path(&file.join("x.png")),
        &image,
        &serde_json::json!({}),
        &SaveOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, OutputError::Folder(FolderError::ThroughFile { file: f, .. }) if *f == file),
        "{e}"
    );
}
