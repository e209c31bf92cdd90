//! `ideogram4-tui generate` end to end: the real binary on the demo model (tiny, seconds),
//! checking files, embedded `parameters` records, seeds, re-runs, JSON progress and the errors
//! people will hit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ideogram4::mlx::{io, Array, Dtype};
use ideogram4::output::read_parameters;
use serde_json::Value;

mod cli_support;
use cli_support::{Scratch, CAPTION};

/// Scratch folders of this suite are `ideogram4-gen-*`.
const SUITE: &str = "gen";

/// Runs `generate` on the demo model, 64×48, 2 steps, in `dir`.
fn generate(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        // Keep test runs out of the user's real log file.
        .env("IDEOGRAM4_LOG", "off")
        .current_dir(dir)
        .env_remove("IDEOGRAM4_MODEL")
        .args([
            "generate", "--model", "demo", "--width", "64", "--height", "48", "--steps", "2",
        ])
        .args(extra)
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
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn png_pixels(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn writes_a_png_with_its_parameters_record() {
    let s = Scratch::new(SUITE, "png");
    let out = generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--seed",
            "5",
            "--out",
            "a.png",
        ],
    );
    let stdout = ok(&out);
    assert_eq!(stdout.trim(), "./a.png");
    let (w, h, pixels) = png_pixels(&s.path("a.png"));
    assert_eq!((w, h, pixels.len()), (64, 48, 64 * 48 * 3));
    let rec = read_parameters(&s.path("a.png")).unwrap();
    assert_eq!(rec["caption"], CAPTION, "the caption exactly as tokenized");
    assert_eq!(rec["seed"], 5);
    assert_eq!(
        (rec["width"].as_u64(), rec["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(rec["model"], "demo");
    assert_eq!(rec["weight_format"], "bf16");
    assert_eq!(rec["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(rec["sampler"]["preset"], "custom");
    assert_eq!(rec["sampler"]["steps"], 2);
    assert_eq!(rec["sampler"]["mu"], 0.5);
    assert!(rec.get("tokens").is_none() && rec.get("token_ids").is_none());
    // No temporary files left behind by the atomic writer.
    let names: Vec<String> = std::fs::read_dir(&s.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn count_makes_consecutive_seeds_and_never_overwrites() {
    let s = Scratch::new(SUITE, "count");
    let out = generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--seed",
            "10",
            "--count",
            "3",
            "--out",
            "img-{seed}.png",
        ],
    );
    ok(&out);
    let mut images = Vec::new();
    for seed in 10..13 {
        let p = s.path(&format!("img-{seed}.png"));
        assert_eq!(read_parameters(&p).unwrap()["seed"], seed);
        images.push(png_pixels(&p).2);
    }
    assert_ne!(images[0], images[1]);
    // The same name again gets a counter instead of replacing the file.
    ok(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--seed",
            "10",
            "--out",
            "img-{seed}.png",
        ],
    ));
    assert!(s.path("img-10-1.png").is_file());
    assert_eq!(
        png_pixels(&s.path("img-10-1.png")).2,
        images[0],
        "same seed, same image"
    );
}

#[test]
fn from_image_reruns_the_embedded_parameters() {
    let s = Scratch::new(SUITE, "from");
    ok(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--seed",
            "21",
            "--guidance-schedule",
            "3,6",
            "--out",
            "a.png",
        ],
    ));
    // No size, steps or caption flags: everything comes from the record.
    let out = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        // Keep test runs out of the user's real log file.
        .env("IDEOGRAM4_LOG", "off")
        .current_dir(&s.0)
        .args([
            "generate",
            "--model",
            "demo",
            "--from-image",
            "a.png",
            "--out",
            "b.png",
        ])
        .output()
        .unwrap();
    ok(&out);
    let a = read_parameters(&s.path("a.png")).unwrap();
    let b = read_parameters(&s.path("b.png")).unwrap();
    assert_eq!(a, b);
    assert_eq!(b["sampler"]["guidance"], serde_json::json!([3.0, 6.0]));
    assert_eq!(png_pixels(&s.path("a.png")), png_pixels(&s.path("b.png")));
    let out = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        // Keep test runs out of the user's real log file.
        .env("IDEOGRAM4_LOG", "off")
        .current_dir(&s.0)
        .args([
            "generate",
            "--from-image",
            "a.png",
            "--seed",
            "22",
            "--out",
            "c.webp",
        ])
        .output()
        .unwrap();
    ok(&out);
    let c = read_parameters(&s.path("c.webp")).unwrap();
    assert_eq!(c["seed"], 22);
    assert_eq!(c["model"], "demo", "the recorded model is used");
    assert_eq!(c["caption"], a["caption"]);
}

#[test]
fn json_mode_prints_progress_and_results_as_lines() {
    let s = Scratch::new(SUITE, "json");
    let out = generate(
        &s.0,
        &["--caption-file", "caption.json", "--json", "--out", "j.png"],
    );
    let stdout = ok(&out);
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"loaded"));
    assert_eq!(kinds.last(), Some(&"saved"));
    let steps: Vec<&Value> = events.iter().filter(|e| e["event"] == "step").collect();
    assert_eq!(steps.len(), 2);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["step"], i + 1);
        assert_eq!(s["total"], 2);
        assert!(s["seconds_per_step"].as_f64().unwrap() > 0.0);
        assert!(
            s["eta_seconds"].is_number()
                && s["mlx_active"].is_number()
                && s["mlx_peak"].is_number()
        );
    }
    let saved = events.last().unwrap();
    assert_eq!(saved["path"], "./j.png");
    let seed = saved["seed"].as_u64().unwrap();
    assert_eq!(
        read_parameters(&s.path("j.png")).unwrap()["seed"],
        seed,
        "random seed recorded"
    );
    assert!(kinds.contains(&"stage"));
}

