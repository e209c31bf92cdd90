//! Sampling schedules, presets and request validation (no MLX).
//!
//! Everything the Euler flow-matching loop needs besides the models, computed exactly as the
//! official reference does (checked bit for bit against `golden/schedule.json`):
//!
//! * [`LogitNormalSchedule`]: `τ(u) = clamp(1 − expit(μ + σ·Φ⁻¹(u)), t_min, t_max)` in f64,
//!   cast to f32; [`resolution_mean`] applies the resolution shift `0.5·ln(W·H/512²)` to `mu`.
//! * [`Preset`]: `V4_QUALITY_48`, `V4_DEFAULT_20`, `V4_TURBO_12` with their guidance lists.
//! * [`SamplerParams`]: a preset or [`CustomSampler`] settings, validated, serialisable
//!   (they go into every output's `parameters` record and into the UI's saved state).
//! * [`Schedule`]: the resolved plan, a list of [`Step`]s **in execution order**.
//! * [`validate_size`]: the image-size rules.
//!
//! Orders and directions, once and for all:
//!
//! * Guidance lists are in **loop-index order** wherever they are stored or typed
//!   (`--guidance-schedule`, `data/presets.json`, [`Guidance::Schedule`]): index 0 is the
//!   *last* executed step. The UI shows **sampling order** (first step first); convert with
//!   [`loop_to_sampling_order`] / [`sampling_to_loop_order`].
//! * `t ≈ 0` is noise, `t ≈ 1` is data; the first executed step starts at `t_min ≈ 1.2e-4`.
//!
//! Typical use by the pipeline:
//!
//! ```
//! use ideogram4::sampler::{validate_size, ImageSize, Preset, SamplerParams, SizeLimits};
//!
//! let size = ImageSize::new(1024, 768);
//! validate_size(size, SizeLimits::RealModel)?;
//! let plan = SamplerParams::Preset(Preset::Turbo12).schedule(size)?;
//! for step in &plan.steps {
//!     // v = g·v_cond + (1 − g)·v_uncond at time step.t; z += v · step.delta
//!     let (_t, _g, _dt) = (step.t, step.guidance, step.delta);
//! }
//! assert_eq!(plan.steps.len(), 12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use thiserror::Error;

mod guidance_skip;
mod ndtri;
mod params;
mod presets;
mod schedule;
mod seed;
mod size;

pub use guidance_skip::{
    apply_cfg_end, cfg_cutoff, dit_passes, is_guidance_one, passes_summary, validate_cfg_end,
    GUIDANCE_ONE_TOLERANCE,
};
pub use ndtri::ndtri;
pub use params::{
    loop_to_sampling_order, parse_guidance_list, sampling_to_loop_order, CustomSampler, Guidance,
    SamplerParams, MAX_STEPS,
};
pub use presets::Preset;
pub use schedule::{
    resolution_mean, step_intervals, LogitNormalSchedule, Schedule, Step, LOGSNR_MAX, LOGSNR_MIN,
    REFERENCE_PIXELS,
};
pub use seed::{random_seed, RANDOM_SEED_LIMIT};
pub use size::{
    validate_size, ImageSize, SizeError, SizeLimits, MAX_ASPECT, MAX_SIDE, MIN_SIDE,
    PIXELS_PER_TOKEN,
};

/// Invalid sampler settings. Messages are written for the person who typed them.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SamplerError {
    /// Not one of the official preset names.
    #[error(
        "unknown preset {0:?}; choose V4_QUALITY_48, V4_DEFAULT_20, V4_TURBO_12, V4_TURBOTIME_8, \
         V4_TURBOTIME_4, V4_TURBOTIME_2 or custom settings"
    )]
    UnknownPreset(String),
    /// `steps` is 0.
    #[error("steps must be at least 1")]
    ZeroSteps,
    /// `steps` is above [`MAX_STEPS`].
    #[error("steps is {steps}; at most {max} are allowed")]
    TooManySteps {
        /// Requested count.
        steps: usize,
        /// The limit.
        max: usize,
    },
    /// `std` is zero or negative.
    #[error("std must be > 0 (got {0})")]
    NonPositiveStd(f64),
    /// A scalar setting is NaN or infinite.
    #[error("{what} must be a finite number (got {value})")]
    NotFinite {
        /// `"mu"`, `"std"` or `"guidance"`.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// Guidance schedule length differs from the step count.
    #[error(
        "guidance schedule has {len} entries but steps is {steps}; give one weight per step \
         (loop-index order: the first entry is the last step)"
    )]
    GuidanceLength {
        /// Entries given.
        len: usize,
        /// Steps requested.
        steps: usize,
    },
    /// One guidance entry is NaN or infinite.
    #[error("guidance schedule entry {index} must be a finite number (got {value})")]
    GuidanceNotFinite {
        /// 0-based entry index as written.
        index: usize,
        /// The value given.
        value: f64,
    },
    /// An entry of a comma-separated guidance list is not a number.
    #[error("guidance schedule entry {index} is not a number: {text:?}")]
    BadGuidanceEntry {
        /// 0-based entry index.
        index: usize,
        /// The text of the entry.
        text: String,
    },
    /// An empty comma-separated guidance list.
    #[error("guidance schedule is empty; give comma-separated weights, e.g. 3,7,7")]
    EmptyGuidanceList,
    /// A serialised custom setting lacks a field.
    #[error("custom sampler settings need `{0}`")]
    MissingField(&'static str),
    /// A serialised preset also carries steps/mu/std/guidance.
    #[error(
        "preset {0} cannot be changed; use \"preset\": \"custom\" with steps, mu, std and guidance"
    )]
    PresetWithOverrides(Preset),
}
