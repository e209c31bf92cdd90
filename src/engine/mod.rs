//! The engine: one OS thread that owns MLX and the loaded model, runs queued jobs in order,
//! and reports what happens as [`EngineEvent`]s.
//!
//! Nothing else may call MLX (its state is process-global and not thread-safe), so models are
//! built on this thread by a [`ModelLoader`] and never leave it. The caller never blocks on
//! the engine: queue edits take a mutex that the engine holds only for bookkeeping, and
//! cancelling a running job sets a flag the generator checks between steps.
//!
//! ```no_run
//! # use ideogram4::engine::*;
//! # fn demo(loader: Box<dyn ModelLoader>, sink: Box<dyn OutputSink>, spec: JobSpec) {
//! let (tx, rx) = std::sync::mpsc::channel();
//! let engine = Engine::start(EngineOptions::default(), loader, sink, Queue::default(),
//!                            Box::new(move |e| { let _ = tx.send(e); }));
//! let id = engine.submit(vec![spec])[0];
//! for event in rx {
//!     if let EngineEvent::Finished { job, output, .. } = event {
//!         if job == id { println!("{}", output.display()); break; }
//!     }
//! }
//! # }
//! ```

pub mod generator;
pub mod job;
pub mod persist;
pub mod pipeline_adapter;
pub mod policy;
pub mod queue;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

pub use generator::{
    GenerateError, Generated, Generator, ModelLoader, OutputSink, Report, Request, RgbImage,
    RunStats, SharedImage, StepInfo, Warning,
};
pub use job::{Job, JobId, JobSpec, JobStatus, ModelSpec};
pub use pipeline_adapter::{
    cached_models, pipeline_loader, pipeline_loader_for, pipeline_loader_with,
    pipeline_loader_with_dits, PipelineGenerator, RunOptions,
};
pub use queue::{CancelOutcome, Queue};

/// What the engine tells its owner. Sent from the engine thread (or from the caller's thread
/// for queue edits), in order.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// The queue changed: the whole list, small enough to copy.
    Queue(Queue),
    ModelLoading {
        model: ModelSpec,
    },
    ModelReady {
        model: ModelSpec,
        description: String,
        seconds: f64,
        /// See [`Generator::info`].
        info: Option<crate::pipeline::ModelInfo>,
    },
    ModelFailed {
        model: ModelSpec,
        error: String,
    },
    Started {
        job: JobId,
    },
    /// A phase of the running job began.
    Stage {
        job: JobId,
        stage: String,
        /// Which one, when the pipeline runs the job.
        phase: Option<crate::pipeline::Stage>,
    },
    Progress {
        job: JobId,
        info: StepInfo,
    },
    /// See [`Report::Warning`].
    Warning {
        job: JobId,
        warning: Warning,
    },
    /// A live preview of the running job (see [`EngineOptions::preview_every`]).
    Preview {
        job: JobId,
        step: usize,
        total: usize,
        image: SharedImage,
    },
    Finished {
        job: JobId,
        output: PathBuf,
        image: SharedImage,
        seconds: f64,
    },
    Failed {
        job: JobId,
        error: String,
    },
    Cancelled {
        job: JobId,
    },
}

pub type EventSink = Box<dyn Fn(EngineEvent) + Send + Sync>;

#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// MLX's allocator cache limit in bytes (`None`: MLX's default).
    pub cache_limit: Option<usize>,
    /// Live previews every this many sampling steps (0: off).
    pub preview_every: usize,
    /// Preview the last step too (files written headless; the app shows the result instead).
    pub preview_last: bool,
}

struct State {
    queue: Queue,
    cancel: Option<(JobId, Arc<AtomicBool>)>,
    preload: Option<ModelSpec>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    sink: EventSink,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on the engine thread must not take the UI down with a poisoned lock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: EngineEvent) {
        (self.sink)(event);
    }

    fn emit_queue(&self, state: &State) {
        self.emit(EngineEvent::Queue(state.queue.clone()));
    }
}

