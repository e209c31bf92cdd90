//! The memory-lean VAE decode (bands of rows, chunked attention, module-by-module evaluation)
//! gives the whole-graph decode's results, and holds clearly less memory at its peak.
//! Decoders: the tiny golden checkpoint in tests/fixtures, and full-size shapes with
//! deterministic random weights (key names checked against the spec's state-dict inventory).

use std::path::{Path, PathBuf};

use ideogram4::mlx::{self, memory, random, Array, Dtype};
use ideogram4::model::linear::Compute;
use ideogram4::model::vae::{Chunking, DecodeStrategy, LeanDecode, VaeDecoder, VaeDecoderConfig};
use ideogram4::synthetic::vae::random_diffusers_tensors;
use ideogram4::weights::Checkpoint;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn tiny_decoder() -> VaeDecoder {
    let text = std::fs::read_to_string(fixtures().join("golden/vae_decode.json")).unwrap();
    let sidecar: serde_json::Value = serde_json::from_str(&text).unwrap();
    let repo = sidecar["repos"]["bf16"].as_str().unwrap().to_owned();
    let ckpt = Checkpoint::open(&fixtures().join(repo)).unwrap();
    VaeDecoder::from_checkpoint(&ckpt, Compute::CPU).unwrap()
}

fn latent(shape: &[usize], seed: u64) -> Array {
    let key = random::key(seed).unwrap();
    let z = random::normal(shape, Dtype::F32, 0.0, 1.0, &key).unwrap();
    z.eval().unwrap();
    z
}

fn lean(bands: Chunking, attention: Chunking) -> DecodeStrategy {
    DecodeStrategy::Lean(LeanDecode { bands, attention })
}

/// Max |a − b|, after checking shapes and `|a − b| ≤ 5e-5·(1 + |b|)` everywhere: float32
/// reassociation noise, below the golden tolerance against the reference (1e-4 + 1e-4·|b|),
/// far below what a misplaced row or halo gives (order 1e-1). Most of it is the whole graph's
/// own GroupNorm reductions (one float32 accumulation over 65k values per group at 256²,
/// ~1e-5 relative error), which the lean path adds up across bands in float64.
fn assert_same(name: &str, a: &Array, b: &Array) -> f32 {
    assert_eq!(a.shape(), b.shape(), "{name}: shape");
    let (a, b) = (a.to_f32_vec().unwrap(), b.to_f32_vec().unwrap());
    let mut max = 0f32;
    let mut worst = 0f32;
    for (x, y) in a.iter().zip(&b) {
        let d = (x - y).abs();
        max = max.max(d);
        worst = worst.max(d / (1.0 + y.abs()));
    }
    eprintln!("{name}: max abs diff {max:.3e}, max diff/(1+|ref|) {worst:.3e}");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let d = (x - y).abs();
        assert!(
            d <= 5e-5 * (1.0 + y.abs()),
            "{name}[{i}]: lean {x}, whole {y}"
        );
    }
    max
}

#[test]
fn lean_decode_equals_the_whole_graph_for_any_banding() {
    let vae = tiny_decoder();
    // Batch 2, odd latent sides: the image is 40 × 56, level heights 5, 10, 20, 40.
    let z = latent(&[2, 5, 7, 4], 11);
    let whole = vae.decode_with(&z, DecodeStrategy::WholeGraph).unwrap();
    whole.eval().unwrap();
    assert_eq!(whole.shape(), vec![2, 40, 56, 3]);
    let strategies = [
        // One-row bands and one-row query chunks: the most halos and joins.
        lean(Chunking::Rows(1), Chunking::Rows(1)),
        // Bands that divide none of the heights; chunks that do not divide 5.
        lean(Chunking::Rows(3), Chunking::Rows(2)),
        lean(Chunking::Rows(7), Chunking::Rows(4)),
        // Byte budgets small enough to force several bands at every level.
        lean(Chunking::Bytes(40_000), Chunking::Bytes(1_000)),
        DecodeStrategy::default(),
    ];
    for strategy in strategies {
        let ours = vae.decode_with(&z, strategy).unwrap();
        let max = assert_same(&format!("{strategy:?}"), &ours, &whole);
        eprintln!("{strategy:?}: max abs diff {max:.3e}");
    }
}

