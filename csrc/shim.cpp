// C ABI over MLX's C++ API, consumed by src/mlx/ffi.rs.
//
// Every entry point catches every C++ exception and turns it into a non-zero status with the
// message stored in a thread-local buffer: an exception unwinding into Rust would abort the
// process. Arrays cross the boundary as heap-allocated `mlx::core::array*` handles that Rust
// owns and frees with shim_array_free.

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "codes.h"
#include "mlx/mlx.h"

namespace mx = mlx::core;

using Arr = mx::array;

namespace {

thread_local std::string g_last_error;

template <typename F>
int guarded(F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    g_last_error = e.what();
  } catch (...) {
    g_last_error = "unknown C++ exception";
  }
  return 1;
}

mx::Dtype to_dtype(codes::Dtype code) {
  switch (code) {
#define X(rust, mlx) \
  case codes::Dtype::rust: return mx::mlx;
    SHIM_CODES_Dtype(X)
#undef X
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(static_cast<int>(code)));
}

int from_dtype(mx::Dtype d) {
  switch (d.val()) {
#define X(rust, mlx) \
  case mx::Dtype::Val::mlx: return static_cast<int>(codes::Dtype::rust);
    SHIM_CODES_Dtype(X)
#undef X
  }
  return -1;
}

mx::Shape to_shape(const int32_t* dims, int ndim) {
  return mx::Shape(dims, dims + ndim);
}

std::vector<int> to_ints(const int32_t* v, int n) {
  return std::vector<int>(v, v + n);
}

Arr** put(Arr** out, Arr a) {
  *out = new Arr(std::move(a));
  return out;
}

}  // namespace

