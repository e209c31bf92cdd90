//! Peak MLX memory of one DiT forward above what was held before it, at full width (4608,
//! 18 heads of 256, intermediate 12288, full-size text features) with random NF4 weights and
//! only a few layers (the activations of a forward are those of one block at a time: compare
//! `--layers 1` with `--layers 2`).
//!
//! ```text
//! cargo run --release --example dit_memory -- [--sides 256,512,1024] [--layers 1]
//!     [--dtype f32|bf16] [--score-mib 256] [--ffn-rows all|N] [--text 137]
//! ```
//! `f32` is the CPU configuration (host NF4 expansion); `bf16` is the Mac's configuration
//! (bfloat16 activations, NF4 expanded in the graph) run on this machine's MLX backend.
//! `--ffn-rows all` runs the feed-forward over all tokens at once, `N` in chunks of N tokens;
//! without it, the library's default chunking. Prints figures only; nothing
//! is asserted.

use std::io::Write;
use std::time::Instant;

use ideogram4::mlx::{self, memory, random, Dtype};
use ideogram4::model::dit::{Dit, DitConfig, DitOptions, QueryChunking, TokenChunking};
use ideogram4::model::linear::Compute;
use ideogram4::model::packing::PackedBatch;

const GIB: f64 = (1u64 << 30) as f64;

struct Args {
    sides: Vec<usize>,
    layers: usize,
    dtype: Dtype,
    score_mib: usize,
    /// `None`: the library's default; `Some(0)`: all tokens at once.
    ffn_rows: Option<usize>,
    text: usize,
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args {
        sides: vec![256, 512, 1024],
        layers: 1,
        dtype: Dtype::F32,
        score_mib: 256,
        ffn_rows: None,
        text: 137,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--sides" => {
                args.sides = value()?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()?;
            }
            "--layers" => args.layers = value()?.parse()?,
            "--dtype" => {
                args.dtype = match value()?.as_str() {
                    "f32" => Dtype::F32,
                    "bf16" => Dtype::Bf16,
                    other => anyhow::bail!("--dtype {other}: f32 or bf16"),
                };
            }
            "--score-mib" => args.score_mib = value()?.parse()?,
            "--ffn-rows" => {
                args.ffn_rows = match value()?.as_str() {
                    "all" => Some(0),
                    rows => Some(rows.parse()?),
                }
            }
            "--text" => args.text = value()?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    for s in &args.sides {
        anyhow::ensure!(*s >= 16 && s % 16 == 0, "--sides: multiples of 16, not {s}");
    }
    anyhow::ensure!(args.layers > 0, "--layers: at least 1");
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse()?;
    let config = DitConfig {
        num_layers: args.layers,
        ..DitConfig::ideogram4()
    };
    let compute = match args.dtype {
        Dtype::F32 => Compute::CPU,
        _ => Compute::GPU,
    };
    let options = DitOptions {
        compute,
        chunking: QueryChunking::ScoreBytes(args.score_mib << 20),
    };
    let started = Instant::now();
    let mut dit = Dit::random_nf4(&config, options, 0)?;
    let tokens = match args.ffn_rows {
        None => TokenChunking::default(),
        Some(0) => TokenChunking::Whole,
        Some(rows) => TokenChunking::Rows(rows),
    };
    dit.set_token_chunking(tokens);
    memory::clear_cache();
    println!(
        "full-width DiT, {} layer(s), random NF4, {}: {:.3} GiB held after building ({:.1} s); \
         scores {} MiB, feed-forward {:?}",
        args.layers,
        args.dtype.name(),
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
        let llm = random::normal(
            &[1, packed.text_len(), config.llm_features_dim],
            args.dtype,
            0.0,
            1.0,
            &k1,
        )?;
        let x = random::normal(
            &[1, seq.len(), config.in_channels],
            args.dtype,
            0.0,
            1.0,
            &k2,
        )?;
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
