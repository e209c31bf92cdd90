//! `generate`'s driver of the engine: the same engine thread as the terminal app runs the
//! jobs, and this module turns its events into the command line's output (a progress bar and
//! notes on stderr, or JSON lines on stdout), writes the images, and passes SIGINT on as a
//! cancel.
//!
//! Output is printed from the engine's callbacks, which run in order on the engine thread, so
//! the JSON lines come out in the order things happened; the calling thread only waits.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, bail};
use ideogram4::engine::{
    policy, Engine, EngineEvent, EngineOptions, Generated, Job, JobSpec, ModelLoader, OutputSink,
    Queue, Warning,
};
use ideogram4::mlx;
use ideogram4::output::{
    expand_pattern, save_image, ImageFormat, PatternFields, RgbImage, SaveOptions, Timestamp,
};
use ideogram4::pipeline::{dtype_name, ModelInfo, ModelSource};
use ideogram4::sampler::{ImageSize, SizeLimits};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

/// Set by SIGINT: the running job stops before its next step.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_sigint() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// Where messages go: human text on stderr, or JSON lines on stdout.
pub struct Reporter {
    pub json: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Reporter {
    pub fn new(json: bool) -> Reporter {
        Reporter {
            json,
            bar: Mutex::new(None),
        }
    }

    fn bar(&self) -> MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn emit(&self, value: Value) {
        if self.json {
            println!("{value}");
        }
    }

    pub fn note(&self, text: &str) {
        if !self.json {
            match &*self.bar() {
                Some(bar) => bar.suspend(|| eprintln!("{text}")),
                None => eprintln!("{text}"),
            }
        }
    }

    pub fn warn(&self, text: &str) {
        if self.json {
            self.emit(json!({"event": "warning", "message": text}));
        } else {
            self.note(&format!("warning: {text}"));
        }
    }

    fn start_bar(&self, seed: u64, steps: usize) {
        if self.json {
            return;
        }
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("seed {seed}"));
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        *self.bar() = Some(bar);
    }

    /// Ends the bar: cleared after a saved image, left standing after a failure.
    fn end_bar(&self, ok: bool) {
        if let Some(bar) = self.bar().take() {
            if ok {
                bar.finish_and_clear();
            } else {
                bar.abandon();
            }
        }
    }
}

/// How the images are named and what their records add to the pipeline's.
pub struct Output {
    pub out: String,
    pub format: Option<ImageFormat>,
    /// Fields the command adds to each record (`dit`, `init_noise`, …).
    pub extra: Vec<(String, Value)>,
    /// The idea the magic prompt expanded, and its backend.
    pub idea: Option<(String, String)>,
    pub cfg_end: Option<f64>,
}

/// One `generate` run: the model, how it loads, and the jobs in order.
pub struct Session {
    pub model: ModelSource,
    pub loader: Box<dyn ModelLoader>,
    /// `--preview-every N DIR`.
    pub previews: Option<(usize, PathBuf)>,
    pub output: Output,
    pub jobs: Vec<JobSpec>,
    /// Printed once the model is ready, before the first job (a random seed).
    pub seed_note: Option<String>,
}

/// What the engine thread tells the waiting caller.
enum Outcome {
    Loaded(Box<Option<ModelInfo>>),
    LoadFailed(String),
    Saved,
    Failed(String),
    Cancelled,
}

/// The job running now, for the callbacks.
#[derive(Default)]
struct Current {
    seed: u64,
    steps: usize,
    /// A live preview that could not be written (the job fails after it ends).
    preview_error: Option<String>,
}

struct Shared {
    reporter: Reporter,
    current: Mutex<Current>,
}

