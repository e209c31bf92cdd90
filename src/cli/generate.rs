//! `ideogram4-tui generate`: captions to image files from the command line.
//!
//! Resolves the job (caption, sampler, size, seeds) from flags or an earlier output's
//! `parameters` record, checks memory before loading a real checkpoint, loads the model once,
//! runs `--count` jobs with consecutive seeds, and writes each image atomically with its record
//! embedded. Progress goes to a bar on stderr, or JSON lines on stdout with `--json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use anyhow::{anyhow, bail, Context};
use clap::ValueEnum;
use ideogram4::engine::{pipeline_loader_for, policy, JobSpec, RunOptions};
use ideogram4::mlx::{self, Dtype};
use ideogram4::model::linear::{Compute, Dequant};
use ideogram4::output::{
    expand_pattern, read_record, resolve_format, GenerationRecord, ImageFormat, PatternFields,
    Timestamp,
};
use ideogram4::pipeline::{LoadOptions, ModelSource};
use ideogram4::sampler::{
    parse_guidance_list, random_seed, CustomSampler, Guidance, ImageSize, Preset, SamplerParams,
};
use serde_json::json;

use super::headless::{self, Reporter, INTERRUPTED};

/// The model used when neither `--model` nor the config file names one.
pub const DEFAULT_MODEL: &str = "ideogram-ai/ideogram-4-nf4";

/// Default image side of the demo model.
const DEMO_SIDE: u32 = 256;

/// Output name when --out is not given (the format's extension is appended).
const DEFAULT_PATTERN: &str = "ideogram4-{date}-{time}-{seed}";

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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reporter = Reporter::new(args.json);
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

fn generate(args: Args, reporter: Reporter) -> anyhow::Result<ExitCode> {
    let mut plan = Plan::resolve(&args)?;
    let start = super::start::prepare(&args.start, args.from_image.as_deref(), plan.size)?;
    // The engine fits the start image to the size before the outpaint border.
    let job_size = start.as_ref().map_or(plan.size, |s| s.inner);
    if let Some(s) = &start {
        plan.size = s.prepared.canvas;
        s.prepared.notes.iter().for_each(|n| reporter.warn(n));
    }
    let source = ModelSource::parse(&plan.model);
    let dits = plan.dits(&args)?;
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
        let one_dit = policy::one_dit(&plan.sampler, plan.size, plan.cfg_end, &plan.adapters);
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
    let previews = match args.preview_every.as_slice() {
        [] => None,
        values => Some(super::live_preview::configure(values)?),
    };
    let mut extra = Vec::new();
    for (key, value) in [("dit", &dits.recorded.0), ("uncond_dit", &dits.recorded.1)] {
        if let Some(v) = value {
            extra.push((key.to_string(), json!(v)));
        }
    }
    if let Some(path) = &args.init_noise {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        extra.push(("init_noise".to_string(), json!(name)));
    }
    let load = LoadOptions {
        compute: Some(compute_for(args.dtype)),
        // Read only when a job has a guided step (TurboTime never does).
        defer_unconditional: true,
        ..LoadOptions::default()
    };
    let run = RunOptions {
        allow_caption_warnings: args.warn_on_caption_issues,
        cfg_end: plan.cfg_end,
        init_noise: args.init_noise.clone(),
    };
    let jobs = (0..args.count)
        .map(|i| JobSpec {
            caption: plan.caption.clone(),
            params: plan.sampler.clone(),
            size: job_size,
            seed: plan.seed.wrapping_add(u64::from(i)),
            model: source.clone(),
            adapters: plan.adapters.clone(),
            start: start.as_ref().map(|s| s.paths.clone()),
        })
        .collect();
    let session = headless::Session {
        model: source,
        loader: Box::new(pipeline_loader_for(load, dits.overrides, run)),
        previews,
        output: headless::Output {
            out: args.out.unwrap_or_else(|| DEFAULT_PATTERN.to_string()),
            format,
            extra,
            idea,
            cfg_end: plan.cfg_end,
        },
        jobs,
        seed_note: plan
            .seed_was_random
            .then(|| format!("seed {} (random)", plan.seed)),
    };
    headless::run(session, reporter)?;
    Ok(ExitCode::SUCCESS)
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
    /// `(dit, uncond_dit)` as the record of `--from-image` names them.
    recorded_dits: (Option<String>, Option<String>),
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
        let recorded_dit = |key: &str| {
            let value = record.as_ref()?.extra.get(key)?;
            value.as_str().map(str::to_string)
        };
        Ok(Plan {
            model,
            caption,
            sampler,
            size,
            seed,
            seed_was_random,
            cfg_end,
            adapters,
            recorded_dits: (recorded_dit("dit"), recorded_dit("uncond_dit")),
        })
    }

    /// The DiT sources: flags, else the `--from-image` record, else config.toml.
    fn dits(&self, args: &Args) -> anyhow::Result<ideogram4::pipeline::dits::DitChoice> {
        use ideogram4::pipeline::dits::resolve_dits;
        let (recorded_dit, recorded_uncond) = &self.recorded_dits;
        let dit = args
            .dit
            .clone()
            .or_else(|| recorded_dit.clone())
            .or_else(|| configured("dit"));
        if args.uncond_dit.is_none() && recorded_uncond.is_some() {
            // A sibling found by name is recorded by its file name: found the same way again.
            let found = resolve_dits(dit.as_deref(), None)?;
            if found.recorded.1 == *recorded_uncond {
                return Ok(found);
            }
        }
        let uncond = args
            .uncond_dit
            .clone()
            .or_else(|| recorded_uncond.clone())
            .or_else(|| configured("uncond_dit"));
        Ok(resolve_dits(dit.as_deref(), uncond.as_deref())?)
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
    let need = policy::check_checkpoint(root, dits, size, one_dit)?;
    if !need.fits() {
        let message = need.describe(root);
        if !force {
            bail!("{message}; close other programs, or pass --force to try anyway");
        }
        reporter.warn(&format!("{message}; going on because of --force"));
    }
    Ok(())
}
