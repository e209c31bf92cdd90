//! Safetensors files on disk: header reading (parsing is in [`super::header`]) and reads of
//! single tensors straight into MLX buffers.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use super::header::{header_len, Header, HeaderProblem, StDtype, TensorInfo, MAX_HEADER_LEN};

use super::error::{Result, WeightsError};
use crate::mlx::{Array, Dtype};

impl StDtype {
    /// The MLX dtype holding these bytes unchanged. FP8 codes travel as `U8` (MLX has no FP8
    /// element type; decoding is ours); E5M2 has no loader and so no MLX type.
    pub fn mlx(self) -> Option<Dtype> {
        use StDtype::*;
        Some(match self {
            Bool => Dtype::Bool,
            U8 | F8E4M3 => Dtype::U8,
            I8 => Dtype::I8,
            U16 => Dtype::U16,
            I16 => Dtype::I16,
            U32 => Dtype::U32,
            I32 => Dtype::I32,
            U64 => Dtype::U64,
            I64 => Dtype::I64,
            F16 => Dtype::F16,
            Bf16 => Dtype::Bf16,
            F32 => Dtype::F32,
            F64 => Dtype::F64,
            F8E5M2 => return None,
        })
    }
}

impl HeaderProblem {
    pub fn at(self, path: &Path) -> WeightsError {
        WeightsError::Header {
            path: path.to_path_buf(),
            tensor: self.tensor,
            expected: self.expected,
            found: self.found,
        }
    }
}

/// An open safetensors file with its parsed header.
#[derive(Debug)]
pub struct SafetensorsFile {
    pub path: PathBuf,
    pub header: Header,
    file: File,
}

/// Opens a weights file and gets its length; a missing file is a [`WeightsError::MissingFile`]
/// that says `expected`.
pub(crate) fn open_weights_file(path: &Path, expected: &str) -> Result<(File, u64)> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            WeightsError::MissingFile {
                path: path.to_path_buf(),
                expected: expected.into(),
            }
        } else {
            WeightsError::io(path, e)
        }
    })?;
    let len = file
        .metadata()
        .map_err(|e| WeightsError::io(path, e))?
        .len();
    Ok((file, len))
}

