//! `ideogram4-tui models`: list cached checkpoints, download one, inspect one.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Context};
use ideogram4::units::human_bytes;
use ideogram4::weights::hub::{self, cache, DownloadEvent, DownloadOptions, HubEnv, Source};
use ideogram4::weights::inspect::Inspection;
use ideogram4::weights::{Checkpoint, ComponentKind, DeclaredQuant, ModelDims};
use indicatif::{ProgressBar, ProgressStyle};

const AFTER_HELP: &str = "\
Examples:
  ideogram4-tui models                                  Ideogram 4 checkpoints in the HF cache
  ideogram4-tui models download                         fetch ideogram-ai/ideogram-4-nf4
  ideogram4-tui models download ideogram-ai/ideogram-4-fp8
  ideogram4-tui models inspect ideogram-ai/ideogram-4-nf4 --json
  ideogram4-tui models inspect ./my-checkpoint

The cache is the one Python's huggingface_hub uses (HF_HOME, HF_HUB_CACHE; default
~/.cache/huggingface/hub), so files fetched with `hf download` are reused. HF_ENDPOINT and
HF_HUB_OFFLINE=1 are honoured; the token comes from HF_TOKEN or `hf auth login`.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// List as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Download a checkpoint into the Hugging Face cache (resumes partial files).
    Download(DownloadArgs),
    /// Formats, parameter counts, inferred configuration and memory of a checkpoint.
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Args)]
struct DownloadArgs {
    /// Hub repo id: a checkpoint, or an adapter repo such as
    /// ostris/ideogram_4_turbotime_lora (its .safetensors files).
    #[arg(default_value = hub::DEFAULT_REPO)]
    repo: String,
    /// Branch, tag or commit.
    #[arg(long, default_value = "main")]
    revision: String,
    /// Retries of an interrupted transfer.
    #[arg(long, default_value_t = 3)]
    retries: usize,
}

#[derive(Debug, clap::Args)]
struct InspectArgs {
    /// A checkpoint folder, or a repo id (`owner/name[@revision]`) in the cache.
    source: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Inspect with this conditional DiT (GGUF file, GGUF folder or checkpoint) in place.
    #[arg(long, value_name = "FILE_OR_REPO")]
    dit: Option<String>,
    /// Inspect with this unconditional DiT in place.
    #[arg(long, value_name = "FILE_OR_REPO")]
    uncond_dit: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let env = HubEnv::from_env();
    match args.action {
        None => list(&env, args.json),
        Some(Action::Download(a)) => download(env, a),
        Some(Action::Inspect(a)) => inspect(&env, a),
    }
}

#[derive(serde::Serialize)]
struct Listed {
    repo: String,
    revision: String,
    commit: String,
    snapshot: std::path::PathBuf,
    format: String,
    size_on_disk: u64,
    complete: bool,
    missing: Vec<String>,
    partial_bytes: u64,
    /// GGUF DiT files at the top of the snapshot (community DiT-only repos).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gguf_files: Vec<String>,
}

impl Listed {
    /// A complete revision with nothing missing and no GGUF files.
    fn new(repo: &cache::CachedRepo, rev: &cache::CachedRevision, format: String) -> Listed {
        Listed {
            repo: repo.repo_id.clone(),
            revision: if rev.refs.is_empty() {
                "-".into()
            } else {
                rev.refs.join(",")
            },
            commit: rev.commit.clone(),
            snapshot: rev.snapshot.clone(),
            format,
            size_on_disk: rev.size_on_disk,
            complete: true,
            missing: Vec::new(),
            partial_bytes: repo.partial_bytes,
            gguf_files: Vec::new(),
        }
    }
}

