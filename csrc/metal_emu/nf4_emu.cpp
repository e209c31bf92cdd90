// The NF4 kernels of kernels/ compiled as C++ over the Metal emulation, with a C entry point
// for Rust (src/model/nf4_fused/emulate.rs). The kernel text is #included unchanged.
#include "metal_emu.h"

#include <cstdio>

using metal_emu::bfloat16_t;
using metal_emu::half;
using metal_emu::mem_flags;
using metal_emu::max;
using metal_emu::min;
using metal_emu::simd_shuffle_xor;
using metal_emu::threadgroup_barrier;

namespace {

template <typename T>
struct Operands {
  const T* x;
  const uint8_t* packed;
  const float* absmax;
  const uint8_t* codes;
  const float* qmap;
  const float* qscales;
  const float* qoffset;
  const uint* dims;
  T* y;
};

}  // namespace

// The names the Metal signature would bind, for a kernel body over Operands<T>. The scale
// inputs of the other form are bound but never read.
#define NF4_EMU_BIND(T)                                          \
  const Operands<T>& o = *static_cast<const Operands<T>*>(p);    \
  const T* x = o.x;                                              \
  const uint8_t* packed = o.packed;                              \
  const float* absmax = o.absmax;                                \
  const uint8_t* codes = o.codes;                                \
  const float* qmap = o.qmap;                                    \
  const float* qscales = o.qscales;                              \
  const float* qoffset = o.qoffset;                              \
  const uint* dims = o.dims;                                     \
  T* y = o.y;                                                    \
  (void)absmax;                                                  \
  (void)codes;                                                   \
  (void)qmap;                                                    \
  (void)qscales;                                                 \
  (void)qoffset;                                                 \
  METAL_EMU_ATTRIBUTES

namespace nf4_plain {
#define NF4_NESTED 0
#include "nf4_emu_variant.inc"
#undef NF4_NESTED
}  // namespace nf4_plain

namespace nf4_nested {
#define NF4_NESTED 1
#include "nf4_emu_variant.inc"
#undef NF4_NESTED
}  // namespace nf4_nested

namespace {

template <typename T>
void run(int kernel, int nested, const void* x, const uint8_t* packed, const float* absmax,
         const uint8_t* codes, const float* qmap, const float* qscales, const float* qoffset,
         const uint32_t* dims, void* y, const uint32_t* grid, const uint32_t* tg) {
  Operands<T> o{static_cast<const T*>(x), packed, absmax, codes, qmap, qscales, qoffset,
                dims, static_cast<T*>(y)};
  void (*body)(void*) = nullptr;
  if (kernel == 0) body = nested ? nf4_nested::matvec<T> : nf4_plain::matvec<T>;
  if (kernel == 1) body = nested ? nf4_nested::matmul<T> : nf4_plain::matmul<T>;
  if (body == nullptr) throw std::runtime_error("unknown kernel");
  metal_emu::launch(metal_emu::uint3{grid[0], grid[1], grid[2]},
                    metal_emu::uint3{tg[0], tg[1], tg[2]}, body, &o);
}

}  // namespace

// kernel: 0 = nf4_matvec, 1 = nf4_matmul; dtype: 0 = float32, 1 = bfloat16, 2 = float16
// (the type of x and y). Returns 0, or 1 with a message in err.
extern "C" int metal_emu_nf4(int kernel, int dtype, int nested, const void* x,
                             const uint8_t* packed, const float* absmax, const uint8_t* codes,
                             const float* qmap, const float* qscales, const float* qoffset,
                             const uint32_t* dims, void* y, const uint32_t* grid,
                             const uint32_t* tg, char* err, size_t err_len) {
  try {
    switch (dtype) {
      case 0:
        run<float>(kernel, nested, x, packed, absmax, codes, qmap, qscales, qoffset, dims, y,
                   grid, tg);
        break;
      case 1:
        run<bfloat16_t>(kernel, nested, x, packed, absmax, codes, qmap, qscales, qoffset, dims,
                        y, grid, tg);
        break;
      case 2:
        run<half>(kernel, nested, x, packed, absmax, codes, qmap, qscales, qoffset, dims, y,
                  grid, tg);
        break;
      default:
        throw std::runtime_error("unknown dtype code");
    }
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err, err_len, "%s", e.what());
    return 1;
  }
}
