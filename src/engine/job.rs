//! A job: what the user asked for, and how far it got. The [`super::queue::Queue`] orders
//! them.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::sampler::{ImageSize, SamplerParams};

pub type JobId = u64;

/// Which model a job runs on: the pipeline's own [`ModelSource`], under the name the
/// engine's callers have always used.
pub use crate::pipeline::ModelSource as ModelSpec;

/// Everything that determines an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The caption exactly as the editor showed it; the model tokenizes it verbatim.
    pub caption: String,
    pub params: SamplerParams,
    pub size: ImageSize,
    pub seed: u64,
    pub model: ModelSpec,
    /// LoRA/LoKr adapters, in order (none for older saved queues).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adapters: Vec<crate::model::adapter::AdapterUse>,
    /// Start from this image instead of noise (a variation, inpaint or outpaint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<crate::pipeline::start_prepare::StartPaths>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum JobStatus {
    Waiting,
    Running,
    Done { output: PathBuf },
    Failed { error: String },
    Cancelled,
}

impl JobStatus {
    pub fn label(&self) -> &'static str {
        match self {
            JobStatus::Waiting => "waiting",
            JobStatus::Running => "running",
            JobStatus::Done { .. } => "done",
            JobStatus::Failed { .. } => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(&self) -> bool {
        !matches!(self, JobStatus::Waiting | JobStatus::Running)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub spec: JobSpec,
    pub status: JobStatus,
    /// Seconds since the Unix epoch.
    pub created: f64,
    pub started: Option<f64>,
    pub finished: Option<f64>,
    /// Last reported step (0 before the first one finished).
    #[serde(default)]
    pub step: usize,
    #[serde(default)]
    pub total_steps: usize,
}

impl Job {
    /// Seconds spent running: until it finished, or until `now` while it runs.
    pub fn elapsed(&self, now: f64) -> Option<f64> {
        let start = self.started?;
        Some((self.finished.unwrap_or(now) - start).max(0.0))
    }

    pub fn output(&self) -> Option<&Path> {
        match &self.status {
            JobStatus::Done { output } => Some(output),
            _ => None,
        }
    }
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
