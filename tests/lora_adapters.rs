//! Adapters: golden parity of run-time LoRA/LoKr on bf16, NF4 and FP8 bases (both
//! transformers), loader errors, stacking, and the factored LoKr against a built ΔW.

use std::path::{Path, PathBuf};

use ideogram4::mlx::{Array, Dtype};
use ideogram4::model::adapter::{Adapter, AdapterError, TargetModule};
use ideogram4::model::dit::{Dit, DitOptions, QueryChunking};
use ideogram4::model::linear::Compute;
use ideogram4::parity::{run_sidecar, Comparison, ParityOptions};
use ideogram4::weights::{Checkpoint, ComponentKind};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn lora(name: &str) -> PathBuf {
    fixtures().join("lora").join(name)
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ideogram4-lora-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn cond_dit(flavour: &str) -> Dit {
    let ckpt = Checkpoint::open(&fixtures().join(format!("tiny-ideogram4-{flavour}"))).unwrap();
    let options = DitOptions {
        compute: Compute::CPU,
        chunking: QueryChunking::Whole,
    };
    Dit::from_component(
        &mut ckpt.load_component(ComponentKind::Transformer).unwrap(),
        options,
    )
    .unwrap()
}

/// Writes a safetensors file of f32 tensors (`(name, shape, values)`).
fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let begin = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

#[test]
fn every_golden_case_passes_on_both_transformers() {
    let mut results: Vec<Comparison> = Vec::new();
    run_sidecar(
        &fixtures(),
        &lora("golden.json"),
        &ParityOptions::default(),
        &mut |c| results.push(c),
    )
    .unwrap();
    for c in &results {
        eprintln!("{}", c.to_json_line());
    }
    // Per flavour (3) the unpatched outputs; per case (8) cond/uncond with the adapter and
    // again after detaching.
    assert_eq!(results.len(), 3 * 2 + 8 * 4);
    let failed: Vec<String> = results
        .iter()
        .filter(|c| !c.pass)
        .map(Comparison::to_json_line)
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn the_three_conventions_map_onto_official_modules() {
    let mut dit = cond_dit("bf16");
    let targets = dit.adapter_targets();
    let peft = Adapter::load(&lora("lora_peft_r4_alpha8.safetensors"), &targets).unwrap();
    assert_eq!(peft.modules.len(), 12);
    assert!(peft.unmatched.is_empty());
    assert_eq!(peft.rank, Some(4));
    assert!(peft.modules.values().all(|m| m.scale == 2.0)); // α 8 / r 4
    let kohya = Adapter::load(&lora("lora_kohya_r2_noalpha.safetensors"), &targets).unwrap();
    assert!(kohya.modules.contains_key("final_layer.linear"));
    assert!(kohya.modules.contains_key("input_proj"));
    assert!(kohya.modules.values().all(|m| m.scale == 1.0));
    let lokr = Adapter::load(&lora("lokr_f4_r2_alpha1.safetensors"), &targets).unwrap();
    assert_eq!(lokr.modules.len(), 12);
    assert!(lokr.modules.values().all(|m| m.scale == 0.5)); // α 1 / r 2
}

#[test]
fn loader_errors_name_the_problem() {
    let targets = vec![TargetModule {
        path: "layers.0.attention.o".into(),
        out_features: 8,
        in_features: 4,
    }];
    // No key matches: refused, naming keys.
    let p = tmp("nomatch.safetensors");
    write_safetensors(
        &p,
        &[("text_model.foo.lora_A.weight", vec![2, 4], vec![0.0; 8])],
    );
    let e = Adapter::load(&p, &targets).unwrap_err();
    assert!(matches!(e, AdapterError::NoMatch { .. }), "{e}");
    assert!(
        e.to_string().contains("text_model.foo.lora_A.weight"),
        "{e}"
    );

    // Partial match: the rest is listed.
    let p = tmp("partial.safetensors");
    write_safetensors(
        &p,
        &[
            (
                "transformer.layers.0.attention.o.lora_A.weight",
                vec![2, 4],
                vec![0.1; 8],
            ),
            (
                "transformer.layers.0.attention.o.lora_B.weight",
                vec![8, 2],
                vec![0.1; 16],
            ),
            (
                "transformer.layers.9.attention.o.lora_A.weight",
                vec![2, 4],
                vec![0.1; 8],
            ),
            ("te.something", vec![1], vec![0.0]),
        ],
    );
    let a = Adapter::load(&p, &targets).unwrap();
    assert_eq!(a.modules.len(), 1);
    assert_eq!(
        a.unmatched,
        vec![
            "te.something".to_string(),
            "transformer.layers.9.attention.o.lora_A.weight".to_string()
        ]
    );

    // Wrong shape: module and both shapes named.
    let p = tmp("shape.safetensors");
    write_safetensors(
        &p,
        &[
            (
                "lora_unet_layers_0_attention_o.lora_down.weight",
                vec![2, 5],
                vec![0.1; 10],
            ),
            (
                "lora_unet_layers_0_attention_o.lora_up.weight",
                vec![8, 2],
                vec![0.1; 16],
            ),
        ],
    );
    let e = Adapter::load(&p, &targets).unwrap_err().to_string();
    assert!(
        e.contains("layers.0.attention.o") && e.contains("[8, 4]") && e.contains("[8, 5]"),
        "{e}"
    );

    // Truncated file: the container error.
    let bytes = std::fs::read(lora("lora_peft_r4_alpha8.safetensors")).unwrap();
    let p = tmp("truncated.safetensors");
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    let mut dit = cond_dit("bf16");
    let e = Adapter::load(&p, &dit.adapter_targets())
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated.safetensors"), "{e}");
    assert!(e.contains("corrupt") || e.contains("end of file"), "{e}");
}

/// Forward of the golden's conditional inputs.
fn forward(dit: &Dit) -> Vec<f32> {
    let g = ideogram4::mlx::io::load_safetensors(&lora("golden.safetensors")).unwrap();
    let get = |n: &str| {
        g.tensors
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let ind = get("input.cond.indicator").astype(Dtype::I32).unwrap();
    let shape = ind.shape();
    let pos = get("input.cond.position_ids")
        .astype(Dtype::I32)
        .unwrap()
        .to_vec::<i32>()
        .unwrap();
    let packed = ideogram4::model::packing::PackedBatch::from_parts(
        shape[0],
        shape[1],
        ind.to_vec::<i32>().unwrap(),
        get("input.cond.segment_ids")
            .astype(Dtype::I32)
            .unwrap()
            .to_vec::<i32>()
            .unwrap(),
        pos.chunks(3).map(|p| [p[0], p[1], p[2]]).collect(),
    )
    .unwrap();
    let seq = dit.sequence(&packed).unwrap();
    let llm = get("input.cond.llm_features")
        .slice_axis(1, 0, packed.text_len())
        .unwrap();
    let text = dit.text_conditioning(&llm, &seq).unwrap();
    let t = get("input.cond.t").to_vec::<f32>().unwrap();
    dit.forward(&get("input.cond.x"), &t, &seq, Some(&text))
        .unwrap()
        .to_vec::<f32>()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn stacking_is_additive_and_detach_restores_the_base() {
    let mut dit = cond_dit("nf4");
    let targets = dit.adapter_targets();
    let base = forward(&dit);
    let a = Adapter::load(&lora("lora_peft_r4_alpha8.safetensors"), &targets).unwrap();
    dit.attach_adapter(1, &a, 1.0, false).unwrap();
    let full = forward(&dit);
    dit.detach_adapter(1);
    dit.attach_adapter(2, &a, 0.5, false).unwrap();
    dit.attach_adapter(3, &a, 0.5, false).unwrap();
    let halves = forward(&dit);
    assert!(
        max_diff(&full, &base) > 0.1,
        "the adapter changes the output"
    );
    assert!(
        max_diff(&full, &halves) < 1e-5,
        "{}",
        max_diff(&full, &halves)
    );
    dit.detach_adapter(2);
    dit.detach_adapter(3);
    assert_eq!(forward(&dit), base);
    // A gated (unconditional-pass) adapter does nothing in the conditional pass.
    dit.attach_adapter(4, &a, 1.0, true).unwrap();
    assert_eq!(forward(&dit), base);
}

/// The factored LoKr product equals `x·(s·kron(w1, w2))ᵀ` built densely.
#[test]
fn factored_lokr_matches_the_built_delta() {
    let (a, b, p, q, r) = (2usize, 3usize, 4usize, 5usize, 2usize);
    let vals = |n: usize, k: f32| {
        (0..n)
            .map(|i| ((i as f32 + k) * 0.37).sin())
            .collect::<Vec<_>>()
    };
    let w1 = vals(a * b, 1.0);
    let w2a = vals(p * r, 2.0);
    let w2b = vals(r * q, 3.0);
    let path = tmp("lokr.safetensors");
    write_safetensors(
        &path,
        &[
            ("lora_unet_m.lokr_w1", vec![a, b], w1.clone()),
            ("lora_unet_m.lokr_w2_a", vec![p, r], w2a.clone()),
            ("lora_unet_m.lokr_w2_b", vec![r, q], w2b.clone()),
            ("lora_unet_m.alpha", vec![], vec![3.0]),
        ],
    );
    let targets = vec![TargetModule {
        path: "m".into(),
        out_features: a * p,
        in_features: b * q,
    }];
    let adapter = Adapter::load(&path, &targets).unwrap();
    let delta = ideogram4::model::adapter::LinearDelta::new(
        1,
        &adapter.modules["m"],
        0.7,
        Dtype::F32,
        None,
    )
    .unwrap();
    let x = vals(3 * b * q, 4.0);
    let got = delta
        .apply(&Array::from_slice(&x, &[3, b * q]).unwrap())
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    // Dense reference in f64.
    let mut w2 = vec![0f64; p * q];
    for i in 0..p {
        for j in 0..q {
            w2[i * q + j] = (0..r)
                .map(|k| f64::from(w2a[i * r + k]) * f64::from(w2b[k * q + j]))
                .sum();
        }
    }
    let s = 0.7 * 3.0 / r as f64;
    for row in 0..3 {
        for o in 0..a * p {
            let (i, k) = (o / p, o % p);
            let want: f64 = (0..b * q)
                .map(|n| {
                    let (j, l) = (n / q, n % q);
                    s * f64::from(w1[i * b + j]) * w2[k * q + l] * f64::from(x[row * b * q + n])
                })
                .sum();
            let g = f64::from(got[row * a * p + o]);
            assert!((g - want).abs() < 1e-5, "row {row} out {o}: {g} vs {want}");
        }
    }
}

/// Files written by MLX's own `save_safetensors` (`"__metadata__": null`, f16 factors) load.
#[test]
fn mlx_written_f16_adapters_load() {
    let a = Array::from_slice(&[0.5f32; 8], &[2, 4])
        .unwrap()
        .astype(Dtype::F16)
        .unwrap();
    let b = Array::from_slice(&[0.25f32; 16], &[8, 2])
        .unwrap()
        .astype(Dtype::F16)
        .unwrap();
    let p = tmp("mlx.safetensors");
    ideogram4::mlx::io::save_safetensors(
        &p,
        &[
            ("diffusion_model.layers.0.attention.o.lora_A.weight", &a),
            ("diffusion_model.layers.0.attention.o.lora_B.weight", &b),
        ],
    )
    .unwrap();
    let targets = vec![TargetModule {
        path: "layers.0.attention.o".into(),
        out_features: 8,
        in_features: 4,
    }];
    let adapter = Adapter::load(&p, &targets).unwrap();
    assert_eq!(adapter.rank, Some(2));
    assert_eq!(adapter.modules["layers.0.attention.o"].scale, 1.0);
}

/// The unconditional-pass adapter is exactly an ungated adapter inside
/// `velocity_unconditional_pass`, and nothing outside it.
#[test]
fn unconditional_pass_gate_switches_the_adapter_on_only_for_that_pass() {
    let g = ideogram4::mlx::io::load_safetensors(&lora("golden.safetensors")).unwrap();
    let get = |n: &str| {
        g.tensors
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let ints = |n: &str| get(n).astype(Dtype::I32).unwrap().to_vec::<i32>().unwrap();
    let shape = get("input.uncond.indicator").shape();
    let pos = ints("input.uncond.position_ids");
    let packed = ideogram4::model::packing::PackedBatch::from_parts(
        shape[0],
        shape[1],
        ints("input.uncond.indicator"),
        ints("input.uncond.segment_ids"),
        pos.chunks(3).map(|p| [p[0], p[1], p[2]]).collect(),
    )
    .unwrap();
    let x = get("input.uncond.x");
    let t = get("input.uncond.t").to_vec::<f32>().unwrap();
    let mut dit = cond_dit("bf16");
    let seq = dit.sequence(&packed).unwrap();
    let run = |dit: &Dit, gated: bool| -> Vec<f32> {
        let v = if gated {
            dit.velocity_unconditional_pass(&x, &t, &seq)
        } else {
            dit.velocity(&x, &t, &seq, None)
        };
        v.unwrap().to_vec::<f32>().unwrap()
    };
    let base = run(&dit, false);
    let a = Adapter::load(
        &lora("lora_kohya_r2_noalpha.safetensors"),
        &dit.adapter_targets(),
    )
    .unwrap();
    dit.attach_adapter(1, &a, 0.8, false).unwrap();
    let ungated = run(&dit, false);
    dit.detach_adapter(1);
    dit.attach_adapter(2, &a, 0.8, true).unwrap();
    assert_eq!(run(&dit, false), base, "off outside the unconditional pass");
    assert_eq!(run(&dit, true), ungated, "on inside it");
    assert_eq!(run(&dit, false), base, "and off again after it");
    assert!(max_diff(&ungated, &base) > 0.1);
}
