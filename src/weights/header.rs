//! The safetensors header, parsed by us so that every problem names the tensor and the
//! expectation it breaks. Pure (no I/O, no MLX): the fuzz target compiles this file alone.
//!
//! File = 8-byte little-endian header length `n`, `n` bytes of JSON, then the data section.
//! The header maps names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to
//! the data section) plus an optional `__metadata__` string map.

use std::collections::BTreeMap;

use serde_json::Value;

/// Headers above this size are refused (the `safetensors` crate uses the same bound); it keeps
/// a corrupt length field from making us allocate gigabytes.
pub const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// Element types that may appear in a safetensors header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum StDtype {
    Bool,
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F16,
    Bf16,
    F32,
    F64,
    F8E4M3,
    F8E5M2,
}

impl StDtype {
    pub fn parse(s: &str) -> Option<StDtype> {
        use StDtype::*;
        Some(match s {
            "BOOL" => Bool,
            "U8" => U8,
            "I8" => I8,
            "U16" => U16,
            "I16" => I16,
            "U32" => U32,
            "I32" => I32,
            "U64" => U64,
            "I64" => I64,
            "F16" => F16,
            "BF16" => Bf16,
            "F32" => F32,
            "F64" => F64,
            "F8_E4M3" => F8E4M3,
            "F8_E5M2" => F8E5M2,
            _ => return None,
        })
    }

    /// The header spelling.
    pub fn name(self) -> &'static str {
        use StDtype::*;
        match self {
            Bool => "BOOL",
            U8 => "U8",
            I8 => "I8",
            U16 => "U16",
            I16 => "I16",
            U32 => "U32",
            I32 => "I32",
            U64 => "U64",
            I64 => "I64",
            F16 => "F16",
            Bf16 => "BF16",
            F32 => "F32",
            F64 => "F64",
            F8E4M3 => "F8_E4M3",
            F8E5M2 => "F8_E5M2",
        }
    }

    pub fn size(self) -> usize {
        use StDtype::*;
        match self {
            Bool | U8 | I8 | F8E4M3 | F8E5M2 => 1,
            U16 | I16 | F16 | Bf16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(
            self,
            StDtype::F16 | StDtype::Bf16 | StDtype::F32 | StDtype::F64
        )
    }
}

impl std::fmt::Display for StDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where one tensor lives in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub dtype: StDtype,
    pub shape: Vec<usize>,
    /// Byte range relative to the start of the data section.
    pub begin: u64,
    pub end: u64,
}

impl TensorInfo {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn nbytes(&self) -> u64 {
        self.end - self.begin
    }

    /// `F32 [288, 96]`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {:?}", self.dtype, self.shape)
    }
}

/// A parsed header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub tensors: BTreeMap<String, TensorInfo>,
    pub metadata: BTreeMap<String, String>,
    /// Absolute file offset of the data section (8 + header length).
    pub data_start: u64,
}

/// What is wrong with a header, before we know which file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderProblem {
    pub tensor: Option<String>,
    pub expected: String,
    pub found: String,
}

