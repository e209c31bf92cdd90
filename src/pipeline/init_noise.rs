//! `--init-noise FILE`: the initial latent read from a safetensors file instead of drawn from
//! the seed (parity tests against the official pipeline's noise).

use std::path::Path;

use thiserror::Error;

use crate::mlx::{io as mlx_io, Dtype};
use crate::sampler::{ImageSize, PIXELS_PER_TOKEN};

#[derive(Debug, Error)]
pub enum InitNoiseError {
    #[error("{path}: not a readable safetensors file ({message})")]
    Unreadable { path: String, message: String },
    #[error("{path} has no tensor named `noise` (found {found:?})")]
    Missing { path: String, found: Vec<String> },
    #[error("{path}: `noise` is {dtype:?}, expected float32")]
    Dtype { path: String, dtype: Dtype },
    #[error(
        "{path}: `noise` has shape {shape:?}, expected {want:?} for a {size} image \
         ((width/16)·(height/16) tokens, {channels} channels)"
    )]
    Shape {
        path: String,
        shape: Vec<usize>,
        want: [usize; 3],
        size: ImageSize,
        channels: usize,
    },
    #[error("{path}: {message}")]
    Read { path: String, message: String },
}

/// Reads `noise` (float32, `(1, tokens, channels)`) for a `size` image.
pub fn read(path: &Path, size: ImageSize, channels: usize) -> Result<Vec<f32>, InitNoiseError> {
    let shown = path.display().to_string();
    let file = mlx_io::load_safetensors(path).map_err(|e| InitNoiseError::Unreadable {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    let tokens =
        (size.width / PIXELS_PER_TOKEN) as usize * (size.height / PIXELS_PER_TOKEN) as usize;
    let want = [1, tokens, channels];
    let Some((_, noise)) = file.tensors.iter().find(|(n, _)| n == "noise") else {
        return Err(InitNoiseError::Missing {
            path: shown,
            found: file.tensors.iter().map(|(n, _)| n.clone()).collect(),
        });
    };
    if noise.dtype() != Dtype::F32 {
        return Err(InitNoiseError::Dtype {
            path: shown,
            dtype: noise.dtype(),
        });
    }
    if noise.shape() != want {
        return Err(InitNoiseError::Shape {
            path: shown,
            shape: noise.shape(),
            want,
            size,
            channels,
        });
    }
    noise.to_vec::<f32>().map_err(|e| InitNoiseError::Read {
        path: shown,
        message: e.to_string(),
    })
}
