//! `ideogram4-tui bench dit`: one guided sampling step (conditional + unconditional forward
//! and the CFG mix) of a mid-size DiT with random NF4 weights, against f32 sgemm measured in
//! the same process.
//!
//! FLOPs counted (2 per multiply-add): the blocks' linears (qkv, o, w1, w2, w3, adaLN
//! modulation) and attention products (`QKᵀ`, `PV`), plus the input and final projections,
//! of both branches. The time embedding and the element-wise work are not counted, so the
//! figure is what the step achieves on the work that matters.

use std::time::Instant;

use crate::mlx::{self, blas, concatenate, random, zeros, Dtype};
use crate::model::dit::{
    Dit, DitConfig, DitError, DitOptions, QueryChunking, Result, TextConditioning,
};
use crate::model::linear::Compute;
use crate::model::packing::PackedBatch;
use crate::synthetic::Rng;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchSetup {
    pub config: DitConfig,
    pub text_tokens: usize,
    /// Image-token grid (rows, columns).
    pub grid: (usize, usize),
    pub compute: Compute,
    pub chunking: QueryChunking,
    /// Timed repetitions after one warm-up (medians are reported).
    pub runs: usize,
    pub seed: u64,
}

impl BenchSetup {
    /// The mid-size configuration: 4 layers of 1536 (6 heads of 256), intermediate 4096,
    /// adaLN 512, 128 channels, full-size text features (53248), 256 text + 32×32 image
    /// tokens, float32 on the CPU with host NF4 dequantisation.
    pub fn mid_size() -> BenchSetup {
        BenchSetup {
            config: DitConfig {
                emb_dim: 1536,
                num_layers: 4,
                num_heads: 6,
                intermediate_size: 4096,
                ..DitConfig::ideogram4()
            },
            text_tokens: 256,
            grid: (32, 32),
            compute: Compute::CPU,
            chunking: QueryChunking::default(),
            runs: 3,
            seed: 0,
        }
    }
}

/// Figures of one bench run (serialised as the `--json` output).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Median wall time of one guided step (cond + uncond + CFG mix), seconds.
    pub seconds_per_step: f64,
    /// Counted FLOPs of one step divided by `seconds_per_step`, GFLOP/s.
    pub achieved_gflops: f64,
    /// f32 `cblas_sgemm` on the step's dominant shape (the FFN's `[L, D]·[D, I]`), timed
    /// twice before every timed step, median, GFLOP/s.
    pub sgemm_gflops: f64,
    /// `achieved_gflops / sgemm_gflops`.
    pub efficiency: f64,
    pub step_gflop: f64,
    pub cond_seconds: f64,
    pub uncond_seconds: f64,
    /// Host NF4 → f32 expansion of every weight one step uses (both models), seconds.
    pub dequant_seconds_per_step: f64,
    /// The per-job text projection (`llm_cond_norm` + `llm_cond_proj`), not part of a step.
    pub text_conditioning_seconds: f64,
    pub text_conditioning_gflops: f64,
    /// `[m, k, n]` of the sgemm reference.
    pub sgemm_shape: [usize; 3],
    pub cond_tokens: usize,
    pub uncond_tokens: usize,
    pub peak_memory_bytes: usize,
    pub runs: usize,
    pub config: DitConfig,
    pub blas: Option<String>,
    /// 1-minute load average at the end (Linux): figures from a busy machine are noisy.
    pub load_average: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `f` once untimed, then `runs` timed; returns the median seconds.
