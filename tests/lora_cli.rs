//! `generate` with adapters on the tiny NF4 checkpoint: TurboTime runs 8 DiT passes with one
//! transformer (per `--json`), records name the adapters and `--from-image` restores them or
//! refuses clearly; a TurboTime preset without its LoRA names the download command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ideogram4::model::adapter::sha256;
use ideogram4::output::read_parameters;
use serde_json::Value;

const CAPTION: &str = r##"{"high_level_description": "A red fox in the snow.", "style_description": {"aesthetics": "calm", "lighting": "soft morning light", "photo": "35mm lens", "medium": "photograph", "color_palette": ["#C0392B", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a snowy forest", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox"}]}}"##;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ideogram4-loracli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(p.join("hf")).unwrap();
    std::fs::write(p.join("caption.json"), CAPTION).unwrap();
    p
}

/// The binary in `dir` with a private HOME and an empty Hugging Face cache.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("IDEOGRAM4_LOG", "off")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("HF_HUB_CACHE", dir.join("hf"))
        .env_remove("HF_HOME")
        .env_remove("IDEOGRAM4_MODEL")
        .current_dir(dir)
        .arg("generate")
        .arg("--model")
        .arg(fixtures().join("tiny-ideogram4-nf4"))
        .args(["--width", "64", "--height", "48", "--seed", "5"])
        .args(args)
        .output()
        .expect("run ideogram4-tui")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn saved(stdout: &str) -> Value {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "saved")
        .expect("a saved event")
}

#[test]
fn turbotime_runs_eight_passes_on_one_transformer_and_round_trips() {
    let dir = scratch("turbo");
    let file = "lora_peft_r4_alpha8.safetensors";
    std::fs::copy(fixtures().join("lora").join(file), dir.join(file)).unwrap();
    let out = run(
        &dir,
        &[
            "--caption-file",
            "caption.json",
            "--preset",
            "V4_TURBOTIME_8",
            "--lora",
            file,
            "--json",
            "--out",
            "a.png",
        ],
    );
    let s = saved(&ok(&out));
    eprintln!("{s}");
    assert_eq!(s["steps"], 8);
    assert_eq!(s["dit_passes"], 8);
    assert_eq!(s["transformers_loaded"], 1);
    assert!(s["seconds_per_step"].as_f64().unwrap() > 0.0);
    let rec = read_parameters(&dir.join("a.png")).unwrap();
    assert_eq!(rec["sampler"]["preset"], "V4_TURBOTIME_8");
    let a = &rec["adapters"][0];
    assert_eq!(a["file"], file);
    assert_eq!(a["strength"], 1.0);
    assert_eq!(a["target"], "cond");
    assert_eq!(
        a["sha256"],
        sha256::file_digest(&dir.join(file)).unwrap().as_str()
    );

    // --from-image finds the adapter beside the image and makes the same picture.
    let out = run(&dir, &["--from-image", "a.png", "--json", "--out", "b.png"]);
    let s = saved(&ok(&out));
    assert_eq!(s["dit_passes"], 8);
    assert_eq!(
        read_parameters(&dir.join("b.png")).unwrap()["adapters"],
        rec["adapters"]
    );
    // Gone: refused, naming the file.
    std::fs::remove_file(dir.join(file)).unwrap();
    let out = run(&dir, &["--from-image", "a.png", "--out", "c.png"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(file) && err.contains("not here"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn turbotime_without_its_lora_names_the_download() {
    let dir = scratch("missing");
    let out = run(
        &dir,
        &[
            "--caption-file",
            "caption.json",
            "--preset",
            "V4_TURBOTIME_4",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("models download ostris/ideogram_4_turbotime_lora"),
        "{err}"
    );
    // A LoRA file that matches nothing is refused with its keys.
    std::fs::write(
        dir.join("bad.safetensors"),
        b"not a safetensors file at all",
    )
    .unwrap();
    let out = run(
        &dir,
        &[
            "--caption-file",
            "caption.json",
            "--steps",
            "1",
            "--lora",
            "bad.safetensors",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.safetensors"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TurboTime-named adapter in the Hugging Face cache is listed by `models` and picked up
/// by the preset without `--lora`.
#[test]
fn turbotime_lora_from_the_cache_is_listed_and_used() {
    let dir = scratch("cache");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo = dir.join("hf/models--ostris--ideogram_4_turbotime_lora");
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    std::fs::copy(
        fixtures().join("lora/lora_peft_r4_alpha8.safetensors"),
        snap.join("ideogram_4_turbotime_v1.safetensors"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("IDEOGRAM4_LOG", "off")
        .env("HF_HUB_CACHE", dir.join("hf"))
        .args(["models", "--json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(listed[0]["repo"], "ostris/ideogram_4_turbotime_lora");
    assert_eq!(listed[0]["format"], "lora");

    let out = run(
        &dir,
        &[
            "--caption-file",
            "caption.json",
            "--preset",
            "V4_TURBOTIME_2",
            "--json",
            "--out",
            "t.png",
        ],
    );
    let s = saved(&ok(&out));
    assert_eq!(
        (s["dit_passes"].as_u64(), s["transformers_loaded"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(s["adapters"][0]["repo"], "ostris/ideogram_4_turbotime_lora");
    assert_eq!(
        s["adapters"][0]["file"],
        "ideogram_4_turbotime_v1.safetensors"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
