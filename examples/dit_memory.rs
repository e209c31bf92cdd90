//! Peak MLX memory of one DiT forward above what was held before it, at full width (4608,
//! 18 heads of 256, intermediate 12288, full-size text features) with random NF4 weights and
//! only a few layers (the activations of a forward are those of one block at a time: compare
//! `--layers 1` with `--layers 2`).
//!
//! ```text
//! cargo run --release --example dit_memory -- [--sides 256,512,1024] [--layers 1]
//!     [--dtype f32|bf16] [--score-mib 256] [--ffn-rows all|N] [--text 137]
//! ```
//! `f32` is the CPU configuration (host NF4 expansion); `bf16` runs bfloat16 activations
//! with NF4 expanded in the graph, which on the CPU backend peaks well above a Mac (whose
//! fused NF4 kernels expand nothing). `--ffn-rows all` runs the feed-forward over all tokens
//! at once, `N` in chunks of N tokens; without it, the library's default chunking. Prints
//! figures only; nothing is asserted.

use std::io::Write;
use std::time::Instant;

use clap::Parser;
use ideogram4::mlx::{self, memory, random, Dtype};
use ideogram4::model::chunking::Chunking;
use ideogram4::model::dit::{Dit, DitConfig, DitOptions, QueryChunking, FEED_FORWARD_CHUNKING};
use ideogram4::model::linear::Compute;
use ideogram4::model::packing::PackedBatch;

const GIB: f64 = (1u64 << 30) as f64;

#[derive(Parser)]
struct Args {
    /// Square image sides (multiples of 16).
    #[arg(long, value_delimiter = ',', default_value = "256,512,1024")]
    sides: Vec<usize>,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    layers: u16,
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    dtype: String,
    /// Attention's float32 score budget per call.
    #[arg(long, default_value_t = 256)]
    score_mib: usize,
    /// Feed-forward tokens per call: `all`, or a count (default: the library's budget).
    #[arg(long)]
    ffn_rows: Option<String>,
    /// Text tokens of the sequence.
    #[arg(long, default_value_t = 137)]
    text: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for s in &args.sides {
        anyhow::ensure!(*s >= 16 && s % 16 == 0, "--sides: multiples of 16, not {s}");
    }
    let dtype = if args.dtype == "bf16" {
        Dtype::Bf16
    } else {
        Dtype::F32
    };
    let tokens = match args.ffn_rows.as_deref() {
        None => FEED_FORWARD_CHUNKING,
        Some("all") => Chunking::Rows(usize::MAX),
        Some(rows) => Chunking::Rows(rows.parse()?),
    };
    let config = DitConfig {
        num_layers: usize::from(args.layers),
        ..DitConfig::ideogram4()
    };
    let compute = match dtype {
        Dtype::F32 => Compute::CPU,
        _ => Compute::GPU,
    };
    let options = DitOptions {
        compute,
        chunking: QueryChunking::ScoreBytes(args.score_mib << 20),
    };
    let started = Instant::now();
    let mut dit = Dit::random_nf4(&config, options, 0)?;
    dit.set_token_chunking(tokens);
    memory::clear_cache();
    println!(
        "full-width DiT, {} layer(s), random NF4, {}: {:.3} GiB held after building ({:.1} s); \
         scores {} MiB, feed-forward {:?}",
        args.layers,
        dtype.name(),
        memory::active() as f64 / GIB,
        started.elapsed().as_secs_f64(),
        args.score_mib,
        tokens,
    );
    for &side in &args.sides {
        let grid = side / 16;
        let packed = PackedBatch::new(&[args.text], grid, grid)?;
        let seq = dit.sequence(&packed)?;
        let key = random::key(side as u64)?;
        let (k1, k2) = random::split(&key)?;
        let normal = |shape: &[usize], key| random::normal(shape, dtype, 0.0, 1.0, key);
        let llm = normal(&[1, packed.text_len(), config.llm_features_dim], &k1)?;
        let x = normal(&[1, seq.len(), config.in_channels], &k2)?;
        mlx::eval(&[&llm, &x])?;
        let text = dit.text_conditioning(&llm, &seq)?;
        drop(llm);
        memory::clear_cache();
        let base = memory::active();
        memory::reset_peak();
        let t = Instant::now();
        let v = dit.velocity(&x, &[0.37], &seq, Some(&text))?;
        v.eval()?;
        let seconds = t.elapsed().as_secs_f64();
        let peak = memory::peak().saturating_sub(base);
        println!(
            "{side}² ({} tokens): {seconds:7.1} s, peak above held {:7.3} GiB ({:.1} KiB per token)",
            seq.len(),
            peak as f64 / GIB,
            peak as f64 / 1024.0 / seq.len() as f64,
        );
        std::io::stdout().flush()?;
    }
    Ok(())
}
