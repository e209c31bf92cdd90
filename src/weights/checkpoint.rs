//! A whole checkpoint folder in the official Hugging Face layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::checkpoint_files::ComponentKind;
use super::component::{Component, ComponentPlan, ComponentSource};
use super::error::{Result, WeightsError};
use super::weight::WeightFormat;

/// The checkpoint's overall flavour, from its DiT and text-encoder Linear weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointFormat {
    /// All weights dense (bf16/f16/f32).
    Dense,
    Nf4,
    Fp8,
    /// GGUF (GGML block) DiTs.
    Gguf,
    /// MLX affine (`mx.quantize`) weights.
    MlxAffine,
    /// Components disagree (e.g. an NF4 DiT with an FP8 text encoder).
    Mixed,
}

/// DiTs taken from elsewhere than the checkpoint folder (`--dit`, `--uncond-dit`); the
/// checkpoint supplies the other components.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DitOverrides {
    pub dit: Option<ComponentSource>,
    pub uncond_dit: Option<ComponentSource>,
}

impl CheckpointFormat {
    pub fn name(self) -> &'static str {
        match self {
            CheckpointFormat::Dense => "bf16",
            CheckpointFormat::Nf4 => "nf4",
            CheckpointFormat::Fp8 => "fp8",
            CheckpointFormat::Gguf => "gguf",
            CheckpointFormat::MlxAffine => "mlx-affine",
            CheckpointFormat::Mixed => "mixed",
        }
    }
}

/// An opened checkpoint: every header, index and quant state is read and validated, so
/// loading a component afterwards can only fail on I/O (a file changing underneath).
#[derive(Debug)]
pub struct Checkpoint {
    pub root: PathBuf,
    plans: BTreeMap<ComponentKind, ComponentPlan>,
    tokenizer: PathBuf,
}

impl Checkpoint {
    /// Validates the folders and reads all headers; no tensor data is read.
    pub fn open(root: &Path) -> Result<Checkpoint> {
        Checkpoint::open_with(root, &DitOverrides::default())
    }

    /// [`Checkpoint::open`] with DiTs from other sources; `root`'s own DiT folders are then
    /// not needed. A GGUF DiT without a config takes `root`'s DiT config (rope settings).
    pub fn open_with(root: &Path, overrides: &DitOverrides) -> Result<Checkpoint> {
        if !root.is_dir() {
            return Err(if root.exists() {
                WeightsError::NotACheckpoint {
                    path: root.to_path_buf(),
                    reason: "it is a file, not a folder".into(),
                }
            } else {
                WeightsError::MissingFile {
                    path: root.to_path_buf(),
                    expected: "a checkpoint folder".into(),
                }
            });
        }
        let overridden = |kind: ComponentKind| match kind {
            ComponentKind::Transformer => overrides.dit.clone(),
            ComponentKind::UnconditionalTransformer => overrides.uncond_dit.clone(),
            _ => None,
        };
        let own = match super::sources::split_sources(root)? {
            Some(split) => split,
            None => {
                check_recognisable(root, overrides)?;
                ComponentKind::ALL
                    .into_iter()
                    .map(|k| (k, ComponentSource::Folder(root.join(k.dir_name()))))
                    .collect()
            }
        };
        let mut plans = BTreeMap::new();
        for kind in ComponentKind::ALL {
            let source = match overridden(kind) {
                Some(ComponentSource::Gguf { path, config: None }) => ComponentSource::Gguf {
                    path,
                    config: dit_config(&own[&kind]),
                },
                Some(other) => other,
                None => own[&kind].clone(),
            };
            if let ComponentSource::Folder(dir) = &source {
                if !dir.is_dir() {
                    return Err(WeightsError::MissingFile {
                        path: dir.clone(),
                        expected: format!("the {kind}/ folder of an Ideogram 4 checkpoint"),
                    });
                }
            }
            plans.insert(kind, ComponentPlan::open_source(&source, kind)?);
        }
        let tokenizer = root.join("tokenizer").join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(WeightsError::MissingFile {
                path: tokenizer,
                expected: "the Qwen tokenizer (tokenizer/tokenizer.json)".into(),
            });
        }
        check_dit_pair(&plans)?;
        Ok(Checkpoint {
            root: root.to_path_buf(),
            plans,
            tokenizer,
        })
    }

    pub fn plan(&self, kind: ComponentKind) -> &ComponentPlan {
        &self.plans[&kind]
    }

    /// `tokenizer/tokenizer.json`.
    pub fn tokenizer_path(&self) -> &Path {
        &self.tokenizer
    }

    /// Reads one component's tensors (the default filter skips the vision tower, the
    /// unused final LM norm and the VAE encoder without reading their data).
    pub fn load_component(&self, kind: ComponentKind) -> Result<Component> {
        self.plan(kind).load()
    }

    /// Reads the tensors of `kind` that `keep` accepts.
    pub fn load_component_filtered(
        &self,
        kind: ComponentKind,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Component> {
        self.plan(kind).load_filtered(keep)
    }

    /// Overall flavour, judged by the Linear weights of the DiTs and the text encoder.
    pub fn format(&self) -> CheckpointFormat {
        let mut seen = Vec::new();
        for kind in [
            ComponentKind::Transformer,
            ComponentKind::UnconditionalTransformer,
            ComponentKind::TextEncoder,
        ] {
            let plan = self.plan(kind);
            let quant = plan
                .tensors()
                .into_iter()
                .filter(|t| t.kept)
                .map(|t| t.format)
                .find(|f| f.is_quantized());
            seen.push(match quant {
                Some(WeightFormat::Nf4) => CheckpointFormat::Nf4,
                Some(WeightFormat::Ggml(_)) => CheckpointFormat::Gguf,
                Some(WeightFormat::Affine(_)) => CheckpointFormat::MlxAffine,
                Some(_) => CheckpointFormat::Fp8,
                None => CheckpointFormat::Dense,
            });
        }
        if seen.iter().all(|f| *f == seen[0]) {
            seen[0]
        } else if seen[0] == seen[1]
            && matches!(
                seen[0],
                CheckpointFormat::Gguf | CheckpointFormat::MlxAffine
            )
            && seen[2] == CheckpointFormat::Dense
        {
            // GGUF DiTs always come with a dense official text encoder beside them.
            seen[0]
        } else {
            CheckpointFormat::Mixed
        }
    }

    /// Bytes of weights held at once while generating (stored sizes; a bf16 tensor computed
    /// in float32 is cast per use): both DiTs (the unconditional one without the text
    /// projection it never reads) and the VAE decoder, plus the text encoder whole when
    /// `keep_text_encoder`, else its largest decoder layer (it is streamed a layer at a time).
    pub fn working_set_estimate(&self, keep_text_encoder: bool) -> u64 {
        let kept = |kind: ComponentKind| self.plans[&kind].tensors().into_iter().filter(|t| t.kept);
        let sum = |it: &mut dyn Iterator<Item = super::TensorSummary>| -> u64 {
            it.map(|t| t.stored_bytes).sum()
        };
        let dits = sum(&mut kept(ComponentKind::Transformer))
            + sum(&mut kept(ComponentKind::UnconditionalTransformer)
                .filter(|t| !t.name.starts_with("llm_cond_")));
        let vae = sum(&mut kept(ComponentKind::Vae));
        let text = if keep_text_encoder {
            sum(&mut kept(ComponentKind::TextEncoder))
        } else {
            let mut layers: BTreeMap<String, u64> = BTreeMap::new();
            for t in kept(ComponentKind::TextEncoder) {
                if let Some(rest) = t.name.strip_prefix("language_model.layers.") {
                    let index = rest.split('.').next().unwrap_or_default().to_string();
                    *layers.entry(index).or_default() += t.stored_bytes;
                }
            }
            layers.into_values().max().unwrap_or(0)
        };
        dits + vae + text
    }

    /// Bytes the default loaders would hold in memory for all four components.
    pub fn resident_bytes_estimate(&self) -> u64 {
        self.plans
            .values()
            .flat_map(|p| p.tensors())
            .filter(|t| t.kept)
            .map(|t| t.stored_bytes)
            .sum()
    }
}