fn timed(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

/// Host buffers for timing f32 `cblas_sgemm` of `[m, k] · [k, n]`.
pub struct Sgemm {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Sgemm {
    pub fn new(m: usize, k: usize, n: usize) -> Sgemm {
        let mut rng = Rng::new(7);
        let a = (0..m * k).map(|_| rng.signed()).collect();
        let b = (0..k * n).map(|_| rng.signed()).collect();
        Sgemm {
            m,
            k,
            n,
            a,
            b,
            c: vec![0f32; m * n],
        }
    }

    /// Seconds of one product.
    pub fn seconds(&mut self) -> Result<f64> {
        let start = Instant::now();
        blas::sgemm(self.m, self.n, self.k, &self.a, &self.b, &mut self.c)?;
        Ok(start.elapsed().as_secs_f64())
    }

    pub fn flop(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64
    }
}

/// The 1-minute load average (Linux), to judge how quiet the machine was.
fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Builds both models, the job's inputs and text conditioning, then times guided steps.
pub fn run(setup: &BenchSetup) -> Result<BenchReport> {
    let runs = setup.runs.max(1);
    let options = DitOptions {
        compute: setup.compute,
        chunking: setup.chunking,
    };
    let cfg = &setup.config;
    let cond = Dit::random_nf4(cfg, options, setup.seed)?;
    let uncond = Dit::random_nf4(cfg, options, setup.seed + 1)?;

    let packed = PackedBatch::new(&[setup.text_tokens], setup.grid.0, setup.grid.1)?;
    let seq_c = cond.sequence(&packed)?;
    let seq_u = uncond.sequence(&packed.image_only())?;
    let (t_len, n) = (packed.text_len(), packed.image_len());

    let key = random::key(setup.seed)?;
    let (k1, k2) = random::split(&key)?;
    let llm = random::normal(&[1, t_len, cfg.llm_features_dim], Dtype::F32, 0.0, 1.0, &k1)?;
    let z = random::normal(&[1, n, cfg.in_channels], Dtype::F32, 0.0, 1.0, &k2)?;
    mlx::eval(&[&llm, &z])?;
    mlx::memory::reset_peak();

    let mut text: Option<TextConditioning> = None;
    let text_seconds = timed(runs, || {
        text = Some(cond.text_conditioning(&llm, &seq_c)?);
        Ok(())
    })?;
    let text = text.ok_or_else(|| DitError::Input("text conditioning did not run".into()))?;

    let x_c = concatenate(&[&zeros(&[1, t_len, cfg.in_channels], Dtype::F32)?, &z], 1)?;
    x_c.eval()?;
    let t = [0.37f32];
    let guidance = 7.0;
    // sgemm is timed right before every step so that both medians see the same machine
    // load (the figures are meant for shared machines too).
    let sgemm_shape = [seq_c.len(), cfg.emb_dim, cfg.intermediate_size];
    let mut sgemm = Sgemm::new(sgemm_shape[0], sgemm_shape[1], sgemm_shape[2]);
    sgemm.seconds()?;
    let mut sgemm_s = Vec::new();
    let (mut cond_s, mut uncond_s) = (Vec::new(), Vec::new());
    let step_seconds = timed(runs, || {
        for _ in 0..2 {
            sgemm_s.push(sgemm.seconds()?);
        }
        let start = Instant::now();
        let v_pos = cond.velocity(&x_c, &t, &seq_c, Some(&text))?;
        v_pos.eval()?;
        let mid = Instant::now();
        let v_neg = uncond.velocity(&z, &t, &seq_u, None)?;
        let v = v_pos
            .mul_scalar(guidance)?
            .add(&v_neg.mul_scalar(1.0 - guidance)?)?;
        v.eval()?;
        cond_s.push((mid - start).as_secs_f64());
        uncond_s.push(mid.elapsed().as_secs_f64());
        Ok(())
    })?;
    // The warm-up run is the first entry of each list.
    let (cond_seconds, uncond_seconds) =
        (median(cond_s[1..].to_vec()), median(uncond_s[1..].to_vec()));

    let dequant_seconds = timed(runs, || {
        for l in cond.step_linears().into_iter().chain(uncond.step_linears()) {
            l.dense_weight()?.eval()?;
        }
        Ok(())
    })?;

    let step_flop =
        2.0 * (cond.forward_macs(1, seq_c.len()) + uncond.forward_macs(1, seq_u.len())) as f64;
    let text_flop = 2.0 * cond.text_conditioning_macs(1, t_len) as f64;
    let sgemm_gflops = sgemm.flop() / median(sgemm_s[2..].to_vec()) / 1e9;
    let achieved = step_flop / step_seconds / 1e9;
    Ok(BenchReport {
        seconds_per_step: step_seconds,
        achieved_gflops: achieved,
        sgemm_gflops,
        efficiency: achieved / sgemm_gflops,
        step_gflop: step_flop / 1e9,
        cond_seconds,
        uncond_seconds,
        dequant_seconds_per_step: dequant_seconds,
        text_conditioning_seconds: text_seconds,
        text_conditioning_gflops: text_flop / text_seconds / 1e9,
        sgemm_shape,
        cond_tokens: seq_c.len(),
        uncond_tokens: seq_u.len(),
        peak_memory_bytes: mlx::memory::peak(),
        runs,
        config: cfg.clone(),
        blas: blas::sgemm_provider(),
        load_average: load_average(),
    })
}
