//! A summary of an opened checkpoint (formats, parameter counts, inferred configuration,
//! memory) from headers alone, for `models inspect` and the TUI.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::checkpoint::{Checkpoint, CheckpointFormat};
use super::checkpoint_files::{ComponentFiles, ComponentKind};
use super::component::DeclaredQuant;
use super::schema::ModelDims;

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileInfo {
    /// Relative to the checkpoint root.
    pub path: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentReport {
    pub component: ComponentKind,
    pub files: Vec<FileInfo>,
    /// Loaded tensors per storage format (`nf4`, `fp8-e4m3`, `bf16`, ...).
    pub formats: BTreeMap<String, usize>,
    /// Logical parameters the loader keeps.
    pub parameters: u64,
    /// Tensors present on disk but never read (vision tower, VAE encoder, ...).
    pub skipped_tensors: usize,
    pub skipped_parameters: u64,
    /// Bytes held in memory once loaded (= bytes read).
    pub resident_bytes: u64,
    /// The same parameters in bf16, for comparison.
    pub bf16_bytes: u64,
    pub dims: ModelDims,
    /// Text encoder only: what `config.json` declares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<DeclaredQuant>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    pub root: PathBuf,
    pub format: CheckpointFormat,
    pub components: Vec<ComponentReport>,
    pub tokenizer: PathBuf,
    /// All components as the engine loads them.
    pub resident_bytes: u64,
    pub bf16_bytes: u64,
}

impl Inspection {
    pub fn of(ckpt: &Checkpoint) -> Inspection {
        let mut components = Vec::new();
        for kind in ComponentKind::ALL {
            let plan = ckpt.plan(kind);
            let rel = |p: &std::path::Path| {
                p.strip_prefix(&ckpt.root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .replace('\\', "/")
            };
            let mut paths: Vec<&std::path::Path> = plan.files.tensor_files();
            if let ComponentFiles::Sharded { index, .. } = &plan.files {
                paths.insert(0, index);
            }
            let files = paths
                .into_iter()
                .map(|p| FileInfo {
                    path: rel(p),
                    bytes: std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                })
                .collect();
            let mut r = ComponentReport {
                component: kind,
                files,
                formats: BTreeMap::new(),
                parameters: 0,
                skipped_tensors: 0,
                skipped_parameters: 0,
                resident_bytes: 0,
                bf16_bytes: 0,
                dims: plan.dims.clone(),
                declared: (kind == ComponentKind::TextEncoder).then_some(plan.declared),
            };
            for t in plan.tensors() {
                let n = t.shape.iter().product::<usize>() as u64;
                if t.kept {
                    *r.formats.entry(t.format.name().to_string()).or_default() += 1;
                    r.parameters += n;
                    r.resident_bytes += t.stored_bytes;
                    r.bf16_bytes += 2 * n;
                } else {
                    r.skipped_tensors += 1;
                    r.skipped_parameters += n;
                }
            }
            components.push(r);
        }
        Inspection {
            root: ckpt.root.clone(),
            format: ckpt.format(),
            resident_bytes: components.iter().map(|c| c.resident_bytes).sum(),
            bf16_bytes: components.iter().map(|c| c.bf16_bytes).sum(),
            components,
            tokenizer: ckpt.tokenizer_path().to_path_buf(),
        }
    }
}
