//! Jobs as the app sees them: the engine's queue mirrored with a selection, the history of
//! finished images derived from it (and from the output index), and the keys that queue,
//! cancel, retry, reorder or load them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::action::{Action, Motion};
use super::app::{App, Effect, EngineCommand, PreviewImage};
use super::keymap::Context;
use super::list;
use crate::engine::{Job, JobId, JobSpec, JobStatus, ModelSpec, Queue, RgbImage};
use crate::sampler::random_seed;

/// A finished image: from this session's queue or from the output history index.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryItem {
    pub path: PathBuf,
    /// The queue job that made it, while it is still listed.
    pub job: Option<JobId>,
    pub seed: u64,
    pub preset: String,
    pub size: crate::sampler::ImageSize,
    pub summary: String,
    pub finished: f64,
    /// The job's settings, when it came from the queue (fallback for loading back).
    pub spec: Option<JobSpec>,
}

impl HistoryItem {
    pub fn from_job(job: &Job) -> Option<HistoryItem> {
        Some(HistoryItem {
            path: job.output()?.to_path_buf(),
            job: Some(job.id),
            seed: job.spec.seed,
            preset: job.spec.params.label().to_string(),
            size: job.spec.size,
            summary: crate::output::caption_summary(&job.spec.caption, usize::MAX),
            finished: job.finished.unwrap_or(job.created),
            spec: Some(job.spec.clone()),
        })
    }

    pub fn from_index(entry: &crate::output::HistoryEntry) -> HistoryItem {
        HistoryItem {
            path: entry.path.clone(),
            job: None,
            seed: entry.seed,
            preset: entry.preset.clone(),
            size: crate::sampler::ImageSize::new(entry.width, entry.height),
            summary: entry.caption_summary.clone(),
            finished: entry.unix_seconds as f64,
            spec: None,
        }
    }

    pub fn label(&self) -> String {
        match self.job {
            Some(id) => format!("job {id} · seed {}", self.seed),
            None => format!("seed {}", self.seed),
        }
    }
}

/// Finished images, newest first, with a selection. History is about files: an image stays
/// when its job leaves the queue.
#[derive(Debug, Clone, Default)]
pub struct HistoryList {
    pub items: Vec<HistoryItem>,
    pub selected: usize,
}

impl HistoryList {
    pub fn current(&self) -> Option<&HistoryItem> {
        self.items.get(self.selected)
    }

    /// Selects the image at `path`, if listed.
    pub fn select_path(&mut self, path: &Path) -> bool {
        match self.items.iter().position(|h| h.path == path) {
            Some(i) => {
                self.selected = i;
                true
            }
            None => false,
        }
    }

    pub fn step(&mut self, motion: Motion) {
        self.selected = list::step(self.selected, self.items.len(), motion);
    }

    /// Rebuilds the list from the queue's finished jobs, keeping images whose job was removed
    /// (or that came from the index).
    fn follow_queue(&mut self, queue: &Queue) {
        let mut items: Vec<HistoryItem> = queue
            .jobs
            .iter()
            .filter_map(HistoryItem::from_job)
            .collect();
        for old in &self.items {
            if !items.iter().any(|h| h.path == old.path) {
                let mut old = old.clone();
                old.job = None;
                items.push(old);
            }
        }
        self.items = items;
        self.sort();
    }

    /// Adds entries of the output history index that are not listed yet.
    fn add_index_entries(&mut self, entries: &[crate::output::HistoryEntry]) {
        for e in entries {
            if !self.items.iter().any(|h| h.path == e.path) {
                self.items.push(HistoryItem::from_index(e));
            }
        }
        self.sort();
    }

    /// Newest first, the selection kept inside.
    fn sort(&mut self) {
        self.items.sort_by(|a, b| b.finished.total_cmp(&a.finished));
        self.selected = self.selected.min(self.items.len().saturating_sub(1));
    }
}

impl App {
    pub fn selected_job(&self) -> Option<&Job> {
        self.queue.jobs.get(self.queue_selected)
    }

    /// The Queue pane's keys on the selected job, and pausing.
    pub(super) fn queue_action(&mut self, action: &Action) {
        if *action == Action::ToggleQueuePause {
            let paused = !self.queue.paused;
            self.send(EngineCommand::Pause(paused));
            self.info(if paused {
                "queue paused: the running job finishes, no new one starts"
            } else {
                "queue resumed"
            });
            return;
        }
        let Some(job) = self.selected_job() else {
            return;
        };
        let (id, status) = (job.id, job.status.clone());
        match action {
            Action::MoveJobUp => self.move_job(-1),
            Action::MoveJobDown => self.move_job(1),
            Action::CancelJob if status.is_finished() => {
                self.info(format!("job {id} is already {}", status.label()))
            }
            Action::CancelJob => self.send(EngineCommand::Cancel(id)),
            Action::RetryJob if status.is_finished() => self.send(EngineCommand::Retry(id)),
            Action::RetryJob => self.info(format!("job {id} has not finished")),
            Action::RemoveJob if status == JobStatus::Running => {
                let cancel = self.keymap.key_in(Context::Queue, &Action::CancelJob);
                self.error(format!("job {id} is running; cancel it first ({cancel})"));
            }
            Action::RemoveJob => self.send(EngineCommand::Remove(id)),
            _ => {}
        }
    }

