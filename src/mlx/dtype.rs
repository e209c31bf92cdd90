//! Element types, with the codes shared with the C++ shim.

use std::fmt;

/// An MLX element type. The discriminants are the shim's dtype codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Dtype {
    Bool = 0,
    U8 = 1,
    U16 = 2,
    U32 = 3,
    U64 = 4,
    I8 = 5,
    I16 = 6,
    I32 = 7,
    I64 = 8,
    F16 = 9,
    F32 = 10,
    F64 = 11,
    Bf16 = 12,
    Complex64 = 13,
}

impl Dtype {
    pub(crate) fn from_code(code: i32) -> Option<Self> {
        use Dtype::*;
        Some(match code {
            0 => Bool,
            1 => U8,
            2 => U16,
            3 => U32,
            4 => U64,
            5 => I8,
            6 => I16,
            7 => I32,
            8 => I64,
            9 => F16,
            10 => F32,
            11 => F64,
            12 => Bf16,
            13 => Complex64,
            _ => return None,
        })
    }

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

    /// The name used in safetensors headers and error messages.
    pub fn name(self) -> &'static str {
        use Dtype::*;
        match self {
            Bool => "bool",
            U8 => "uint8",
            U16 => "uint16",
            U32 => "uint32",
            U64 => "uint64",
            I8 => "int8",
            I16 => "int16",
            I32 => "int32",
            I64 => "int64",
            F16 => "float16",
            F32 => "float32",
            F64 => "float64",
            Bf16 => "bfloat16",
            Complex64 => "complex64",
        }
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

// SAFETY (all impls): fixed-size POD types with the same layout as MLX's element types.
unsafe impl Element for f32 {
    const DTYPE: Dtype = Dtype::F32;
}
unsafe impl Element for f64 {
    const DTYPE: Dtype = Dtype::F64;
}
unsafe impl Element for half::f16 {
    const DTYPE: Dtype = Dtype::F16;
}
unsafe impl Element for half::bf16 {
    const DTYPE: Dtype = Dtype::Bf16;
}
unsafe impl Element for u8 {
    const DTYPE: Dtype = Dtype::U8;
}
unsafe impl Element for u16 {
    const DTYPE: Dtype = Dtype::U16;
}
unsafe impl Element for u32 {
    const DTYPE: Dtype = Dtype::U32;
}
unsafe impl Element for u64 {
    const DTYPE: Dtype = Dtype::U64;
}
unsafe impl Element for i8 {
    const DTYPE: Dtype = Dtype::I8;
}
unsafe impl Element for i16 {
    const DTYPE: Dtype = Dtype::I16;
}
unsafe impl Element for i32 {
    const DTYPE: Dtype = Dtype::I32;
}
unsafe impl Element for i64 {
    const DTYPE: Dtype = Dtype::I64;
}
