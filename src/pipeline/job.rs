//! What a job asks for and what it reports back.

use crate::mlx::memory::Snapshot;
use crate::model::adapter::AdapterUse;
use crate::output::GenerationRecord;
use crate::sampler::{ImageSize, SamplerParams};

/// One image to make.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The prompt, fed to the tokenizer verbatim (normally a JSON caption).
    pub caption: String,
    pub sampler: SamplerParams,
    pub size: ImageSize,
    /// Seed of the initial noise (`mlx::random::normal` under `random::key(seed)`).
    pub seed: u64,
    /// The initial latent `(1, tokens, channels)` float32, row-major, replacing the seeded
    /// draw (tests, `--init-noise`). The seed is still recorded.
    pub init_noise: Option<Vec<f32>>,
    /// Go on when the caption verifier warns (the official `--warn-on-caption-issues`);
    /// by default warnings abort the job, as in the official pipeline.
    pub allow_caption_warnings: bool,
    /// Guidance truncation (formats §7.5): execution steps from
    /// `max(1, round_half_even(cfg_end · steps))` on use guidance 1 (no unconditional pass).
    pub cfg_end: Option<f64>,
    /// Adapters to apply, in order. A TurboTime preset with none finds its LoRA in the
    /// Hugging Face cache.
    pub adapters: Vec<AdapterUse>,
}

impl JobSpec {
    /// A job with no injected noise that aborts on caption warnings.
    pub fn new(
        caption: impl Into<String>,
        sampler: SamplerParams,
        size: ImageSize,
        seed: u64,
    ) -> JobSpec {
        JobSpec {
            caption: caption.into(),
            sampler,
            size,
            seed,
            init_noise: None,
            allow_caption_warnings: false,
            cfg_end: None,
            adapters: Vec::new(),
        }
    }
}

/// An 8-bit RGB image, rows top to bottom (`width·height·3` bytes): live previews and
/// finished images as the engine hands them on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// A phase of a job, announced when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the text encoder's weights (first caption, or after they were released).
    LoadingTextEncoder,
    /// Running the text encoder; `cached` when the caption's features were kept from an
    /// earlier job and nothing runs.
    EncodingText {
        cached: bool,
    },
    Sampling,
    Decoding,
}

impl Stage {
    /// What a person reads: "encoding text".
    pub fn label(self) -> &'static str {
        self.names().0
    }

    /// What a program reads (`generate --json`): "encoding_text".
    pub fn name(self) -> &'static str {
        self.names().1
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            Stage::LoadingTextEncoder => ("loading text encoder", "loading_text_encoder"),
            Stage::EncodingText { cached: true } => ("text features cached", "text_cached"),
            Stage::EncodingText { cached: false } => ("encoding text", "encoding_text"),
            Stage::Sampling => ("sampling", "sampling"),
            Stage::Decoding => ("decoding", "decoding"),
        }
    }
}

/// Reported after every sampling step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Steps finished (1 after the first).
    pub step: usize,
    pub total: usize,
    /// Mean wall time of the steps so far.
    pub seconds_per_step: f64,
    /// `seconds_per_step × steps left` (decoding not included).
    pub eta_seconds: f64,
    /// MLX allocator counters right after the step.
    pub memory: Snapshot,
}

/// Everything a job reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Stage(Stage),
    /// The verifier's text when warnings were allowed to pass (the official warning).
    CaptionWarnings(String),
    Step(Progress),
}

/// Where the time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Loading and running the text encoder plus the text projection (0 when cached).
    pub text_seconds: f64,
    pub text_cached: bool,
    pub sampling_seconds: f64,
    pub decode_seconds: f64,
    pub total_seconds: f64,
}

/// A finished image.
#[derive(Debug, Clone)]
pub struct Finished {
    /// RGB8, rows top to bottom, `width·height·3` bytes.
    pub pixels: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The `parameters` record to embed (`record.to_value()`).
    pub record: GenerationRecord,
    pub timings: Timings,
    /// Highest MLX active memory during the job.
    pub peak_memory: usize,
    /// DiT forward passes the sampling ran (steps with guidance 1 run one, others two).
    pub dit_passes: u64,
    /// Transformers resident while sampling (1 when the unconditional DiT was not needed).
    pub transformers_loaded: usize,
}
