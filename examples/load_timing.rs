//! Load time and MLX memory of checkpoints or single component folders.
//!
//! ```text
//! cargo run --release --example load_timing -- tests/fixtures/tiny-ideogram4-nf4 \
//!     /tmp/ideogram4-bench-fullsize/transformer
//! ```
//! (`ideogram4-tui bench memory` writes that full-size random NF4 checkpoint once.)
//! For a checkpoint root every component is loaded; for a folder holding
//! `diffusion_pytorch_model*.safetensors` that folder is loaded as a DiT. Prints the time to
//! read headers (open), to read tensor data (load), MLX active memory before/after, the
//! planned resident bytes and what the same weights would take in bf16.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ideogram4::mlx::{self, Dtype};
use ideogram4::weights::{Checkpoint, ComponentKind, ComponentPlan, Weight};

fn gb(b: u64) -> String {
    if b < 100_000_000 {
        format!("{:.3} MB", b as f64 / 1e6)
    } else {
        format!("{:.3} GB", b as f64 / 1e9)
    }
}

fn report(
    label: &str,
    plans: &[&ComponentPlan],
    open_s: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let resident: u64 = plans
        .iter()
        .flat_map(|p| p.tensors())
        .filter(|t| t.kept)
        .map(|t| t.stored_bytes)
        .sum();
    let bf16: u64 = plans
        .iter()
        .flat_map(|p| p.tensors())
        .filter(|t| t.kept)
        .map(|t| 2 * t.shape.iter().product::<usize>() as u64)
        .sum();
    mlx::memory::clear_cache();
    let before = mlx::memory::active();
    let t = Instant::now();
    let mut loaded = Vec::new();
    for p in plans {
        loaded.push(p.load()?);
    }
    let load_s = t.elapsed().as_secs_f64();
    let after = mlx::memory::active();
    let held: usize = loaded.iter().map(|c| c.resident_bytes()).sum();
    println!(
        "{label}: open {:.3} s, load {:.3} s ({:.2} GB/s), MLX active +{} (weights {}, planned {}, as bf16 {}), peak {}",
        open_s,
        load_s,
        resident as f64 / 1e9 / load_s.max(1e-9),
        gb((after - before) as u64),
        gb(held as u64),
        gb(resident),
        gb(bf16),
        gb(mlx::memory::peak() as u64)
    );
    for c in &loaded {
        if let Some(w) = c
            .get("layers.0.feed_forward.w1.weight")
            .filter(|w| w.is_quantized())
        {
            time_dequant(w)?;
        }
    }
    Ok(())
}

/// Portable (MLX ops) vs host dequantisation of one large Linear weight.
fn time_dequant(w: &Weight) -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = w.shape().iter().product();
    for dtype in [Dtype::F32, Dtype::Bf16] {
        let t = Instant::now();
        let a = w.dequantize(dtype)?;
        a.eval()?;
        let portable = t.elapsed().as_secs_f64();
        drop(a);
        let t = Instant::now();
        let b = w.dequantize_host(dtype)?;
        b.eval()?;
        let host = t.elapsed().as_secs_f64();
        drop(b);
        println!(
            "  dequantize {} {:?} -> {dtype}: MLX ops {:.1} ms ({:.2} ns/weight), host {:.1} ms ({:.2} ns/weight)",
            w.format(),
            w.shape(),
            portable * 1e3,
            portable * 1e9 / n as f64,
            host * 1e3,
            host * 1e9 / n as f64
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    for path in &paths {
        let t = Instant::now();
        if path.join("transformer").is_dir() {
            let ckpt = Checkpoint::open(path)?;
            let open_s = t.elapsed().as_secs_f64();
            let plans: Vec<&ComponentPlan> =
                ComponentKind::ALL.iter().map(|k| ckpt.plan(*k)).collect();
            report(&path.display().to_string(), &plans, open_s)?;
        } else {
            let plan = ComponentPlan::open(Path::new(path), ComponentKind::Transformer)?;
            let open_s = t.elapsed().as_secs_f64();
            report(&path.display().to_string(), &[&plan], open_s)?;
        }
    }
    Ok(())
}
