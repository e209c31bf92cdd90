//! `generate --init-image / --strength / --mask / --outpaint / --fit` end to end: the real
//! binary on the demo model and on the tiny bf16 checkpoint, the `init_image` record block
//! (names and SHA-256 digests, never pixels), `--from-image` repeating a run from the files,
//! and the mistakes people make (each refused before anything is written).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ideogram4::output::read_parameters;
use serde_json::Value;

mod cli_support;
use cli_support::Scratch;

/// Scratch folders of this suite are `ideogram4-start-*`.
const SUITE: &str = "start";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `generate` with `model`, 64×48, 4 steps, caption.json, in `dir`.
fn generate(dir: &Path, model: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("IDEOGRAM4_LOG", "off")
        .current_dir(dir)
        .env_remove("IDEOGRAM4_MODEL")
        .args([
            "generate", "--model", model, "--width", "64", "--height", "48",
        ])
        .args([
            "--steps",
            "4",
            "--seed",
            "3",
            "--caption-file",
            "caption.json",
        ])
        .args(extra)
        .output()
        .expect("run ideogram4-tui")
}

/// `generate --from-image` with nothing else that could override the record.
fn rerun(dir: &Path, image: &str, out: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("IDEOGRAM4_LOG", "off")
        .current_dir(dir)
        .env_remove("IDEOGRAM4_MODEL")
        .args(["generate", "--from-image", image, "--out", out])
        .output()
        .expect("run ideogram4-tui")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let d = ring::digest::digest(&ring::digest::SHA256, &bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn pixels(path: &Path) -> image::RgbImage {
    image::open(path).unwrap().to_rgb8()
}

fn init_block(path: &Path) -> Value {
    read_parameters(path).unwrap()["init_image"].clone()
}

#[test]
fn variation_record_and_rerun_from_the_files() {
    let s = Scratch::new(SUITE, "variation");
    ok(&generate(&s.0, "demo", &["--out", "src.png"]));
    ok(&generate(
        &s.0,
        "demo",
        &[
            "--init-image",
            "src.png",
            "--strength",
            "0.5",
            "--out",
            "var.png",
        ],
    ));
    let block = init_block(&s.path("var.png"));
    assert_eq!(block["file"], "src.png");
    assert_eq!(block["sha256"], sha256(&s.path("src.png")));
    assert_eq!(block["strength"], 0.5);
    assert_eq!(block["fit"], "crop");
    assert!(block["mask_sha256"].is_null() && block["outpaint"].is_null());
    let params = read_parameters(&s.path("var.png")).unwrap();
    assert!(!params.to_string().contains("pixels"));
    assert_ne!(pixels(&s.path("var.png")), pixels(&s.path("src.png")));

    // --from-image finds src.png next to var.png and repeats the run exactly.
    ok(&rerun(&s.0, "var.png", "again.png"));
    assert_eq!(pixels(&s.path("again.png")), pixels(&s.path("var.png")));
    assert_eq!(init_block(&s.path("again.png")), block);

    // A changed source is named, not silently used.
    std::fs::copy(s.path("again.png"), s.path("src.png")).unwrap();
    let e = failed(&rerun(&s.0, "var.png", "x.png"));
    assert!(e.contains("sha256"), "{e}");
    assert!(!s.path("x.png").exists());
}

#[test]
fn inpaint_with_a_colour_mask_of_another_size_and_outpaint() {
    let s = Scratch::new(SUITE, "inpaint");
    ok(&generate(&s.0, "demo", &["--out", "src.png"]));
    // A red-and-white mask at twice the size: converted to grey and scaled, with notes.
    let mask = image::RgbImage::from_fn(128, 96, |x, _| {
        if x < 64 {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb([255, 0, 0])
        }
    });
    mask.save(s.path("mask.png")).unwrap();
    let err = ok(&generate(
        &s.0,
        "demo",
        &[
            "--init-image",
            "src.png",
            "--mask",
            "mask.png",
            "--out",
            "in.png",
        ],
    ));
    assert!(err.contains("converted to grey"), "{err}");
    assert!(err.contains("mask scaled"), "{err}");
    let block = init_block(&s.path("in.png"));
    assert_eq!(block["mask_file"], "mask.png");
    assert_eq!(block["mask_sha256"], sha256(&s.path("mask.png")));
    assert_eq!(block["strength"], 0.85, "the masked default");
    ok(&rerun(&s.0, "in.png", "in2.png"));
    assert_eq!(pixels(&s.path("in2.png")), pixels(&s.path("in.png")));

    // Outpaint 16 px on top and 32 on the right: a 96×64 canvas.
    ok(&generate(
        &s.0,
        "demo",
        &[
            "--init-image",
            "src.png",
            "--outpaint",
            "16,32,0,0",
            "--out",
            "out.png",
        ],
    ));
    let out = pixels(&s.path("out.png"));
    assert_eq!(out.dimensions(), (96, 64));
    let block = init_block(&s.path("out.png"));
    assert_eq!(block["outpaint"]["top"], 16);
    assert_eq!(block["outpaint"]["right"], 32);
    let p = read_parameters(&s.path("out.png")).unwrap();
    assert_eq!(
        (p["width"].as_u64(), p["height"].as_u64()),
        (Some(96), Some(64))
    );
    // Repeating it keeps the canvas (the recorded size) and the source's place in it.
    ok(&rerun(&s.0, "out.png", "out2.png"));
    assert_eq!(pixels(&s.path("out2.png")), out);
    // The target-size form: the same canvas, the source centred.
    ok(&generate(
        &s.0,
        "demo",
        &[
            "--init-image",
            "src.png",
            "--outpaint",
            "96x80",
            "--fit",
            "pad",
            "--out",
            "t.png",
        ],
    ));
    assert_eq!(pixels(&s.path("t.png")).dimensions(), (96, 80));
    assert_eq!(init_block(&s.path("t.png"))["outpaint"]["left"], 16);
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let s = Scratch::new(SUITE, "bad");
    ok(&generate(&s.0, "demo", &["--out", "src.png"]));
    std::fs::write(s.path("notes.txt"), "not an image").unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["--init-image", "missing.png"], "cannot read"),
        (&["--init-image", "notes.txt"], "not a PNG, JPEG or WebP"),
        (
            &["--init-image", "src.png", "--strength", "0"],
            "outside (0, 1]",
        ),
        (
            &["--init-image", "src.png", "--strength", "1.5"],
            "outside (0, 1]",
        ),
        (&["--strength", "0.5"], "needs --init-image"),
        (
            &["--init-image", "src.png", "--mask", "notes.txt"],
            "not a PNG",
        ),
        (
            &["--init-image", "src.png", "--outpaint", "1,2,3"],
            "top,right,bottom,left",
        ),
    ];
    for (args, message) in cases {
        let mut all = args.to_vec();
        all.extend(["--out", "bad.png"]);
        let e = failed(&generate(&s.0, "demo", &all));
        assert!(e.contains(message), "{args:?}: {e}");
    }
    assert_eq!(s.files(), vec!["caption.json", "notes.txt", "src.png"]);
}

