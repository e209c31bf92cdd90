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
