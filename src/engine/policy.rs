//! What is decided before a real checkpoint is loaded: which size rules apply, whether it
//! fits in the memory there is, and how slow a full-size step will be on a CPU. Stated once
//! here for every front end.

use std::path::Path;
use std::time::Instant;

use thiserror::Error;

use crate::mlx::{self, Dtype};
use crate::model::adapter::{AdapterTarget, AdapterUse};
use crate::model::dit::DitConfig;
use crate::sampler::{ImageSize, SamplerParams, SizeError, SizeLimits};
use crate::weights::{Checkpoint, ComponentKind, DitOverrides, WeightsError};

/// Pretends this many bytes are available (to exercise the memory check on small models).
pub const AVAILABLE_OVERRIDE: &str = "IDEOGRAM4_AVAILABLE_MEMORY_BYTES";

/// Working memory assumed on top of the weights when checking available memory.
pub const WORKING_MEMORY: u64 = 2 << 30;

#[derive(Debug, Error)]
pub enum PolicyError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Size(#[from] SizeError),
}

/// The memory a job plan needs against what the machine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryNeed {
    /// Weights resident while sampling.
    pub weights: u64,
    /// `weights` + [`WORKING_MEMORY`].
    pub needed: u64,
    /// Available now (0: unknown).
    pub available: u64,
}

impl MemoryNeed {
    pub fn fits(&self) -> bool {
        self.available == 0 || self.needed <= self.available
    }

    /// The numbers, for a refusal or a warning.
    pub fn describe(&self, root: &Path) -> String {
        let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
        format!(
            "{} needs about {:.1} GiB ({:.1} GiB of weights + {:.1} GiB working memory) but only \
             {:.1} GiB is available",
            root.display(),
            gib(self.needed),
            gib(self.weights),
            gib(WORKING_MEMORY),
            gib(self.available)
        )
    }
}

/// Checks the size rules of the checkpoint's model and measures the memory its jobs need.
pub fn check_checkpoint(
    root: &Path,
    dits: &DitOverrides,
    size: ImageSize,
    one_dit: bool,
) -> Result<MemoryNeed, PolicyError> {
    let checkpoint = Checkpoint::open_with(root, dits)?;
    let limits = checkpoint
        .plan(ComponentKind::Transformer)
        .dims
        .dit()
        .map_or(SizeLimits::TinyModel, |d| {
            crate::pipeline::size_limits_of(&DitConfig::from_dims(d))
        });
    crate::sampler::validate_size(size, limits)?;
    // The text encoder is streamed a layer at a time, so it adds one layer, not itself.
    let mut weights = checkpoint.working_set_estimate(false);
    if one_dit {
        // The unconditional DiT is never loaded for these jobs.
        weights = weights.saturating_sub(unconditional_bytes(&checkpoint));
    }
    Ok(MemoryNeed {
        weights,
        needed: weights + WORKING_MEMORY,
        available: available_memory(),
    })
}

fn available_memory() -> u64 {
    match std::env::var(AVAILABLE_OVERRIDE)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(bytes) => bytes,
        None => {
            let mut system = sysinfo::System::new();
            system.refresh_memory();
            system.available_memory()
        }
    }
}

/// Whether every job of this plan runs on the conditional DiT alone (no guided step after
/// `cfg_end`, or the unconditional LoRA standing in for the unconditional DiT).
pub fn one_dit(
    sampler: &SamplerParams,
    size: ImageSize,
    cfg_end: Option<f64>,
    adapters: &[AdapterUse],
) -> bool {
    if adapters
        .iter()
        .any(|a| a.target == AdapterTarget::UncondPass)
    {
        return true;
    }
    match sampler.schedule(size) {
        Ok(mut plan) => {
            crate::sampler::apply_cfg_end(&mut plan.steps, cfg_end);
            plan.steps
                .iter()
                .all(|s| crate::sampler::is_guidance_one(s.guidance))
        }
        Err(_) => false,
    }
}

/// Stored bytes of the unconditional DiT as the pipeline would load it.
pub fn unconditional_bytes(checkpoint: &Checkpoint) -> u64 {
    checkpoint
        .plan(ComponentKind::UnconditionalTransformer)
        .tensors()
        .into_iter()
        .filter(|t| t.kept && !t.name.starts_with("llm_cond_"))
        .map(|t| t.stored_bytes)
        .sum()
}

/// This CPU's speed on a quick f32 matmul (GFLOP/s) and the seconds a full-size step at
/// `size` would take at it. Runs MLX: call it from the thread that owns MLX.
pub fn cpu_step_estimate(size: ImageSize) -> (f64, f64) {
    let n = 512;
    let gflops = (|| -> mlx::Result<f64> {
        let a = mlx::random::normal(&[n, n], Dtype::F32, 0.0, 1.0, &mlx::random::key(0)?)?;
        a.matmul(&a)?.eval()?;
        let t = Instant::now();
        for _ in 0..4 {
            a.matmul(&a)?.eval()?;
        }
        Ok(4.0 * 2.0 * (n as f64).powi(3) / t.elapsed().as_secs_f64() / 1e9)
    })()
    .unwrap_or(50.0);
    // Two passes of 9.3 B parameters over the image tokens (+ ~500 text tokens in one).
    let tokens = size.tokens() as f64;
    let flops = 2.0 * 9.28e9 * (2.0 * tokens + 500.0);
    (gflops, flops / (gflops.max(1.0) * 1e9))
}
