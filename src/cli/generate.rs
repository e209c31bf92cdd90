//! `ideogram4-tui generate`: captions to image files from the command line.
//!
//! Resolves the job (caption, sampler, size, seeds) from flags or an earlier output's
//! `parameters` record, checks memory before loading a real checkpoint, loads the model once,
//! runs `--count` jobs with consecutive seeds, and writes each image atomically with its record
//! embedded. Progress goes to a bar on stderr, or JSON lines on stdout with `--json`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::ValueEnum;
use ideogram4::logging;
use ideogram4::mlx::{self, io as mlx_io, Dtype};
use ideogram4::model::linear::{Compute, Dequant};
use ideogram4::output::{
    expand_pattern, read_record, resolve_format, save_image, GenerationRecord, ImageFormat,
    PatternFields, RgbImage, SaveOptions, Timestamp,
};
use ideogram4::pipeline::{
    dtype_name, Event, Finished, JobSpec, LoadOptions, ModelSource, Pipeline, PipelineError, Stage,
};
use ideogram4::sampler::{
    parse_guidance_list, validate_size, CustomSampler, Guidance, ImageSize, Preset, SamplerParams,
    SizeLimits, PIXELS_PER_TOKEN,
};
use ideogram4::weights::{Checkpoint, ComponentKind};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// The model used when neither `--model` nor the config file names one.
pub const DEFAULT_MODEL: &str = "ideogram-ai/ideogram-4-nf4";

/// Default image side of the demo model.
const DEMO_SIDE: u32 = 256;

/// Output name when --out is not given (the format's extension is appended).
const DEFAULT_PATTERN: &str = "ideogram4-{date}-{time}-{seed}";

/// Pretends this many bytes are available (to exercise the memory check on small models).
const AVAILABLE_OVERRIDE: &str = "IDEOGRAM4_AVAILABLE_MEMORY_BYTES";

/// Working memory assumed on top of the weights when checking available memory.
const WORKING_MEMORY: u64 = 2 << 30;

const AFTER_HELP: &str = "\
Examples:
  ideogram4-tui generate --model demo --caption-file examples/captions/photo.json
      the built-in demo model (random weights, coloured noise) works anywhere in seconds
  ideogram4-tui generate --caption-file cap.json --preset V4_TURBO_12 --seed 7 --out fox.png
  ideogram4-tui generate --caption-file cap.json --count 4 --out 'fox-{seed}.webp'
      four images with seeds s, s+1, s+2, s+3 (s random, printed and recorded)
  ideogram4-tui generate --caption-file cap.json --steps 30 --mu 0.5 --std 1.5 --guidance 5
  ideogram4-tui generate --caption-file cap.json --steps 3 --guidance-schedule 3,7,7
      guidance in the official loop-index order: the FIRST entry is the LAST step
  ideogram4-tui generate --caption-file cap.json --preset V4_TURBOTIME_8
      8 steps, one DiT pass each (needs `models download ostris/ideogram_4_turbotime_lora`)
  ideogram4-tui generate --caption-file cap.json --lora style.safetensors@0.8 --cfg-end 0.6
  ideogram4-tui generate --from-image fox.png --seed 8
      re-run the parameters embedded in an earlier output, with a new seed
  ideogram4-tui generate --model demo --caption-file cap.json --json | jq .
  ideogram4-tui generate --caption-file cap.json --init-image fox.png --strength 0.5
      a variation of fox.png (strength 1 ignores it; the file's sha256 is recorded)
  ideogram4-tui generate --caption-file cap.json --init-image fox.png --mask sky.png
      repaint only where sky.png is white
  ideogram4-tui generate --caption-file cap.json --init-image fox.png --outpaint 0,256,0,256
      a wider canvas: 256 new pixels left and right of the (scaled) source

Captions are JSON objects checked by the official verifier first; warnings stop the run
unless --warn-on-caption-issues. Every output embeds a `parameters` record (PNG iTXt,
JPEG/WebP XMP) with the caption exactly as tokenized, sampler settings, seed, size and model.
Output names may use {date} {time} {seed} {preset}, and a counter written as the letter n in
braces (0001, 0002, …); existing files are never replaced.";

/// Compute dtype choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    /// float32 when MLX computes on the CPU, bfloat16 on a GPU.
    Auto,
    F32,
    Bf16,
}

