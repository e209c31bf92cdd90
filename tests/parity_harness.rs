//! The parity harness (library `parity` and `examples/parity.rs`) on every golden
//! sidecar copied into `tests/fixtures/golden`, float32 on the CPU: every comparison must pass
//! and every kind must produce its outputs. The real Qwen tokenizer (11 MB) is not copied; the
//! tokenizer sidecar's `qwen3` half runs when `../shared/fixtures` is present.

use std::path::{Path, PathBuf};

use ideogram4::parity::{command_line, run_sidecar, Comparison, ParityOptions};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

fn run(dir: &Path, stem: &str, skip_missing: bool) -> Vec<Comparison> {
    let sidecar = dir.join("golden").join(format!("{stem}.json"));
    let options = ParityOptions {
        skip_missing,
        ..ParityOptions::default()
    };
    let mut out = Vec::new();
    run_sidecar(dir, &sidecar, &options, &mut |c| out.push(c))
        .unwrap_or_else(|e| panic!("{stem}: {e}"));
    out
}

fn assert_all_pass(stem: &str, results: &[Comparison], expected_outputs: &[&str]) {
    for c in results {
        eprintln!("{}", c.to_json_line());
    }
    for o in expected_outputs {
        assert!(
            results.iter().any(|c| c.output == *o),
            "{stem}: no {o} compared"
        );
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|c| !c.pass)
        .map(Comparison::to_json_line)
        .collect();
    assert!(failed.is_empty(), "{stem}:\n{}", failed.join("\n"));
}

#[test]
fn schedule_matches_exactly() {
    let r = run(&fixtures(), "schedule", false);
    assert_eq!(r.len(), 3 * 4 * 4, "3 presets × 4 sizes × 4 outputs");
    assert_all_pass(
        "schedule",
        &r,
        &["s", "loop.t", "loop.delta_f32", "loop.guidance"],
    );
}

#[test]
fn dit_forward_b1_all_flavours() {
    let r = run(&fixtures(), "dit_forward_b1", false);
    for f in ["bf16", "nf4", "fp8"] {
        assert!(r.iter().any(|c| c.case.ends_with(f)), "flavour {f}");
    }
    assert_all_pass(
        "dit_forward_b1",
        &r,
        &[
            "cond_out_image_positions",
            "cond_out_all_positions",
            "uncond_out",
        ],
    );
}

#[test]
fn dit_forward_b2_leftpad_all_flavours() {
    let r = run(&fixtures(), "dit_forward_b2_leftpad", false);
    assert_eq!(r.len(), 9);
    assert_all_pass(
        "dit_forward_b2_leftpad",
        &r,
        &["cond_out_image_positions", "uncond_out"],
    );
}

#[test]
fn text_encoder_all_flavours() {
    let r = run(&fixtures(), "text_encoder", false);
    assert_eq!(r.iter().filter(|c| c.output == "features").count(), 3);
    assert_all_pass(
        "text_encoder",
        &r,
        &["features", "token_ids[0]", "token_ids[1]"],
    );
}

#[test]
fn vae_decode() {
    let r = run(&fixtures(), "vae_decode", false);
    assert_all_pass(
        "vae_decode",
        &r,
        &["decoder_input", "decoder_output", "image_uint8"],
    );
}

#[test]
fn vae_encode() {
    let r = run(&fixtures(), "vae_encode", false);
    assert_all_pass(
        "vae_encode",
        &r,
        &["encoder_input", "encoder_output", "latent_normalized"],
    );
}

#[test]
fn quant_formats_dequantise_exactly() {
    let r = run(&fixtures(), "quant_formats", false);
    assert!(r.len() >= 5, "{} comparisons", r.len());
    assert_all_pass(
        "quant_formats",
        &r,
        &["dit_nf4.dequantized", "te_nf4_nested.dequantized"],
    );
}

#[test]
fn tokenizer_tiny_and_real_when_present() {
    let r = run(&fixtures(), "tokenizer", true);
    assert!(r.iter().filter(|c| c.output == "tiny_ids").count() >= 12);
    assert_all_pass("tokenizer", &r, &["tiny_ids"]);
    let shared = shared();
    if !shared.join("qwen3-tokenizer").is_dir() {
        eprintln!(
            "{} is absent: the real Qwen3 tokenizer half of the tokenizer golden is not checked",
            shared.join("qwen3-tokenizer").display()
        );
        return;
    }
    let r = run(&shared, "tokenizer", false);
    assert!(r.iter().filter(|c| c.output == "qwen3_ids").count() >= 12);
    assert_all_pass("tokenizer (shared)", &r, &["qwen3_ids", "tiny_ids"]);
}

#[test]
fn unknown_kind_and_missing_folders_are_errors() {
    let dir = std::env::temp_dir().join(format!("ideogram4-parity-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("golden")).unwrap();
    std::fs::write(dir.join("golden/odd.json"), r#"{"kind": "odd"}"#).unwrap();
    std::fs::write(
        dir.join("golden/vae.json"),
        r#"{"kind": "vae_decode", "repos": {"bf16": "nowhere"}, "grid_h": 1, "grid_w": 1}"#,
    )
    .unwrap();
    let options = ParityOptions::default();
    let e = run_sidecar(&dir, &dir.join("golden/odd.json"), &options, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("\"odd\""), "{e}");
    let e = run_sidecar(&dir, &dir.join("golden/vae.json"), &options, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The command line behind `examples/parity.rs` prints the documented JSON lines and its exit
/// status follows the result.
#[test]
fn command_line_prints_json_lines_and_exits_by_result() {
    let run = |args: &[&std::ffi::OsStr]| -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = command_line(args.iter().map(|a| a.to_os_string()), &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    let dir = fixtures();
    let sidecar = dir.join("golden/vae_decode.json");
    let (code, text, err) = run(&["--fixtures".as_ref(), dir.as_os_str(), sidecar.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(text.lines().count(), 4);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(first["tolerance"]["atol"].is_number() && first["tolerance"]["rtol"].is_number());
    assert!(first["max_abs_diff"].is_number() && first["pass"] == true);
    assert!(
        text.starts_with(r#"{"case":"vae_decode/bf16","output":"decoder_input","max_abs_diff":"#),
        "documented key order: {text}"
    );

    let missing = std::env::temp_dir().join("no-such-fixtures");
    let (code, _, err) = run(&[
        "--fixtures".as_ref(),
        missing.as_os_str(),
        sidecar.as_os_str(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("could not be run"), "{err}");
    assert_eq!(run(&[]).0, 2);
    assert_eq!(run(&["--fixtures".as_ref(), dir.as_os_str()]).0, 2);
}
