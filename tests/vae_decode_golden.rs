//! VAE decode against the reference (`tests/fixtures/golden/vae_decode.*`, copied from the
//! shared fixtures): latent de-normalisation and unpatching, every decoder module, the
//! decoder output, the float image and the uint8 image, in float32 compute.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ideogram4::mlx::{self, Array};
use ideogram4::model::latent::{tokens_to_latent, LatentNorm};
use ideogram4::model::linear::Compute;
use ideogram4::model::vae::{image_float, to_uint8, VaeDecoder};
use ideogram4::weights::Checkpoint;

/// fp32 tolerance from the sidecar's `observed.decoder_output` (atol 1e-4, rtol 1e-4).
const ATOL: f32 = 1e-4;
const RTOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn golden() -> HashMap<String, Array> {
    let path = fixtures().join("golden/vae_decode.safetensors");
    mlx::io::load_safetensors(&path)
        .unwrap()
        .tensors
        .into_iter()
        .collect()
}

fn sidecar() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("golden/vae_decode.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn decoder() -> VaeDecoder {
    let repo = sidecar()["repos"]["bf16"].as_str().unwrap().to_owned();
    let ckpt = Checkpoint::open(&fixtures().join(repo)).unwrap();
    VaeDecoder::from_checkpoint(&ckpt, Compute::CPU).unwrap()
}

fn nchw_to_nhwc(a: &Array) -> Array {
    a.transpose(&[0, 2, 3, 1]).unwrap()
}

/// Max |ours − reference| after checking shapes and `|d| ≤ atol + rtol·|ref|` everywhere.
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
    eprintln!("{name}: max abs diff {max:.3e}");
    max
}

#[test]
fn tiny_latent_norm_is_the_head_of_the_shipped_constants() {
    let g = golden();
    let tiny = LatentNorm::ideogram4().unwrap().truncated(16).unwrap();
    assert_eq!(
        tiny.shift(),
        g["latent_shift"].to_vec::<f32>().unwrap().as_slice()
    );
    assert_eq!(
        tiny.scale(),
        g["latent_scale"].to_vec::<f32>().unwrap().as_slice()
    );
    let file = mlx::io::load_safetensors(&fixtures().join("golden/latent_norm_tiny.safetensors"));
    let file: HashMap<String, Array> = file.unwrap().tensors.into_iter().collect();
    assert_eq!(
        tiny.shift(),
        file["latent_shift"].to_vec::<f32>().unwrap().as_slice()
    );
    assert_eq!(
        tiny.scale(),
        file["latent_scale"].to_vec::<f32>().unwrap().as_slice()
    );
}

#[test]
fn denormalised_unpatched_latent_matches_decoder_input() {
    let g = golden();
    let side = sidecar();
    let (gh, gw) = (
        side["grid_h"].as_u64().unwrap(),
        side["grid_w"].as_u64().unwrap(),
    );
    let norm = LatentNorm::ideogram4().unwrap().truncated(16).unwrap();
    let latent = tokens_to_latent(&g["z"], &norm, gh as usize, gw as usize).unwrap();
    let expected = nchw_to_nhwc(&g["decoder_input"]);
    // One multiply-add per element in float32, as the reference: bit-identical.
    assert_close("decoder_input", &latent, &expected, 0.0, 0.0);
}

#[test]
fn every_decoder_module_matches_the_reference() {
    let g = golden();
    let vae = decoder();
    assert_eq!(vae.config().z_channels, 4);
    assert_eq!(vae.config().level_channels, vec![32, 32, 32, 64]);
    assert_eq!(vae.config().scale_factor(), 8);

    let mut seen = Vec::new();
    let output = vae
        .decode_observed(&nchw_to_nhwc(&g["decoder_input"]), |name, out| {
            seen.push((name.to_owned(), out.clone()));
        })
        .unwrap();
    let module_goldens = g.keys().filter(|k| k.starts_with("decoder.")).count();
    assert_eq!(
        seen.len(),
        module_goldens,
        "one observation per recorded module"
    );
    for (name, ours) in &seen {
        let reference = g
            .get(name)
            .unwrap_or_else(|| panic!("no golden for {name}"));
        assert_close(name, ours, &nchw_to_nhwc(reference), ATOL, RTOL);
    }
    assert_close(
        "decoder_output",
        &output,
        &nchw_to_nhwc(&g["decoder_output"]),
        ATOL,
        RTOL,
    );
}

#[test]
fn decode_from_tokens_gives_the_reference_image() {
    let g = golden();
    let side = sidecar();
    let (gh, gw) = (
        side["grid_h"].as_u64().unwrap(),
        side["grid_w"].as_u64().unwrap(),
    );
    let norm = LatentNorm::ideogram4().unwrap().truncated(16).unwrap();
    let latent = tokens_to_latent(&g["z"], &norm, gh as usize, gw as usize).unwrap();
    let decoded = decoder().decode(&latent).unwrap();
    assert_eq!(decoded.shape(), vec![1, 48, 64, 3]);

    // The float image is (x + 1)·127.5: the decoder tolerance scaled by 127.5.
    let float = image_float(&decoded).unwrap();
    assert_close(
        "image_float_prequant",
        &float,
        &g["image_float_prequant"],
        127.5 * ATOL,
        RTOL,
    );

    let ours = to_uint8(&decoded).unwrap().to_vec::<u8>().unwrap();
    let reference = g["image_uint8"].to_vec::<u8>().unwrap();
    assert_eq!(ours.len(), reference.len());
    let differing: Vec<i16> = ours
        .iter()
        .zip(&reference)
        .map(|(&a, &b)| i16::from(a) - i16::from(b))
        .filter(|d| *d != 0)
        .collect();
    eprintln!(
        "image_uint8: {} of {} values differ",
        differing.len(),
        ours.len()
    );
    assert!(
        differing.iter().all(|d| d.abs() <= 1),
        "a value differs by more than 1 level"
    );
    assert!(
        differing.len() <= 5,
        "{} values differ by 1 level",
        differing.len()
    );
}