/// Generate images from a caption.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// `demo`, a checkpoint folder, or a Hugging Face repository id in the local cache
    /// [default: `model` of config.toml, else ideogram-ai/ideogram-4-nf4].
    #[arg(long, env = "IDEOGRAM4_MODEL", value_name = "MODEL")]
    model: Option<String>,
    /// The caption file (JSON caption; `-` reads standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "caption")]
    caption_file: Option<PathBuf>,
    /// The caption text itself.
    #[arg(long, value_name = "TEXT")]
    caption: Option<String>,
    /// A plain idea instead of a caption: expanded by the magic prompt backend first (see
    /// `ideogram4-tui caption --help`); the idea and the backend are recorded in the image.
    #[arg(long, value_name = "IDEA", conflicts_with_all = ["caption", "caption_file"])]
    idea: Option<String>,
    #[command(flatten)]
    magic: super::caption::BackendArgs,
    /// A preset: V4_QUALITY_48 (default), V4_DEFAULT_20, V4_TURBO_12, or V4_TURBOTIME_8 / _4 /
    /// _2 (TurboTime LoRA, guidance 1, one DiT).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["steps", "mu", "std", "guidance", "guidance_schedule"])]
    preset: Option<String>,
    /// Custom sampler: number of steps [default 48, or the guidance schedule's length].
    #[arg(long)]
    steps: Option<usize>,
    /// Custom sampler: the official pipeline's `mu` (the resolution shift is added to it)
    /// [default 0.5].
    #[arg(long, allow_hyphen_values = true)]
    mu: Option<f64>,
    /// Custom sampler: logit-normal standard deviation [default 1.0].
    #[arg(long)]
    std: Option<f64>,
    /// Custom sampler: one guidance weight for every step [default 7.0].
    #[arg(long, conflicts_with = "guidance_schedule", allow_hyphen_values = true)]
    guidance: Option<f32>,
    /// Custom sampler: comma-separated weights, one per step, in the official loop-index
    /// order (the first entry is the last step, as in data/presets.json).
    #[arg(long, value_name = "W,W,...", allow_hyphen_values = true)]
    guidance_schedule: Option<String>,
    /// Image width in pixels (multiple of 16; 256–2048 for the real model)
    /// [default 1024; 256 with --model demo].
    #[arg(long)]
    width: Option<u32>,
    /// Image height in pixels [default 1024; 256 with --model demo].
    #[arg(long)]
    height: Option<u32>,
    /// Seed of the first image [default: random, printed and recorded].
    #[arg(long)]
    seed: Option<u64>,
    /// Number of images, with seeds seed, seed+1, …
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10000))]
    count: u32,
    /// Output file or name pattern with {date} {time} {seed} {preset} (and a counter, see
    /// below) [default: ideogram4-{date}-{time}-{seed}.png in the current folder].
    #[arg(long, short, value_name = "PATH")]
    out: Option<String>,
    /// Image format; the output name's extension decides when it has one, and a different
    /// --format is an error.
    #[arg(long, value_parser = ["png", "jpeg", "jpg", "webp"])]
    format: Option<String>,
    /// The initial latent instead of seeded noise: a safetensors file with one float32
    /// tensor `noise` of shape (1, tokens, channels), tokens = (width/16)·(height/16).
    #[arg(long, value_name = "FILE.safetensors", conflicts_with = "count")]
    init_noise: Option<PathBuf>,
    /// Re-run the parameters embedded in an earlier output (flags given here override them).
    #[arg(long, value_name = "IMAGE")]
    from_image: Option<PathBuf>,
    /// Print progress and results as JSON lines on stdout instead of a progress bar.
    #[arg(long)]
    json: bool,
    /// Go on when the caption verifier warns (the official flag); by default warnings abort.
    #[arg(long)]
    warn_on_caption_issues: bool,
    /// Load even when the model looks too big for the available memory.
    #[arg(long)]
    force: bool,
    /// Compute dtype (the goldens' tight parity is float32).
    #[arg(long, value_enum, default_value_t = DtypeArg::Auto)]
    dtype: DtypeArg,
    /// A LoRA/LoKr adapter: a .safetensors file or a cached repo `owner/name[:file]`, with
    /// an optional strength (`style.safetensors@0.8`); repeatable, applied in order.
    #[arg(long = "lora", value_name = "SPEC[@STRENGTH]")]
    loras: Vec<String>,
    /// Which transformer the --lora adapters patch: cond (default: style LoRAs), both, or
    /// uncond-pass (the unconditional LoRA, picked automatically by its file name).
    #[arg(long, value_name = "cond|both|uncond-pass", default_value = "cond")]
    lora_target: String,
    /// Guidance truncation: only the first round(F·steps) steps use guidance, the rest run
    /// the conditional DiT alone (mflux --cfg-end).
    #[arg(long, value_name = "F")]
    cfg_end: Option<f64>,
    /// Conditional DiT from a GGUF file, a folder of GGUF files or another checkpoint (folder
    /// or cached repo); --model supplies the rest [default: `dit` of config.toml].
    #[arg(long, value_name = "FILE_OR_REPO")]
    dit: Option<String>,
    /// Unconditional DiT, likewise [default: the GGUF sibling of --dit named the community
    /// way (`*_uncond-*`, `*-unconditional_transformer-*`), else from --model].
    #[arg(long, value_name = "FILE_OR_REPO")]
    uncond_dit: Option<String>,
    /// Every N sampling steps, write the live preview (predicted image, cheap colour map) to
    /// DIR as <seed>_step<NNN>.png.
    #[arg(long, num_args = 2, value_names = ["N", "DIR"])]
    preview_every: Vec<String>,
    #[command(flatten)]
    start: super::start::StartArgs,
}

