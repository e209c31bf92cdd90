//! Element types (the enum itself is generated from the shim's `csrc/codes.h`).

use std::fmt;

pub use super::codes::Dtype;

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        use Dtype::*;
        match self {
            Bool | U8 | I8 => 1,
            U16 | I16 | F16 | Bf16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | Complex64 => 8,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::F32 | Dtype::F64 | Dtype::Bf16)
    }

    /// The name used in safetensors headers and error messages: MLX's (`bool_` without its
    /// underscore).
    pub fn name(self) -> &'static str {
        self.mlx_name().trim_end_matches('_')
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A host type that has an MLX dtype with the same memory layout.
///
/// # Safety
/// Implementors must be plain-old-data whose size equals `DTYPE.size()` and for which every
/// bit pattern MLX can produce is a valid value.
pub unsafe trait Element: Copy + Default + 'static {
    const DTYPE: Dtype;
}

macro_rules! elements {
    ($($t:ty => $d:ident),* $(,)?) => {
        // SAFETY (all impls): fixed-size POD types with the same layout as MLX's element types.
        $(unsafe impl Element for $t {
            const DTYPE: Dtype = Dtype::$d;
        })*
    };
}

elements! {
    f32 => F32,
    f64 => F64,
    half::f16 => F16,
    half::bf16 => Bf16,
    u8 => U8,
    u16 => U16,
    u32 => U32,
    u64 => U64,
    i8 => I8,
    i16 => I16,
    i32 => I32,
    i64 => I64,
}