    fn move_job(&mut self, delta: isize) {
        let Some(job) = self.selected_job() else {
            return;
        };
        let id = job.id;
        let Some(target) = self
            .queue_selected
            .checked_add_signed(delta)
            .filter(|t| *t < self.queue.jobs.len())
        else {
            return;
        };
        self.send(EngineCommand::Move(id, delta));
        // Follow the job; the engine's next queue event confirms the order.
        self.queue.jobs.swap(self.queue_selected, target);
        self.queue_selected = target;
    }

    /// Queues `count` jobs of the caption and parameters, successive seeds.
    pub(super) fn submit(&mut self, count: usize) {
        self.refresh_caption();
        let text = self.editor.text().to_string();
        if text.trim().is_empty() {
            let examples = self.keymap.key_label(&Action::Examples);
            self.error(format!(
                "the caption is empty; write one or press {examples} for examples"
            ));
            return;
        }
        if !self.caption.warnings.is_empty() {
            let n = self.caption.warnings.len();
            let fixes = self.keymap.key_label(&Action::ApplyFixes);
            self.error(format!(
                "not queued: the caption has {n} warning(s) the official pipeline refuses; see Diagnostics ({fixes} fixes the mechanical ones)"
            ));
            return;
        }
        if let Some(problem) = self.params.problems().into_iter().next() {
            self.error(format!("not queued: {problem}"));
            return;
        }
        let specs: Vec<JobSpec> = (0..count as u64)
            .map(|i| JobSpec {
                caption: text.clone(),
                params: self.params.sampler.clone(),
                size: self.params.size,
                seed: self.params.seed.wrapping_add(i),
                model: self.params.model.clone(),
                adapters: self.params.adapters.clone(),
                start: self.start.paths(),
            })
            .collect();
        let first_seed = self.params.seed;
        self.send(EngineCommand::Submit(specs));
        if !self.params.seed_locked {
            self.params.seed = random_seed();
        }
        self.info(if count == 1 {
            format!("queued 1 job (seed {first_seed})")
        } else {
            format!(
                "queued {count} jobs (seeds {first_seed}..{})",
                first_seed.wrapping_add(count as u64 - 1)
            )
        });
    }

    /// Replaces the mirrored queue and the history derived from it.
    pub fn set_queue(&mut self, queue: Queue) {
        let selected_id = self.selected_job().map(|j| j.id);
        self.queue = queue;
        if let Some(id) = selected_id {
            if let Some(i) = self.queue.jobs.iter().position(|j| j.id == id) {
                self.queue_selected = i;
            }
        }
        self.queue_selected = self
            .queue_selected
            .min(self.queue.jobs.len().saturating_sub(1));
        self.history.follow_queue(&self.queue);
    }

    /// Adds entries of the output history index (older sessions, `generate` runs).
    pub fn add_history_entries(&mut self, entries: &[crate::output::HistoryEntry]) {
        self.history.add_index_entries(entries);
    }

    pub(super) fn show_history_item(&mut self) {
        let Some(item) = self.history.current().cloned() else {
            return;
        };
        match load_png(&item.path) {
            Ok(image) => {
                self.set_preview(PreviewImage {
                    image: Arc::new(image),
                    path: Some(item.path.clone()),
                    title: item.label(),
                });
                self.info(format!("showing {}", item.path.display()));
            }
            Err(e) => self.error(format!("cannot show {}: {e}", item.path.display())),
        }
    }

    pub(super) fn load_history_params(&mut self) {
        let Some(item) = self.history.current().cloned() else {
            self.info("no finished image selected");
            return;
        };
        // The record embedded in the file is the truth; the queue's copy is the fallback
        // when the file cannot be read.
        let (caption, sampler, size, seed, model, source) =
            match crate::output::read_record(&item.path) {
                Ok(r) => {
                    let size = r.size();
                    (
                        r.caption,
                        r.sampler,
                        size,
                        r.seed,
                        ModelSpec::parse(&r.model),
                        "embedded parameters",
                    )
                }
                Err(e) => match item.spec {
                    Some(spec) => (
                        spec.caption,
                        spec.params,
                        spec.size,
                        spec.seed,
                        spec.model,
                        "queue (file unreadable)",
                    ),
                    None => {
                        self.error(format!("cannot load parameters: {e}"));
                        return;
                    }
                },
            };
        self.editor.replace_all(caption);
        if let crate::sampler::SamplerParams::Custom(c) = &sampler {
            self.params.custom = c.clone();
        }
        self.params.sampler = sampler;
        self.params.size = size;
        self.params.seed = seed;
        self.params.seed_locked = true;
        self.params.model = model;
        self.info(format!(
            "loaded caption and parameters from {} ({source}); seed locked at {seed}",
            item.path.display()
        ));
    }

    fn send(&mut self, command: EngineCommand) {
        self.push_effect(Effect::Engine(command));
    }
}

/// Reads a PNG into RGB (for the preview of history items).
pub fn load_png(path: &Path) -> Result<RgbImage, String> {
    let img = image::ImageReader::open(path)
        .map_err(|e| e.to_string())?
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?
        .to_rgb8();
    Ok(RgbImage {
        width: img.width(),
        height: img.height(),
        pixels: img.into_raw(),
    })
}