#[test]
fn oversized_sources_are_scaled_with_a_note() {
    let s = Scratch::new(SUITE, "big");
    image::RgbImage::from_pixel(2100, 64, image::Rgb([30, 90, 200]))
        .save(s.path("wide.png"))
        .unwrap();
    let err = ok(&generate(
        &s.0,
        "demo",
        &["--init-image", "wide.png", "--fit", "pad", "--out", "w.png"],
    ));
    assert!(err.contains("larger than 2048x2048"), "{err}");
    assert_eq!(pixels(&s.path("w.png")).dimensions(), (64, 48));
}

#[test]
fn tiny_checkpoint_variation_inpaint_and_outpaint() {
    let s = Scratch::new(SUITE, "tiny");
    let model = fixtures().join("tiny-ideogram4-bf16");
    let model = model.to_str().unwrap();
    ok(&generate(&s.0, model, &["--out", "src.png"]));
    image::GrayImage::from_fn(64, 48, |_, y| image::Luma([if y < 24 { 255 } else { 0 }]))
        .save(s.path("mask.png"))
        .unwrap();
    for (extra, name) in [
        (vec!["--strength", "0.6"], "var.png"),
        (vec!["--mask", "mask.png"], "in.png"),
        (vec!["--outpaint", "0,16,16,0"], "out.png"),
    ] {
        let mut args = vec!["--init-image", "src.png", "--out", name];
        args.extend(extra);
        ok(&generate(&s.0, model, &args));
        assert_eq!(init_block(&s.path(name))["file"], "src.png");
    }
    assert_eq!(pixels(&s.path("out.png")).dimensions(), (80, 64));
    // A preset: strength 0.3 of V4_DEFAULT_20 runs its last ⌊20·0.3⌋ = 6 steps.
    let out = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("IDEOGRAM4_LOG", "off")
        .current_dir(&s.0)
        .args([
            "generate", "--model", model, "--width", "64", "--height", "48",
        ])
        .args([
            "--preset",
            "V4_DEFAULT_20",
            "--caption-file",
            "caption.json",
            "--json",
        ])
        .args([
            "--init-image",
            "src.png",
            "--strength",
            "0.3",
            "--out",
            "p.png",
        ])
        .output()
        .unwrap();
    ok(&out);
    let totals: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "step")
        .map(|v| v["total"].as_u64().unwrap())
        .collect();
    assert_eq!(totals, vec![6; 6]);
    assert_eq!(read_parameters(&s.path("p.png")).unwrap()["strength"], 0.3);
}
