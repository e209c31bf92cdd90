//! The VAE encoder beyond the float32 golden (which `parity_harness.rs` checks): the bf16
//! path against the same golden, loosely; one-row bands (every halo and the stride-2
//! downsampling's padding row crossing a band edge) against a single band; the shipped
//! latent constants against the golden's; patchify as the exact inverse of unpatchify.

use std::path::{Path, PathBuf};

use ideogram4::mlx::{random, Dtype};
use ideogram4::model::latent::{patchify, unpatchify, LatentNorm};
use ideogram4::model::linear::{Compute, Dequant};
use ideogram4::model::vae::{pixels_to_input, Chunking, LeanEncode, VaeEncoder};
use ideogram4::parity::{run_sidecar, ParityOptions};
use ideogram4::weights::Checkpoint;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn golden() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("golden/vae_encode.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn tiny_encoder() -> VaeEncoder {
    let repo = golden()["repos"]["bf16"].as_str().unwrap().to_owned();
    let ckpt = Checkpoint::open(&fixtures().join(repo)).unwrap();
    VaeEncoder::from_checkpoint(&ckpt, Compute::CPU).unwrap()
}

#[test]
fn bf16_compute_stays_near_the_float32_golden() {
    let options = ParityOptions {
        compute: Compute {
            dtype: Dtype::Bf16,
            dequant: Dequant::Host,
        },
        skip_missing: false,
    };
    let sidecar = fixtures().join("golden/vae_encode.json");
    let mut results = Vec::new();
    run_sidecar(&fixtures(), &sidecar, &options, &mut |c| results.push(c)).unwrap();
    assert!(results.iter().any(|c| c.output == "latent_normalized"));
    for c in &results {
        eprintln!("{}", c.to_json_line());
        assert!(c.pass, "{}", c.to_json_line());
        // Loose, not vacuous: bf16 does differ from the float32 golden.
        if c.output == "encoder_output" {
            assert!(c.max_abs_diff > 0.0 && c.max_abs_diff < 0.1);
        }
    }
}

#[test]
fn one_row_bands_match_one_band() {
    let mut encoder = tiny_encoder();
    let key = random::key(3).unwrap();
    let pixels = random::uniform(&[2, 48, 64, 3], Dtype::F32, -1.0, 1.0, &key).unwrap();
    encoder.set_lean(LeanEncode {
        bands: Chunking::Bytes(1 << 40),
        attention: Chunking::Bytes(1 << 40),
    });
    let whole = encoder.encode(&pixels).unwrap().to_f32_vec().unwrap();
    encoder.set_lean(LeanEncode {
        bands: Chunking::Rows(1),
        attention: Chunking::Rows(1),
    });
    let banded = encoder.encode(&pixels).unwrap();
    assert_eq!(banded.shape(), vec![2, 6, 8, 8]);
    let banded = banded.to_f32_vec().unwrap();
    let max = whole
        .iter()
        .zip(&banded)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("one-row bands vs one band: max abs diff {max:.3e}");
    assert!(max < 1e-5, "{max}");
}

#[test]
fn bad_image_shapes_are_errors() {
    let encoder = tiny_encoder();
    let odd = pixels_to_input(&vec![0u8; 12 * 16 * 3], 1, 12, 16).unwrap();
    assert!(
        encoder.encode(&odd).is_err(),
        "12 rows is not a multiple of 8"
    );
    assert!(pixels_to_input(&[0u8; 10], 1, 2, 2).is_err());
}

#[test]
fn shipped_constants_are_the_goldens() {
    let g = golden();
    let channels = 4 * 4; // tiny VAE: 4 latent channels
    let norm = LatentNorm::ideogram4()
        .unwrap()
        .truncated(channels)
        .unwrap();
    let sidecar = fixtures().join("golden/vae_encode.safetensors");
    let tensors = ideogram4::mlx::io::load_safetensors(&sidecar)
        .unwrap()
        .tensors;
    let get = |n: &str| {
        tensors
            .iter()
            .find(|(k, _)| k == n)
            .unwrap()
            .1
            .to_f32_vec()
            .unwrap()
    };
    assert_eq!(norm.shift(), &get("latent_shift")[..]);
    assert_eq!(norm.scale(), &get("latent_scale")[..]);
    assert_eq!(g["grid_h"], 3);
}

#[test]
fn patchify_inverts_unpatchify_exactly() {
    let key = random::key(9).unwrap();
    let tokens = random::normal(&[2, 12, 16], Dtype::F32, 0.0, 1.0, &key).unwrap();
    let latent = unpatchify(&tokens, 3, 4).unwrap();
    let back = patchify(&latent).unwrap();
    assert_eq!(back.shape(), vec![2, 12, 16]);
    assert_eq!(back.to_f32_vec().unwrap(), tokens.to_f32_vec().unwrap());
    assert!(patchify(&latent.slice_axis(1, 0, 5).unwrap()).is_err());
}

/// Peak MLX memory of a full-size-shaped encoder (random weights: levels 128/256/512/512,
/// 32 latent channels) at two sizes, float32 on the CPU, beside the size of one level-0
/// activation (`H·W·128·4` bytes). The banded run keeps its peak above the weights and the
/// input within a few level-0 activations plus the band budget: no whole-graph spike (which
/// would hold every module's output and a nine-fold unfolded copy of each 3×3 input).
#[test]
fn full_size_encoder_memory_stays_banded() {
    use ideogram4::mlx::memory;
    use ideogram4::model::vae::VaeDecoderConfig;
    use ideogram4::synthetic::vae::random_encoder_tensors;
    let config = VaeDecoderConfig::flux2();
    let tensors = random_encoder_tensors(&config, 5, Dtype::F32).unwrap();
    let encoder = VaeEncoder::from_diffusers_tensors(tensors, Dtype::F32).unwrap();
    assert_eq!(encoder.z_channels(), 32);
    assert_eq!(encoder.scale_factor(), 8);
    for side in [64usize, 128] {
        let key = random::key(side as u64).unwrap();
        let image = random::uniform(&[1, side, side, 3], Dtype::F32, -1.0, 1.0, &key).unwrap();
        image.eval().unwrap();
        memory::clear_cache();
        let before = memory::active();
        memory::reset_peak();
        let out = encoder.encode(&image).unwrap();
        assert_eq!(out.shape(), vec![1, side / 8, side / 8, 64]);
        let peak = memory::peak().saturating_sub(before);
        let activation = side * side * 128 * 4;
        eprintln!(
            "encoder {side}x{side} f32: peak {:.1} MiB above weights+input, one level-0 \
             activation {:.1} MiB, weights {:.1} MiB",
            peak as f64 / 1048576.0,
            activation as f64 / 1048576.0,
            encoder.resident_bytes() as f64 / 1048576.0
        );
        assert!(
            peak < 4 * activation + (192 << 20),
            "peak {peak} B for a {side}² image"
        );
    }
}