extern "C" {

const char* shim_last_error() { return g_last_error.c_str(); }

const char* shim_version() { return mx::version(); }

void shim_array_free(Arr* a) { delete a; }

int shim_array_clone(const Arr* a, Arr** out) {
  return guarded([&] { put(out, *a); });
}

int shim_array_ndim(const Arr* a) { return static_cast<int>(a->ndim()); }

void shim_array_shape(const Arr* a, int32_t* out) {
  for (size_t i = 0; i < a->ndim(); ++i) out[i] = a->shape(static_cast<int>(i));
}

int shim_array_dtype(const Arr* a) { return from_dtype(a->dtype()); }

size_t shim_array_size(const Arr* a) { return a->size(); }

size_t shim_array_nbytes(const Arr* a) { return a->nbytes(); }

// Allocates an uninitialised buffer of `nbytes`, hands its address to the caller to fill, and
// wraps it as an evaluated array. The caller must fill it before the array is used.
int shim_array_new_uninit(const int32_t* shape, int ndim, codes::Dtype dtype, size_t nbytes,
                          void** data, Arr** out) {
  return guarded([&] {
    auto dt = to_dtype(dtype);
    auto sh = to_shape(shape, ndim);
    size_t count = 1;
    for (auto d : sh) count *= static_cast<size_t>(d);
    if (count * mx::size_of(dt) != nbytes) {
      throw std::invalid_argument("[from_bytes] " + std::to_string(nbytes) +
                                  " bytes do not fill a buffer of " + std::to_string(count) +
                                  " elements of " + std::to_string(mx::size_of(dt)) + " bytes");
    }
    auto buf = mx::allocator::malloc(nbytes > 0 ? nbytes : 1);
    *data = buf.buffer().raw_ptr();
    put(out, Arr(std::move(buf), std::move(sh), dt));
  });
}

int shim_array_to_bytes(const Arr* a, void* dst, size_t nbytes) {
  return guarded([&] {
    Arr c = mx::contiguous(*a);
    c.eval();
    if (c.nbytes() != nbytes) {
      throw std::invalid_argument("[to_bytes] destination holds " + std::to_string(nbytes) +
                                  " bytes, array has " + std::to_string(c.nbytes()));
    }
    if (!c.flags().row_contiguous) {
      throw std::runtime_error("[to_bytes] array is not row contiguous after contiguous()");
    }
    if (nbytes > 0) std::memcpy(dst, c.data<uint8_t>(), nbytes);
  });
}

// Evaluates `a` and exposes its buffer for host reads without a copy. Only row-contiguous,
// non-broadcast arrays qualify, so the bytes are exactly the row-major data.
int shim_array_data(const Arr* a, const void** data) {
  return guarded([&] {
    Arr c = *a;
    c.eval();
    if (!c.flags().row_contiguous || c.data_size() != c.size()) {
      throw std::invalid_argument("[host_bytes] array is not row contiguous; call contiguous() first");
    }
    *data = c.data<uint8_t>();
  });
}

int shim_eval(Arr* const* arrays, size_t n) {
  return guarded([&] {
    std::vector<Arr> v;
    v.reserve(n);
    for (size_t i = 0; i < n; ++i) v.push_back(*arrays[i]);
    mx::eval(v);
  });
}

int shim_scalar(double value, codes::Dtype dtype, Arr** out) {
  return guarded([&] { put(out, Arr(value, to_dtype(dtype))); });
}

// ---- elementwise -------------------------------------------------------------------------

int shim_unary(codes::Unary op, const Arr* a, Arr** out) {
  return guarded([&] {
    switch (op) {
#define X(rust, mlx) \
  case codes::Unary::rust: put(out, mx::mlx(*a)); return;
      SHIM_CODES_Unary(X)
#undef X
    }
    throw std::invalid_argument("unknown unary op " + std::to_string(static_cast<int>(op)));
  });
}

int shim_binary(codes::Binary op, const Arr* a, const Arr* b, Arr** out) {
  return guarded([&] {
    switch (op) {
#define X(rust, mlx) \
  case codes::Binary::rust: put(out, mx::mlx(*a, *b)); return;
      SHIM_CODES_Binary(X)
#undef X
    }
    throw std::invalid_argument("unknown binary op " + std::to_string(static_cast<int>(op)));
  });
}

int shim_where(const Arr* c, const Arr* x, const Arr* y, Arr** out) {
  return guarded([&] { put(out, mx::where(*c, *x, *y)); });
}

int shim_clip(const Arr* a, const Arr* lo, const Arr* hi, Arr** out) {
  return guarded([&] {
    std::optional<Arr> l, h;
    if (lo) l = *lo;
    if (hi) h = *hi;
    put(out, mx::clip(*a, l, h));
  });
}

int shim_astype(const Arr* a, codes::Dtype dtype, Arr** out) {
  return guarded([&] { put(out, mx::astype(*a, to_dtype(dtype))); });
}

// The same bytes read as `dtype` (the last axis rescaled by the ratio of element sizes).
int shim_view(const Arr* a, codes::Dtype dtype, Arr** out) {
  return guarded([&] { put(out, mx::view(*a, to_dtype(dtype))); });
}

// ---- reductions ----------------------------------------------------------------------------

// `naxes < 0` reduces over all axes.
int shim_reduce(codes::Reduce op, const Arr* a, const int32_t* axes, int naxes, bool keepdims,
                Arr** out) {
  return guarded([&] {
    const Arr& x = *a;
    std::vector<int> ax;
    if (naxes < 0) {
      for (int i = 0; i < static_cast<int>(x.ndim()); ++i) ax.push_back(i);
    } else {
      ax = to_ints(axes, naxes);
    }
    using R = codes::Reduce;
    switch (op) {
      case R::Sum: put(out, mx::sum(x, ax, keepdims)); return;
      case R::Mean: put(out, mx::mean(x, ax, keepdims)); return;
      case R::Max: put(out, mx::max(x, ax, keepdims)); return;
      case R::Min: put(out, mx::min(x, ax, keepdims)); return;
      case R::Var: put(out, mx::var(x, ax, keepdims)); return;
      case R::LogSumExp: put(out, mx::logsumexp(x, ax, keepdims)); return;
      case R::Softmax: put(out, mx::softmax(x, ax, /*precise=*/true)); return;
      case R::All: put(out, mx::all(x, ax, keepdims)); return;
      case R::Any: put(out, mx::any(x, ax, keepdims)); return;
      case R::ArgMax:
        if (ax.size() != 1) throw std::invalid_argument("[argmax] takes exactly one axis");
        put(out, mx::argmax(x, ax[0], keepdims));
        return;
    }
    throw std::invalid_argument("unknown reduction " + std::to_string(static_cast<int>(op)));
  });
}

// ---- shapes --------------------------------------------------------------------------------

int shim_reshape(const Arr* a, const int32_t* shape, int ndim, Arr** out) {
  return guarded([&] { put(out, mx::reshape(*a, to_shape(shape, ndim))); });
}

int shim_transpose(const Arr* a, const int32_t* axes, int n, Arr** out) {
  return guarded([&] { put(out, mx::transpose(*a, to_ints(axes, n))); });
}

int shim_swapaxes(const Arr* a, int a1, int a2, Arr** out) {
  return guarded([&] { put(out, mx::swapaxes(*a, a1, a2)); });
}

int shim_broadcast_to(const Arr* a, const int32_t* shape, int ndim, Arr** out) {
  return guarded([&] { put(out, mx::broadcast_to(*a, to_shape(shape, ndim))); });
}

int shim_expand_dims(const Arr* a, const int32_t* axes, int n, Arr** out) {
  return guarded([&] { put(out, mx::expand_dims(*a, to_ints(axes, n))); });
}

int shim_squeeze(const Arr* a, const int32_t* axes, int n, Arr** out) {
  return guarded([&] {
    if (n < 0) {
      put(out, mx::squeeze(*a));
    } else {
      put(out, mx::squeeze(*a, to_ints(axes, n)));
    }
  });
}

int shim_concatenate(Arr* const* arrays, size_t n, int axis, Arr** out) {
  return guarded([&] {
    std::vector<Arr> v;
    for (size_t i = 0; i < n; ++i) v.push_back(*arrays[i]);
    put(out, mx::concatenate(v, axis));
  });
}

int shim_stack(Arr* const* arrays, size_t n, int axis, Arr** out) {
  return guarded([&] {
    std::vector<Arr> v;
    for (size_t i = 0; i < n; ++i) v.push_back(*arrays[i]);
    put(out, mx::stack(v, axis));
  });
}

// Splits at `indices` (n of them) along `axis`; `outs` receives n + 1 handles.
int shim_split(const Arr* a, const int32_t* indices, int n, int axis, Arr** outs) {
  return guarded([&] {
    auto parts = mx::split(*a, to_shape(indices, n), axis);
    for (size_t i = 0; i < parts.size(); ++i) outs[i] = new Arr(std::move(parts[i]));
  });
}

// The strided slice of `a` or, when `upd` is given, `a` with `upd` written into it.
int shim_slice(const Arr* a, const Arr* upd, const int32_t* start, const int32_t* stop,
               const int32_t* strides, int n, Arr** out) {
  return guarded([&] {
    auto lo = to_shape(start, n), hi = to_shape(stop, n), step = to_shape(strides, n);
    put(out, upd ? mx::slice_update(*a, *upd, lo, hi, step) : mx::slice(*a, lo, hi, step));
  });
}

// `axis == INT32_MIN` takes from the flattened array.
int shim_take(const Arr* a, const Arr* idx, int axis, Arr** out) {
  return guarded([&] {
    if (axis == INT32_MIN) {
      put(out, mx::take(*a, *idx));
    } else {
      put(out, mx::take(*a, *idx, axis));
    }
  });
}

int shim_take_along_axis(const Arr* a, const Arr* idx, int axis, Arr** out) {
  return guarded([&] { put(out, mx::take_along_axis(*a, *idx, axis)); });
}

int shim_repeat(const Arr* a, int repeats, int axis, Arr** out) {
  return guarded([&] { put(out, mx::repeat(*a, repeats, axis)); });
}

int shim_tile(const Arr* a, const int32_t* reps, int n, Arr** out) {
  return guarded([&] { put(out, mx::tile(*a, to_ints(reps, n))); });
}

int shim_pad(const Arr* a, const int32_t* axes, const int32_t* lo, const int32_t* hi, int n,
             const Arr* value, Arr** out) {
  return guarded([&] {
    put(out, mx::pad(*a, to_ints(axes, n), to_shape(lo, n), to_shape(hi, n), *value, "constant"));
  });
}

// ---- creation ------------------------------------------------------------------------------

int shim_arange(double start, double stop, double step, codes::Dtype dtype, Arr** out) {
  return guarded([&] { put(out, mx::arange(start, stop, step, to_dtype(dtype))); });
}

int shim_linspace(double start, double stop, int num, codes::Dtype dtype, Arr** out) {
  return guarded([&] { put(out, mx::linspace(start, stop, num, to_dtype(dtype))); });
}

int shim_full(const int32_t* shape, int ndim, double value, codes::Dtype dtype, Arr** out) {
  return guarded([&] {
    auto dt = to_dtype(dtype);
    put(out, mx::full(to_shape(shape, ndim), Arr(value, dt), dt));
  });
}

// ---- linear algebra and neural-network building blocks ----------------------------------

int shim_conv2d(const Arr* input, const Arr* weight, int sh, int sw, int ph, int pw, int dh,
                int dw, int groups, Arr** out) {
  return guarded([&] {
    put(out, mx::conv2d(*input, *weight, {sh, sw}, {ph, pw}, {dh, dw}, groups));
  });
}

int shim_addmm(const Arr* c, const Arr* a, const Arr* b, float alpha, float beta, Arr** out) {
  return guarded([&] { put(out, mx::addmm(*c, *a, *b, alpha, beta)); });
}

// MLX affine quantisation (mode "affine"): packed uint32 words, per-group scales and biases.
int shim_quantize(const Arr* w, int group_size, int bits, Arr** wq, Arr** scales, Arr** biases) {
  return guarded([&] {
    auto r = mx::quantize(*w, group_size, bits, "affine");
    if (r.size() != 3) throw std::runtime_error("quantize: expected 3 outputs");
    *wq = new Arr(std::move(r[0]));
    *scales = new Arr(std::move(r[1]));
    *biases = new Arr(std::move(r[2]));
  });
}

int shim_dequantize(const Arr* w, const Arr* scales, const Arr* biases, int group_size, int bits,
                    Arr** out) {
  return guarded([&] {
    put(out, mx::dequantize(*w, *scales, *biases, group_size, bits, "affine"));
  });
}

int shim_quantized_matmul(const Arr* x, const Arr* w, const Arr* scales, const Arr* biases,
                          int transpose, int group_size, int bits, Arr** out) {
  return guarded([&] {
    put(out, mx::quantized_matmul(*x, *w, *scales, *biases, transpose != 0, group_size, bits,
                                  "affine"));
  });
}

int shim_rms_norm(const Arr* x, const Arr* w, float eps, Arr** out) {
  return guarded([&] {
    std::optional<Arr> weight;
    if (w) weight = *w;
    put(out, mx::fast::rms_norm(*x, weight, eps));
  });
}

int shim_layer_norm(const Arr* x, const Arr* w, const Arr* b, float eps, Arr** out) {
  return guarded([&] {
    std::optional<Arr> weight, bias;
    if (w) weight = *w;
    if (b) bias = *b;
    put(out, mx::fast::layer_norm(*x, weight, bias, eps));
  });
}

int shim_rope(const Arr* x, int dims, bool traditional, bool has_base, float base, float scale,
              int offset, const Arr* freqs, Arr** out) {
  return guarded([&] {
    std::optional<float> b;
    if (has_base) b = base;
    std::optional<Arr> f;
    if (freqs) f = *freqs;
    put(out, mx::fast::rope(*x, dims, traditional, b, scale, offset, f));
  });
}

int shim_sdpa(const Arr* q, const Arr* k, const Arr* v, float scale, const char* mask_mode,
              const Arr* mask, Arr** out) {
  return guarded([&] {
    std::optional<Arr> m;
    if (mask) m = *mask;
    put(out, mx::fast::scaled_dot_product_attention(*q, *k, *v, scale, mask_mode, m));
  });
}

// ---- random --------------------------------------------------------------------------------

int shim_random_key(uint64_t seed, Arr** out) {
  return guarded([&] { put(out, mx::random::key(seed)); });
}

int shim_random_split(const Arr* key, Arr** a, Arr** b) {
  return guarded([&] {
    auto [k1, k2] = mx::random::split(*key);
    *a = new Arr(std::move(k1));
    *b = new Arr(std::move(k2));
  });
}

int shim_random_normal(const int32_t* shape, int ndim, codes::Dtype dtype, float loc, float scale,
                       const Arr* key, Arr** out) {
  return guarded([&] {
    std::optional<Arr> k;
    if (key) k = *key;
    put(out, mx::random::normal(to_shape(shape, ndim), to_dtype(dtype), loc, scale, k));
  });
}

int shim_random_uniform(const int32_t* shape, int ndim, codes::Dtype dtype, float lo, float hi,
                        const Arr* key, Arr** out) {
  return guarded([&] {
    std::optional<Arr> k;
    if (key) k = *key;
    put(out, mx::random::uniform(Arr(lo), Arr(hi), to_shape(shape, ndim), to_dtype(dtype), k));
  });
}

// ---- safetensors ---------------------------------------------------------------------------

struct SafetensorsFile {
  std::vector<std::pair<std::string, Arr>> tensors;
  std::vector<std::pair<std::string, std::string>> metadata;
};

int shim_load_safetensors(const char* path, SafetensorsFile** out) {
  return guarded([&] {
    auto [tensors, meta] = mx::load_safetensors(std::string(path));
    auto* f = new SafetensorsFile();
    for (auto& [name, arr] : tensors) f->tensors.emplace_back(name, arr);
    for (auto& [k, v] : meta) f->metadata.emplace_back(k, v);
    *out = f;
  });
}

size_t shim_st_len(const SafetensorsFile* f) { return f->tensors.size(); }
const char* shim_st_name(const SafetensorsFile* f, size_t i) { return f->tensors[i].first.c_str(); }
int shim_st_get(const SafetensorsFile* f, size_t i, Arr** out) {
  return guarded([&] { put(out, f->tensors[i].second); });
}
size_t shim_st_meta_len(const SafetensorsFile* f) { return f->metadata.size(); }
const char* shim_st_meta_key(const SafetensorsFile* f, size_t i) { return f->metadata[i].first.c_str(); }
const char* shim_st_meta_value(const SafetensorsFile* f, size_t i) { return f->metadata[i].second.c_str(); }
void shim_st_free(SafetensorsFile* f) { delete f; }

int shim_save_safetensors(const char* path, const char* const* names, Arr* const* arrays, size_t n) {
  return guarded([&] {
    std::unordered_map<std::string, Arr> m;
    for (size_t i = 0; i < n; ++i) m.insert_or_assign(names[i], *arrays[i]);
    mx::save_safetensors(std::string(path), m);
  });
}

// ---- memory --------------------------------------------------------------------------------

size_t shim_get_active_memory() { return mx::get_active_memory(); }
size_t shim_get_peak_memory() { return mx::get_peak_memory(); }
size_t shim_get_cache_memory() { return mx::get_cache_memory(); }
size_t shim_get_memory_limit() { return mx::get_memory_limit(); }
void shim_reset_peak_memory() { mx::reset_peak_memory(); }
void shim_clear_cache() { mx::clear_cache(); }
int shim_set_memory_limit(size_t limit, size_t* previous) {
  return guarded([&] { *previous = mx::set_memory_limit(limit); });
}
int shim_set_cache_limit(size_t limit, size_t* previous) {
  return guarded([&] { *previous = mx::set_cache_limit(limit); });
}
int shim_set_wired_limit(size_t limit, size_t* previous) {
  return guarded([&] { *previous = mx::set_wired_limit(limit); });
}

// ---- devices -------------------------------------------------------------------------------

int shim_default_device() {
  switch (mx::default_device().type) {
#define X(rust, mlx) \
  case mx::Device::DeviceType::mlx: return static_cast<int>(codes::DeviceType::rust);
    SHIM_CODES_DeviceType(X)
#undef X
  }
  return -1;
}

int shim_set_default_device(codes::DeviceType type) {
  return guarded([&] {
    switch (type) {
#define X(rust, mlx) \
  case codes::DeviceType::rust: mx::set_default_device(mx::Device(mx::Device::mlx)); return;
      SHIM_CODES_DeviceType(X)
#undef X
    }
    throw std::invalid_argument("unknown device type " + std::to_string(static_cast<int>(type)));
  });
}

int shim_gpu_available() {
  try {
    return mx::is_available(mx::Device(mx::Device::gpu)) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

// ---- custom Metal kernels ------------------------------------------------------------------

struct Kernel {
  mx::fast::CustomKernelFunction fn;
};

int shim_metal_kernel_new(const char* name, const char* const* input_names, int n_in,
                          const char* const* output_names, int n_out, const char* source,
                          const char* header, bool ensure_row_contiguous, bool atomic_outputs,
                          Kernel** out) {
  return guarded([&] {
    std::vector<std::string> ins(input_names, input_names + n_in);
    std::vector<std::string> outs(output_names, output_names + n_out);
    auto fn = mx::fast::metal_kernel(name, ins, outs, source, header, ensure_row_contiguous,
                                     atomic_outputs);
    *out = new Kernel{std::move(fn)};
  });
}

void shim_metal_kernel_free(Kernel* k) { delete k; }

// Output shapes are packed: `out_ndims[i]` dims each, concatenated in `out_dims`.
// Template args: a kind each; a dtype's value is its dtype code.
int shim_metal_kernel_call(const Kernel* k, Arr* const* inputs, int n_in, const int32_t* out_ndims,
                           const int32_t* out_dims, const codes::Dtype* out_dtypes, int n_out,
                           const int32_t* grid, const int32_t* threadgroup,
                           const char* const* tmpl_names, const codes::TemplateKind* tmpl_kinds,
                           const int32_t* tmpl_values, int n_tmpl, bool has_init, float init,
                           Arr** outs) {
  return guarded([&] {
    std::vector<Arr> in;
    for (int i = 0; i < n_in; ++i) in.push_back(*inputs[i]);
    std::vector<mx::Shape> shapes;
    std::vector<mx::Dtype> dtypes;
    size_t off = 0;
    for (int i = 0; i < n_out; ++i) {
      shapes.push_back(to_shape(out_dims + off, out_ndims[i]));
      off += static_cast<size_t>(out_ndims[i]);
      dtypes.push_back(to_dtype(out_dtypes[i]));
    }
    std::vector<std::pair<std::string, mx::fast::TemplateArg>> tmpl;
    for (int i = 0; i < n_tmpl; ++i) {
      mx::fast::TemplateArg v;
      switch (tmpl_kinds[i]) {
        case codes::TemplateKind::Int: v = static_cast<int>(tmpl_values[i]); break;
        case codes::TemplateKind::Bool: v = tmpl_values[i] != 0; break;
        case codes::TemplateKind::Dtype: v = to_dtype(static_cast<codes::Dtype>(tmpl_values[i])); break;
      }
      tmpl.emplace_back(tmpl_names[i], v);
    }
    std::optional<float> init_value;
    if (has_init) init_value = init;
    auto res = k->fn(in, shapes, dtypes, {grid[0], grid[1], grid[2]},
                     {threadgroup[0], threadgroup[1], threadgroup[2]}, tmpl, init_value, false, {});
    for (size_t i = 0; i < res.size(); ++i) outs[i] = new Arr(std::move(res[i]));
  });
}

// ---- BLAS ----------------------------------------------------------------------------------

// Resolved at run time so the same code finds OpenBLAS (Linux, linked first so it wins the
// symbol), the wheel's reference BLAS, or Accelerate (macOS, loaded by libmlx).
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                         int, float, float*, int);

static SgemmFn find_sgemm() { return reinterpret_cast<SgemmFn>(dlsym(RTLD_DEFAULT, "cblas_sgemm")); }

// Writes the path of the library that provides cblas_sgemm into `buf`; returns 0 if none.
int shim_blas_library(char* buf, size_t len) {
  auto fn = find_sgemm();
  if (!fn) return 0;
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(fn), &info) == 0 || !info.dli_fname) return 0;
  std::snprintf(buf, len, "%s", info.dli_fname);
  return 1;
}

// C = A(m,k) @ B(k,n), row-major. Returns 1 if no cblas_sgemm is loaded.
int shim_blas_sgemm(int m, int n, int k, const float* a, const float* b, float* c) {
  auto fn = find_sgemm();
  if (!fn) return 1;
  // 101 = CblasRowMajor, 111 = CblasNoTrans
  fn(101, 111, 111, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
  return 0;
}

}  // extern "C"
