//! `generate` through the real binary on the tiny GGUF DiTs (with the bf16 repo supplying
//! the text encoder and VAE) and on the tiny MLX affine checkpoints: an image comes out, and
//! its parameters record names the DiT files and the weight format.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ideogram4::output::read_parameters;

const CAPTION: &str = r##"{"high_level_description": "A red fox in the snow.", "style_description": {"aesthetics": "calm", "lighting": "soft morning light", "photo": "35mm lens", "medium": "photograph", "color_palette": ["#C0392B", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a snowy forest", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox"}]}}
"##;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn generate(dir: &Path, args: &[&str]) -> Output {
    std::fs::write(dir.join("caption.json"), CAPTION).unwrap();
    Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("IDEOGRAM4_LOG", "off")
        .env("XDG_CONFIG_HOME", dir)
        .env_remove("IDEOGRAM4_MODEL")
        .current_dir(dir)
        .args([
            "generate",
            "--caption-file",
            "caption.json",
            "--width",
            "64",
        ])
        .args([
            "--height", "48", "--steps", "2", "--seed", "3", "--out", "out.png",
        ])
        .args(args)
        .output()
        .expect("run ideogram4-tui")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn gguf_dits_beside_the_bf16_repo_generate_an_image() {
    let tmp = tempfile::tempdir().unwrap();
    let q = fixtures().join("quant/tiny-gguf");
    let model = fixtures().join("tiny-ideogram4-bf16");
    let dit = q.join("ideogram4-Q4_0.gguf");
    let out = generate(
        tmp.path(),
        &[
            "--model",
            model.to_str().unwrap(),
            "--dit",
            dit.to_str().unwrap(),
        ],
    );
    ok(&out);
    let rec = read_parameters(&tmp.path().join("out.png")).unwrap();
    assert_eq!(rec["dit"], dit.to_str().unwrap(), "{rec}");
    // The unconditional file was found by its community name.
    assert_eq!(rec["uncond_dit"], "ideogram4_uncond-Q4_0.gguf", "{rec}");
    assert_eq!(rec["weight_format"], "gguf", "{rec}");

    // molbal names, both given explicitly; a combined file alone.
    for args in [
        vec![
            "--dit".to_string(),
            q.join("ideogram4-transformer-Q5_1.gguf")
                .display()
                .to_string(),
            "--uncond-dit".to_string(),
            q.join("ideogram4-unconditional_transformer-Q5_1.gguf")
                .display()
                .to_string(),
        ],
        vec![
            "--dit".to_string(),
            q.join("ideogram4-both-Q8_0.gguf").display().to_string(),
        ],
    ] {
        let _ = std::fs::remove_file(tmp.path().join("out.png"));
        let mut a = vec!["--model", model.to_str().unwrap()];
        a.extend(args.iter().map(String::as_str));
        ok(&generate(tmp.path(), &a));
        let rec = read_parameters(&tmp.path().join("out.png")).unwrap();
        assert_eq!(rec["weight_format"], "gguf", "{rec}");
        assert!(rec["uncond_dit"].is_string(), "{rec}");
    }

    // A GGUF folder alone as --model is refused with what to do.
    let out = generate(tmp.path(), &["--model", q.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dit"));
}

#[test]
fn mlx_affine_checkpoints_generate_an_image() {
    for name in ["tiny-mlx-q8", "tiny-mlx-q4", "tiny-mlx-q4-folders"] {
        let tmp = tempfile::tempdir().unwrap();
        let model = fixtures().join("quant").join(name);
        ok(&generate(tmp.path(), &["--model", model.to_str().unwrap()]));
        let rec = read_parameters(&tmp.path().join("out.png")).unwrap();
        assert_eq!(rec["weight_format"], "mlx-affine", "{name}: {rec}");
    }
}

fn run(cache: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .env("IDEOGRAM4_LOG", "off")
        .env("HF_HUB_CACHE", cache)
        .env("HF_HUB_OFFLINE", "1")
        .args(args)
        .output()
        .expect("run ideogram4-tui");
    ok(&out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, dst).unwrap();
        }
    }
}

