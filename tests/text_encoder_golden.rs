//! Text-encoder features against the reference (`tests/fixtures/golden/text_encoder.*`, copied
//! from the shared fixtures) for the bf16, NF4 and FP8 tiny repos, from the recorded token ids,
//! positions and indicator (tokenisation is tested on its own). Two prompts, the shorter one
//! left-padded, so the padding mask and the zeroed rows are exercised.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ideogram4::mlx::{self, Array, Dtype};
use ideogram4::model::linear::{Compute, Dequant};
use ideogram4::model::packing::PackedBatch;
use ideogram4::model::text_encoder::{TextEncoder, QWEN3_VL_TAPS};
use ideogram4::weights::{Checkpoint, ComponentKind};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn golden() -> HashMap<String, Array> {
    let path = fixtures().join("golden/text_encoder.safetensors");
    mlx::io::load_safetensors(&path)
        .unwrap()
        .tensors
        .into_iter()
        .collect()
}

fn sidecar() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("golden/text_encoder.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn checkpoint(flavour: &str) -> Checkpoint {
    let repo = sidecar()["repos"][flavour].as_str().unwrap().to_owned();
    Checkpoint::open(&fixtures().join(repo)).unwrap()
}

/// Max |ours − reference|, after asserting `|d| ≤ atol + rtol·|ref|` everywhere.
fn assert_close(name: &str, ours: &Array, reference: &Array, atol: f32, rtol: f32) -> f32 {
    assert_eq!(ours.shape(), reference.shape(), "{name}: shape");
    let a = ours.to_f32_vec().unwrap();
    let b = reference.to_f32_vec().unwrap();
    let mut max = 0f32;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let d = (x - y).abs();
        assert!(
            d <= atol + rtol * y.abs(),
            "{name}[{i}]: ours {x}, reference {y}"
        );
        max = max.max(d);
    }
    eprintln!("{name}: max abs diff {max:.3e} (atol {atol:.2e}, rtol {rtol:.0e})");
    max
}

/// The sidecar's suggested tolerance for a flavour: `(atol, rtol)`.
fn tolerance(flavour: &str, compute: &str) -> (f32, f32) {
    let observed = &sidecar()["observed"][flavour];
    let atol = observed[format!("suggested_{compute}_atol")]
        .as_f64()
        .unwrap() as f32;
    let rtol = observed["suggested_fp32_rtol"].as_f64().unwrap() as f32;
    (atol, rtol)
}

fn encode(encoder: &TextEncoder, g: &HashMap<String, Array>) -> Array {
    encoder
        .encode(&g["token_ids"], &g["text_position_ids"], &g["indicator"])
        .unwrap()
}

fn check_flavour(flavour: &str, compute: Compute) {
    let g = golden();
    let encoder = TextEncoder::from_checkpoint(&checkpoint(flavour), compute).unwrap();
    assert_eq!(encoder.feature_dim(), 13 * 32);
    let features = encode(&encoder, &g);
    assert_eq!(features.dtype(), Dtype::F32);
    let (atol, rtol) = tolerance(flavour, "fp32");
    assert_close(
        &format!("{flavour}.features"),
        &features,
        &g[&format!("{flavour}.features")],
        atol,
        rtol,
    );
}

#[test]
fn bf16_features_match_reference() {
    check_flavour("bf16", Compute::CPU);
}

#[test]
fn nf4_features_match_reference() {
    check_flavour("nf4", Compute::CPU);
}

#[test]
fn nf4_features_match_reference_with_graph_dequantisation() {
    check_flavour(
        "nf4",
        Compute {
            dtype: Dtype::F32,
            dequant: Dequant::Graph,
        },
    );
}

#[test]
fn fp8_features_match_reference() {
    check_flavour("fp8", Compute::CPU);
}