impl HeaderProblem {
    fn new(tensor: Option<&str>, expected: impl Into<String>, found: impl Into<String>) -> Self {
        HeaderProblem {
            tensor: tensor.map(str::to_string),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

type Parsed<T> = std::result::Result<T, HeaderProblem>;

/// Reads the 8-byte length prefix and checks it against the file size.
pub fn header_len(prefix: &[u8], file_len: u64) -> Parsed<u64> {
    let Some(first) = prefix.get(..8) else {
        return Err(HeaderProblem::new(
            None,
            "an 8-byte little-endian header length",
            format!("a file of {file_len} bytes"),
        ));
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(first);
    let n = u64::from_le_bytes(le);
    if n > MAX_HEADER_LEN {
        return Err(HeaderProblem::new(
            None,
            format!("a header length of at most {MAX_HEADER_LEN} bytes"),
            format!("{n}"),
        ));
    }
    if n.saturating_add(8) > file_len {
        return Err(HeaderProblem::new(
            None,
            format!("a {n}-byte header inside the file"),
            format!("a file of only {file_len} bytes (truncated download?)"),
        ));
    }
    Ok(n)
}

impl Header {
    /// Parses a header from the first bytes of a file (`8 + n` of them at least) given the
    /// total file length. Total: never panics, whatever the input.
    pub fn parse(bytes: &[u8], file_len: u64) -> Parsed<Header> {
        let n = header_len(bytes, file_len)?;
        let json = usize::try_from(8 + n)
            .ok()
            .and_then(|end| bytes.get(8..end))
            .ok_or_else(|| {
                HeaderProblem::new(
                    None,
                    format!("{n} header bytes"),
                    format!("{} bytes", bytes.len().saturating_sub(8)),
                )
            })?;
        let value: Value = serde_json::from_slice(json).map_err(|e| {
            HeaderProblem::new(None, "a JSON object header", format!("invalid JSON ({e})"))
        })?;
        let Value::Object(entries) = value else {
            return Err(HeaderProblem::new(
                None,
                "a JSON object header",
                format!("a JSON {}", json_kind(&value)),
            ));
        };
        let data_start = 8 + n;
        let data_len = file_len - data_start;
        let mut header = Header {
            data_start,
            ..Header::default()
        };
        for (name, entry) in &entries {
            if name == "__metadata__" {
                header.metadata = parse_metadata(entry)?;
                continue;
            }
            let info = parse_entry(name, entry, data_len)?;
            header.tensors.insert(name.clone(), info);
        }
        check_overlaps(&header.tensors)?;
        Ok(header)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn parse_metadata(entry: &Value) -> Parsed<BTreeMap<String, String>> {
    // MLX's `save_safetensors` writes `"__metadata__": null` when there is none.
    if entry.is_null() {
        return Ok(BTreeMap::new());
    }
    let Value::Object(map) = entry else {
        return Err(HeaderProblem::new(
            Some("__metadata__"),
            "an object of strings",
            format!("a JSON {}", json_kind(entry)),
        ));
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(HeaderProblem::new(
                Some("__metadata__"),
                format!("a string for key {k:?}"),
                format!("a JSON {}", json_kind(other)),
            )),
        })
        .collect()
}

fn parse_entry(name: &str, entry: &Value, data_len: u64) -> Parsed<TensorInfo> {
    let t = Some(name);
    let Value::Object(obj) = entry else {
        return Err(HeaderProblem::new(
            t,
            "an object with dtype, shape, data_offsets",
            format!("a JSON {}", json_kind(entry)),
        ));
    };
    let dtype = match obj.get("dtype") {
        Some(Value::String(s)) => StDtype::parse(s).ok_or_else(|| {
            HeaderProblem::new(
                t,
                "a safetensors dtype (BF16, F16, F32, U8, F8_E4M3, ...)",
                s.clone(),
            )
        })?,
        other => {
            return Err(HeaderProblem::new(t, "a dtype string", found_field(other)));
        }
    };
    let shape: Vec<usize> = match obj.get("shape") {
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| {
                d.as_u64()
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| {
                        HeaderProblem::new(t, "non-negative integer dimensions", d.to_string())
                    })
            })
            .collect::<Parsed<_>>()?,
        other => return Err(HeaderProblem::new(t, "a shape array", found_field(other))),
    };
    let (begin, end) = match obj.get("data_offsets") {
        Some(Value::Array(o)) if o.len() == 2 => match (o[0].as_u64(), o[1].as_u64()) {
            (Some(b), Some(e)) => (b, e),
            _ => {
                return Err(HeaderProblem::new(
                    t,
                    "two non-negative integer data_offsets",
                    Value::Array(o.clone()).to_string(),
                ))
            }
        },
        other => {
            return Err(HeaderProblem::new(
                t,
                "data_offsets [begin, end]",
                found_field(other),
            ));
        }
    };
    if begin > end {
        return Err(HeaderProblem::new(
            t,
            "data_offsets with begin <= end",
            format!("[{begin}, {end}]"),
        ));
    }
    if end > data_len {
        return Err(HeaderProblem::new(
            t,
            format!("data_offsets within the {data_len}-byte data section"),
            format!("[{begin}, {end}] (truncated file?)"),
        ));
    }
    let want = shape
        .iter()
        .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d as u64));
    match want {
        Some(w) if w == end - begin => {}
        Some(w) => {
            return Err(HeaderProblem::new(
                t,
                format!("{w} bytes for {dtype} {shape:?}"),
                format!(
                    "data_offsets [{begin}, {end}] spanning {} bytes",
                    end - begin
                ),
            ))
        }
        None => {
            return Err(HeaderProblem::new(
                t,
                "a shape whose byte size fits in 64 bits",
                format!("{shape:?}"),
            ))
        }
    }
    Ok(TensorInfo {
        dtype,
        shape,
        begin,
        end,
    })
}

fn found_field(v: Option<&Value>) -> String {
    match v {
        None => "no such field".to_string(),
        Some(v) => format!("a JSON {} ({})", json_kind(v), truncate(&v.to_string(), 60)),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &s[..cut])
}

fn check_overlaps(tensors: &BTreeMap<String, TensorInfo>) -> Parsed<()> {
    let mut spans: Vec<(u64, u64, &str)> = tensors
        .iter()
        .filter(|(_, i)| i.end > i.begin)
        .map(|(n, i)| (i.begin, i.end, n.as_str()))
        .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.0 < a.1 {
            return Err(HeaderProblem::new(
                Some(b.2),
                format!("data not overlapping tensor `{}` [{}, {}]", a.2, a.0, a.1),
                format!("[{}, {}]", b.0, b.1),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str, data_len: usize) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.resize(v.len() + data_len, 0);
        v
    }

    #[test]
    fn parses_a_valid_header() {
        let f = file(
            r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"b":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[12,16]}}"#,
            16,
        );
        let h = Header::parse(&f, f.len() as u64).unwrap();
        assert_eq!(h.metadata["format"], "pt");
        assert_eq!(h.tensors["a"].shape, vec![2, 3]);
        assert_eq!(h.tensors["b"].dtype, StDtype::F8E4M3);
        assert_eq!(h.data_start, f.len() as u64 - 16);
    }

    #[test]
    fn rejects_size_mismatch_naming_the_tensor() {
        let f = file(
            r#"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,12]}}"#,
            12,
        );
        let p = Header::parse(&f, f.len() as u64).unwrap_err();
        assert_eq!(p.tensor.as_deref(), Some("w"));
        assert!(p.expected.contains("24 bytes"), "{p:?}");
    }

    #[test]
    fn rejects_truncation_and_overlap_and_unknown_dtype() {
        let f = file(
            r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            8,
        );
        assert!(Header::parse(&f, f.len() as u64)
            .unwrap_err()
            .found
            .contains("truncated"));
        let f = file(
            r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#,
            6,
        );
        assert_eq!(
            Header::parse(&f, f.len() as u64)
                .unwrap_err()
                .tensor
                .as_deref(),
            Some("b")
        );
        let f = file(
            r#"{"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,4]}}"#,
            4,
        );
        assert_eq!(Header::parse(&f, f.len() as u64).unwrap_err().found, "Q4");
        assert!(Header::parse(&[1, 2, 3], 3)
            .unwrap_err()
            .found
            .contains("3 bytes"));
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.push(b'{');
        assert!(Header::parse(&huge, 9).is_err());
    }
}