/// Set by SIGINT: the running job stops before its next step.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

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
struct Reporter {
    json: bool,
    bar: Option<ProgressBar>,
}

impl Reporter {
    fn emit(&self, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        }
    }

    fn note(&self, text: &str) {
        if !self.json {
            match &self.bar {
                Some(bar) => bar.suspend(|| eprintln!("{text}")),
                None => eprintln!("{text}"),
            }
        }
    }

    fn warn(&self, text: &str) {
        if self.json {
            self.emit(json!({"event": "warning", "message": text}));
        } else {
            self.note(&format!("warning: {text}"));
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.preview_every.is_empty() {
        super::live_preview::configure(&args.preview_every)?;
    }
    let reporter = Reporter {
        json: args.json,
        bar: None,
    };
    match generate(args, reporter) {
        Ok(code) => Ok(code),
        Err(e) if INTERRUPTED.load(Ordering::SeqCst) => {
            tracing::info!("generate interrupted: {e:#}");
            eprintln!("{e}");
            Ok(ExitCode::from(130))
        }
        Err(e) => Err(e),
    }
}

fn generate(args: Args, mut reporter: Reporter) -> anyhow::Result<ExitCode> {
    let mut plan = Plan::resolve(&args)?;
    let start = super::start::prepare(&args.start, args.from_image.as_deref(), plan.size)?;
    if let Some(s) = &start {
        plan.size = s.canvas;
        s.notes.iter().for_each(|n| reporter.warn(n));
    }
    let source = ModelSource::parse(&plan.model);
    let dits = ideogram4::pipeline::dits::resolve_dits(
        args.dit.clone().or_else(|| configured("dit")).as_deref(),
        args.uncond_dit
            .clone()
            .or_else(|| configured("uncond_dit"))
            .as_deref(),
    )?;
    let format = args
        .format
        .as_deref()
        .map(str::parse::<ImageFormat>)
        .transpose()?;

    // Cheap checks first: nothing below should fail after a long load.
    let probe = expand_pattern(
        args.out.as_deref().unwrap_or(DEFAULT_PATTERN),
        Path::new("."),
        &PatternFields {
            seed: plan.seed,
            preset: plan.sampler.label(),
            time: Timestamp::now_local(),
        },
    )?;
    resolve_format(probe.extension(), format)?;
    ideogram4::output::check_dir(probe.dir())?;
    if source != ModelSource::Demo {
        let root = source.resolve()?.unwrap_or_default();
        let one_dit =
            crate::cli::lora::one_dit(&plan.sampler, plan.size, plan.cfg_end, &plan.adapters);
        check_checkpoint(
            &root,
            &dits.overrides,
            plan.size,
            args.force,
            one_dit,
            &reporter,
        )?;
    }
    let idea = match &args.idea {
        Some(idea) => {
            let config = args.magic.config(None)?;
            let (w, h) = (plan.size.width, plan.size.height);
            let expansion = super::caption::expand_idea(&config, idea, w, h, args.json)?;
            reporter.emit(json!({
                "event": "caption", "caption": expansion.caption, "backend": expansion.backend,
                "retried": expansion.retried,
            }));
            plan.caption = expansion.caption;
            Some((idea.clone(), expansion.backend))
        }
        None => None,
    };
    let compute = compute_for(args.dtype);
    let started = Instant::now();
    tracing::info!(
        model = %source,
        mlx = %mlx::device::version(),
        device = %mlx::default_device(),
        compute = dtype_name(compute.dtype),
        "loading model"
    );
    reporter.note(&format!("loading {source} …"));
    let mut pipeline = Pipeline::load_with(
        &source,
        &dits.overrides,
        LoadOptions {
            compute: Some(compute),
            // Read only when a job has a guided step (TurboTime never does).
            defer_unconditional: true,
            ..LoadOptions::default()
        },
    )
    .with_context(|| format!("loading model {source}"))?;
    let info = pipeline.info().clone();
    tracing::info!(
        model = %info.name,
        weight_format = %info.weight_format,
        compute = dtype_name(info.compute.dtype),
        seconds = started.elapsed().as_secs_f64(),
        resident_bytes = info.resident_bytes,
        "model loaded"
    );
    reporter.emit(json!({
        "event": "loaded", "model": info.name, "weight_format": info.weight_format,
        "compute_dtype": dtype_name(info.compute.dtype), "seconds": started.elapsed().as_secs_f64(),
        "resident_bytes": info.resident_bytes,
    }));
    reporter.note(&format!(
        "model {} ({} weights, {} compute), loaded in {:.1} s",
        info.name,
        info.weight_format,
        dtype_name(info.compute.dtype),
        started.elapsed().as_secs_f64()
    ));
    if mlx::default_device() == mlx::Device::Cpu && info.size_limits == SizeLimits::RealModel {
        warn_cpu_speed(&reporter, plan.size, plan.sampler.steps());
    }

    let noise = match &args.init_noise {
        Some(path) => Some(read_init_noise(path, plan.size, info.in_channels)?),
        None => None,
    };
    if plan.seed_was_random {
        reporter.note(&format!("seed {} (random)", plan.seed));
    }
    install_sigint();

    for i in 0..args.count {
        let seed = plan.seed.wrapping_add(u64::from(i));
        let job = JobSpec {
            caption: plan.caption.clone(),
            sampler: plan.sampler.clone(),
            size: plan.size,
            seed,
            init_noise: noise.clone(),
            allow_caption_warnings: args.warn_on_caption_issues,
            cfg_end: plan.cfg_end,
            adapters: plan.adapters.clone(),
        };
        // The caption is private: its length and digest identify it in the log.
        tracing::info!(
            image = i + 1,
            count = args.count,
            model = %info.name,
            size = %plan.size,
            sampler = plan.sampler.label(),
            steps = plan.sampler.steps(),
            seed,
            caption_chars = plan.caption.chars().count(),
            caption = %logging::caption_digest(&plan.caption),
            "job started"
        );
        if !args.json {
            let bar = ProgressBar::new(plan.sampler.steps() as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(format!("seed {seed}"));
            if !std::io::stderr().is_terminal() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            reporter.bar = Some(bar);
        }
        let finished = run_job(
            &mut pipeline,
            &job,
            start.as_ref().map(|s| &s.start),
            &reporter,
        )?;
        for warning in pipeline.take_adapter_warnings() {
            reporter.warn(&warning);
        }
        if let Some(bar) = reporter.bar.take() {
            bar.finish_and_clear();
        }
        let mut record = finished.record.clone();
        for (key, value) in [("dit", &dits.recorded.0), ("uncond_dit", &dits.recorded.1)] {
            if let Some(v) = value {
                record.extra.insert(key.into(), json!(v));
            }
        }
        if let Some(s) = &start {
            record.extra.insert("init_image".into(), s.record.clone());
        }
        if let Some(path) = &args.init_noise {
            record.extra.insert(
                "init_noise".into(),
                json!(path.file_name().map(|n| n.to_string_lossy().into_owned())),
            );
        }
        if let Some((idea, backend)) = &idea {
            record.set_idea(idea, backend);
        }
        let saved = save(&finished, &record, &plan, args.out.as_deref(), format)?;
        let t = finished.timings;
        tracing::info!(
            seed,
            seconds = t.total_seconds,
            text_seconds = t.text_seconds,
            text_cached = t.text_cached,
            sampling_seconds = t.sampling_seconds,
            decode_seconds = t.decode_seconds,
            peak_memory = finished.peak_memory,
            // Absolute: the log outlives the folder the command ran in.
            output = %std::fs::canonicalize(&saved).unwrap_or_else(|_| saved.clone()).display(),
            "job finished"
        );
        reporter.emit(json!({
            "event": "saved", "path": saved, "seed": seed, "width": finished.width,
            "height": finished.height, "steps": plan.sampler.steps(),
            "seconds": t.total_seconds, "text_seconds": t.text_seconds,
            "sampling_seconds": t.sampling_seconds, "decode_seconds": t.decode_seconds,
            "text_cached": t.text_cached, "peak_memory": finished.peak_memory,
            "dit_passes": finished.dit_passes,
            "transformers_loaded": finished.transformers_loaded,
            "seconds_per_step": t.sampling_seconds / plan.sampler.steps().max(1) as f64,
            "adapters": record.extra.get(ideogram4::pipeline::RECORD_ADAPTERS),
            "cfg_end": plan.cfg_end,
        }));
        if !args.json {
            eprintln!(
                "saved {} ({}x{}, seed {seed}, {} steps, {:.1} s)",
                saved.display(),
                finished.width,
                finished.height,
                plan.sampler.steps(),
                t.total_seconds
            );
            println!("{}", saved.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_job(
    pipeline: &mut Pipeline,
    job: &JobSpec,
    start: Option<&ideogram4::pipeline::StartImage>,
    reporter: &Reporter,
) -> anyhow::Result<Finished> {
    let mut on_event = |e: &Event| match e {
        Event::Stage(stage) => {
            tracing::debug!(seed = job.seed, stage = stage_name(*stage), "stage");
            reporter.emit(json!({"event": "stage", "stage": stage_name(*stage), "seed": job.seed}));
            if let Some(bar) = &reporter.bar {
                bar.set_message(stage.label());
            }
        }
        Event::CaptionWarnings(message) => {
            tracing::warn!(
                seed = job.seed,
                warnings = logging::verifier_warning_count(message),
                "the caption verifier warned; going on (--warn-on-caption-issues)"
            );
            reporter.warn(message);
        }
        Event::Step(p) => {
            tracing::debug!(
                seed = job.seed,
                step = p.step,
                total = p.total,
                seconds_per_step = p.seconds_per_step,
                eta_seconds = p.eta_seconds,
                mlx_active = p.memory.active,
                mlx_peak = p.memory.peak,
                "step"
            );
            reporter.emit(json!({
                "event": "step", "seed": job.seed, "step": p.step, "total": p.total,
                "seconds_per_step": p.seconds_per_step, "eta_seconds": p.eta_seconds,
                "mlx_active": p.memory.active, "mlx_peak": p.memory.peak,
            }));
            if let Some(bar) = &reporter.bar {
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
    };
    match super::live_preview::run(pipeline, job, start, &mut on_event, &INTERRUPTED) {
        Ok(f) => Ok(f),
        Err(PipelineError::Cancelled) => {
            tracing::info!(seed = job.seed, "job cancelled");
            if let Some(bar) = &reporter.bar {
                bar.abandon();
            }
            reporter.emit(json!({"event": "cancelled", "seed": job.seed}));
            Err(anyhow!("interrupted: the job was cancelled between steps"))
        }
        Err(e) => {
            if let Some(bar) = &reporter.bar {
                bar.abandon();
            }
            reporter.emit(json!({"event": "error", "message": e.to_string()}));
            Err(e.into())
        }
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::LoadingTextEncoder => "loading_text_encoder",
        Stage::EncodingText { cached: true } => "text_cached",
        Stage::EncodingText { cached: false } => "encoding_text",
        Stage::Sampling => "sampling",
        Stage::Decoding => "decoding",
    }
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

/// Everything a job needs, from flags and (with `--from-image`) a stored record.
struct Plan {
    model: String,
    caption: String,
    sampler: SamplerParams,
    size: ImageSize,
    seed: u64,
    seed_was_random: bool,
    cfg_end: Option<f64>,
    adapters: Vec<ideogram4::model::adapter::AdapterUse>,
}

impl Plan {
    fn resolve(args: &Args) -> anyhow::Result<Plan> {
        let record: Option<GenerationRecord> = args
            .from_image
            .as_deref()
            .map(|p| {
                read_record(p).with_context(|| format!("reading the parameters of {}", p.display()))
            })
            .transpose()?;
        let caption = match (&args.caption, &args.caption_file, &record) {
            // Filled in by the magic prompt once the cheap checks have passed.
            _ if args.idea.is_some() => String::new(),
            (Some(text), _, _) => text.clone(),
            (None, Some(path), _) => read_caption(path)?,
            (None, None, Some(r)) => r.caption.clone(),
            (None, None, None) => bail!(
                "give a caption: --caption-file FILE, --caption TEXT, or --from-image IMAGE \
                 (see examples/captions/ for starters)"
            ),
        };
        let sampler = match (sampler_from_flags(args)?, &record) {
            (Some(s), _) => s,
            (None, Some(r)) => r.sampler.clone(),
            (None, None) => SamplerParams::Preset(Preset::DEFAULT),
        };
        let model = match (&args.model, &record) {
            (Some(m), _) => m.clone(),
            (None, Some(r)) => r.model.clone(),
            (None, None) => configured_model().unwrap_or_else(|| DEFAULT_MODEL.to_string()),
        };
        // The demo is for trying things out: a small default keeps it to seconds.
        let default_side = if ModelSource::parse(&model) == ModelSource::Demo {
            DEMO_SIDE
        } else {
            1024
        };
        let recorded = record.as_ref().map(GenerationRecord::size);
        let size = ImageSize::new(
            args.width
                .or(recorded.map(|s| s.width))
                .unwrap_or(default_side),
            args.height
                .or(recorded.map(|s| s.height))
                .unwrap_or(default_side),
        );
        let (seed, seed_was_random) = match (args.seed, &record) {
            (Some(s), _) => (s, false),
            (None, Some(r)) => (r.seed, false),
            (None, None) => (random_seed(), true),
        };
        let recorded = match &record {
            Some(r) => ideogram4::pipeline::recorded_adapters(r).map_err(|e| anyhow!(e))?,
            None => (Vec::new(), None),
        };
        let cfg_end = args.cfg_end.or(recorded.1);
        let adapters = crate::cli::lora::plan_adapters(
            &args.loras,
            &args.lora_target,
            &recorded.0,
            args.from_image.as_deref(),
            &sampler,
        )?;
        Ok(Plan {
            model,
            caption,
            sampler,
            size,
            seed,
            seed_was_random,
            cfg_end,
            adapters,
        })
    }
}

/// `Some` when any preset or custom flag was given.
fn sampler_from_flags(args: &Args) -> anyhow::Result<Option<SamplerParams>> {
    if let Some(name) = &args.preset {
        return Ok(Some(SamplerParams::Preset(name.parse()?)));
    }
    let custom = args.steps.is_some()
        || args.mu.is_some()
        || args.std.is_some()
        || args.guidance.is_some()
        || args.guidance_schedule.is_some();
    if !custom {
        return Ok(None);
    }
    let defaults = CustomSampler::default();
    let schedule = args
        .guidance_schedule
        .as_deref()
        .map(parse_guidance_list)
        .transpose()?;
    let steps = args
        .steps
        .or(schedule.as_ref().map(Vec::len))
        .unwrap_or(defaults.steps);
    let guidance = match (schedule, args.guidance) {
        (Some(list), _) => Guidance::Schedule(list),
        (None, Some(g)) => Guidance::Constant(g),
        (None, None) => defaults.guidance,
    };
    Ok(Some(SamplerParams::custom(
        steps,
        args.mu.unwrap_or(defaults.mu),
        args.std.unwrap_or(defaults.std),
        guidance,
    )?))
}

/// The caption file as text (strict UTF-8; `-` is standard input). Line endings are kept:
/// the model reads the caption verbatim.
fn read_caption(path: &Path) -> anyhow::Result<String> {
    use ideogram4::caption::input;
    if path.as_os_str() == "-" {
        return input::read_stdin().context("reading the caption from standard input");
    }
    input::read_file(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => anyhow!("{} is not UTF-8 text: {e}", path.display()),
        _ => anyhow!("reading {}: {e}", path.display()),
    })
}

/// A string setting of config.toml (`dit`, `uncond_dit`), if the file sets it.
fn configured(key: &str) -> Option<String> {
    let dirs = ideogram4::tui::config::Dirs::standard()?;
    let text = std::fs::read_to_string(dirs.config_file()).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    table.get(key)?.as_str().map(str::to_string)
}

/// `model` from config.toml, if the file sets it.
fn configured_model() -> Option<String> {
    let dirs = ideogram4::tui::config::Dirs::standard()?;
    let text = std::fs::read_to_string(dirs.config_file()).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    table.get("model")?.as_str().map(str::to_string)
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    // Seeds people can read and type.
    h.finish() % 1_000_000_000
}

fn compute_for(arg: DtypeArg) -> Compute {
    let dequant = if mlx::default_device() == mlx::Device::Gpu {
        Dequant::Graph
    } else {
        Dequant::Host
    };
    match arg {
        DtypeArg::Auto => Compute::for_default_device(),
        DtypeArg::F32 => Compute {
            dtype: Dtype::F32,
            dequant,
        },
        DtypeArg::Bf16 => Compute {
            dtype: Dtype::Bf16,
            dequant,
        },
    }
}

/// Checks the size rules of the checkpoint's model and refuses, with numbers, a checkpoint
/// that will not fit in the available memory.
fn check_checkpoint(
    root: &Path,
    dits: &ideogram4::weights::DitOverrides,
    size: ImageSize,
    force: bool,
    one_dit: bool,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open_with(root, dits)?;
    let full_size = checkpoint
        .plan(ComponentKind::Transformer)
        .dims
        .dit()
        .is_some_and(|d| ideogram4::model::dit::DitConfig::from_dims(d).is_full_size());
    let limits = if full_size {
        SizeLimits::RealModel
    } else {
        SizeLimits::TinyModel
    };
    validate_size(size, limits)?;
    // The text encoder is streamed a layer at a time, so it adds one layer, not itself.
    let mut weights = checkpoint.working_set_estimate(false);
    if one_dit {
        // The unconditional DiT is never loaded for these jobs.
        weights = weights.saturating_sub(crate::cli::lora::unconditional_bytes(&checkpoint));
    }
    let needed = weights + WORKING_MEMORY;
    let available = match std::env::var(AVAILABLE_OVERRIDE)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(bytes) => bytes,
        None => {
            let mut system = sysinfo::System::new();
            system.refresh_memory();
            system.available_memory()
        }
    };
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    if available > 0 && needed > available {
        let message = format!(
            "{} needs about {:.1} GiB ({:.1} GiB of weights + {:.1} GiB working memory) but only \
             {:.1} GiB is available",
            root.display(),
            gib(needed),
            gib(weights),
            gib(WORKING_MEMORY),
            gib(available)
        );
        if !force {
            bail!("{message}; close other programs, or pass --force to try anyway");
        }
        reporter.warn(&format!("{message}; going on because of --force"));
    }
    Ok(())
}

/// Estimates a full-size step on this CPU from a quick f32 matmul and warns.
fn warn_cpu_speed(reporter: &Reporter, size: ImageSize, steps: usize) {
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
    let step = flops / (gflops.max(1.0) * 1e9);
    reporter.warn(&format!(
        "MLX computes on the CPU here ({gflops:.0} GFLOP/s): one step at {size} takes about {}, \
         {steps} steps about {} (try --preset V4_TURBO_12 or a smaller size)",
        human_duration(step),
        human_duration(step * steps as f64)
    ));
}

/// Reads `noise` (float32, `(1, tokens, channels)`) for a `size` image.
fn read_init_noise(path: &Path, size: ImageSize, channels: usize) -> anyhow::Result<Vec<f32>> {
    let file = mlx_io::load_safetensors(path)
        .map_err(|e| anyhow!("{}: not a readable safetensors file ({e})", path.display()))?;
    let tokens =
        (size.width / PIXELS_PER_TOKEN) as usize * (size.height / PIXELS_PER_TOKEN) as usize;
    let want = [1, tokens, channels];
    let names: Vec<&str> = file.tensors.iter().map(|(n, _)| n.as_str()).collect();
    let (_, noise) = file
        .tensors
        .iter()
        .find(|(n, _)| n == "noise")
        .ok_or_else(|| {
            anyhow!(
                "{} has no tensor named `noise` (found {names:?})",
                path.display()
            )
        })?;
    if noise.dtype() != Dtype::F32 {
        bail!(
            "{}: `noise` is {:?}, expected float32",
            path.display(),
            noise.dtype()
        );
    }
    if noise.shape() != want {
        bail!(
            "{}: `noise` has shape {:?}, expected {want:?} for a {size} image \
             ((width/16)·(height/16) tokens, {channels} channels)",
            path.display(),
            noise.shape()
        );
    }
    Ok(noise.to_vec::<f32>()?)
}

/// Writes one image; returns the path written.
fn save(
    finished: &Finished,
    record: &GenerationRecord,
    plan: &Plan,
    out: Option<&str>,
    format: Option<ImageFormat>,
) -> anyhow::Result<PathBuf> {
    let pattern = out.unwrap_or(DEFAULT_PATTERN);
    let fields = PatternFields {
        seed: record.seed,
        preset: plan.sampler.label(),
        time: Timestamp::now_local(),
    };
    let name = expand_pattern(pattern, Path::new("."), &fields)?;
    let image = RgbImage::new(finished.width, finished.height, &finished.pixels)?;
    let options = SaveOptions {
        format,
        ..SaveOptions::default()
    };
    let saved = save_image(&name, &image, &record.to_value(), &options)?;
    Ok(saved.path)
}
