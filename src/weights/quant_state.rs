//! The bitsandbytes 4-bit quant-state blob (`<w>.quant_state.bitsandbytes__nf4`): UTF-8 JSON
//! written by Python `json.dumps`, e.g.
//! `{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [96, 192],
//!   "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.185}`.
//! Nesting (double quantisation) is signalled by the `nested_*` fields; there is no flag.

use serde_json::{Map, Value};

use crate::mlx::Dtype;

/// Block sizes beyond this are not produced by bitsandbytes (its maximum is 4096); the bound
/// keeps a corrupt blob from describing absurd layouts.
const MAX_BLOCKSIZE: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Nf4QuantState {
    /// Elements per `absmax` scale, over the flattened weight.
    pub blocksize: usize,
    /// The original weight dtype; the reference dequantises to it.
    #[serde(serialize_with = "dtype_name")]
    pub dtype: Dtype,
    /// Logical (unpacked) shape, `[out, in]` for a Linear.
    pub shape: Vec<usize>,
    pub nested: Option<NestedState>,
}

/// Double quantisation of `absmax`: u8 codes into `nested_quant_map`, scaled per
/// `blocksize` codes by `nested_absmax`, plus `offset`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NestedState {
    pub blocksize: usize,
    pub offset: f32,
}

fn dtype_name<S: serde::Serializer>(d: &Dtype, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(d.name())
}

/// What is wrong with a quant-state blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantStateProblem {
    pub expected: String,
    pub found: String,
    /// The blob is fine but describes a format we do not load (e.g. `fp4`).
    pub unsupported: bool,
}

fn problem(expected: impl Into<String>, found: impl Into<String>) -> QuantStateProblem {
    QuantStateProblem {
        expected: expected.into(),
        found: found.into(),
        unsupported: false,
    }
}

impl Nf4QuantState {
    /// Parses a blob. Total: never panics, whatever the bytes.
    pub fn parse(bytes: &[u8]) -> Result<Nf4QuantState, QuantStateProblem> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| problem("a UTF-8 JSON quant state", format!("invalid JSON ({e})")))?;
        let Value::Object(obj) = value else {
            return Err(problem("a JSON object", value.to_string()));
        };
        match obj.get("quant_type") {
            Some(Value::String(t)) if t == "nf4" => {}
            Some(Value::String(t)) => {
                return Err(QuantStateProblem {
                    expected: "quant_type \"nf4\"".into(),
                    found: format!("quant_type {t:?}"),
                    unsupported: true,
                })
            }
            other => return Err(problem("quant_type \"nf4\"", describe(other))),
        }
        let blocksize = positive(&obj, "blocksize")?;
        let dtype = match obj.get("dtype") {
            Some(Value::String(s)) => parse_dtype(s).ok_or_else(|| {
                problem("dtype bfloat16, float16 or float32", format!("dtype {s:?}"))
            })?,
            other => return Err(problem("a dtype string", describe(other))),
        };
        let shape = match obj.get("shape") {
            Some(Value::Array(dims)) if !dims.is_empty() => dims
                .iter()
                .map(|d| {
                    d.as_u64()
                        .and_then(|d| usize::try_from(d).ok())
                        .ok_or_else(|| problem("non-negative integer dimensions", d.to_string()))
                })
                .collect::<Result<Vec<usize>, _>>()?,
            other => return Err(problem("a non-empty shape list", describe(other))),
        };
        if shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_none()
        {
            return Err(problem(
                "a shape whose size fits in memory",
                format!("{shape:?}"),
            ));
        }
        let nested = if obj.contains_key("nested_blocksize") || obj.contains_key("nested_offset") {
            let blocksize = positive(&obj, "nested_blocksize")?;
            let offset = match obj.get("nested_offset") {
                Some(Value::Number(n)) => n
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| problem("a finite nested_offset", n.to_string()))?,
                other => return Err(problem("a nested_offset number", describe(other))),
            };
            match obj.get("nested_dtype") {
                None => {}
                Some(Value::String(s)) if s == "float32" || s == "torch.float32" => {}
                other => return Err(problem("nested_dtype \"float32\"", describe(other))),
            }
            Some(NestedState {
                blocksize,
                // bitsandbytes stores the offset as a float32 tensor and dumps its exact value.
                offset: offset as f32,
            })
        } else {
            None
        };
        Ok(Nf4QuantState {
            blocksize,
            dtype,
            shape,
            nested,
        })
    }

    /// Logical element count.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes of packed codes: two per byte, the last low nibble padding when odd.
    pub fn packed_len(&self) -> usize {
        self.numel().div_ceil(2)
    }

    /// Number of `absmax` scales.
    pub fn nblocks(&self) -> usize {
        self.numel().div_ceil(self.blocksize)
    }

    /// Number of `nested_absmax` scales (nested only).
    pub fn nested_nblocks(&self) -> Option<usize> {
        self.nested.map(|n| self.nblocks().div_ceil(n.blocksize))
    }
}

fn positive(obj: &Map<String, Value>, key: &str) -> Result<usize, QuantStateProblem> {
    match obj.get(key) {
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|&v| v > 0 && v <= MAX_BLOCKSIZE)
            .map(|v| v as usize)
            .ok_or_else(|| problem(format!("{key} in 1..={MAX_BLOCKSIZE}"), n.to_string())),
        other => Err(problem(format!("an integer {key}"), describe(other))),
    }
}

fn describe(v: Option<&Value>) -> String {
    match v {
        None => "no such field".into(),
        Some(v) => v.to_string(),
    }
}

/// Torch dtype names as bitsandbytes writes them (`str(dtype)` minus the `torch.` prefix).
pub fn parse_dtype(s: &str) -> Option<Dtype> {
    match s.strip_prefix("torch.").unwrap_or(s) {
        "bfloat16" => Some(Dtype::Bf16),
        "float16" | "half" => Some(Dtype::F16),
        "float32" | "float" => Some(Dtype::F32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_nested() {
        let s = Nf4QuantState::parse(
            br#"{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [288, 96]}"#,
        )
        .unwrap();
        assert_eq!(
            (s.blocksize, s.dtype, s.nblocks(), s.packed_len()),
            (64, Dtype::Bf16, 432, 13824)
        );
        assert!(s.nested.is_none());
        let s = Nf4QuantState::parse(
            br#"{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [96, 192], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.1850060373544693}"#,
        )
        .unwrap();
        let n = s.nested.unwrap();
        assert_eq!((n.blocksize, n.offset), (256, 0.185_006_04_f32));
        assert_eq!(s.nested_nblocks(), Some(2));
    }

    #[test]
    fn rejects_fp4_as_unsupported_and_garbage_as_corrupt() {
        let p = Nf4QuantState::parse(
            br#"{"quant_type": "fp4", "blocksize": 64, "dtype": "bfloat16", "shape": [4, 4]}"#,
        )
        .unwrap_err();
        assert!(p.unsupported);
        let p = Nf4QuantState::parse(
            br#"{"quant_type": "nf4", "blocksize": 0, "dtype": "bfloat16", "shape": [4]}"#,
        )
        .unwrap_err();
        assert!(!p.unsupported && p.expected.contains("blocksize"));
        assert!(Nf4QuantState::parse(b"\xff\xfe").is_err());
        assert!(Nf4QuantState::parse(
            br#"{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4294967296, 4294967296, 4294967296]}"#
        )
        .is_err());
    }
}