fn list(env: &HubEnv, json: bool) -> anyhow::Result<ExitCode> {
    let repos = cache::scan(&env.hub_cache)
        .with_context(|| format!("reading {}", env.hub_cache.display()))?;
    let mut rows = Vec::new();
    for repo in repos.iter().filter(|r| cache::looks_like_ideogram4(r)) {
        for rev in &repo.revisions {
            let ggufs = ideogram4::weights::sources::gguf_files(&rev.snapshot);
            let split = rev.snapshot.join("split_model.json").is_file();
            // Not the official layout: an MLX split checkpoint, or GGUF DiTs only.
            let other_layout = split || !ggufs.is_empty();
            let format = if split || (!other_layout && rev.is_complete()) {
                match Checkpoint::open(&rev.snapshot) {
                    Ok(c) => Ok(c.format().name().to_string()),
                    Err(e) => Err(format!("invalid ({e})")),
                }
            } else if other_layout {
                Ok("gguf-dit".to_string())
            } else {
                Ok(guess_format(&rev.snapshot, &repo.repo_id))
            };
            // The official layout is complete when every file is there, whether or not it
            // opens; the others when they open.
            let (complete, missing) = if other_layout {
                (format.is_ok(), Vec::new())
            } else {
                let missing = rev.missing().into_iter().map(str::to_string).collect();
                (rev.is_complete(), missing)
            };
            rows.push(Listed {
                complete,
                missing,
                gguf_files: ggufs
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect(),
                ..Listed::new(repo, rev, format.unwrap_or_else(|invalid| invalid))
            });
        }
    }
    rows.extend(adapter_rows(&repos));
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Hugging Face cache: {}", env.hub_cache.display());
    if rows.is_empty() {
        println!(
            "No Ideogram 4 checkpoint cached. Fetch one with `ideogram4-tui models download`."
        );
        return Ok(ExitCode::SUCCESS);
    }
    let w = rows.iter().map(|r| r.repo.len()).max().unwrap_or(4).max(4);
    println!(
        "{:w$}  {:18}  {:8}  {:>10}  STATUS",
        "REPO", "REVISION", "FORMAT", "SIZE"
    );
    for r in &rows {
        let rev = format!("{} ({})", r.revision, &r.commit[..r.commit.len().min(7)]);
        let status = if !r.gguf_files.is_empty() {
            format!("DiT files (use with --dit): {}", r.gguf_files.join(", "))
        } else if r.complete {
            "complete".to_string()
        } else {
            let shown: Vec<&str> = r.missing.iter().take(3).map(String::as_str).collect();
            let more = r.missing.len().saturating_sub(shown.len());
            let mut s = format!("missing {} file(s): {}", r.missing.len(), shown.join(", "));
            if more > 0 {
                s.push_str(&format!(", +{more} more"));
            }
            if r.partial_bytes > 0 {
                s.push_str(&format!(
                    " ({} partially downloaded)",
                    human_bytes(r.partial_bytes)
                ));
            }
            s
        };
        println!(
            "{:w$}  {:18}  {:8}  {:>10}  {status}",
            r.repo,
            rev,
            r.format,
            human_bytes(r.size_on_disk)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Adapter repos (LoRA files at the snapshot root, no checkpoint layout): format `lora`,
/// the files in place of missing ones.
fn adapter_rows(repos: &[cache::CachedRepo]) -> Vec<Listed> {
    let mut rows = Vec::new();
    for repo in repos.iter().filter(|r| !cache::looks_like_ideogram4(r)) {
        for rev in &repo.revisions {
            let files = ideogram4::model::adapter::root_safetensors(&rev.snapshot);
            if files.is_empty() {
                continue;
            }
            rows.push(Listed::new(repo, rev, "lora".into()));
        }
    }
    rows
}

/// Format of an incomplete snapshot, from what is there (the text encoder's config flags,
/// else the repo name); marked with `?`.
fn guess_format(snapshot: &std::path::Path, repo_id: &str) -> String {
    let config = std::fs::read(snapshot.join("text_encoder/config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    if let Some(c) = config {
        if c.get("ideogram_fp8_weight_only").and_then(|v| v.as_bool()) == Some(true) {
            return "fp8?".into();
        }
        if c.get("quantization_config").is_some() {
            return "nf4?".into();
        }
    }
    let id = repo_id.to_ascii_lowercase();
    for f in ["nf4", "fp8"] {
        if id.ends_with(f) {
            return format!("{f}?");
        }
    }
    "?".into()
}

fn download(env: HubEnv, a: DownloadArgs) -> anyhow::Result<ExitCode> {
    let mut opts = DownloadOptions::new(a.repo.clone(), env);
    opts.revision = a.revision;
    opts.retries = a.retries;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:40!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )?
        .progress_chars("=> "),
    );
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut reused = 0usize;
    let mut fetched = 0usize;
    let started = std::time::Instant::now();
    tracing::info!(repo = %opts.repo_id, revision = %opts.revision, "download starting");
    let snapshot = hub::download(&opts, &mut |e| match e {
        DownloadEvent::Planned {
            commit,
            files,
            cached,
            bytes_to_fetch,
        } => {
            tracing::info!(commit = %commit, files, cached, bytes_to_fetch, "download planned");
            bar.set_length(*bytes_to_fetch);
            bar.println(format!(
                "{}@{} ({}): {files} files, {cached} already cached, {} to fetch",
                opts.repo_id,
                opts.revision,
                &commit[..7],
                human_bytes(*bytes_to_fetch)
            ));
        }
        DownloadEvent::Reused { path } => {
            reused += 1;
            bar.println(format!("  reused {path} (blob already in the cache)"));
        }
        DownloadEvent::FileStarted { path, size } => {
            tracing::debug!(path = %path, size, "file download starting");
            bar.set_message(path.clone());
        }
        DownloadEvent::Bytes { done, .. } => bar.set_position(*done),
        DownloadEvent::FileFinished { path } => {
            tracing::info!(path = %path, "file downloaded");
            fetched += 1;
        }
        DownloadEvent::UsingCache { reason } => {
            tracing::warn!("the Hub is unreachable ({reason}); using the complete cached copy");
            bar.println(format!(
                "the Hub is unreachable ({reason}); using the complete cached copy"
            ));
        }
    })?;
    bar.finish_and_clear();
    tracing::info!(
        snapshot = %snapshot.display(),
        fetched,
        reused,
        seconds = started.elapsed().as_secs_f64(),
        "download finished"
    );
    // What the loader will read must open cleanly; report problems now, not at first use.
    let ckpt =
        Checkpoint::open(&snapshot).with_context(|| format!("checking {}", snapshot.display()))?;
    println!(
        "{} ready: {} ({} fetched, {} reused)",
        opts.repo_id,
        snapshot.display(),
        fetched,
        reused
    );
    println!(
        "format {}, weights held while generating about {} (text encoder streamed; {} with it \
         kept resident)",
        ckpt.format().name(),
        human_bytes(ckpt.working_set_estimate(false)),
        human_bytes(ckpt.working_set_estimate(true))
    );
    Ok(ExitCode::SUCCESS)
}

fn inspect(env: &HubEnv, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let Some(source) = Source::parse(&a.source) else {
        bail!(
            "{:?} is neither an existing folder nor a repo id (owner/name[@revision])",
            a.source
        );
    };
    let root = hub::resolve(&source, env)?;
    if root.is_file() || (a.dit.is_none() && looks_gguf_only(&root)) {
        return inspect_gguf(&root, a.json);
    }
    let dits = ideogram4::pipeline::dits::resolve_dits(a.dit.as_deref(), a.uncond_dit.as_deref())?;
    let ckpt = Checkpoint::open_with(&root, &dits.overrides)?;
    let report = Inspection::of(&ckpt);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_inspection(&report);
    Ok(ExitCode::SUCCESS)
}

/// A folder holding GGUF files and no component folders.
fn looks_gguf_only(root: &std::path::Path) -> bool {
    !ideogram4::weights::sources::gguf_files(root).is_empty()
        && !ComponentKind::ALL
            .iter()
            .any(|k| root.join(k.dir_name()).is_dir())
}

/// `models inspect` of GGUF DiT files alone: per file and branch, the tensor types with
/// counts, parameters and resident bytes.
fn inspect_gguf(path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    use ideogram4::weights::{ComponentPlan, ComponentSource};
    let files = if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        ideogram4::weights::sources::gguf_files(path)
    };
    let mut out = Vec::new();
    for file in files {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = if ideogram4::weights::sources::names_unconditional(&stem) {
            ComponentKind::UnconditionalTransformer
        } else {
            ComponentKind::Transformer
        };
        let source = ComponentSource::Gguf {
            path: file.clone(),
            config: None,
        };
        let mut kinds = vec![kind];
        if ideogram4::weights::sources::uncond_sibling(&file).as_deref() == Some(file.as_path()) {
            kinds = vec![
                ComponentKind::Transformer,
                ComponentKind::UnconditionalTransformer,
            ];
        }
        for kind in kinds {
            let plan = ComponentPlan::open_source(&source, kind)
                .with_context(|| format!("inspecting {}", file.display()))?;
            let mut formats = std::collections::BTreeMap::<String, usize>::new();
            let (mut parameters, mut resident) = (0u64, 0u64);
            for t in plan.tensors() {
                *formats.entry(t.format.name().to_string()).or_default() += 1;
                parameters += t.shape.iter().product::<usize>() as u64;
                resident += t.stored_bytes;
            }
            out.push(serde_json::json!({
                "file": file, "component": kind, "formats": formats,
                "parameters": parameters, "resident_bytes": resident,
                "bf16_bytes": 2 * parameters, "dims": plan.dims,
            }));
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for c in &out {
        let formats: Vec<String> = c["formats"]
            .as_object()
            .map(|m| m.iter().map(|(f, n)| format!("{f} x{n}")).collect())
            .unwrap_or_default();
        println!(
            "{}  [{}]
  {:>10} params  {:>10} resident ({} as bf16)  {}",
            c["file"].as_str().unwrap_or_default(),
            c["component"].as_str().unwrap_or_default(),
            params(c["parameters"].as_u64().unwrap_or(0)),
            human_bytes(c["resident_bytes"].as_u64().unwrap_or(0)),
            human_bytes(c["bf16_bytes"].as_u64().unwrap_or(0)),
            formats.join(", ")
        );
    }
    println!(
        "GGUF files hold only the DiTs: generate with --model <official checkpoint> --dit <file>"
    );
    Ok(ExitCode::SUCCESS)
}

fn params(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2} B", n as f64 / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.2} M", n as f64 / 1e6)
    } else {
        format!("{n}")
    }
}