#[test]
fn lean_observations_match_the_whole_graph_module_by_module() {
    let vae = tiny_decoder();
    let z = latent(&[1, 6, 3, 4], 5);
    let record = |strategy| {
        let mut seen = Vec::new();
        let out = vae
            .decode_observed_with(&z, strategy, |name, x| {
                x.eval().unwrap();
                seen.push((name.to_owned(), x.clone()));
            })
            .unwrap();
        (seen, out)
    };
    let (whole, whole_out) = record(DecodeStrategy::WholeGraph);
    let (ours, our_out) = record(lean(Chunking::Rows(2), Chunking::Rows(4)));
    let names = |v: &[(String, Array)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&whole));
    // post_quant_conv, conv_in, 3 mid modules, 4 levels × 3 blocks, 3 upsamples, norm_out,
    // conv_out.
    assert_eq!(ours.len(), 22);
    for ((name, a), (_, b)) in ours.iter().zip(&whole) {
        assert_same(name, a, b);
    }
    assert_same("output", &our_out, &whole_out);
}

#[test]
fn lean_decode_peaks_well_below_the_whole_graph() {
    let vae = tiny_decoder();
    // 256 × 256 image: 32 channels at full resolution, 8 MiB per activation.
    let z = latent(&[1, 32, 32, 4], 7);
    let measure = |strategy| {
        memory::clear_cache();
        let base = memory::active();
        memory::reset_peak();
        let out = vae.decode_with(&z, strategy).unwrap();
        out.eval().unwrap();
        (memory::peak() - base, out)
    };
    let (whole_peak, whole) = measure(DecodeStrategy::WholeGraph);
    let (lean_peak, ours) = measure(lean(Chunking::Bytes(1 << 20), Chunking::Bytes(1 << 20)));
    let mib = |b: usize| b as f64 / f64::from(1 << 20);
    eprintln!(
        "peak above the inputs: whole graph {:.1} MiB, lean {:.1} MiB",
        mib(whole_peak),
        mib(lean_peak)
    );
    assert_same("256² output", &ours, &whole);
    assert!(
        lean_peak * 3 < whole_peak,
        "lean peak {lean_peak} is not a third of the whole graph's {whole_peak}"
    );
}

#[test]
fn random_full_size_weights_follow_the_spec_inventory() {
    let config = VaeDecoderConfig::flux2();
    let tensors = random_diffusers_tensors(&config, 1, Dtype::Bf16).unwrap();
    let text =
        std::fs::read_to_string(fixtures().join("spec/vae_decoder_state_dict.json")).unwrap();
    let inventory: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut expected: Vec<(String, Vec<usize>)> = inventory["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let shape = e["shape"].as_array().unwrap();
            (
                e["diffusers_key"].as_str().unwrap().to_owned(),
                shape.iter().map(|d| d.as_u64().unwrap() as usize).collect(),
            )
        })
        .collect();
    let mut ours: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .map(|(k, a)| (k.clone(), a.shape()))
        .collect();
    expected.sort();
    ours.sort();
    assert_eq!(ours, expected);
    let params: usize = tensors.iter().map(|(_, a)| a.size()).sum();
    assert_eq!(params as u64, inventory["num_parameters"].as_u64().unwrap());

    let vae = VaeDecoder::from_diffusers_tensors(tensors, Dtype::F32).unwrap();
    assert_eq!(vae.config(), &config);
    assert_eq!(vae.resident_bytes(), params * 4);
}

#[test]
fn full_size_lean_decode_equals_the_whole_graph() {
    let config = VaeDecoderConfig::flux2();
    let tensors = random_diffusers_tensors(&config, 3, Dtype::F32).unwrap();
    let vae = VaeDecoder::from_diffusers_tensors(tensors, Dtype::F32).unwrap();
    // 24 × 40 image; the 512 → 256 and 256 → 128 blocks take their 1×1 shortcuts.
    let z = latent(&[1, 3, 5, 32], 9);
    let whole = vae.decode_with(&z, DecodeStrategy::WholeGraph).unwrap();
    whole.eval().unwrap();
    let ours = vae
        .decode_with(&z, lean(Chunking::Rows(5), Chunking::Rows(2)))
        .unwrap();
    let max = assert_same("full-size output", &ours, &whole);
    eprintln!("full-size: max abs diff {max:.3e}");
    let values = whole.to_f32_vec().unwrap();
    assert!(values.iter().all(|v| v.is_finite()));
    let spread = mlx::Array::from_slice(&values, &[values.len()])
        .unwrap()
        .var(&[0], false)
        .unwrap()
        .item_f32()
        .unwrap();
    assert!(
        spread > 1e-4,
        "random weights give a non-constant image ({spread})"
    );
}
