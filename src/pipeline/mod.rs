//! Caption + parameters → image: the whole Ideogram 4 pipeline on the model modules.
//!
//! A [`Pipeline`] loads a model once (the built-in demo, a checkpoint folder, or a repository
//! from the Hugging Face cache) and keeps the two DiTs, the VAE decoder and the tokenizer
//! resident between jobs. [`Pipeline::run`] is blocking and single-threaded (MLX arrays stay
//! on the thread that made them):
//!
//! ```text
//! verify caption (warnings abort unless allowed)  → tokenize with the chat template (≤ 2048)
//! → text encoder → features  ┐ cached per caption text: a new seed of the same caption
//! → llm_cond projection once ┘ skips both; the encoder is streamed from disk layer by layer
//!                               (or kept resident when asked), never whole beside the DiTs
//! → z₀ = normal(key(seed)) or the injected latent, (1, tokens, channels) f32
//! → for each step: conditional + unconditional DiT, asymmetric CFG, Euler (denoise.rs)
//! → latent de-normalisation + unpatchify → VAE decoder → uint8 RGB
//! ```
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ideogram4::pipeline::{Event, JobSpec, LoadOptions, ModelSource, Pipeline};
//! use ideogram4::sampler::{ImageSize, Preset};
//!
//! let mut pipeline = Pipeline::load(&ModelSource::Demo, LoadOptions::default())?;
//! let caption = std::fs::read_to_string("examples/captions/photo.json").unwrap();
//! let job = JobSpec::new(caption, Preset::Turbo12.into(), ImageSize::new(256, 256), 42);
//! let cancel = AtomicBool::new(false);
//! let done = pipeline.run(&job, &mut |e| if let Event::Step(p) = e {
//!     eprintln!("{}/{} {:.2}s/step", p.step, p.total, p.seconds_per_step)
//! }, &cancel)?;
//! assert_eq!(done.pixels.len(), 256 * 256 * 3);
//! let parameters = done.record.to_value(); // embed with output::save_image
//! # Ok::<(), ideogram4::pipeline::PipelineError>(())
//! ```
//!
//! Cancellation is checked before every step (and before the text encoder and the decoder);
//! a cancelled job drops its arrays, clears MLX's buffer cache and returns
//! [`PipelineError::Cancelled`].

pub mod adapters;
pub mod denoise;
pub mod dits;
pub mod init_noise;
mod job;
pub mod preview;
mod source;
pub mod start_files;
pub mod start_image;
pub mod start_prepare;
mod text_cache;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use adapters::{
    locate_recorded, preset_adapter, recorded_adapters, RecordedAdapter, RECORD_ADAPTERS,
    RECORD_CFG_END,
};
pub use denoise::{Denoiser, StepReport, Uncond};
pub use job::{Event, Finished, JobSpec, Progress, RgbImage, Stage, Timings};
pub use source::{hf_cache_dirs, ModelSource};
pub use start_image::{StartImage, StartSource};

use crate::caption;
use crate::mlx::{self, memory, random, Array, Dtype};
use crate::model::dit::{Dit, DitError, DitOptions, QueryChunking};
use crate::model::latent::{tokens_to_latent, LatentError, LatentNorm};
use crate::model::linear::Compute;
use crate::model::packing::{PackedBatch, PackingError};
use crate::model::text_encoder::{TextEncoder, TextEncoderError, QWEN3_VL_TAPS};
use crate::model::tokenizer::{PromptTokenizer, TokenizerError};
use crate::model::vae::{to_uint8, VaeDecoder, VaeError};
use crate::output::GenerationRecord;
use crate::sampler::{
    apply_cfg_end, is_guidance_one, validate_cfg_end, validate_size, ImageSize, SamplerError,
    Schedule, SizeError, SizeLimits, MAX_SIDE, PIXELS_PER_TOKEN,
};
use crate::synthetic::demo::{DemoCheckpoint, DemoError};
use crate::weights::{Checkpoint, ComponentKind, WeightsError};
use adapters::AdapterState;
use text_cache::TextCache;

