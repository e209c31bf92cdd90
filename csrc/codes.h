// The codes that cross the C ABI between csrc/shim.cpp and src/mlx/, named once.
//
// Each table is an X-macro `SHIM_CODES_<Name>(X)` of entries `X(RustName, mlx_name)`; an
// entry's position is its code. Below, the shim gets `enum class codes::<Name>` from it; build.rs
// parses this file and writes the same enums for Rust (`src/mlx/codes.rs` includes them), so an
// entry exists on both sides or on neither, and a switch in the shim that misses one does not
// compile (-Werror=switch). `mlx_name` is MLX's C++ name where the shim maps an entry
// mechanically (dtypes, elementwise ops, device types).
//
// Keep the format simple for build.rs: one `X(..)` per line, each line of a table ending in a
// backslash but the last; the `//` lines right above a table become its Rust doc comment.

#ifndef IDEOGRAM4_SHIM_CODES_H
#define IDEOGRAM4_SHIM_CODES_H

// An MLX element type.
#define SHIM_CODES_Dtype(X) \
  X(Bool, bool_)            \
  X(U8, uint8)              \
  X(U16, uint16)            \
  X(U32, uint32)            \
  X(U64, uint64)            \
  X(I8, int8)               \
  X(I16, int16)             \
  X(I32, int32)             \
  X(I64, int64)             \
  X(F16, float16)           \
  X(F32, float32)           \
  X(F64, float64)           \
  X(Bf16, bfloat16)         \
  X(Complex64, complex64)

// Elementwise functions of one array (`mx::<mlx_name>(a)`).
#define SHIM_CODES_Unary(X)  \
  X(Exp, exp)                \
  X(Log, log)                \
  X(Sin, sin)                \
  X(Cos, cos)                \
  X(Tanh, tanh)              \
  X(Sigmoid, sigmoid)        \
  X(Sqrt, sqrt)              \
  X(Rsqrt, rsqrt)            \
  X(Square, square)          \
  X(Abs, abs)                \
  X(Negative, negative)      \
  X(Erf, erf)                \
  X(Floor, floor)            \
  X(Round, round)            \
  X(LogicalNot, logical_not) \
  X(Contiguous, contiguous)  \
  X(Flatten, flatten)        \
  X(StopGradient, stop_gradient) \
  X(Ceil, ceil)              \
  X(Log1p, log1p)            \
  X(Expm1, expm1)            \
  X(IsNan, isnan)            \
  X(IsInf, isinf)

// Functions of two broadcast arrays (`mx::<mlx_name>(a, b)`).
#define SHIM_CODES_Binary(X)     \
  X(Add, add)                    \
  X(Subtract, subtract)          \
  X(Multiply, multiply)          \
  X(Divide, divide)              \
  X(Matmul, matmul)              \
  X(Maximum, maximum)            \
  X(Minimum, minimum)            \
  X(Power, power)                \
  X(Equal, equal)                \
  X(NotEqual, not_equal)         \
  X(Less, less)                  \
  X(LessEqual, less_equal)       \
  X(Greater, greater)            \
  X(GreaterEqual, greater_equal) \
  X(BitwiseAnd, bitwise_and)     \
  X(BitwiseOr, bitwise_or)       \
  X(LeftShift, left_shift)       \
  X(RightShift, right_shift)     \
  X(LogicalAnd, logical_and)     \
  X(LogicalOr, logical_or)       \
  X(BitwiseXor, bitwise_xor)     \
  X(FloorDivide, floor_divide)   \
  X(Remainder, remainder)

// Reductions over a list of axes (the shim spells each call out: their arguments differ).
#define SHIM_CODES_Reduce(X) \
  X(Sum, sum)                \
  X(Mean, mean)              \
  X(Max, max)                \
  X(Min, min)                \
  X(Var, var)                \
  X(LogSumExp, logsumexp)    \
  X(Softmax, softmax)        \
  X(All, all)                \
  X(Any, any)                \
  X(ArgMax, argmax)

// The kind of device MLX runs an operation on.
#define SHIM_CODES_DeviceType(X) \
  X(Cpu, cpu)                    \
  X(Gpu, gpu)

// The kind of a template argument of a custom Metal kernel call.
#define SHIM_CODES_TemplateKind(X) \
  X(Int, int)                      \
  X(Bool, bool)                    \
  X(Dtype, dtype)

#ifdef __cplusplus
#include <cstdint>

namespace codes {
#define SHIM_CODE_MEMBER(rust, mlx) rust,
enum class Dtype : int32_t { SHIM_CODES_Dtype(SHIM_CODE_MEMBER) };
enum class Unary : int32_t { SHIM_CODES_Unary(SHIM_CODE_MEMBER) };
enum class Binary : int32_t { SHIM_CODES_Binary(SHIM_CODE_MEMBER) };
enum class Reduce : int32_t { SHIM_CODES_Reduce(SHIM_CODE_MEMBER) };
enum class DeviceType : int32_t { SHIM_CODES_DeviceType(SHIM_CODE_MEMBER) };
enum class TemplateKind : int32_t { SHIM_CODES_TemplateKind(SHIM_CODE_MEMBER) };
#undef SHIM_CODE_MEMBER
}  // namespace codes
#endif

#endif  // IDEOGRAM4_SHIM_CODES_H
