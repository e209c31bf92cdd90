//! What the engine needs from a model: load it once, then turn requests into images.
//! The pipeline implements these; the engine only orders, times and reports.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use thiserror::Error;

use super::job::{Job, ModelSpec};
use crate::output::GenerationRecord;
use crate::sampler::{ImageSize, SamplerParams, SizeLimits};

/// One generation, as the model sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caption text exactly as shown in the editor.
    pub caption: &'a str,
    pub params: &'a SamplerParams,
    pub size: ImageSize,
    pub seed: u64,
    /// Send a [`Report::Preview`] every this many steps (0: none).
    pub preview_every: usize,
    /// Preview the last step too (whose image the decoded result soon replaces).
    pub preview_last: bool,
    pub adapters: &'a [crate::model::adapter::AdapterUse],
    /// Start from this image instead of noise.
    pub start: Option<&'a crate::pipeline::start_prepare::StartPaths>,
}

/// Reported after each sampling step: the pipeline's own [`crate::pipeline::Progress`].
pub use crate::pipeline::Progress as StepInfo;

/// What a generator reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A phase began ("encoding text", "sampling", "decoding"…).
    Stage(String),
    /// A phase of the pipeline began (shown as its label).
    Phase(crate::pipeline::Stage),
    Step(StepInfo),
    /// Something the user should know that does not stop the job.
    Warning(Warning),
    /// A cheap picture of where sampling is heading (after `step` of `total`).
    Preview {
        step: usize,
        total: usize,
        image: RgbImage,
    },
}

/// A note that does not stop the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The caption verifier's report, when warnings were allowed to pass.
    Caption(String),
    /// How the start image was fitted to the job (scaled, cropped, padded…).
    StartImage(String),
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::Caption(text) | Warning::StartImage(text) => f.write_str(text),
        }
    }
}

/// An 8-bit RGB image: the pipeline's own.
pub use crate::pipeline::RgbImage;

/// A finished image and the `parameters` record to embed in its file.
#[derive(Debug, Clone)]
pub struct Generated {
    pub image: RgbImage,
    pub parameters: GenerationRecord,
    /// Where the time and memory went (generators that measure it).
    pub stats: Option<RunStats>,
}

/// What the pipeline measured while making an image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStats {
    pub timings: crate::pipeline::Timings,
    /// Highest MLX active memory during the job.
    pub peak_memory: usize,
    /// DiT forward passes the sampling ran.
    pub dit_passes: u64,
    /// Transformers resident while sampling.
    pub transformers_loaded: usize,
    /// Adapter notes (a LoRA that matched few layers, …).
    pub warnings: Vec<String>,
}

/// Why a job did not produce an image; shown to the user as its error chain.
#[derive(Debug, Error)]
pub enum GenerateError {
    /// The cancel flag was seen between steps.
    #[error("cancelled")]
    Cancelled,
    /// A generator that has only a message.
    #[error("{0}")]
    Failed(String),
    #[error("model {model} could not be loaded: {message}")]
    Load { model: ModelSpec, message: String },
    #[error("no model loaded")]
    NoModel,
    #[error(transparent)]
    Size(#[from] crate::sampler::SizeError),
    #[error(transparent)]
    Sampler(#[from] crate::sampler::SamplerError),
    #[error(transparent)]
    StartImage(#[from] crate::pipeline::start_files::StartFileError),
    #[error(transparent)]
    InitNoise(#[from] crate::pipeline::init_noise::InitNoiseError),
    #[error(transparent)]
    Pipeline(crate::pipeline::PipelineError),
    #[error("could not write the image: {0}")]
    Write(String),
    #[error("job vanished from the queue")]
    Vanished,
}

impl From<crate::pipeline::PipelineError> for GenerateError {
    fn from(e: crate::pipeline::PipelineError) -> GenerateError {
        match e {
            crate::pipeline::PipelineError::Cancelled => GenerateError::Cancelled,
            e => GenerateError::Pipeline(e),
        }
    }
}

/// A loaded model. Lives on the engine thread only (it holds MLX arrays), so not `Send`.
pub trait Generator {
    /// One line for the UI: model name, weight format, where it came from.
    fn describe(&self) -> String;
    /// Which size rules apply to this model.
    fn size_limits(&self) -> SizeLimits;
    /// What was loaded, for generators backed by the pipeline.
    fn info(&self) -> Option<crate::pipeline::ModelInfo> {
        None
    }
    /// Runs one job. `progress` hears of each phase and every step; `cancel` is checked
    /// between steps.
    fn generate(
        &mut self,
        request: &Request<'_>,
        progress: &mut dyn FnMut(Report),
        cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError>;
}

/// Builds generators on the engine thread, so that MLX is only ever touched from there.
pub trait ModelLoader: Send {
    fn load(&mut self, model: &ModelSpec) -> Result<Box<dyn Generator>, String>;
}

impl<F> ModelLoader for F
where
    F: FnMut(&ModelSpec) -> Result<Box<dyn Generator>, String> + Send,
{
    fn load(&mut self, model: &ModelSpec) -> Result<Box<dyn Generator>, String> {
        self(model)
    }
}

/// Where finished images go: the TUI's naming pattern, or `generate --out` for the CLI.
pub trait OutputSink: Send {
    fn write(&mut self, job: &Job, generated: &Generated) -> Result<PathBuf, String>;
}

impl<F> OutputSink for F
where
    F: FnMut(&Job, &Generated) -> Result<PathBuf, String> + Send,
{
    fn write(&mut self, job: &Job, generated: &Generated) -> Result<PathBuf, String> {
        self(job, generated)
    }
}

/// Shared read-only handle to a finished image (events carry it to the preview).
pub type SharedImage = Arc<RgbImage>;