/// Everything that can stop a job or a load.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The cancel flag was seen.
    #[error("cancelled")]
    Cancelled,
    /// The live preview's latent-to-colour map could not be made or applied.
    #[error("preview: {0}")]
    Preview(String),
    /// The official verifier's combined message (`caption verifier flagged prompt[0]: …`).
    #[error("{message}\n(pass --warn-on-caption-issues to generate anyway)")]
    Caption { message: String },
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    /// An injected initial latent of the wrong size.
    #[error("initial noise: {0}")]
    InitNoise(String),
    /// A start image, mask or strength the job cannot use.
    #[error("start image: {0}")]
    StartImage(String),
    /// The model could not be found.
    #[error("{0}")]
    Source(String),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Dit(#[from] DitError),
    #[error(transparent)]
    TextEncoder(#[from] TextEncoderError),
    #[error(transparent)]
    Vae(#[from] VaeError),
    #[error(transparent)]
    Latent(#[from] LatentError),
    #[error(transparent)]
    Packing(#[from] PackingError),
    #[error(transparent)]
    Demo(#[from] DemoError),
    #[error(transparent)]
    Mlx(#[from] mlx::Error),
    /// An adapter that cannot be used (file, keys, shapes, a preset's missing LoRA).
    #[error("{0}")]
    Adapter(String),
}

pub type Result<T> = std::result::Result<T, PipelineError>;

/// How to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Activation dtype and dequantisation; `None`: float32 with host dequantisation when
    /// MLX computes on the CPU, bfloat16 like the reference on a GPU.
    pub compute: Option<Compute>,
    /// Keep the text encoder's weights between jobs (faster new captions, several GB more).
    /// Otherwise each new caption streams the encoder from disk one layer at a time, so its
    /// weights are never resident beside the DiTs.
    pub keep_text_encoder: bool,
    /// Attention query chunking of the DiTs.
    pub chunking: QueryChunking,
    /// Do not load the unconditional DiT up front: the first job with a guided step loads
    /// it (jobs whose every step has guidance 1 never do).
    pub defer_unconditional: bool,
}

/// What was loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// `demo`, the folder as given, or the repository id (the `model` of records).
    pub name: String,
    /// `bf16`, `nf4`, `fp8` or `mixed` (the `weight_format` of records).
    pub weight_format: String,
    pub compute: Compute,
    /// The real model's size rules, or only multiples of 16 for tiny models and the demo.
    pub size_limits: SizeLimits,
    /// Latent channels per token (128 for Ideogram 4).
    pub in_channels: usize,
    /// MLX memory held after loading (DiTs, VAE).
    pub resident_bytes: usize,
    /// The checkpoint folder (a temporary one for the demo).
    pub root: PathBuf,
    /// Seconds spent loading.
    pub load_seconds: f64,
}

/// Internals of a job a parity check wants to see.
pub enum Trace<'a> {
    /// Prompt token ids as fed to the text encoder.
    TokenIds(&'a [u32]),
    /// Text features `[1, T, features]` float32 (not reported when cached).
    TextFeatures(&'a Array),
    Step(StepReport<'a>),
    /// The decoder output `[1, H, W, 3]` before clamping.
    DecoderOutput(&'a Array),
}

/// The official pipeline's verifier message for one prompt, or `None` when it is clean.
pub fn caption_issues(caption: &str) -> Option<String> {
    let warnings = caption::verify(caption);
    (!warnings.is_empty()).then(|| verifier_report(&warnings))
}

fn verifier_report(warnings: &[caption::Warning]) -> String {
    let lines: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
    format!("caption verifier flagged prompt[0]:\n{}", lines.join("\n"))
}

/// Captions whose projected text features are kept (a few MB each).
const TEXT_CACHE_ENTRIES: usize = 4;

/// A loaded model, ready for jobs.
pub struct Pipeline {
    info: ModelInfo,
    options: LoadOptions,
    checkpoint: Checkpoint,
    tokenizer: PromptTokenizer,
    cond: Dit,
    /// `None` until a job needs it, and again after a job that did not.
    uncond: Option<Dit>,
    dit_options: DitOptions,
    adapters: AdapterState,
    /// Every transformer component read from disk, in order (what the loader read).
    transformer_loads: Vec<ComponentKind>,
    vae: VaeDecoder,
    latent_norm: LatentNorm,
    text_encoder: Option<TextEncoder>,
    text_cache: TextCache,
    /// Keeps the demo's temporary folder alive (deleted on drop); declared last so it goes
    /// after everything read from it.
    _demo: Option<DemoCheckpoint>,
}

impl Pipeline {
    /// Loads the DiTs, the VAE decoder and the tokenizer; the text encoder is read when the
    /// first caption needs it.
    pub fn load(source: &ModelSource, options: LoadOptions) -> Result<Pipeline> {
        Pipeline::load_with(source, &crate::weights::DitOverrides::default(), options)
    }

    /// [`Pipeline::load`] with DiTs from elsewhere (`--dit`, `--uncond-dit`); `source`
    /// supplies everything else.
    pub fn load_with(
        source: &ModelSource,
        dits: &crate::weights::DitOverrides,
        options: LoadOptions,
    ) -> Result<Pipeline> {
        let started = Instant::now();
        let (demo, root) = match source {
            ModelSource::Demo => {
                let demo = DemoCheckpoint::create()?;
                let root = demo.root().to_path_buf();
                (Some(demo), root)
            }
            other => {
                let root = other.resolve()?.ok_or_else(|| {
                    PipelineError::Source(format!("{other} names no checkpoint folder"))
                })?;
                (None, root)
            }
        };
        let checkpoint = Checkpoint::open_with(&root, dits)?;
        let mut pipeline = Pipeline::from_checkpoint(checkpoint, source.record_name(), options)?;
        pipeline._demo = demo;
        pipeline.info.load_seconds = started.elapsed().as_secs_f64();
        Ok(pipeline)
    }

    /// Loads an opened checkpoint; `name` is what records call the model.
    pub fn from_checkpoint(
        checkpoint: Checkpoint,
        name: String,
        options: LoadOptions,
    ) -> Result<Pipeline> {
        let started = Instant::now();
        let before = memory::active();
        let compute = options.compute.unwrap_or_else(Compute::for_default_device);
        let dit_options = DitOptions {
            compute,
            chunking: options.chunking,
        };
        let mut component = checkpoint.load_component(ComponentKind::Transformer)?;
        let cond = Dit::from_component(&mut component, dit_options)?;
        drop(component);
        crate::model::nf4_fused::check_at_load(&cond.nf4_check_layers(), compute.dtype);
        let mut transformer_loads = vec![ComponentKind::Transformer];
        let uncond = if options.defer_unconditional {
            None
        } else {
            transformer_loads.push(ComponentKind::UnconditionalTransformer);
            Some(load_unconditional(&checkpoint, dit_options)?)
        };
        let vae = VaeDecoder::from_checkpoint(&checkpoint, compute)?;
        let in_channels = cond.config().in_channels;
        let latent_norm = LatentNorm::ideogram4()?.truncated(in_channels)?;
        let tokenizer = PromptTokenizer::from_file(checkpoint.tokenizer_path())?;
        let size_limits = size_limits_of(cond.config());
        let info = ModelInfo {
            name,
            weight_format: checkpoint.format().name().to_string(),
            compute,
            size_limits,
            in_channels,
            resident_bytes: memory::active().saturating_sub(before),
            root: checkpoint.root.clone(),
            load_seconds: started.elapsed().as_secs_f64(),
        };
        Ok(Pipeline {
            info,
            options,
            checkpoint,
            tokenizer,
            cond,
            uncond,
            dit_options,
            adapters: AdapterState::default(),
            transformer_loads,
            vae,
            latent_norm,
            text_encoder: None,
            text_cache: TextCache::new(TEXT_CACHE_ENTRIES),
            _demo: None,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The checkpoint folder.
    pub fn root(&self) -> &Path {
        &self.info.root
    }

    /// Tokens of `caption` with the chat template, as the 2048 limit counts them.
    pub fn count_tokens(&self, caption: &str) -> Result<usize> {
        Ok(self.tokenizer.count_prompt_tokens(caption)?)
    }

    /// Whether this pipeline keeps the text encoder resident between jobs (else it streams
    /// it from disk for each new caption).
    pub fn keeps_text_encoder(&self) -> bool {
        self.options.keep_text_encoder
    }

    /// Whether the text encoder's weights are in memory now.
    pub fn text_encoder_resident(&self) -> bool {
        self.text_encoder.is_some()
    }

    /// Whether the unconditional DiT is in memory now.
    pub fn unconditional_resident(&self) -> bool {
        self.uncond.is_some()
    }

    /// Every transformer component read from disk since loading, in order.
    pub fn transformer_loads(&self) -> &[ComponentKind] {
        &self.transformer_loads
    }

    /// Forward passes run by the (conditional, unconditional) DiTs so far; the second is
    /// `None` when the unconditional DiT is not resident.
    pub fn forward_counts(&self) -> (u64, Option<u64>) {
        (
            self.cond.forward_count(),
            self.uncond.as_ref().map(Dit::forward_count),
        )
    }

    /// Bytes of the adapter factors attached to the conditional DiT, in the compute dtype
    /// (an unconditional DiT patched by the same adapter shares them).
    pub fn adapter_bytes(&mut self) -> usize {
        self.cond.adapter_bytes()
    }

    /// Bytes of the VAE decoder's weights held in the compute dtype.
    pub fn vae_compute_dtype_bytes(&self) -> usize {
        self.vae.compute_dtype_bytes()
    }

    /// Warnings about adapters (keys that matched nothing) since the last call.
    pub fn take_adapter_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.adapters.warnings)
    }

    /// Drops the unconditional DiT (the next guided job reads it again).
    pub fn release_unconditional(&mut self) {
        if self.uncond.take().is_some() {
            memory::clear_cache();
        }
    }

    /// Captions whose text features are cached.
    pub fn cached_captions(&self) -> usize {
        self.text_cache.len()
    }

    /// Drops cached text features and, unless asked to keep it, the text encoder.
    pub fn clear_text_cache(&mut self) {
        self.text_cache.clear();
        memory::clear_cache();
    }

    /// Runs one job: see the module documentation. `events` hears about stages and every
    /// step; `cancel` is checked before each step.
    pub fn run(
        &mut self,
        job: &JobSpec,
        events: &mut dyn FnMut(&Event),
        cancel: &AtomicBool,
    ) -> Result<Finished> {
        self.run_traced(job, None, events, cancel, &mut |_| {})
    }

    /// [`Pipeline::run_traced`] starting from an image (image to image, inpainting,
    /// outpainting; see `start_image.rs`); `start: None` is text to image.
    pub fn run_from(
        &mut self,
        job: &JobSpec,
        start: Option<&StartImage>,
        schedule: Option<Schedule>,
        events: &mut dyn FnMut(&Event),
        cancel: &AtomicBool,
        trace: &mut dyn FnMut(Trace<'_>),
    ) -> Result<Finished> {
        let result = self.run_inner(job, start, schedule, events, cancel, trace);
        if result.is_err() {
            // Whatever the job made is dropped by now; hand the buffers back too.
            memory::clear_cache();
        }
        result
    }

    /// [`Pipeline::run`] with an explicit schedule (e.g. a golden run's
    /// `LogitNormalSchedule` passed without the resolution shift) and a view of the
    /// internals for parity checks.
    pub fn run_traced(
        &mut self,
        job: &JobSpec,
        schedule: Option<Schedule>,
        events: &mut dyn FnMut(&Event),
        cancel: &AtomicBool,
        trace: &mut dyn FnMut(Trace<'_>),
    ) -> Result<Finished> {
        self.run_from(job, None, schedule, events, cancel, trace)
    }

    fn run_inner(
        &mut self,
        job: &JobSpec,
        start: Option<&StartImage>,
        schedule: Option<Schedule>,
        events: &mut dyn FnMut(&Event),
        cancel: &AtomicBool,
        trace: &mut dyn FnMut(Trace<'_>),
    ) -> Result<Finished> {
        let started = Instant::now();
        memory::reset_peak();
        let start_spec = start;
        let size = job.size;
        self.check_size(size)?;
        let mut schedule = match schedule {
            Some(s) => s,
            None => job.sampler.schedule(size)?,
        };
        if let Some(f) = job.cfg_end {
            validate_cfg_end(f)?;
        }
        apply_cfg_end(&mut schedule.steps, job.cfg_end);
        let adapter_uses = match (job.sampler.preset(), job.adapters.is_empty()) {
            (Some(p), true) => preset_adapter(p, &crate::weights::hub::HubEnv::from_env())
                .map_err(PipelineError::Adapter)?
                .into_iter()
                .collect(),
            _ => job.adapters.clone(),
        };
        let uncond_pass = adapter_uses
            .iter()
            .any(|a| a.target == crate::model::adapter::AdapterTarget::UncondPass);
        let guided = schedule.steps.iter().any(|s| !is_guidance_one(s.guidance));
        if guided && !uncond_pass {
            if self.uncond.is_none() {
                let mut dit = load_unconditional(&self.checkpoint, self.dit_options)?;
                self.transformer_loads
                    .push(ComponentKind::UnconditionalTransformer);
                self.adapters.attach_to_new_uncond(&mut dit)?;
                self.uncond = Some(dit);
            }
        } else {
            self.release_unconditional();
        }
        self.adapters
            .sync(&adapter_uses, &mut self.cond, self.uncond.as_mut())?;
        for warning in &self.adapters.warnings {
            tracing::warn!("{warning}");
        }

        let warnings = caption::verify(&job.caption);
        if !warnings.is_empty() {
            let message = verifier_report(&warnings);
            if !job.allow_caption_warnings {
                return Err(PipelineError::Caption { message });
            }
            tracing::warn!(
                warnings = warnings.len(),
                "the caption verifier warned; going on as allowed"
            );
            events(&Event::CaptionWarnings(message));
        }
        let ids = self.tokenizer.encode_prompt(&job.caption)?;
        trace(Trace::TokenIds(&ids));

        let (grid_h, grid_w) = (
            (size.height / PIXELS_PER_TOKEN) as usize,
            (size.width / PIXELS_PER_TOKEN) as usize,
        );
        let tokens = grid_h * grid_w;
        let channels = self.info.in_channels;
        let z0 = self.initial_latent(job, tokens, channels)?;
        let start = match start {
            Some(s) => Some(self.prepare_start(s, &z0, &schedule.steps, (grid_h, grid_w))?),
            None => None,
        };
        let (z0, steps) = match &start {
            Some(p) => (p.z.clone(), &schedule.steps[p.first..]),
            None => (z0, &schedule.steps[..]),
        };

        let packed = PackedBatch::new(&[ids.len()], grid_h, grid_w)?;
        let cond_seq = self.cond.sequence(&packed)?;
        // Masks and rotary tables depend only on the config, which both DiTs share.
        let uncond_seq = match &self.uncond {
            Some(u) => u.sequence(&packed.image_only())?,
            None => self.cond.sequence(&packed.image_only())?,
        };

        if cancel.load(Ordering::Relaxed) {
            return Err(PipelineError::Cancelled);
        }
        let text_started = Instant::now();
        let (text, text_cached) = match self.text_cache.get(&job.caption) {
            Some(text) => {
                events(&Event::Stage(Stage::EncodingText { cached: true }));
                (text, true)
            }
            None => {
                let features = self.encode_text(&ids, events)?;
                trace(Trace::TextFeatures(&features));
                let text = self.cond.text_conditioning(&features, &cond_seq)?;
                drop(features);
                self.text_cache.insert(job.caption.clone(), text.clone());
                (text, false)
            }
        };
        let text_seconds = if text_cached {
            0.0
        } else {
            text_started.elapsed().as_secs_f64()
        };

        events(&Event::Stage(Stage::Sampling));
        let sampling_started = Instant::now();
        let forwards_before = self.forward_counts();
        let transformers_loaded = 1 + usize::from(self.uncond.is_some());
        let denoiser = Denoiser {
            cond: &self.cond,
            uncond: match (&self.uncond, uncond_pass) {
                (_, true) => Uncond::CondPass,
                (Some(u), false) => Uncond::Dit(u),
                (None, false) => Uncond::Skipped,
            },
            cond_seq: &cond_seq,
            uncond_seq: &uncond_seq,
            text: &text,
        };
        let total = steps.len();
        let mut spent = 0.0;
        let z = start_image::sample(
            &denoiser,
            z0,
            steps,
            start.as_ref(),
            cancel,
            &mut |report| {
                spent += report.seconds;
                let done = report.position + 1;
                let per_step = spent / done as f64;
                events(&Event::Step(Progress {
                    step: done,
                    total,
                    seconds_per_step: per_step,
                    eta_seconds: per_step * (total - done) as f64,
                    memory: memory::snapshot(),
                }));
                trace(Trace::Step(report));
            },
        )?;
        drop((text, cond_seq, uncond_seq, start));
        let sampling_seconds = sampling_started.elapsed().as_secs_f64();
        let forwards_after = self.forward_counts();
        let dit_passes = forwards_after.0 - forwards_before.0 + forwards_after.1.unwrap_or(0)
            - forwards_before.1.unwrap_or(0);

        if cancel.load(Ordering::Relaxed) {
            return Err(PipelineError::Cancelled);
        }
        events(&Event::Stage(Stage::Decoding));
        let decode_started = Instant::now();
        let latent = tokens_to_latent(&z, &self.latent_norm, grid_h, grid_w)?;
        drop(z);
        let decoded = self.vae.decode(&latent)?;
        decoded.eval()?;
        drop(latent);
        trace(Trace::DecoderOutput(&decoded));
        let image = to_uint8(&decoded)?;
        drop(decoded);
        let pixels = image.to_vec::<u8>()?;
        drop(image);
        let decode_seconds = decode_started.elapsed().as_secs_f64();

        let mut record = GenerationRecord::new(
            job.caption.clone(),
            job.sampler.clone(),
            job.seed,
            size,
            self.info.name.clone(),
            self.info.weight_format.clone(),
        );
        if let Some(s) = start_spec {
            // The shortest decimal that reads back as the same f32 (0.3, not 0.30000001).
            let shortest = format!("{}", s.strength).parse::<f64>();
            record.extra.insert(
                "strength".into(),
                serde_json::json!(shortest.unwrap_or(f64::from(s.strength))),
            );
        }
        record.extra.insert(
            "compute_dtype".into(),
            serde_json::json!(dtype_name(self.info.compute.dtype)),
        );
        let recorded = self.adapters.recorded();
        if !recorded.is_empty() {
            record
                .extra
                .insert(RECORD_ADAPTERS.into(), serde_json::json!(recorded));
        }
        if let Some(f) = job.cfg_end {
            record
                .extra
                .insert(RECORD_CFG_END.into(), serde_json::json!(f));
        }
        Ok(Finished {
            pixels,
            width: size.width,
            height: size.height,
            record,
            timings: Timings {
                text_seconds,
                text_cached,
                sampling_seconds,
                decode_seconds,
                total_seconds: started.elapsed().as_secs_f64(),
            },
            peak_memory: memory::peak(),
            dit_passes,
            transformers_loaded,
        })
    }

    fn check_size(&self, size: ImageSize) -> Result<()> {
        validate_size(size, self.info.size_limits)?;
        for (side, value) in [("width", size.width), ("height", size.height)] {
            if value > MAX_SIDE {
                return Err(PipelineError::Size(SizeError::OutOfRange { side, value }));
            }
        }
        Ok(())
    }

    fn initial_latent(&self, job: &JobSpec, tokens: usize, channels: usize) -> Result<Array> {
        let shape = [1, tokens, channels];
        match &job.init_noise {
            Some(values) => {
                if values.len() != tokens * channels {
                    return Err(PipelineError::InitNoise(format!(
                        "expected (1, {tokens}, {channels}) = {} float32 values for a {}x{} \
                         image, got {}",
                        tokens * channels,
                        job.size.width,
                        job.size.height,
                        values.len()
                    )));
                }
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    return Err(PipelineError::InitNoise(format!(
                        "value {i} is {} (must be finite)",
                        values[i]
                    )));
                }
                Ok(Array::from_slice(values, &shape)?)
            }
            None => Ok(random::normal(
                &shape,
                Dtype::F32,
                0.0,
                1.0,
                &random::key(job.seed)?,
            )?),
        }
    }

    /// Text features `[1, T, features]` of one prompt's ids; loads the text encoder when it is
    /// not resident and frees it afterwards unless asked to keep it.
    fn encode_text(&mut self, ids: &[u32], events: &mut dyn FnMut(&Event)) -> Result<Array> {
        let encoder = match self.text_encoder.take() {
            Some(e) => e,
            None if self.options.keep_text_encoder => {
                events(&Event::Stage(Stage::LoadingTextEncoder));
                TextEncoder::from_checkpoint(&self.checkpoint, self.info.compute)?
            }
            // Read layer by layer while encoding: never resident beside the DiTs as a whole.
            None => TextEncoder::streamed(&self.checkpoint, &QWEN3_VL_TAPS, self.info.compute)?,
        };
        events(&Event::Stage(Stage::EncodingText { cached: false }));
        let t = ids.len();
        let token_ids: Vec<i32> = ids
            .iter()
            .map(|&id| i32::try_from(id).unwrap_or(i32::MAX))
            .collect();
        let positions: Vec<i32> = (0..t as i32).collect();
        let indicator = vec![crate::model::packing::LLM_TOKEN_INDICATOR; t];
        let features = encoder.encode(
            &Array::from_slice(&token_ids, &[1, t])?,
            &Array::from_slice(&positions, &[1, t])?,
            &Array::from_slice(&indicator, &[1, t])?,
        )?;
        features.eval()?;
        if self.options.keep_text_encoder {
            self.text_encoder = Some(encoder);
        } else {
            encoder.release();
        }
        Ok(features)
    }
}

/// The unconditional DiT, without the text projection it never uses.
fn load_unconditional(checkpoint: &Checkpoint, options: DitOptions) -> Result<Dit> {
    let mut component = checkpoint
        .load_component_filtered(ComponentKind::UnconditionalTransformer, &|n| {
            !n.starts_with("llm_cond_")
        })?;
    Ok(Dit::from_component(&mut component, options)?)
}

/// The size rules of a DiT: the real ones for the shipped model's sizes, else the tiny
/// models'.
pub fn size_limits_of(c: &crate::model::dit::DitConfig) -> SizeLimits {
    if c.is_full_size() {
        SizeLimits::RealModel
    } else {
        SizeLimits::TinyModel
    }
}

/// `f32`, `bf16`, `f16` for records and messages.
pub fn dtype_name(d: Dtype) -> &'static str {
    match d {
        Dtype::F32 => "f32",
        Dtype::Bf16 => "bf16",
        Dtype::F16 => "f16",
        _ => "other",
    }
}