#[test]
fn models_lists_and_inspects_gguf_files_and_mlx_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let q = fixtures().join("quant");
    for (repo, fill) in [
        ("leejet--ideogram-4-GGUF", 0),
        ("MLXBits--ideogram-4-mlx-q8", 1),
    ] {
        let dir = cache.join(format!("models--{repo}"));
        let snap = dir.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(dir.join("refs")).unwrap();
        std::fs::write(dir.join("refs/main"), commit).unwrap();
        if fill == 0 {
            for f in ["ideogram4-Q4_0.gguf", "ideogram4_uncond-Q4_0.gguf"] {
                std::fs::copy(q.join("tiny-gguf").join(f), snap.join(f)).unwrap();
            }
        } else {
            copy_dir(&q.join("tiny-mlx-q8"), &snap);
        }
    }
    let rows = run(&cache, &["models", "--json"]);
    let row = |id: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["repo"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {rows}"))
            .clone()
    };
    let g = row("leejet/ideogram-4-GGUF");
    assert_eq!(g["format"], "gguf-dit");
    assert_eq!(
        g["gguf_files"],
        serde_json::json!(["ideogram4-Q4_0.gguf", "ideogram4_uncond-Q4_0.gguf"])
    );
    let m = row("MLXBits/ideogram-4-mlx-q8");
    assert_eq!(
        (m["format"].as_str(), m["complete"].as_bool()),
        (Some("mlx-affine"), Some(true))
    );

    // Inspect: the MLX checkpoint by repo id, per component.
    let r = run(
        &cache,
        &["models", "inspect", "MLXBits/ideogram-4-mlx-q8", "--json"],
    );
    assert_eq!(r["format"], "mlx_affine");
    let dit = &r["components"][0];
    assert_eq!(dit["component"], "transformer");
    assert!(dit["formats"]["mlx-q8"].as_u64().unwrap() > 0, "{dit}");
    assert!(dit["resident_bytes"].as_u64().unwrap() < dit["bf16_bytes"].as_u64().unwrap());

    // A GGUF file alone (the tiny model's rope settings are not the official defaults: its
    // config sits beside it), and the bf16 repo with GGUF DiTs in place.
    let alone = tmp.path().join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::copy(
        q.join("tiny-gguf/ideogram4-Q4_0.gguf"),
        alone.join("x-Q4_0.gguf"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("tiny-ideogram4-bf16/transformer/config.json"),
        alone.join("config.json"),
    )
    .unwrap();
    let r = run(
        &cache,
        &[
            "models",
            "inspect",
            alone.join("x-Q4_0.gguf").to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(r[0]["component"], "transformer");
    assert_eq!(r[0]["formats"]["gguf-Q4_0"], 12, "{r}");
    assert_eq!(r[0]["dims"]["emb_dim"], 96, "{r}");
    let f = q.join("tiny-gguf/ideogram4-Q4_0.gguf");
    assert_eq!(r[0]["component"], "transformer");
    assert_eq!(r[0]["formats"]["gguf-Q4_0"], 12, "{r}");
    let bf16 = fixtures().join("tiny-ideogram4-bf16");
    let r = run(
        &cache,
        &[
            "models",
            "inspect",
            bf16.to_str().unwrap(),
            "--dit",
            f.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(r["components"][0]["formats"]["gguf-Q4_0"], 12, "{r}");
    assert_eq!(r["components"][1]["formats"]["gguf-Q4_0"], 12, "{r}");
}

/// The TUI's loader (what `ideogram4-tui --model DIR --dit FILE` builds) loads GGUF DiTs
/// beside the picked model, and MLX checkpoints as models of their own.
#[test]
fn the_tui_loader_takes_gguf_dits_and_mlx_checkpoints() {
    use ideogram4::engine::{
        pipeline_loader_with, pipeline_loader_with_dits, ModelLoader, ModelSpec,
    };
    use ideogram4::pipeline::{dits::resolve_dits, LoadOptions};
    let dit = fixtures().join("quant/tiny-gguf/ideogram4-Q5_0.gguf");
    let dits = resolve_dits(Some(dit.to_str().unwrap()), None).unwrap();
    assert!(dits.overrides.uncond_dit.is_some(), "sibling found");
    let g = pipeline_loader_with_dits(LoadOptions::default(), dits.overrides)
        .load(&ModelSpec::Dir(fixtures().join("tiny-ideogram4-bf16")))
        .unwrap();
    assert!(g.describe().contains("gguf weights"), "{}", g.describe());
    let g = pipeline_loader_with(LoadOptions::default())
        .load(&ModelSpec::Dir(fixtures().join("quant/tiny-mlx-q4")))
        .unwrap();
    assert!(
        g.describe().contains("mlx-affine weights"),
        "{}",
        g.describe()
    );
}

/// `--from-image` runs on the DiTs the record names, the sibling found by name included.
#[test]
fn from_image_restores_the_recorded_dits() {
    let tmp = tempfile::tempdir().unwrap();
    let q = fixtures().join("quant/tiny-gguf");
    let model = fixtures().join("tiny-ideogram4-bf16");
    let dit = q.join("ideogram4-Q4_0.gguf");
    let model_arg = ["--model", model.to_str().unwrap()];
    ok(&generate(
        tmp.path(),
        &[model_arg[0], model_arg[1], "--dit", dit.to_str().unwrap()],
    ));
    std::fs::rename(tmp.path().join("out.png"), tmp.path().join("first.png")).unwrap();
    let first = read_parameters(&tmp.path().join("first.png")).unwrap();
    ok(&generate(
        tmp.path(),
        &[model_arg[0], model_arg[1], "--from-image", "first.png"],
    ));
    let again = read_parameters(&tmp.path().join("out.png")).unwrap();
    assert_eq!(again["dit"], dit.to_str().unwrap(), "{again}");
    assert_eq!(again["uncond_dit"], "ideogram4_uncond-Q4_0.gguf", "{again}");
    assert_eq!(again["weight_format"], first["weight_format"], "{again}");
    std::fs::remove_file(tmp.path().join("out.png")).unwrap();

    // An explicit unconditional file is restored as given.
    let dit = q.join("ideogram4-transformer-Q5_1.gguf");
    let uncond = q.join("ideogram4-unconditional_transformer-Q5_1.gguf");
    ok(&generate(
        tmp.path(),
        &[
            model_arg[0],
            model_arg[1],
            "--dit",
            dit.to_str().unwrap(),
            "--uncond-dit",
            uncond.to_str().unwrap(),
        ],
    ));
    std::fs::rename(tmp.path().join("out.png"), tmp.path().join("second.png")).unwrap();
    ok(&generate(
        tmp.path(),
        &[model_arg[0], model_arg[1], "--from-image", "second.png"],
    ));
    let third = read_parameters(&tmp.path().join("out.png")).unwrap();
    assert_eq!(third["dit"], dit.to_str().unwrap(), "{third}");
    assert_eq!(third["uncond_dit"], uncond.to_str().unwrap(), "{third}");
}
