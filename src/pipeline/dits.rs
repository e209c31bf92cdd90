//! `--dit` / `--uncond-dit`: DiTs from GGUF files, GGUF folders or other checkpoints (local
//! or in the Hugging Face cache), composed with the `--model` checkpoint, which supplies the
//! text encoder, the VAE, the tokenizer and any DiT not given.

use std::path::PathBuf;

use super::{ModelSource, PipelineError, Result};
use crate::weights::sources::{dit_source, uncond_sibling};
use crate::weights::{ComponentKind, ComponentSource, DitOverrides};

/// What the user asked for, resolved to files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DitChoice {
    pub overrides: DitOverrides,
    /// `(dit, uncond_dit)` as recorded in the parameters: the argument as given, or for a
    /// sibling found by name, its file name.
    pub recorded: (Option<String>, Option<String>),
}

impl DitChoice {
    pub fn is_empty(&self) -> bool {
        self.overrides == DitOverrides::default()
    }
}

fn locate(text: &str) -> Result<PathBuf> {
    let source = ModelSource::parse(text);
    match source {
        ModelSource::Demo => Err(PipelineError::Source(
            "the demo model has no DiT files to take".into(),
        )),
        ModelSource::Repo(_) if std::path::Path::new(text).exists() => Ok(PathBuf::from(text)),
        other => other
            .resolve()?
            .ok_or_else(|| PipelineError::Source(format!("{text} names no file or folder"))),
    }
}

/// Resolves `--dit` and `--uncond-dit`. Without `--uncond-dit`, a GGUF `--dit` brings its
/// unconditional sibling when one is named the community way (or is the same combined file);
/// otherwise the unconditional DiT comes from `--model`.
pub fn resolve_dits(dit: Option<&str>, uncond: Option<&str>) -> Result<DitChoice> {
    let mut choice = DitChoice::default();
    let weights = |e: crate::weights::WeightsError| PipelineError::Source(e.to_string());
    if let Some(text) = dit {
        let src = dit_source(&locate(text)?, ComponentKind::Transformer).map_err(weights)?;
        if uncond.is_none() {
            if let ComponentSource::Gguf { path, .. } = &src {
                if let Some(sib) = uncond_sibling(path) {
                    choice.recorded.1 = sib.file_name().map(|n| n.to_string_lossy().into_owned());
                    choice.overrides.uncond_dit = Some(ComponentSource::Gguf {
                        path: sib,
                        config: None,
                    });
                }
            }
        }
        choice.overrides.dit = Some(src);
        choice.recorded.0 = Some(text.to_string());
    }
    if let Some(text) = uncond {
        let src =
            dit_source(&locate(text)?, ComponentKind::UnconditionalTransformer).map_err(weights)?;
        choice.overrides.uncond_dit = Some(src);
        choice.recorded.1 = Some(text.to_string());
    }
    Ok(choice)
}
