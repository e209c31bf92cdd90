//! End-to-end parity with the official pipeline (goldens `pipeline_e2e_*`): the whole
//! `Pipeline::run` path on the tiny repos in float32 on the CPU, with the reference's injected
//! initial latent. Compared: prompt token ids, text features, the latent entering every step
//! (the z trajectory), both velocities per step, the final latent, the decoder output and the
//! uint8 image (within 1 level). Tolerances follow the fixtures README (see `parity`).

use std::path::PathBuf;

use ideogram4::parity::{run_sidecar, Comparison, ParityOptions};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn check(stem: &str) {
    let sidecar = fixtures().join("golden").join(format!("{stem}.json"));
    let mut results: Vec<Comparison> = Vec::new();
    run_sidecar(&fixtures(), &sidecar, &ParityOptions::default(), &mut |c| {
        results.push(c)
    })
    .unwrap_or_else(|e| panic!("{stem}: {e}"));
    for c in &results {
        eprintln!("{}", c.to_json_line());
    }
    let outputs: Vec<&str> = results.iter().map(|c| c.output.as_str()).collect();
    for needed in [
        "token_ids",
        "llm_features",
        "z_final",
        "decoder_output",
        "image_uint8",
    ] {
        assert!(
            outputs.contains(&needed),
            "{stem}: {needed} was not compared"
        );
    }
    let steps = results
        .iter()
        .filter(|c| c.output.starts_with("z_trajectory["))
        .count();
    assert!(
        steps >= 4,
        "{stem}: only {steps} trajectory entries compared"
    );
    let failed: Vec<String> = results
        .iter()
        .filter(|c| !c.pass)
        .map(Comparison::to_json_line)
        .collect();
    assert!(failed.is_empty(), "{stem}: failed:\n{}", failed.join("\n"));
}

#[test]
fn custom3_bf16_weights() {
    check("pipeline_e2e_custom3");
}

#[test]
fn custom3_nf4_weights() {
    check("pipeline_e2e_custom3_nf4");
}

#[test]
fn turbo12_bf16_weights() {
    check("pipeline_e2e_turbo12");
}

#[test]
fn turbo12_fp8_weights() {
    check("pipeline_e2e_turbo12_fp8");
}
