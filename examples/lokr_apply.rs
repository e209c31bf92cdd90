//! LoKr on one full-size feed-forward projection (w1 4608 → 12288): the update applied
//! factored (what `Linear` does) against a ΔW built once and multiplied densely.
//!
//! `cargo run --release --example lokr_apply -- [tokens]` prints both timings, the bytes each
//! keeps resident, and their max difference.

use std::time::Instant;

use ideogram4::mlx::{random, Array, Dtype};
use ideogram4::model::adapter::{Adapter, LinearDelta, TargetModule};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tokens: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let (out, inp, factor, rank) = (12288usize, 4608usize, 4usize, 16usize);
    let (p, q) = (out / factor, inp / factor);
    let key = random::key(1)?;
    let normal = |shape: &[usize]| random::normal(shape, Dtype::F32, 0.0, 0.02, &key);
    let dir = std::env::temp_dir().join("ideogram4-lokr-apply");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("lokr.safetensors");
    let tensors = [
        ("lora_unet_m.lokr_w1", normal(&[factor, factor])?),
        ("lora_unet_m.lokr_w2_a", normal(&[p, rank])?),
        ("lora_unet_m.lokr_w2_b", normal(&[rank, q])?),
        ("lora_unet_m.alpha", Array::f32(8.0)),
    ];
    let refs: Vec<(&str, &Array)> = tensors.iter().map(|(n, a)| (*n, a)).collect();
    ideogram4::mlx::io::save_safetensors(&path, &refs)?;
    let target = TargetModule {
        path: "m".into(),
        out_features: out,
        in_features: inp,
    };
    let adapter = Adapter::load(&path, &[target])?;
    let delta = LinearDelta::new(1, &adapter.modules["m"], 1.0, Dtype::F32, None)?;
    let x = normal(&[1, tokens, inp])?;
    x.eval()?;

    let time =
        |f: &dyn Fn() -> ideogram4::mlx::Result<Array>| -> ideogram4::mlx::Result<(f64, Array)> {
            f()?.eval()?;
            let t = Instant::now();
            let mut y = f()?;
            for _ in 0..3 {
                y = f()?;
                y.eval()?;
            }
            Ok((t.elapsed().as_secs_f64() / 3.0, y))
        };
    let (factored_s, y_f) = time(&|| delta.apply(&x))?;
    // ΔW built once: Δ applied to the identity gives ΔWᵀ.
    let mut ones = vec![0f32; inp * inp];
    for i in 0..inp {
        ones[i * inp + i] = 1.0;
    }
    let eye = Array::from_slice(&ones, &[inp, inp])?;
    drop(ones);
    let dw_t = delta.apply(&eye)?;
    dw_t.eval()?;
    let (dense_s, y_d) = time(&|| x.matmul(&dw_t))?;
    let diff = y_f.sub(&y_d)?.abs()?.max_all()?.item_f32()?;
    println!(
        "{{\"tokens\": {tokens}, \"shape\": [{out}, {inp}], \"factor\": {factor}, \"rank\": {rank}, \
         \"factored_ms\": {:.2}, \"built_dw_ms\": {:.2}, \"factored_bytes\": {}, \
         \"built_dw_bytes\": {}, \"max_abs_diff\": {diff:e}}}",
        factored_s * 1e3,
        dense_s * 1e3,
        delta.nbytes(),
        dw_t.nbytes()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