/// bfloat16 compute is compared loosely, with the sidecar's bf16 tolerance (twice the
/// reference's own bf16-vs-fp32 distance): it checks that path runs and stays in range.
#[test]
fn bf16_compute_is_within_the_reference_bf16_spread() {
    let g = golden();
    let compute = Compute {
        dtype: Dtype::Bf16,
        dequant: Dequant::Graph,
    };
    let encoder = TextEncoder::from_checkpoint(&checkpoint("bf16"), compute).unwrap();
    let features = encode(&encoder, &g);
    let (atol, _) = tolerance("bf16", "bf16");
    assert_close(
        "bf16.features_bf16compute",
        &features,
        &g["bf16.features_bf16compute"],
        atol,
        0.0,
    );
}

/// Padding changes nothing for real tokens: each prompt encoded alone, unpadded, gives the
/// features of its rows in the padded batch; non-text slots are exactly zero.
#[test]
fn padded_batch_equals_prompts_encoded_alone() {
    let g = golden();
    let side = sidecar();
    let encoder = TextEncoder::from_checkpoint(&checkpoint("bf16"), Compute::CPU).unwrap();
    let batch = encode(&encoder, &g).to_vec::<f32>().unwrap();
    let (rows, seq, dim) = (2, g["token_ids"].dim(1).unwrap(), encoder.feature_dim());
    let indicator = g["indicator"].to_vec::<i64>().unwrap();
    let num_text: Vec<usize> = side["num_text_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let max_text = *num_text.iter().max().unwrap();
    for row in 0..rows {
        let pad = max_text - num_text[row];
        let slice = |a: &Array| {
            a.slice_axis(0, row, row + 1)
                .unwrap()
                .slice_axis(1, pad, max_text)
                .unwrap()
        };
        let alone = encoder
            .encode(
                &slice(&g["token_ids"]),
                &slice(&g["text_position_ids"]),
                &slice(&g["indicator"]),
            )
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let mut max = 0f32;
        for s in 0..seq {
            let is_text = indicator[row * seq + s] == 3;
            assert_eq!(is_text, (pad..max_text).contains(&s), "row {row} slot {s}");
            for f in 0..dim {
                let v = batch[(row * seq + s) * dim + f];
                if is_text {
                    max = max.max((v - alone[((s - pad) * dim) + f]).abs());
                } else {
                    assert_eq!(v, 0.0, "row {row} slot {s} feature {f} is not text");
                }
            }
        }
        eprintln!("row {row}: padded vs alone max abs diff {max:.3e}");
        assert!(
            max <= 1e-4,
            "row {row}: padded batch differs from the prompt alone by {max}"
        );
    }
}

/// The encoder takes every language-model layer tensor and nothing of the vision tower.
#[test]
fn loading_uses_the_language_model_only() {
    let ckpt = checkpoint("nf4");
    let mut component = ckpt.load_component(ComponentKind::TextEncoder).unwrap();
    assert!(component.names().all(|n| !n.starts_with("visual.")));
    assert!(component.skipped().any(|n| n.starts_with("visual.")));
    let encoder = TextEncoder::load(&mut component, &QWEN3_VL_TAPS, Compute::CPU).unwrap();
    let left: Vec<&str> = component.names().collect();
    assert!(left.is_empty(), "tensors loaded but unused: {left:?}");
    assert!(encoder.resident_bytes() > 0);
    encoder.release();
}

/// Features only depend on layers up to the last tap: a shorter tap list loads fewer layers
/// and reproduces the matching columns.
#[test]
fn fewer_taps_load_fewer_layers_and_give_the_same_columns() {
    let g = golden();
    let ckpt = checkpoint("bf16");
    let mut component = ckpt.load_component(ComponentKind::TextEncoder).unwrap();
    let taps = [0, 3];
    let encoder = TextEncoder::load(&mut component, &taps, Compute::CPU).unwrap();
    assert!(component
        .names()
        .any(|n| n.starts_with("language_model.layers.4.")));
    assert!(component
        .names()
        .all(|n| !n.starts_with("language_model.layers.3.")));
    let ours = encode(&encoder, &g);
    // Reference column 13·d + k holds tap k; keep k ∈ {0, 1}.
    let reference = g["bf16.features"]
        .reshape(&[2, 98, 32, 13])
        .unwrap()
        .slice_axis(3, 0, 2)
        .unwrap();
    let (atol, rtol) = tolerance("bf16", "fp32");
    assert_close(
        "taps 0,3",
        &ours,
        &reference.reshape(&[2, 98, 64]).unwrap(),
        atol,
        rtol,
    );
}

/// The pipeline's entry point: a [`PackedBatch`] plus each prompt's ids gives the same
/// features as the recorded packed tensors.
#[test]
fn packed_batch_entry_matches_reference() {
    let g = golden();
    let side = sidecar();
    let num_text: Vec<usize> = side["num_text_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let (h, w) = (
        side["height"].as_u64().unwrap(),
        side["width"].as_u64().unwrap(),
    );
    let packed = PackedBatch::new(&num_text, h as usize / 16, w as usize / 16).unwrap();
    assert_eq!(packed.seq_len(), g["token_ids"].dim(1).unwrap());
    let ids: Vec<Vec<u32>> = side["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&num_text)
        .map(|(row, &n)| {
            let row: Vec<u32> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            let end = *num_text.iter().max().unwrap();
            row[end - n..end].to_vec()
        })
        .collect();
    let encoder = TextEncoder::from_checkpoint(&checkpoint("fp8"), Compute::CPU).unwrap();
    let features = encoder.encode_packed(&packed, &ids).unwrap();
    let (atol, rtol) = tolerance("fp8", "fp32");
    assert_close(
        "fp8.features (packed entry)",
        &features,
        &g["fp8.features"],
        atol,
        rtol,
    );

    let mut bad = ids.clone();
    bad[0][0] = encoder.config().vocab_size as u32;
    let err = encoder
        .encode_packed(&packed, &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the vocabulary"), "{err}");
}

/// The streamed encoder (embedding rows and one layer at a time read from disk) gives the
/// resident encoder's features bit for bit, for every weight format, and holds no weights.
#[test]
fn streamed_encoder_equals_resident_encoder() {
    let g = golden();
    for flavour in ["bf16", "nf4", "fp8"] {
        let ckpt = checkpoint(flavour);
        let resident = TextEncoder::from_checkpoint(&ckpt, Compute::CPU).unwrap();
        let streamed = TextEncoder::streamed(&ckpt, &QWEN3_VL_TAPS, Compute::CPU).unwrap();
        assert!(resident.is_resident() && resident.resident_bytes() > 0);
        assert!(!streamed.is_resident());
        assert_eq!(streamed.resident_bytes(), 0);
        let a = encode(&resident, &g).to_f32_vec().unwrap();
        drop(resident);
        mlx::memory::clear_cache();
        let before = mlx::memory::active();
        let b = encode(&streamed, &g);
        b.eval().unwrap();
        // Only the features stay behind: no layer weights are kept after the encode.
        let kept = mlx::memory::active().saturating_sub(before);
        assert!(
            kept <= b.nbytes() + (64 << 10),
            "{flavour}: {kept} bytes kept for {} bytes of features",
            b.nbytes()
        );
        let b = b.to_f32_vec().unwrap();
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{flavour}: streamed features differ"
        );
    }
}

/// A streamed encoder checks every layer's shapes when it is made, naming the tensor.
#[test]
fn streamed_encoder_rejects_wrong_taps_up_front() {
    let ckpt = checkpoint("bf16");
    let err = TextEncoder::streamed(&ckpt, &[0, 99], Compute::CPU)
        .err()
        .expect("taps beyond the model must be refused");
    assert!(err.to_string().contains("taps"), "{err}");
}