impl Shared {
    fn current(&self) -> MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs the session's jobs one after the other; the first failure ends it.
pub fn run(session: Session, reporter: Reporter) -> anyhow::Result<()> {
    let Session {
        model,
        loader,
        previews,
        output,
        jobs,
        seed_note,
    } = session;
    let shared = Arc::new(Shared {
        reporter,
        current: Mutex::default(),
    });
    let (tx, rx) = channel();
    let sink = ImageSink {
        shared: shared.clone(),
        output,
    };
    let options = EngineOptions {
        preview_every: previews.as_ref().map_or(0, |(n, _)| *n),
        preview_last: true,
        ..EngineOptions::default()
    };
    let events = EventPrinter {
        shared: shared.clone(),
        previews: previews.map(|(_, dir)| dir),
        tx: Mutex::new(tx),
    };
    let engine = Engine::start(
        options,
        loader,
        Box::new(sink),
        Queue::default(),
        Box::new(move |e| events.on_event(e)),
    );
    let reporter = &shared.reporter;
    reporter.note(&format!("loading {model} …"));
    engine.preload(model);
    let info = match rx.recv() {
        Ok(Outcome::Loaded(info)) => *info,
        Ok(Outcome::LoadFailed(error)) => bail!("{error}"),
        _ => bail!("the engine stopped before the model loaded"),
    };
    let steps = jobs.first().map_or(0, |j| j.params.steps());
    if let (Some(info), Some(job)) = (&info, jobs.first()) {
        if mlx::default_device() == mlx::Device::Cpu && info.size_limits == SizeLimits::RealModel {
            // The engine thread is idle until the first job is queued: MLX is free here.
            warn_cpu_speed(reporter, job.size, steps);
        }
    }
    if let Some(note) = &seed_note {
        reporter.note(note);
    }
    install_sigint();
    for spec in jobs {
        {
            let mut current = shared.current();
            current.seed = spec.seed;
            current.steps = spec.params.steps();
        }
        let id = engine.submit(vec![spec])[0];
        let mut cancel_sent = false;
        let outcome = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(outcome) => break outcome,
                Err(RecvTimeoutError::Timeout) => {
                    if INTERRUPTED.load(Ordering::SeqCst) && !cancel_sent {
                        engine.cancel(id);
                        cancel_sent = true;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bail!("the engine stopped during the job")
                }
            }
        };
        match outcome {
            Outcome::Saved => {}
            Outcome::Failed(error) | Outcome::LoadFailed(error) => return Err(anyhow!(error)),
            Outcome::Cancelled => {
                return Err(anyhow!("interrupted: the job was cancelled between steps"))
            }
            Outcome::Loaded(_) => {}
        }
        if let Some(error) = shared.current().preview_error.take() {
            bail!("live preview: {error}");
        }
    }
    Ok(())
}

/// Prints the engine's events (on the engine thread, in order) and wakes the caller.
struct EventPrinter {
    shared: Arc<Shared>,
    previews: Option<PathBuf>,
    tx: Mutex<Sender<Outcome>>,
}

impl EventPrinter {
    fn send(&self, outcome: Outcome) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let _ = tx.send(outcome);
    }

    fn on_event(&self, event: EngineEvent) {
        let reporter = &self.shared.reporter;
        let seed = self.shared.current().seed;
        match event {
            EngineEvent::ModelReady { seconds, info, .. } => {
                if let Some(info) = &info {
                    let compute = dtype_name(info.compute.dtype);
                    reporter.emit(json!({
                        "event": "loaded", "model": info.name,
                        "weight_format": info.weight_format, "compute_dtype": compute,
                        "seconds": seconds, "resident_bytes": info.resident_bytes,
                    }));
                    reporter.note(&format!(
                        "model {} ({} weights, {compute} compute), loaded in {seconds:.1} s",
                        info.name, info.weight_format,
                    ));
                }
                self.send(Outcome::Loaded(Box::new(info)));
            }
            EngineEvent::ModelFailed { model, error } => {
                self.send(Outcome::LoadFailed(format!(
                    "loading model {model}: {error}"
                )));
            }
            EngineEvent::Started { .. } => {
                let steps = self.shared.current().steps;
                reporter.start_bar(seed, steps);
            }
            EngineEvent::Stage {
                phase: Some(stage), ..
            } => {
                reporter.emit(json!({"event": "stage", "stage": stage.name(), "seed": seed}));
                if let Some(bar) = &*reporter.bar() {
                    bar.set_message(stage.label());
                }
            }
            EngineEvent::Progress { info: p, .. } => {
                reporter.emit(json!({
                    "event": "step", "seed": seed, "step": p.step, "total": p.total,
                    "seconds_per_step": p.seconds_per_step, "eta_seconds": p.eta_seconds,
                    "mlx_active": p.memory.active, "mlx_peak": p.memory.peak,
                }));
                if let Some(bar) = &*reporter.bar() {
                    // A start image runs only the last part of the schedule.
                    bar.set_length(p.total as u64);
                    bar.set_position(p.step as u64);
                    bar.set_message(format!(
                        "{:.2} s/step, {} left, MLX {:.2} GiB (peak {:.2})",
                        p.seconds_per_step,
                        human_duration(p.eta_seconds),
                        p.memory.active as f64 / f64::from(1u32 << 30),
                        p.memory.peak as f64 / f64::from(1u32 << 30)
                    ));
                }
            }
            // Start-image notes were printed once, before the model loaded.
            EngineEvent::Warning {
                warning: Warning::Caption(message),
                ..
            } => reporter.warn(&message),
            EngineEvent::Preview { step, image, .. } => {
                if let Some(dir) = &self.previews {
                    if let Err(e) = write_preview(dir, seed, step, &image) {
                        self.shared.current().preview_error.get_or_insert(e);
                    }
                }
            }
            EngineEvent::Finished { .. } => self.send(Outcome::Saved),
            EngineEvent::Failed { error, .. } => {
                reporter.end_bar(false);
                reporter.emit(json!({"event": "error", "message": error}));
                self.send(Outcome::Failed(error));
            }
            EngineEvent::Cancelled { .. } => {
                tracing::info!(seed, "job cancelled");
                reporter.end_bar(false);
                reporter.emit(json!({"event": "cancelled", "seed": seed}));
                self.send(Outcome::Cancelled);
            }
            _ => {}
        }
    }
}

