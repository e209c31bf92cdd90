//! `--lora` / `--lora-target` / recorded adapters → the adapter list of a `generate` plan.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use ideogram4::model::adapter::{resolve_spec, AdapterSpec, AdapterTarget, AdapterUse};
use ideogram4::pipeline::{locate_recorded, preset_adapter, RecordedAdapter};
use ideogram4::sampler::SamplerParams;
use ideogram4::weights::hub::HubEnv;

/// Adapters from flags; else the ones a `--from-image` record names (found again by repo or
/// file name and checked by SHA-256); else the one a TurboTime preset needs.
pub fn plan_adapters(
    specs: &[String],
    target: &str,
    recorded: &[RecordedAdapter],
    from_image: Option<&Path>,
    sampler: &SamplerParams,
) -> anyhow::Result<Vec<AdapterUse>> {
    let env = HubEnv::from_env();
    let target: AdapterTarget = target.parse().map_err(|e: String| anyhow!(e))?;
    if !specs.is_empty() {
        return specs
            .iter()
            .map(|text| {
                let spec: AdapterSpec = text.parse().map_err(|e: String| anyhow!(e))?;
                let resolved = resolve_spec(&spec.source, &env).map_err(|e| anyhow!(e))?;
                let target = AdapterUse::default_target(&resolved.path, target);
                Ok(AdapterUse {
                    path: resolved.path,
                    strength: spec.strength,
                    target,
                })
            })
            .collect();
    }
    if !recorded.is_empty() {
        let mut search: Vec<PathBuf> = Vec::new();
        if let Some(dir) = from_image.and_then(Path::parent) {
            search.push(if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir.to_path_buf()
            });
        }
        search.extend(configured_lora_dir());
        return recorded
            .iter()
            .map(|r| locate_recorded(r, &search, &env).map_err(|e| anyhow!(e)))
            .collect::<anyhow::Result<Vec<_>>>()
            .context("restoring the adapters of the record (pass --lora to choose others)");
    }
    match sampler.preset() {
        Some(p) => Ok(preset_adapter(p, &env)
            .map_err(|e| anyhow!(e))?
            .into_iter()
            .collect()),
        None => Ok(Vec::new()),
    }
}

/// `lora_dir` of config.toml, if set.
pub fn configured_lora_dir() -> Option<PathBuf> {
    let dirs = ideogram4::tui::config::Dirs::standard()?;
    let text = std::fs::read_to_string(dirs.config_file()).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let dir = table.get("lora_dir")?.as_str()?;
    Some(ideogram4::files::expand_home(dir))
}