/// Handle to the engine thread. Dropping it stops the thread after the current step.
pub struct Engine {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine thread with a queue (restored from disk, or empty). Jobs that were
    /// running when the previous process ended wait again.
    pub fn start(
        options: EngineOptions,
        loader: Box<dyn ModelLoader>,
        output: Box<dyn OutputSink>,
        mut queue: Queue,
        sink: EventSink,
    ) -> Engine {
        queue.recover_after_restart();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue,
                cancel: None,
                preload: None,
                shutdown: false,
            }),
            wake: Condvar::new(),
            sink,
        });
        let worker_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("engine".into())
            .spawn(move || {
                // Built here: a loaded model holds MLX arrays and never leaves this thread.
                Worker {
                    shared: worker_shared,
                    loader,
                    output,
                    loaded: None,
                    options,
                }
                .run();
            })
            .ok();
        let engine = Engine { shared, thread };
        if engine.thread.is_none() {
            engine.shared.emit(EngineEvent::ModelFailed {
                model: ModelSpec::Demo,
                error: "could not start the engine thread".into(),
            });
        }
        engine
    }

    fn edit<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.shared.lock();
        let r = f(&mut state);
        self.shared.emit_queue(&state);
        drop(state);
        self.shared.wake.notify_all();
        r
    }

    /// Queues jobs at the end, in order; returns their ids.
    pub fn submit(&self, specs: Vec<JobSpec>) -> Vec<JobId> {
        self.edit(|s| specs.into_iter().map(|spec| s.queue.push(spec)).collect())
    }

    /// Cancels a waiting job, or asks the running one to stop after its current step.
    pub fn cancel(&self, id: JobId) -> CancelOutcome {
        self.edit(|s| {
            let outcome = s.queue.cancel(id);
            tracing::info!(job = id, outcome = ?outcome, "cancel requested");
            if outcome == CancelOutcome::Requested {
                if let Some((running, flag)) = &s.cancel {
                    if *running == id {
                        flag.store(true, Ordering::SeqCst);
                    }
                }
            }
            outcome
        })
    }

    pub fn retry(&self, id: JobId) -> bool {
        self.edit(|s| s.queue.retry(id))
    }

    pub fn remove(&self, id: JobId) -> bool {
        self.edit(|s| s.queue.remove(id))
    }

    pub fn move_job(&self, id: JobId, delta: isize) -> bool {
        self.edit(|s| s.queue.move_by(id, delta))
    }

    pub fn set_paused(&self, paused: bool) {
        self.edit(|s| s.queue.paused = paused);
    }

    /// Loads a model now, so the first job does not wait for it.
    pub fn preload(&self, model: ModelSpec) {
        self.edit(|s| s.preload = Some(model));
    }

    pub fn queue(&self) -> Queue {
        self.shared.lock().queue.clone()
    }

    /// Stops the engine: the running job is cancelled at its next step; waiting jobs stay
    /// queued (and are saved by the caller).
    pub fn shutdown(mut self) -> Queue {
        self.stop();
        self.shared.lock().queue.clone()
    }

    fn stop(&mut self) {
        {
            let mut s = self.shared.lock();
            s.shutdown = true;
            if let Some((_, flag)) = &s.cancel {
                flag.store(true, Ordering::SeqCst);
            }
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Marks a job failed; the event and the saved queue carry the error as text.
fn failed(state: &mut State, id: JobId, seconds: f64, error: &GenerateError) -> EngineEvent {
    let error = crate::logging::error_chain(error);
    tracing::error!(job = id, seconds, "job failed: {error}");
    if let Some(j) = state.queue.get_mut(id) {
        j.status = JobStatus::Failed {
            error: error.clone(),
        };
    }
    EngineEvent::Failed { job: id, error }
}

struct Worker {
    shared: Arc<Shared>,
    loader: Box<dyn ModelLoader>,
    output: Box<dyn OutputSink>,
    loaded: Option<(ModelSpec, Box<dyn Generator>)>,
    options: EngineOptions,
}

enum Work {
    Job(JobId, Box<JobSpec>, Arc<AtomicBool>),
    Preload(ModelSpec),
    Stop,
}

impl Worker {
    fn run(mut self) {
        // Field values are only evaluated when a log is listening (no MLX calls otherwise).
        tracing::info!(
            mlx = %crate::mlx::device::version(),
            device = %crate::mlx::device::default_device(),
            cache_limit = ?self.options.cache_limit,
            "engine thread started"
        );
        if let Some(limit) = self.options.cache_limit {
            let _ = crate::mlx::memory::set_cache_limit(limit);
        }
        loop {
            match self.next_work() {
                Work::Stop => break,
                Work::Preload(model) => {
                    let _ = self.ensure_model(&model);
                }
                Work::Job(id, spec, flag) => self.run_job(id, &spec, &flag),
            }
        }
    }

    fn next_work(&self) -> Work {
        let mut s = self.shared.lock();
        loop {
            if s.shutdown {
                return Work::Stop;
            }
            if let Some(model) = s.preload.take() {
                if self.loaded.as_ref().map(|(m, _)| m) != Some(&model) {
                    return Work::Preload(model);
                }
            }
            if !s.queue.paused {
                if let Some(id) = s.queue.next_waiting() {
                    let flag = Arc::new(AtomicBool::new(false));
                    s.cancel = Some((id, flag.clone()));
                    let job = s
                        .queue
                        .get_mut(id)
                        .expect("next_waiting returns a listed job");
                    job.status = JobStatus::Running;
                    job.started = Some(job::now());
                    job.finished = None;
                    job.step = 0;
                    let spec = job.spec.clone();
                    self.shared.emit_queue(&s);
                    self.shared.emit(EngineEvent::Started { job: id });
                    return Work::Job(id, Box::new(spec), flag);
                }
            }
            s = self.shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn ensure_model(&mut self, model: &ModelSpec) -> Result<(), String> {
        if self.loaded.as_ref().is_some_and(|(m, _)| m == model) {
            return Ok(());
        }
        // Free the old model before loading the next: two real checkpoints rarely fit.
        self.loaded = None;
        self.shared.emit(EngineEvent::ModelLoading {
            model: model.clone(),
        });
        tracing::info!(model = %model, "loading model");
        let t0 = Instant::now();
        match self.loader.load(model) {
            Ok(generator) => {
                tracing::info!(
                    model = %model,
                    seconds = t0.elapsed().as_secs_f64(),
                    resident_bytes = crate::mlx::memory::active(),
                    description = %generator.describe(),
                    "model loaded"
                );
                self.shared.emit(EngineEvent::ModelReady {
                    model: model.clone(),
                    description: generator.describe(),
                    seconds: t0.elapsed().as_secs_f64(),
                    info: generator.info(),
                });
                self.loaded = Some((model.clone(), generator));
                Ok(())
            }
            Err(error) => {
                tracing::error!(model = %model, "model failed to load: {error}");
                self.shared.emit(EngineEvent::ModelFailed {
                    model: model.clone(),
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    fn run_job(&mut self, id: JobId, spec: &JobSpec, flag: &AtomicBool) {
        // The caption is private: its length and digest identify it in the log.
        tracing::info!(
            job = id,
            model = %spec.model,
            size = %spec.size,
            sampler = spec.params.label(),
            steps = spec.params.steps(),
            seed = spec.seed,
            caption_chars = spec.caption.chars().count(),
            caption = %crate::logging::caption_digest(&spec.caption),
            "job started"
        );
        let t0 = Instant::now();
        let result = self.generate(id, spec, flag);
        // Encoding and writing the file happen outside the lock: the UI edits the queue
        // meanwhile and must not wait for a PNG encoder.
        let result = result.map(|(generated, job)| {
            let written = self.output.write(&job, &generated);
            (generated, written)
        });
        let seconds = t0.elapsed().as_secs_f64();
        let mut s = self.shared.lock();
        s.cancel = None;
        let event = match result {
            Ok((generated, written)) => match written {
                Ok(output) => {
                    tracing::info!(
                        job = id,
                        seed = spec.seed,
                        seconds,
                        peak_memory = crate::mlx::memory::peak(),
                        // Absolute: the log outlives the folder the output was named from.
                        output = %std::fs::canonicalize(&output).unwrap_or_else(|_| output.clone()).display(),
                        "job finished"
                    );
                    if let Some(j) = s.queue.get_mut(id) {
                        j.status = JobStatus::Done {
                            output: output.clone(),
                        };
                    }
                    EngineEvent::Finished {
                        job: id,
                        output,
                        image: Arc::new(generated.image),
                        seconds,
                    }
                }
                Err(error) => failed(&mut s, id, seconds, &GenerateError::Write(error)),
            },
            Err(GenerateError::Cancelled) => {
                let interrupted = s.shutdown;
                tracing::info!(job = id, seconds, interrupted, "job cancelled");
                if let Some(j) = s.queue.get_mut(id) {
                    if interrupted {
                        // Stopped by quitting, not by the user: it runs again next time.
                        j.status = JobStatus::Waiting;
                        j.started = None;
                        j.step = 0;
                    } else {
                        j.status = JobStatus::Cancelled;
                    }
                }
                EngineEvent::Cancelled { job: id }
            }
            Err(error) => failed(&mut s, id, seconds, &error),
        };
        if let Some(j) = s.queue.get_mut(id) {
            if j.status.is_finished() {
                j.finished = Some(job::now());
            }
        }
        self.shared.emit_queue(&s);
        drop(s);
        self.shared.emit(event);
    }

    fn generate(
        &mut self,
        id: JobId,
        spec: &JobSpec,
        flag: &AtomicBool,
    ) -> Result<(Generated, Job), GenerateError> {
        self.ensure_model(&spec.model)
            .map_err(|message| GenerateError::Load {
                model: spec.model.clone(),
                message,
            })?;
        if flag.load(Ordering::SeqCst) {
            return Err(GenerateError::Cancelled);
        }
        let (_, generator) = self.loaded.as_mut().ok_or(GenerateError::NoModel)?;
        crate::sampler::validate_size(spec.size, generator.size_limits())?;
        spec.params.validate()?;
        let request = Request {
            caption: &spec.caption,
            params: &spec.params,
            size: spec.size,
            seed: spec.seed,
            preview_every: self.options.preview_every,
            preview_last: self.options.preview_last,
            adapters: &spec.adapters,
            start: spec.start.as_ref(),
        };
        let shared = self.shared.clone();
        let mut progress = |report: Report| match report {
            Report::Step(info) => {
                tracing::debug!(
                    job = id,
                    step = info.step,
                    total = info.total,
                    secs_per_step = info.seconds_per_step,
                    eta_secs = info.eta_seconds,
                    mlx_active = info.memory.active,
                    mlx_peak = info.memory.peak,
                    "step"
                );
                let mut s = shared.lock();
                if let Some(j) = s.queue.get_mut(id) {
                    j.step = info.step;
                    j.total_steps = info.total;
                }
                drop(s);
                shared.emit(EngineEvent::Progress { job: id, info });
            }
            Report::Stage(stage) => {
                tracing::debug!(job = id, stage = %stage, "stage");
                shared.emit(EngineEvent::Stage {
                    job: id,
                    stage,
                    phase: None,
                });
            }
            Report::Phase(phase) => {
                tracing::debug!(job = id, stage = phase.label(), "stage");
                shared.emit(EngineEvent::Stage {
                    job: id,
                    stage: phase.label().to_string(),
                    phase: Some(phase),
                });
            }
            Report::Warning(warning) => {
                shared.emit(EngineEvent::Warning { job: id, warning });
            }
            Report::Preview { step, total, image } => {
                shared.emit(EngineEvent::Preview {
                    job: id,
                    step,
                    total,
                    image: std::sync::Arc::new(image),
                });
            }
        };
        let generated = generator.generate(&request, &mut progress, flag)?;
        let job = self
            .shared
            .lock()
            .queue
            .get(id)
            .cloned()
            .ok_or(GenerateError::Vanished)?;
        Ok((generated, job))
    }
}