/// Writes each image under `--out` with the command's additions to its record, and reports
/// it.
struct ImageSink {
    shared: Arc<Shared>,
    output: Output,
}

impl OutputSink for ImageSink {
    fn write(&mut self, job: &Job, generated: &Generated) -> Result<PathBuf, String> {
        let reporter = &self.shared.reporter;
        let stats = generated.stats.clone().unwrap_or_default();
        for warning in &stats.warnings {
            reporter.warn(warning);
        }
        reporter.end_bar(true);
        let mut record = generated.parameters.clone();
        for (key, value) in &self.output.extra {
            record.extra.insert(key.clone(), value.clone());
        }
        if let Some((idea, backend)) = &self.output.idea {
            record.set_idea(idea, backend);
        }
        let seed = job.spec.seed;
        let steps = job.spec.params.steps();
        let fields = PatternFields {
            seed,
            preset: job.spec.params.label(),
            time: Timestamp::now_local(),
        };
        let saved = (|| -> anyhow::Result<PathBuf> {
            let name = expand_pattern(&self.output.out, Path::new("."), &fields)?;
            let img = &generated.image;
            let image = RgbImage::new(img.width, img.height, &img.pixels)?;
            let options = SaveOptions {
                format: self.output.format,
                ..SaveOptions::default()
            };
            Ok(save_image(&name, &image, &record.to_value(), &options)?.path)
        })()
        .map_err(|e| format!("{e:#}"))?;
        let t = stats.timings;
        let (width, height) = (generated.image.width, generated.image.height);
        reporter.emit(json!({
            "event": "saved", "path": saved, "seed": seed, "width": width,
            "height": height, "steps": steps,
            "seconds": t.total_seconds, "text_seconds": t.text_seconds,
            "sampling_seconds": t.sampling_seconds, "decode_seconds": t.decode_seconds,
            "text_cached": t.text_cached, "peak_memory": stats.peak_memory,
            "dit_passes": stats.dit_passes,
            "transformers_loaded": stats.transformers_loaded,
            "seconds_per_step": t.sampling_seconds / steps.max(1) as f64,
            "adapters": record.extra.get(ideogram4::pipeline::RECORD_ADAPTERS),
            "cfg_end": self.output.cfg_end,
        }));
        if !reporter.json {
            eprintln!(
                "saved {} ({width}x{height}, seed {seed}, {steps} steps, {:.1} s)",
                saved.display(),
                t.total_seconds
            );
            println!("{}", saved.display());
        }
        Ok(saved)
    }
}

/// `DIR/<seed>_step<NNN>.png`.
fn write_preview(
    dir: &Path,
    seed: u64,
    step: usize,
    image: &ideogram4::engine::RgbImage,
) -> Result<(), String> {
    let path = dir.join(format!("{seed}_step{step:03}.png"));
    super::live_preview::write_png(&path, image.width, image.height, &image.pixels)?;
    tracing::info!(step, path = %path.display(), "live preview written");
    Ok(())
}

fn human_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Estimates a full-size step on this CPU and warns.
fn warn_cpu_speed(reporter: &Reporter, size: ImageSize, steps: usize) {
    let (gflops, step) = policy::cpu_step_estimate(size);
    reporter.warn(&format!(
        "MLX computes on the CPU here ({gflops:.0} GFLOP/s): one step at {size} takes about {}, \
         {steps} steps about {} (try --preset V4_TURBO_12 or a smaller size)",
        human_duration(step),
        human_duration(step * steps as f64)
    ));
}