#[test]
fn conflicting_format_is_an_error_before_anything_runs() {
    let s = Scratch::new(SUITE, "format");
    let err = failed(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--out",
            "x.png",
            "--format",
            "jpeg",
        ],
    ));
    assert!(
        err.contains("ends in .png but the format was set to jpeg"),
        "{err}"
    );
    assert!(!s.path("x.png").exists());
    // A matching --format, and a format for a name without extension.
    ok(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--out",
            "y.jpg",
            "--format",
            "jpeg",
        ],
    ));
    ok(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--out",
            "z",
            "--format",
            "webp",
        ],
    ));
    assert_eq!(read_parameters(&s.path("y.jpg")).unwrap()["model"], "demo");
    assert_eq!(read_parameters(&s.path("z.webp")).unwrap()["model"], "demo");
}

#[test]
fn caption_warnings_abort_unless_allowed() {
    let s = Scratch::new(SUITE, "warn");
    let err = failed(&generate(
        &s.0,
        &["--caption", "a fox in the snow", "--out", "w.png"],
    ));
    assert!(
        err.contains("caption verifier flagged prompt[0]:\ninvalid JSON: Expecting value: line 1 column 1 (char 0)"),
        "{err}"
    );
    assert!(err.contains("--warn-on-caption-issues"), "{err}");
    assert!(!s.path("w.png").exists());
    let out = generate(
        &s.0,
        &[
            "--caption",
            "a fox in the snow",
            "--warn-on-caption-issues",
            "--out",
            "w.png",
        ],
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: caption verifier flagged"));
    assert_eq!(
        read_parameters(&s.path("w.png")).unwrap()["caption"],
        "a fox in the snow"
    );
}

fn write_noise(path: &Path, name: &str, shape: &[usize], dtype: Dtype) {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| ((i % 7) as f32 - 3.0) * 0.3).collect();
    let a = Array::from_slice(&values, shape)
        .unwrap()
        .astype(dtype)
        .unwrap();
    io::save_safetensors(path, &[(name, &a)]).unwrap();
}

