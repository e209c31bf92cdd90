//! Shared helpers of the GGUF / MLX-affine tests: a minimal GGUF writer (for damaged files;
//! the good fixtures come from gguf-py), dense float32 copies of loaded components, and the
//! DiT forwards of the golden inputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ideogram4::mlx::Dtype;
use ideogram4::weights::Component;

use super::dit_support::fixtures;

/// One tensor to write: logical row-major `shape`, GGML type id, stored bytes.
pub struct GgufTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub ggml_type: u32,
    pub data: Vec<u8>,
    /// Written instead of the real offset (for out-of-bounds tests).
    pub offset_override: Option<u64>,
}

impl GgufTensor {
    pub fn f32(name: &str, shape: &[usize], values: &[f32]) -> GgufTensor {
        GgufTensor::raw(
            name,
            shape,
            0,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    pub fn raw(name: &str, shape: &[usize], ggml_type: u32, data: Vec<u8>) -> GgufTensor {
        GgufTensor {
            name: name.to_string(),
            shape: shape.to_vec(),
            ggml_type,
            data,
            offset_override: None,
        }
    }
}

/// Writes a GGUF v3 file (alignment 32, one `general.architecture` KV).
pub fn gguf_write(path: &Path, tensors: &[GgufTensor]) {
    let mut out = Vec::new();
    let string = |out: &mut Vec<u8>, s: &str| {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    };
    out.extend(b"GGUF");
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend(1u64.to_le_bytes());
    string(&mut out, "general.architecture");
    out.extend(8u32.to_le_bytes());
    string(&mut out, "ideogram4");
    let mut offset = 0u64;
    let mut offsets = Vec::new();
    for t in tensors {
        string(&mut out, &t.name);
        out.extend((t.shape.len() as u32).to_le_bytes());
        for &d in t.shape.iter().rev() {
            out.extend((d as u64).to_le_bytes());
        }
        out.extend(t.ggml_type.to_le_bytes());
        out.extend(t.offset_override.unwrap_or(offset).to_le_bytes());
        offsets.push(offset);
        offset += (t.data.len() as u64).div_ceil(32) * 32;
    }
    while out.len() % 32 != 0 {
        out.push(0);
    }
    for t in tensors {
        out.extend(&t.data);
        while out.len() % 32 != 0 {
            out.push(0);
        }
    }
    std::fs::write(path, out).unwrap();
}

/// Writes every weight of `c`, expanded to float32, as a dense single-file component folder
/// named `folder` (with the bf16 repo's config), in a new temporary directory.
pub fn dense_copy(c: &Component, folder: &str) -> (PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, w) in c.iter() {
        let a = w.dequantize_host(Dtype::F32).unwrap();
        let v = a.to_vec::<f32>().unwrap();
        let begin = data.len();
        data.extend(v.iter().flat_map(|x| x.to_le_bytes()));
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": a.shape(), "data_offsets": [begin, data.len()]}),
        );
    }
    let mut text = serde_json::to_vec(&header).unwrap();
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut file = (text.len() as u64).to_le_bytes().to_vec();
    file.extend(text);
    file.extend(data);
    std::fs::write(dir.join("diffusion_pytorch_model.safetensors"), file).unwrap();
    let config = fixtures()
        .join("tiny-ideogram4-bf16")
        .join(folder)
        .join("config.json");
    std::fs::copy(config, dir.join("config.json")).unwrap();
    (dir, tmp)
}