fn print_inspection(r: &Inspection) {
    println!("{}  [{}]", r.root.display(), r.format.name());
    for c in &r.components {
        let formats: Vec<String> = c.formats.iter().map(|(f, n)| format!("{f} x{n}")).collect();
        println!(
            "  {:26} {:>10} params  {:>10} resident ({} as bf16)  {}",
            c.component.dir_name(),
            params(c.parameters),
            human_bytes(c.resident_bytes),
            human_bytes(c.bf16_bytes),
            formats.join(", ")
        );
        if c.skipped_tensors > 0 {
            let what = match c.component {
                ComponentKind::TextEncoder => "vision tower and final norm",
                ComponentKind::Vae => "encoder",
                _ => "unused",
            };
            println!(
                "  {:26} skips {} tensors ({} params: {what}) without reading them",
                "",
                c.skipped_tensors,
                params(c.skipped_parameters)
            );
        }
        let files: Vec<String> = c
            .files
            .iter()
            .map(|f| format!("{} ({})", f.path, human_bytes(f.bytes)))
            .collect();
        println!("  {:26} {}", "", files.join(", "));
    }
    for c in &r.components {
        match &c.dims {
            ModelDims::Dit(d) if c.component == ComponentKind::Transformer => println!(
                "DiT: emb_dim {}, {} layers, {} heads x {}, intermediate {}, adaln {}, in_channels {}, \
                 llm_features {}; rope theta {}, mrope_section {:?}, norm_eps {} ({})",
                d.emb_dim,
                d.num_layers,
                d.num_heads,
                d.head_dim,
                d.intermediate_size,
                d.adaln_dim,
                d.in_channels,
                d.llm_features_dim,
                d.rope_theta,
                d.mrope_section,
                d.norm_eps,
                if d.rope_from_config { "rope from transformer/config.json" } else { "official defaults" }
            ),
            ModelDims::TextEncoder(d) => println!(
                "Text encoder: hidden {}, {} layers, {}/{} heads x {}, intermediate {}, vocab {}, rms_norm_eps {}; \
                 rope theta {}, mrope_section {:?}{}; config declares {}",
                d.hidden_size,
                d.num_layers,
                d.num_heads,
                d.num_kv_heads,
                d.head_dim,
                d.intermediate_size,
                d.vocab_size,
                d.rms_norm_eps,
                d.rope_theta,
                d.mrope_section,
                if d.mrope_interleaved { " interleaved" } else { "" },
                match c.declared {
                    Some(DeclaredQuant::Fp8WeightOnly) => "FP8 weight-only (ideogram_fp8_weight_only)",
                    Some(DeclaredQuant::BitsAndBytes4Bit) => "bitsandbytes NF4 (quantization_config)",
                    _ => "no quantisation",
                }
            ),
            ModelDims::Vae(d) => println!(
                "VAE: z_channels {}, decoder up blocks {:?}, out_channels {}",
                d.z_channels, d.up_block_channels, d.out_channels
            ),
            _ => {}
        }
    }
    println!(
        "Estimated resident memory: {} of weights ({} if everything were bf16); tokenizer {}",
        human_bytes(r.resident_bytes),
        human_bytes(r.bf16_bytes),
        r.tokenizer.display()
    );
}
