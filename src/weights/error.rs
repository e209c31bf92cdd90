//! The one error type of checkpoint loading. Every variant names the file, and where one is
//! involved the tensor, plus what was expected and what was found, so a user can tell a
//! truncated download from a wrong repo from an unsupported format at a glance.

use std::path::{Path, PathBuf};

use crate::mlx;

pub type Result<T> = std::result::Result<T, WeightsError>;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is not an Ideogram 4 checkpoint: {reason}", path.display())]
    NotACheckpoint { path: PathBuf, reason: String },

    #[error("{}: missing file (expected {expected})", path.display())]
    MissingFile { path: PathBuf, expected: String },

    /// The safetensors container itself is damaged (truncated, bad JSON, offsets out of range).
    #[error("{}: corrupt safetensors file{}: expected {expected}, found {found}",
        path.display(), tensor_suffix(tensor))]
    Header {
        path: PathBuf,
        tensor: Option<String>,
        expected: String,
        found: String,
    },

    /// The GGUF container itself is damaged (truncated, bad counts, offsets out of range).
    #[error("{}: corrupt GGUF file{}: expected {expected}, found {found}",
        path.display(), tensor_suffix(tensor))]
    GgufHeader {
        path: PathBuf,
        tensor: Option<String>,
        expected: String,
        found: String,
    },

    /// A `*.safetensors.index.json` that cannot be used.
    #[error("{}: bad shard index: expected {expected}, found {found}", path.display())]
    Index {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// One tensor is wrong: shape, dtype, a missing or inconsistent sibling, a quant state.
    #[error("{}: tensor `{tensor}`: expected {expected}, found {found}", path.display())]
    Tensor {
        path: PathBuf,
        tensor: String,
        expected: String,
        found: String,
    },

    /// A tensor the tensor schema requires is absent from every file of the component.
    #[error("{}: tensor `{tensor}` is missing (expected {expected})", path.display())]
    MissingTensor {
        path: PathBuf,
        tensor: String,
        expected: String,
    },

    /// A weight format we recognise but do not load, or one we do not recognise.
    #[error("{}{}: unsupported format: {detail}", path.display(), tensor_suffix(tensor))]
    UnsupportedFormat {
        path: PathBuf,
        tensor: Option<String>,
        detail: String,
    },

    #[error("{}: bad config: expected {expected}, found {found}", path.display())]
    Config {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("{}{}: {source}", path.display(), tensor_suffix(tensor))]
    Mlx {
        path: PathBuf,
        tensor: Option<String>,
        #[source]
        source: mlx::Error,
    },
}

fn tensor_suffix(tensor: &Option<String>) -> String {
    match tensor {
        Some(t) => format!(": tensor `{t}`"),
        None => String::new(),
    }
}

impl WeightsError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        WeightsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn tensor(
        path: &Path,
        tensor: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        WeightsError::Tensor {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    pub(crate) fn mlx(path: &Path, tensor: Option<&str>, source: mlx::Error) -> Self {
        WeightsError::Mlx {
            path: path.to_path_buf(),
            tensor: tensor.map(str::to_string),
            source,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            WeightsError::Io { path, .. }
            | WeightsError::NotACheckpoint { path, .. }
            | WeightsError::MissingFile { path, .. }
            | WeightsError::Header { path, .. }
            | WeightsError::GgufHeader { path, .. }
            | WeightsError::Index { path, .. }
            | WeightsError::Tensor { path, .. }
            | WeightsError::MissingTensor { path, .. }
            | WeightsError::UnsupportedFormat { path, .. }
            | WeightsError::Config { path, .. }
            | WeightsError::Mlx { path, .. } => path,
        }
    }

    /// The tensor the error is about, when there is one.
    pub fn tensor_name(&self) -> Option<&str> {
        match self {
            WeightsError::Tensor { tensor, .. } | WeightsError::MissingTensor { tensor, .. } => {
                Some(tensor)
            }
            WeightsError::Header { tensor, .. }
            | WeightsError::GgufHeader { tensor, .. }
            | WeightsError::UnsupportedFormat { tensor, .. }
            | WeightsError::Mlx { tensor, .. } => tensor.as_deref(),
            _ => None,
        }
    }
}