/// A DiT's config file in the checkpoint, when it has one (for a GGUF DiT put in its place).
fn dit_config(own: &ComponentSource) -> Option<std::path::PathBuf> {
    let path = match own {
        ComponentSource::Folder(dir) => dir.join("config.json"),
        ComponentSource::Prefixed { config, .. } => config.clone(),
        ComponentSource::Gguf { config, .. } => config.clone()?,
    };
    path.is_file().then_some(path)
}

/// Early, specific refusals for folders in other known formats.
fn check_recognisable(root: &Path, overrides: &DitOverrides) -> Result<()> {
    let any_component = ComponentKind::ALL
        .iter()
        .any(|k| root.join(k.dir_name()).is_dir());
    if any_component || overrides.dit.is_some() {
        return Ok(());
    }
    let gguf = std::fs::read_dir(root).ok().and_then(|rd| {
        rd.filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "gguf"))
    });
    if let Some(g) = gguf {
        return Err(WeightsError::UnsupportedFormat {
            path: g,
            tensor: None,
            detail: "GGUF files hold only the DiTs: pass them with --dit (and --uncond-dit) \
                     and an official checkpoint with --model for the text encoder and VAE"
                .into(),
        });
    }
    Err(WeightsError::NotACheckpoint {
        path: root.to_path_buf(),
        reason: "none of transformer/, unconditional_transformer/, text_encoder/, vae/ exists \
                 (expected the layout of ideogram-ai/ideogram-4-nf4)"
            .into(),
    })
}

/// Both CFG branches must have the same structure.
fn check_dit_pair(plans: &BTreeMap<ComponentKind, ComponentPlan>) -> Result<()> {
    let cond = &plans[&ComponentKind::Transformer];
    let uncond = &plans[&ComponentKind::UnconditionalTransformer];
    let (Some(a), Some(b)) = (cond.dims.dit(), uncond.dims.dit()) else {
        return Ok(());
    };
    let shape = |d: &super::schema::DitDims| {
        (
            d.emb_dim,
            d.num_layers,
            d.head_dim,
            d.intermediate_size,
            d.adaln_dim,
            d.in_channels,
            d.llm_features_dim,
        )
    };
    if shape(a) != shape(b) {
        return Err(WeightsError::Config {
            path: uncond.files.describe_path().to_path_buf(),
            expected: format!("the same dimensions as transformer/ ({a:?})"),
            found: format!("{b:?}"),
        });
    }
    Ok(())
}