#[test]
fn init_noise_replaces_the_seed_and_bad_files_are_explained() {
    let s = Scratch::new(SUITE, "noise");
    // 64×48: 4×3 tokens of 16 channels.
    write_noise(
        &s.path("good.safetensors"),
        "noise",
        &[1, 12, 16],
        Dtype::F32,
    );
    for (seed, out) in [("1", "n1.png"), ("2", "n2.png")] {
        ok(&generate(
            &s.0,
            &[
                "--caption-file",
                "caption.json",
                "--init-noise",
                "good.safetensors",
                "--seed",
                seed,
                "--out",
                out,
            ],
        ));
    }
    assert_eq!(
        png_pixels(&s.path("n1.png")).2,
        png_pixels(&s.path("n2.png")).2
    );
    assert_eq!(
        read_parameters(&s.path("n1.png")).unwrap()["init_noise"],
        "good.safetensors"
    );

    write_noise(
        &s.path("shape.safetensors"),
        "noise",
        &[1, 16, 16],
        Dtype::F32,
    );
    let err = failed(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--init-noise",
            "shape.safetensors",
        ],
    ));
    assert!(
        err.contains("has shape [1, 16, 16], expected [1, 12, 16]"),
        "{err}"
    );
    write_noise(
        &s.path("name.safetensors"),
        "latent",
        &[1, 12, 16],
        Dtype::F32,
    );
    let err = failed(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--init-noise",
            "name.safetensors",
        ],
    ));
    assert!(err.contains("no tensor named `noise`"), "{err}");
    write_noise(
        &s.path("dtype.safetensors"),
        "noise",
        &[1, 12, 16],
        Dtype::F16,
    );
    let err = failed(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--init-noise",
            "dtype.safetensors",
        ],
    ));
    assert!(err.contains("expected float32"), "{err}");
    std::fs::write(s.path("junk.safetensors"), b"not a safetensors file").unwrap();
    let err = failed(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--init-noise",
            "junk.safetensors",
        ],
    ));
    assert!(err.contains("junk.safetensors"), "{err}");
}

#[test]
fn sampler_and_size_mistakes_are_refused_with_reasons() {
    let s = Scratch::new(SUITE, "mistakes");
    let err = failed(&generate(
        &s.0,
        &["--caption-file", "caption.json", "--preset", "V4_TURBO_12"],
    ));
    assert!(err.contains("cannot be used with"), "{err}");
    let err = failed(&generate(
        &s.0,
        &[
            "--caption-file",
            "caption.json",
            "--guidance-schedule",
            "3,7,7",
        ],
    ));
    assert!(
        err.contains("guidance schedule has 3 entries but steps is 2"),
        "{err}"
    );
    let raw = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
            // Keep test runs out of the user's real log file.
            .env("IDEOGRAM4_LOG", "off")
            .current_dir(&s.0)
            .args([
                "generate",
                "--model",
                "demo",
                "--caption-file",
                "caption.json",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let err = failed(&raw(&["--width", "70", "--height", "48"]));
    assert!(err.contains("width 70 is not a multiple of 16"), "{err}");
    let err = failed(&raw(&["--steps", "0"]));
    assert!(err.contains("steps must be at least 1"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        // Keep test runs out of the user's real log file.
        .env("IDEOGRAM4_LOG", "off")
        .current_dir(&s.0)
        .args(["generate", "--model", "demo"])
        .output()
        .unwrap();
    let err = failed(&out);
    assert!(err.contains("give a caption"), "{err}");
}

#[test]
fn help_teaches_with_examples() {
    let out = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        // Keep test runs out of the user's real log file.
        .env("IDEOGRAM4_LOG", "off")
        .args(["generate", "--help"])
        .output()
        .unwrap();
    let text = ok(&out);
    for needle in [
        "Examples:",
        "--model demo",
        "--guidance-schedule",
        "loop-index order",
        "--from-image",
        "--init-noise",
        "--warn-on-caption-issues",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn checkpoint_folders_are_checked_against_available_memory() {
    let s = Scratch::new(SUITE, "memory");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-ideogram4-nf4");
    let run = |extra: &[&str], available: &str| {
        Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
            // Keep test runs out of the user's real log file.
            .env("IDEOGRAM4_LOG", "off")
            .current_dir(&s.0)
            .env("IDEOGRAM4_AVAILABLE_MEMORY_BYTES", available)
            .args(["generate", "--model"])
            .arg(&repo)
            .args([
                "--caption-file",
                "caption.json",
                "--width",
                "64",
                "--height",
                "48",
            ])
            .args(["--steps", "1", "--seed", "3"])
            .args(extra)
            .output()
            .unwrap()
    };
    let err = failed(&run(&["--out", "m.png"], "1048576"));
    assert!(
        err.contains("GiB of weights") && err.contains("is available"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(!s.path("m.png").exists());
    let out = run(&["--out", "m.png", "--force"], "1048576");
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("going on because of --force"));
    let rec = read_parameters(&s.path("m.png")).unwrap();
    assert_eq!(rec["weight_format"], "nf4");
    assert_eq!(rec["model"], repo.display().to_string());
    ok(&run(&["--out", "n.png"], "100000000000"));
}
