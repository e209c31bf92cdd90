//! `ideogram4-tui bench dit`: one guided sampling step (conditional + unconditional forward
//! and the CFG mix) of a mid-size DiT with random NF4 weights, against f32 sgemm measured in
//! the same process.
//!
//! FLOPs counted (2 per multiply-add): the blocks' linears (qkv, o, w1, w2, w3, adaLN
//! modulation) and attention products (`QKᵀ`, `PV`), plus the input and final projections,
//! of both branches. The time embedding and the element-wise work are not counted, so the
//! figure is what the step achieves on the work that matters.

use std::time::Instant;

use super::block::{Block, BlockWeights};
use super::{Dit, DitConfig, DitOptions, QueryChunking, Result, TextConditioning, TextProjection};
use crate::mlx::{self, blas, concatenate, random, zeros, Array, Dtype};
use crate::model::linear::{Compute, Linear};
use crate::model::packing::PackedBatch;
use crate::weights::{Absmax, Nf4QuantState, Nf4Weight, Weight};

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
                adanln_dim: 512,
                in_channels: 128,
                llm_features_dim: 53248,
                rope_theta: 5_000_000.0,
                mrope_section: [24, 20, 20],
                norm_eps: 1e-5,
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

/// Random bytes and floats without a dependency (xorshift64*), reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }

    /// Uniform in `[-1, 1)`.
    fn signed(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A random NF4 weight `[out, in]` (uniform codes, block scales ~1/√in so activations stay
/// of order one through the layers).
fn random_nf4(rng: &mut Rng, out: usize, inp: usize) -> Result<Weight> {
    let state = Nf4QuantState {
        blocksize: 64,
        dtype: Dtype::Bf16,
        shape: vec![out, inp],
        nested: None,
    };
    let packed = Array::from_slice(&rng.bytes(state.packed_len()), &[state.packed_len()])?;
    let scale = 1.0 / (inp as f32).sqrt();
    let absmax: Vec<f32> = (0..state.nblocks())
        .map(|_| scale * (1.0 + 0.25 * rng.signed()))
        .collect();
    let absmax = Array::from_slice(&absmax, &[absmax.len()])?;
    let w = Nf4Weight::new(packed, Absmax::F32(absmax), state).map_err(super::DitError::Config)?;
    Ok(Weight::Nf4(w))
}

fn random_linear(
    rng: &mut Rng,
    out: usize,
    inp: usize,
    bias: bool,
    compute: Compute,
) -> Result<Linear> {
    let b = if bias {
        let v: Vec<f32> = (0..out).map(|_| 0.02 * rng.signed()).collect();
        Some(Array::from_slice(&v, &[out])?.astype(Dtype::Bf16)?)
    } else {
        None
    };
    Ok(Linear::new(
        "random",
        random_nf4(rng, out, inp)?,
        b,
        compute,
    )?)
}

impl Dit {
    /// A DiT of `config` with random NF4 linears (every Linear, as in the NF4 checkpoint),
    /// unit norm weights and small random biases. For benchmarks only.
    pub fn random_nf4(config: &DitConfig, options: DitOptions, seed: u64) -> Result<Dit> {
        config.validate()?;
        let c = options.compute;
        let (d, a, i) = (config.emb_dim, config.adanln_dim, config.intermediate_size);
        let mut rng = Rng::new(seed);
        let ones = |n: usize| mlx::ones(&[n], Dtype::F32);
        let text = TextProjection {
            norm: super::RmsNorm::new(&ones(config.llm_features_dim)?, super::LLM_NORM_EPS)?,
            proj: random_linear(&mut rng, d, config.llm_features_dim, true, c)?,
        };
        let mut layers = Vec::with_capacity(config.num_layers);
        for _ in 0..config.num_layers {
            let hd = config.head_dim();
            let weights = BlockWeights {
                qkv: random_linear(&mut rng, 3 * d, d, false, c)?,
                o: random_linear(&mut rng, d, d, false, c)?,
                w1: random_linear(&mut rng, i, d, false, c)?,
                w2: random_linear(&mut rng, d, i, false, c)?,
                w3: random_linear(&mut rng, i, d, false, c)?,
                adaln_modulation: random_linear(&mut rng, 4 * d, a, true, c)?,
                norms: [ones(hd)?, ones(hd)?, ones(d)?, ones(d)?, ones(d)?, ones(d)?],
            };
            layers.push(Block::new(
                weights,
                config.num_heads,
                config.norm_eps as f32,
            )?);
        }
        let indicator: Vec<f32> = (0..2 * d).map(|_| 0.1 * rng.signed()).collect();
        Ok(Dit {
            config: config.clone(),
            options,
            kernels: super::Kernels::for_default_device(),
            input_proj: random_linear(&mut rng, d, config.in_channels, true, c)?,
            text: Some(text),
            t_mlp_in: random_linear(&mut rng, d, d, true, c)?,
            t_mlp_out: random_linear(&mut rng, d, d, true, c)?,
            adaln_proj: random_linear(&mut rng, a, d, true, c)?,
            image_indicator: Array::from_slice(&indicator, &[2, d])?.astype(c.dtype)?,
            layers,
            final_modulation: random_linear(&mut rng, d, a, true, c)?,
            final_linear: random_linear(&mut rng, config.in_channels, d, true, c)?,
            uncond_pass: Default::default(),
            forwards: Default::default(),
        })
    }

    /// Every linear of one forward pass (blocks, input/final, time embedding).
    fn step_linears(&self) -> Vec<&Linear> {
        let mut v = vec![
            &self.input_proj,
            &self.t_mlp_in,
            &self.t_mlp_out,
            &self.adaln_proj,
        ];
        for l in &self.layers {
            v.extend(l.linears());
        }
        v.extend([&self.final_modulation, &self.final_linear]);
        v
    }
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
    let text =
        text.ok_or_else(|| super::DitError::Input("text conditioning did not run".into()))?;

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
