//! The GGUF container (gguf-py's `GGUFReader` layout, versions 2 and 3): header, metadata
//! key/values, tensor infos, alignment and data offsets, validated against the file size
//! before any tensor data is read.
//!
//! Little-endian: magic `GGUF`, version u32, tensor count u64, KV count u64, the KV pairs, then
//! per tensor its name, `n_dims` u32, dims `u64[n_dims]` (GGML order: innermost first, so a
//! PyTorch `[out, in]` weight is stored as `[in, out]`), type u32 and a data offset u64
//! relative to the data section, which starts at the next multiple of `general.alignment`
//! (default 32) after the tensor infos.
//!
//! Pure std (no crate dependencies) so the fuzz target compiles it in by path.

use std::collections::BTreeMap;

pub const MAGIC: &[u8; 4] = b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// GGML's `GGML_MAX_DIMS`.
pub const MAX_DIMS: u32 = 4;
/// Metadata arrays nest at most this deep (real files nest once, for token lists).
const MAX_ARRAY_DEPTH: usize = 4;

/// GGML element types: id, name, values per block, bytes per block (gguf-py
/// `GGML_QUANT_SIZES`).
pub const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
];

/// `(name, block values, block bytes)` of a GGML type id.
pub fn ggml_type_info(id: u32) -> Option<(&'static str, u64, u64)> {
    GGML_TYPES
        .iter()
        .find(|t| t.0 == id)
        .map(|&(_, n, b, s)| (n, b, s))
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One tensor as the file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// GGML order (innermost first).
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Relative to the data section.
    pub offset: u64,
    /// Stored bytes (whole blocks).
    pub nbytes: u64,
}

impl TensorInfo {
    /// The PyTorch / row-major shape: GGML dims reversed.
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }

    pub fn type_name(&self) -> &'static str {
        ggml_type_info(self.ggml_type).map_or("?", |t| t.0)
    }
}

/// A parsed GGUF header.
#[derive(Debug, Clone)]
pub struct Header {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    /// In file order.
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the data section.
    pub data_start: u64,
}

/// Why a header was refused; `tensor` names the tensor when one is involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub tensor: Option<String>,
    pub expected: String,
    pub found: String,
    /// The bytes given end before the header does, and the file is longer: read more.
    pub need_more: bool,
}

impl Problem {
    fn new(expected: impl Into<String>, found: impl Into<String>) -> Problem {
        Problem {
            tensor: None,
            expected: expected.into(),
            found: found.into(),
            need_more: false,
        }
    }

