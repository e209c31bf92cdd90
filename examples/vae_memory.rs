//! Peak MLX memory and time of the VAE decode, lean path against the whole graph, on a decoder
//! with the full-size Flux2 shapes and deterministic random weights (nothing trained).
//!
//! ```text
//! cargo run --release --example vae_memory -- [--sides 256,512,1024] [--paths lean,whole]
//!     [--dtype f32|bf16] [--band-mib 64] [--score-mib 128]
//! ```
//! For each image side and path: seconds for `decode` + `eval`, the peak of MLX active memory
//! above what was held before (the weights and the latent), the freed bytes MLX's allocator
//! keeps cached afterwards (process memory beyond the peak unless a cache limit is set), and
//! lean/whole ratios. The
//! whole graph at 1024² needs many GiB: leave `whole` out of `--paths` when memory is short.
//! Prints figures only; nothing is asserted.

use std::io::Write;
use std::time::Instant;

use ideogram4::mlx::{memory, random, Dtype};
use ideogram4::model::vae::{Chunking, DecodeStrategy, LeanDecode, VaeDecoder, VaeDecoderConfig};
use ideogram4::synthetic::vae::random_diffusers_tensors;

const GIB: f64 = (1u64 << 30) as f64;

struct Args {
    sides: Vec<usize>,
    paths: Vec<String>,
    dtype: Dtype,
    band_mib: usize,
    score_mib: usize,
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args {
        sides: vec![256, 512, 1024],
        paths: vec!["lean".into(), "whole".into()],
        dtype: Dtype::F32,
        band_mib: 64,
        score_mib: 128,
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
            "--paths" => {
                args.paths = value()?.split(',').map(|s| s.trim().to_owned()).collect();
            }
            "--dtype" => {
                args.dtype = match value()?.as_str() {
                    "f32" => Dtype::F32,
                    "bf16" => Dtype::Bf16,
                    other => anyhow::bail!("--dtype {other}: f32 or bf16"),
                };
            }
            "--band-mib" => args.band_mib = value()?.parse()?,
            "--score-mib" => args.score_mib = value()?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    for p in &args.paths {
        anyhow::ensure!(
            p == "lean" || p == "whole",
            "--paths: lean and/or whole, not {p}"
        );
    }
    for s in &args.sides {
        anyhow::ensure!(*s > 0 && s % 8 == 0, "--sides: multiples of 8, not {s}");
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse()?;
    let config = VaeDecoderConfig::flux2();
    let started = Instant::now();
    let tensors = random_diffusers_tensors(&config, 0, args.dtype)?;
    let vae = VaeDecoder::from_diffusers_tensors(tensors, args.dtype)?;
    memory::clear_cache();
    println!(
        "full-size decoder, random weights, {}: {:.3} GiB resident (built in {:.1} s); \
         lean budgets: bands {} MiB, scores {} MiB",
        args.dtype.name(),
        vae.resident_bytes() as f64 / GIB,
        started.elapsed().as_secs_f64(),
        args.band_mib,
        args.score_mib,
    );
    let lean = DecodeStrategy::Lean(LeanDecode {
        bands: Chunking::Bytes(args.band_mib << 20),
        attention: Chunking::Bytes(args.score_mib << 20),
    });
    for &side in &args.sides {
        let h = side / config.scale_factor();
        let key = random::key(side as u64)?;
        let latent = random::normal(&[1, h, h, config.z_channels], args.dtype, 0.0, 1.0, &key)?;
        latent.eval()?;
        let mut results = Vec::new();
        for path in &args.paths {
            let strategy = if path == "lean" {
                lean
            } else {
                DecodeStrategy::WholeGraph
            };
            memory::clear_cache();
            let base = memory::active();
            memory::reset_peak();
            let t = Instant::now();
            let out = vae.decode_with(&latent, strategy)?;
            out.eval()?;
            let seconds = t.elapsed().as_secs_f64();
            let peak = (memory::peak() - base) as f64 / GIB;
            drop(out);
            let cached = memory::cache() as f64 / GIB;
            println!(
                "{side}² {path:>5}: {seconds:8.1} s, peak above weights {peak:7.3} GiB \
                 (allocator cache afterwards {cached:.3} GiB)"
            );
            std::io::stdout().flush()?;
            results.push((path.clone(), seconds, peak));
        }
        if let [(_, ls, lp), (_, ws, wp)] = results.as_slice() {
            if args.paths[0] == "lean" {
                println!(
                    "{side}² lean/whole: time {:.2}×, peak {:.3}× ({:.1}× less memory)",
                    ls / ws,
                    lp / wp,
                    wp / lp
                );
            }
        }
    }
    Ok(())
}
