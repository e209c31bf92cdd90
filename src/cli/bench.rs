//! `ideogram4-tui bench ...`: figures for speed and memory, printed, never asserted.

use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use ideogram4::mlx::{blas, random, Dtype};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// f32 matmul through the binding vs cblas_sgemm called directly, same process.
    Matmul {
        /// Matrix size n for an n×n×n product.
        #[arg(long, default_value_t = 2048)]
        size: usize,
        /// Timed repetitions (the median is reported).
        #[arg(long, default_value_t = 7)]
        runs: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One guided DiT step (cond + uncond) of a mid-size model with random NF4 weights,
    /// f32 on the CPU, against f32 sgemm; also times the per-job text projection.
    Dit {
        /// Timed repetitions after one warm-up (medians are reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Fused NF4 kernels (kernels/) against the portable path (expand to the compute dtype,
    /// then multiply) for the DiT's and text encoder's layer shapes at several token counts.
    /// Meaningful on a Mac; without a GPU it times the kernels' CPU emulation on one small
    /// shape as a smoke check.
    Nf4 {
        /// Token (activation row) counts; default 1,8,77,512,4096 on a GPU, 1,8,40 otherwise.
        #[arg(long, value_delimiter = ',')]
        tokens: Vec<usize>,
        /// Timed repetitions after one warm-up (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Memory of the full-size model with random NF4 weights (writes ~16 GB once into --dir,
    /// needs ~11 GB of RAM and 15-35 minutes on a 2-core CPU; run it outside CI): load time,
    /// MLX memory after load, per-phase peaks of 1-step jobs (peaks do not grow after the
    /// first step; the caption is encoded in the first job only) and an estimate for 1024²
    /// in bf16 against the 11 GiB target (6.5 GiB for the one-DiT modes). With 1024 among
    /// the sides (the default) the estimate is that job's measurement with float32 halved.
    Memory {
        /// Folder for the generated checkpoint (reused when complete).
        #[arg(long, default_value = "/tmp/ideogram4-bench-fullsize")]
        dir: std::path::PathBuf,
        /// Square image sides of the measured 1-step jobs (256,512 is quicker and
        /// extrapolates to 1024²).
        #[arg(long, value_delimiter = ',', default_value = "512,1024")]
        sides: Vec<u32>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// two-dits (guided, both DiTs), turbo (TurboTime: guidance 1, rank-128 LoRA, one
        /// DiT) or uncond-lora (the unconditional LoRA on the conditional DiT).
        #[arg(long, default_value = "two-dits", value_parser = ["two-dits", "turbo", "uncond-lora"])]
        mode: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Matmul { size, runs, json } => matmul(size, runs.max(1), json),
        What::Dit { runs, json } => dit(runs, json),
        What::Memory {
            dir,
            sides,
            json,
            mode,
        } => memory(dir, sides, json, &mode),
        What::Nf4 { tokens, runs, json } => super::nf4::bench(tokens, runs, json),
    }
}

fn memory(
    dir: std::path::PathBuf,
    sides: Vec<u32>,
    json: bool,
    mode: &str,
) -> anyhow::Result<ExitCode> {
    use ideogram4::bench::memory;
    let options = memory::MemoryBenchOptions {
        dir,
        sides,
        compute: ideogram4::model::linear::Compute::for_default_device(),
        mode: match mode {
            "turbo" => memory::DitMode::Turbo,
            "uncond-lora" => memory::DitMode::UncondLora,
            _ => memory::DitMode::TwoDits,
        },
    };
    let report = memory::run(&options, &mut |line| eprintln!("{line}"))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn dit(runs: usize, json: bool) -> anyhow::Result<ExitCode> {
    use ideogram4::bench::dit as bench;
    let setup = bench::BenchSetup {
        runs: runs.max(1),
        ..bench::BenchSetup::mid_size()
    };
    let r = bench::run(&setup)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "guided DiT step ({} + {} tokens): {:.2} s, {:.1} GFLOP/s of {:.1} GFLOP; sgemm {:.1} GFLOP/s; efficiency {:.2}\n\
             per-job text projection: {:.2} s ({:.1} GFLOP/s); NF4 expansion per step: {:.2} s",
            r.cond_tokens,
            r.uncond_tokens,
            r.seconds_per_step,
            r.achieved_gflops,
            r.step_gflop,
            r.sgemm_gflops,
            r.efficiency,
            r.text_conditioning_seconds,
            r.text_conditioning_gflops,
            r.dequant_seconds_per_step,
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn matmul(n: usize, runs: usize, json: bool) -> anyhow::Result<ExitCode> {
    let key = random::key(0)?;
    let (ka, kb) = random::split(&key)?;
    let a = random::normal(&[n, n], Dtype::F32, 0.0, 1.0, &ka)?;
    let b = random::normal(&[n, n], Dtype::F32, 0.0, 1.0, &kb)?;
    ideogram4::mlx::eval(&[&a, &b])?;
    let flops = 2.0 * (n as f64).powi(3);

    let mut mlx_times = Vec::new();
    // One untimed run warms the allocator and BLAS thread pool.
    for i in 0..=runs {
        let t = Instant::now();
        let c = a.matmul(&b)?;
        c.eval()?;
        if i > 0 {
            mlx_times.push(t.elapsed().as_secs_f64());
        }
    }

    let (ha, hb) = (a.to_vec::<f32>()?, b.to_vec::<f32>()?);
    let mut hc = vec![0f32; n * n];
    let mut blas_times = Vec::new();
    for i in 0..=runs {
        let t = Instant::now();
        blas::sgemm(n, n, n, &ha, &hb, &mut hc)?;
        if i > 0 {
            blas_times.push(t.elapsed().as_secs_f64());
        }
    }
    // Same product both ways: a mismatch would make the speed comparison meaningless.
    let c = a.matmul(&b)?.to_vec::<f32>()?;
    let max_diff = c
        .iter()
        .zip(&hc)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);

    let mlx_s = median(mlx_times);
    let blas_s = median(blas_times);
    let mlx_gflops = flops / mlx_s / 1e9;
    let blas_gflops = flops / blas_s / 1e9;
    let provider = blas::sgemm_provider().unwrap_or_else(|| "none".into());
    let out = serde_json::json!({
        "size": n,
        "runs": runs,
        "mlx_f32_matmul_seconds": mlx_s,
        "mlx_f32_matmul_gflops": mlx_gflops,
        "blas_sgemm_seconds": blas_s,
        "blas_sgemm_gflops": blas_gflops,
        "ratio": mlx_gflops / blas_gflops,
        "max_abs_diff": max_diff,
        "blas": provider,
        "openblas_coretype": std::env::var("OPENBLAS_CORETYPE").ok(),
        "openblas_kernel": ideogram4::mlx::blas_kernel::corename(),
    });
    if json {
        println!("{out}");
    } else {
        println!(
            "{n}³ f32 matmul: MLX {mlx_gflops:.1} GFLOP/s ({:.1} ms), cblas_sgemm {blas_gflops:.1} GFLOP/s ({:.1} ms), ratio {:.3}\nBLAS: {provider}, kernel {}",
            mlx_s * 1e3,
            blas_s * 1e3,
            mlx_gflops / blas_gflops,
            ideogram4::mlx::blas_kernel::corename().as_deref().unwrap_or("n/a")
        );
    }
    Ok(ExitCode::SUCCESS)
}