    fn at(mut self, tensor: &str) -> Problem {
        self.tensor = Some(tensor.to_string());
        self
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    file_len: u64,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], Problem> {
        let end = (self.pos as u64).checked_add(n);
        match end {
            Some(end) if end <= self.bytes.len() as u64 => {
                let s = &self.bytes[self.pos..end as usize];
                self.pos = end as usize;
                Ok(s)
            }
            Some(end) if end <= self.file_len => Err(Problem {
                need_more: true,
                ..Problem::new(format!("{what} within the bytes read"), "more header")
            }),
            _ => Err(Problem::new(
                format!("{n} bytes of {what} at offset {}", self.pos),
                format!("end of file at {} (truncated?)", self.file_len),
            )),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, Problem> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, Problem> {
        Ok(u16::from_le_bytes(self.arr(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, Problem> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, Problem> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Problem> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn string(&mut self, what: &str) -> Result<String, Problem> {
        let n = self.u64(what)?;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec())
            .map_err(|_| Problem::new(format!("UTF-8 {what}"), "invalid UTF-8"))
    }

    fn value(&mut self, ty: u32, depth: usize, key: &str) -> Result<Value, Problem> {
        Ok(match ty {
            0 => Value::U8(self.u8(key)?),
            1 => Value::I8(self.u8(key)? as i8),
            2 => Value::U16(self.u16(key)?),
            3 => Value::I16(self.u16(key)? as i16),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(self.u32(key)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(key)?)),
            7 => match self.u8(key)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(Problem::new(
                        format!("a bool (0 or 1) for `{key}`"),
                        format!("{b}"),
                    ))
                }
            },
            8 => Value::String(self.string(key)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(Problem::new(
                        format!("arrays nested at most {MAX_ARRAY_DEPTH} deep in `{key}`"),
                        "deeper nesting",
                    ));
                }
                let inner = self.u32(key)?;
                let n = self.u64(key)?;
                // Every element takes at least one byte: a count beyond the file is a lie.
                let left = self.file_len.saturating_sub(self.pos as u64);
                if n > left {
                    return Err(Problem::new(
                        format!("at most {left} elements in array `{key}`"),
                        format!("{n}"),
                    ));
                }
                let mut v = Vec::with_capacity(n.min(1 << 16) as usize);
                for _ in 0..n {
                    v.push(self.value(inner, depth + 1, key)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(self.u64(key)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(key)?)),
            other => {
                return Err(Problem::new(
                    format!("a GGUF value type (0..=12) for `{key}`"),
                    format!("{other}"),
                ))
            }
        })
    }
}

impl Header {
    /// Parses the header from the first bytes of a file of `file_len` bytes. When `bytes`
    /// ends inside the header but the file is longer, the problem has `need_more` set.
    pub fn parse(bytes: &[u8], file_len: u64) -> Result<Header, Problem> {
        let mut c = Cursor {
            bytes,
            pos: 0,
            file_len,
        };
        let magic = c.take(4, "the GGUF magic")?;
        if magic != MAGIC {
            return Err(Problem::new(
                "the GGUF magic bytes `GGUF`",
                format!("{magic:02x?}"),
            ));
        }
        let version = c.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(Problem::new("GGUF version 2 or 3", format!("{version}")));
        }
        let n_tensors = c.u64("the tensor count")?;
        let n_kv = c.u64("the metadata count")?;
        // A tensor info takes at least 24 bytes, a KV pair at least 12.
        if n_tensors > file_len / 24 || n_kv > file_len / 12 {
            return Err(Problem::new(
                format!("counts that fit in {file_len} bytes"),
                format!("{n_tensors} tensors, {n_kv} metadata pairs"),
            ));
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string("a metadata key")?;
            let ty = c.u32(&key)?;
            let v = c.value(ty, 0, &key)?;
            if metadata.insert(key.clone(), v).is_some() {
                return Err(Problem::new(
                    "unique metadata keys",
                    format!("`{key}` twice"),
                ));
            }
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => {
                    return Err(Problem::new(
                        "general.alignment a power of two",
                        format!("{v:?}"),
                    ))
                }
            },
        };
        let mut tensors = Vec::with_capacity(n_tensors.min(1 << 16) as usize);
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..n_tensors {
            let name = c.string("a tensor name")?;
            let n_dims = c.u32(&name).map_err(|p| p.at(&name))?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(Problem::new(
                    format!("1..={MAX_DIMS} dimensions"),
                    format!("{n_dims}"),
                )
                .at(&name));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64(&name).map_err(|p| p.at(&name))?);
            }
            let ggml_type = c.u32(&name).map_err(|p| p.at(&name))?;
            let offset = c.u64(&name).map_err(|p| p.at(&name))?;
            let Some((type_name, block, block_bytes)) = ggml_type_info(ggml_type) else {
                return Err(
                    Problem::new("a known GGML type id", format!("type {ggml_type}")).at(&name),
                );
            };
            if dims[0] % block != 0 {
                return Err(Problem::new(
                    format!("rows of a multiple of {block} values ({type_name} blocks)"),
                    format!("dims {dims:?}"),
                )
                .at(&name));
            }
            let nbytes = (dims[0] / block)
                .checked_mul(block_bytes)
                .and_then(|first| dims[1..].iter().try_fold(first, |a, &d| a.checked_mul(d)))
                .filter(|&n| n <= file_len)
                .ok_or_else(|| {
                    Problem::new(
                        format!("a size that fits in {file_len} bytes"),
                        format!("dims {dims:?} of {type_name}"),
                    )
                    .at(&name)
                })?;
            if offset % alignment != 0 {
                return Err(Problem::new(
                    format!("a data offset aligned to {alignment}"),
                    format!("{offset}"),
                )
                .at(&name));
            }
            if !names.insert(name.clone()) {
                return Err(Problem::new("unique tensor names", "a duplicate").at(&name));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
                nbytes,
            });
        }
        let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
        let data_len = file_len.saturating_sub(data_start);
        let mut spans: Vec<(u64, u64, &str)> = Vec::with_capacity(tensors.len());
        for t in &tensors {
            let end = t.offset.checked_add(t.nbytes).filter(|&e| e <= data_len);
            let Some(end) = end else {
                return Err(Problem::new(
                    format!(
                        "{} bytes of data at offset {} within the {data_len}-byte data section",
                        t.nbytes, t.offset
                    ),
                    "data beyond the end of the file (truncated?)",
                )
                .at(&t.name));
            };
            if end > t.offset {
                spans.push((t.offset, end, &t.name));
            }
        }
        spans.sort_unstable();
        if let Some(w) = spans.windows(2).find(|w| w[0].1 > w[1].0) {
            return Err(Problem::new(
                format!("tensor data not overlapping `{}`", w[0].2),
                format!("bytes {}..{}", w[1].0, w[1].1),
            )
            .at(w[1].2));
        }
        Ok(Header {
            version,
            metadata,
            tensors,
            alignment,
            data_start,
        })
    }
}