impl SafetensorsFile {
    /// Opens `path` and parses its header; reads no tensor data.
    pub fn open(path: &Path) -> Result<SafetensorsFile> {
        let (mut file, file_len) = open_weights_file(path, "a safetensors file")?;
        let mut prefix = Vec::with_capacity(8);
        (&mut file)
            .take(8)
            .read_to_end(&mut prefix)
            .map_err(|e| WeightsError::io(path, e))?;
        let n = header_len(&prefix, file_len).map_err(|p| p.at(path))?;
        // `header_len` bounded n by MAX_HEADER_LEN and the file size.
        let mut bytes = prefix;
        bytes.reserve(n as usize);
        (&mut file)
            .take(n)
            .read_to_end(&mut bytes)
            .map_err(|e| WeightsError::io(path, e))?;
        let header = Header::parse(&bytes, file_len).map_err(|p| p.at(path))?;
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            header,
            file,
        })
    }

    /// A file whose tensors are described by a header parsed elsewhere (a GGUF file, its
    /// tensors mapped to byte ranges of its data section).
    pub(crate) fn from_parts(path: &Path, header: Header, file: File) -> SafetensorsFile {
        SafetensorsFile {
            path: path.to_path_buf(),
            header,
            file,
        }
    }

    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.header.tensors.get(name)
    }

    /// Reads one tensor's bytes into host memory (for small tensors: quant-state blobs).
    pub fn read_raw(&self, name: &str, info: &TensorInfo) -> Result<Vec<u8>> {
        let len = usize::try_from(info.nbytes()).map_err(|_| {
            WeightsError::tensor(
                &self.path,
                name,
                "a tensor that fits in memory",
                info.describe(),
            )
        })?;
        let mut buf = vec![0u8; len];
        self.read_at(name, info.begin, &mut buf)?;
        Ok(buf)
    }

    /// Reads one tensor straight into a new MLX buffer of `shape`/`dtype` (the bytes must be
    /// exactly `info`'s bytes: the caller may only reinterpret, e.g. FP8 codes as `U8`, or
    /// reshape, e.g. NF4 `[(n+1)/2, 1]` as 1-D).
    pub fn read_array(
        &self,
        name: &str,
        info: &TensorInfo,
        shape: &[usize],
        dtype: Dtype,
    ) -> Result<Array> {
        let mut failure = None;
        let array = Array::from_fn_bytes(shape, dtype, |dst| {
            if dst.len() as u64 != info.nbytes() {
                failure = Some(WeightsError::tensor(
                    &self.path,
                    name,
                    format!("{} bytes for {dtype} {shape:?}", dst.len()),
                    format!("{} bytes on disk", info.nbytes()),
                ));
                return;
            }
            if let Err(e) = self.read_at(name, info.begin, dst) {
                failure = Some(e);
            }
        })
        .map_err(|e| WeightsError::mlx(&self.path, Some(name), e))?;
        match failure {
            Some(e) => Err(e),
            None => Ok(array),
        }
    }

    /// Reads rows `rows` (in that order, repeats allowed) of a 2-D tensor into a new MLX
    /// buffer `[rows.len(), cols]` of `dtype`: an embedding lookup that touches only the
    /// rows it needs instead of the whole table.
    pub fn read_rows(
        &self,
        name: &str,
        info: &TensorInfo,
        rows: &[usize],
        dtype: Dtype,
    ) -> Result<Array> {
        let &[height, cols] = info.shape.as_slice() else {
            return Err(WeightsError::tensor(
                &self.path,
                name,
                "a 2-D tensor",
                info.describe(),
            ));
        };
        if let Some(&bad) = rows.iter().find(|&&r| r >= height) {
            return Err(WeightsError::tensor(
                &self.path,
                name,
                format!("row indices below {height}"),
                format!("row {bad}"),
            ));
        }
        let row_bytes = cols * info.dtype.size();
        let mut failure = None;
        let array = Array::from_fn_bytes(&[rows.len(), cols], dtype, |dst| {
            if dst.len() != rows.len() * row_bytes {
                failure = Some(WeightsError::tensor(
                    &self.path,
                    name,
                    format!("{} bytes for {dtype} rows", dst.len()),
                    format!("{row_bytes} bytes per row on disk"),
                ));
                return;
            }
            for (chunk, &row) in dst.chunks_exact_mut(row_bytes.max(1)).zip(rows) {
                let offset = info.begin + (row * row_bytes) as u64;
                if let Err(e) = self.read_at(name, offset, chunk) {
                    failure = Some(e);
                    return;
                }
            }
        })
        .map_err(|e| WeightsError::mlx(&self.path, Some(name), e))?;
        match failure {
            Some(e) => Err(e),
            None => Ok(array),
        }
    }

    fn read_at(&self, name: &str, offset_in_data: u64, buf: &mut [u8]) -> Result<()> {
        let offset = self.header.data_start + offset_in_data;
        read_parallel(&self.file, buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                WeightsError::Header {
                    path: self.path.clone(),
                    tensor: Some(name.to_string()),
                    expected: format!("{} bytes of data at offset {offset}", buf.len()),
                    found: "end of file (the file shrank or is truncated)".into(),
                }
            } else {
                WeightsError::io(&self.path, e)
            }
        })
    }
}

/// Above this, a tensor is read by several threads: on a fresh MLX buffer the cost is
/// dominated by page faults, which the kernel serves in parallel.
const PARALLEL_READ_MIN: usize = 32 << 20;
const PARALLEL_READ_CHUNK: usize = 8 << 20;

fn read_parallel(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use rayon::prelude::*;
    if buf.len() < PARALLEL_READ_MIN || cfg!(not(unix)) {
        return read_exact_at(file, buf, offset);
    }
    buf.par_chunks_mut(PARALLEL_READ_CHUNK)
        .enumerate()
        .try_for_each(|(i, chunk)| {
            read_exact_at(file, chunk, offset + (i * PARALLEL_READ_CHUNK) as u64)
        })
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    // `&File` implements Read + Seek; the loader reads tensors one after another.
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}
