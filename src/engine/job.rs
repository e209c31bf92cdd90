//! Jobs and the queue that orders them. Plain data: the engine thread and the UI share it
//! behind a mutex, and it is saved between runs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::files::expand_home;
use crate::sampler::{ImageSize, SamplerParams};

pub type JobId = u64;

/// Which model a job runs on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum ModelSpec {
    /// The tiny model built in code: real architecture, random weights, runs in seconds.
    Demo,
    /// A checkpoint folder on disk.
    Dir(PathBuf),
    /// A Hugging Face repository id, resolved in the local HF cache.
    Repo(String),
}

impl ModelSpec {
    /// `demo`, an existing folder (or anything that looks like a path), or a repo id.
    pub fn parse(text: &str) -> ModelSpec {
        let t = text.trim();
        if t.eq_ignore_ascii_case("demo") {
            return ModelSpec::Demo;
        }
        let path = Path::new(t);
        let pathish =
            t.starts_with('/') || t.starts_with('.') || t.starts_with('~') || path.is_dir();
        if pathish {
            ModelSpec::Dir(expand_home(path))
        } else {
            ModelSpec::Repo(t.to_string())
        }
    }

    /// Short name for tables: `demo`, the folder's name, or the repo id.
    pub fn short(&self) -> String {
        match self {
            ModelSpec::Demo => "demo".into(),
            ModelSpec::Dir(p) => p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            ModelSpec::Repo(r) => r.clone(),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Demo => f.write_str("demo"),
            ModelSpec::Dir(p) => write!(f, "{}", p.display()),
            ModelSpec::Repo(r) => f.write_str(r),
        }
    }
}

impl From<ModelSpec> for String {
    fn from(m: ModelSpec) -> String {
        m.to_string()
    }
}

impl From<String> for ModelSpec {
    fn from(s: String) -> ModelSpec {
        ModelSpec::parse(&s)
    }
}

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

/// What happened to a cancel request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A waiting job, now cancelled.
    Cancelled,
    /// The running job; it stops at the next step boundary.
    Requested,
    /// Finished already, or no such job.
    Nothing,
}

/// The ordered list of jobs: waiting ones run top to bottom; finished ones stay listed until
/// removed so their outputs and errors remain visible.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub jobs: Vec<Job>,
    pub next_id: JobId,
    /// While paused, no new job starts (the running one finishes).
    pub paused: bool,
}

impl Queue {
    pub fn push(&mut self, spec: JobSpec) -> JobId {
        self.next_id = self
            .next_id
            .max(self.jobs.iter().map(|j| j.id).max().unwrap_or(0))
            + 1;
        let id = self.next_id;
        self.jobs.push(Job {
            id,
            spec,
            status: JobStatus::Waiting,
            created: now(),
            started: None,
            finished: None,
            step: 0,
            total_steps: 0,
        });
        id
    }

    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    pub fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    fn index(&self, id: JobId) -> Option<usize> {
        self.jobs.iter().position(|j| j.id == id)
    }

    /// Moves a job one place up (`delta < 0`) or down. Returns whether it moved.
    pub fn move_by(&mut self, id: JobId, delta: isize) -> bool {
        let Some(i) = self.index(id) else {
            return false;
        };
        let Some(j) = i.checked_add_signed(delta).filter(|j| *j < self.jobs.len()) else {
            return false;
        };
        self.jobs.swap(i, j);
        true
    }

    /// The first waiting job, in list order.
    pub fn next_waiting(&self) -> Option<JobId> {
        self.jobs
            .iter()
            .find(|j| j.status == JobStatus::Waiting)
            .map(|j| j.id)
    }

    pub fn running(&self) -> Option<JobId> {
        self.jobs
            .iter()
            .find(|j| j.status == JobStatus::Running)
            .map(|j| j.id)
    }

    /// Cancels a waiting job at once; a running one is only marked by the caller's flag.
    pub fn cancel(&mut self, id: JobId) -> CancelOutcome {
        let Some(job) = self.get_mut(id) else {
            return CancelOutcome::Nothing;
        };
        match job.status {
            JobStatus::Waiting => {
                job.status = JobStatus::Cancelled;
                job.finished = Some(now());
                CancelOutcome::Cancelled
            }
            JobStatus::Running => CancelOutcome::Requested,
            _ => CancelOutcome::Nothing,
        }
    }

    /// Puts a failed, cancelled or finished job back to waiting, with its settings unchanged.
    pub fn retry(&mut self, id: JobId) -> bool {
        let Some(job) = self.get_mut(id) else {
            return false;
        };
        if !job.status.is_finished() {
            return false;
        }
        job.status = JobStatus::Waiting;
        job.started = None;
        job.finished = None;
        job.step = 0;
        job.total_steps = 0;
        true
    }

    /// Removes a job that is not running.
    pub fn remove(&mut self, id: JobId) -> bool {
        match self.index(id) {
            Some(i) if self.jobs[i].status != JobStatus::Running => {
                self.jobs.remove(i);
                true
            }
            _ => false,
        }
    }

    /// After a restart nothing is running: a job that was interrupted waits again.
    pub fn recover_after_restart(&mut self) -> usize {
        let mut n = 0;
        for job in &mut self.jobs {
            if job.status == JobStatus::Running {
                job.status = JobStatus::Waiting;
                job.started = None;
                job.step = 0;
            }
            if job.status == JobStatus::Waiting {
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::Preset;

    fn spec(seed: u64) -> JobSpec {
        JobSpec {
            caption: "{}".into(),
            params: Preset::Turbo12.into(),
            size: ImageSize::new(64, 64),
            seed,
            model: ModelSpec::Demo,
            adapters: Vec::new(),
            start: None,
        }
    }

    #[test]
    fn order_cancel_retry_remove() {
        let mut q = Queue::default();
        let a = q.push(spec(1));
        let b = q.push(spec(2));
        let c = q.push(spec(3));
        assert_eq!(q.next_waiting(), Some(a));
        assert!(q.move_by(c, -1));
        assert!(q.move_by(c, -1));
        assert!(!q.move_by(c, -1), "already first");
        assert_eq!(q.next_waiting(), Some(c));
        assert_eq!(q.cancel(c), CancelOutcome::Cancelled);
        assert_eq!(q.next_waiting(), Some(a));
        q.get_mut(a).unwrap().status = JobStatus::Running;
        assert_eq!(q.cancel(a), CancelOutcome::Requested);
        assert!(!q.remove(a), "running jobs stay");
        assert!(q.retry(c));
        assert_eq!(q.next_waiting(), Some(c));
        assert!(q.remove(b));
        assert_eq!(q.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![c, a]);
        assert_eq!(q.recover_after_restart(), 2);
        let d = q.push(spec(4));
        assert_eq!(d, 4, "ids never repeat");
    }

    #[test]
    fn model_spec_parses_and_round_trips() {
        assert_eq!(ModelSpec::parse("demo"), ModelSpec::Demo);
        assert_eq!(ModelSpec::parse("/tmp"), ModelSpec::Dir("/tmp".into()));
        assert_eq!(
            ModelSpec::parse("ideogram-ai/ideogram-4-nf4"),
            ModelSpec::Repo("ideogram-ai/ideogram-4-nf4".into())
        );
        let json = serde_json::to_string(&ModelSpec::Repo("a/b".into())).unwrap();
        assert_eq!(json, "\"a/b\"");
        assert_eq!(ModelSpec::Dir("/x/ckpt".into()).short(), "ckpt");
    }
}
