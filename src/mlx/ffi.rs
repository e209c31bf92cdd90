//! Raw declarations of the C ABI in `csrc/shim.cpp`. Nothing outside `mlx/` touches these.

use std::ffi::c_char;
use std::os::raw::{c_int, c_void};

/// Opaque `mlx::core::array`.
#[repr(C)]
pub struct RawArray {
    _private: [u8; 0],
}

/// Opaque list of tensors read from one safetensors file.
#[repr(C)]
pub struct RawSafetensors {
    _private: [u8; 0],
}

/// Opaque compiled custom kernel.
#[repr(C)]
pub struct RawKernel {
    _private: [u8; 0],
}

use super::codes::Dtype;
pub use super::codes::{Binary, DeviceType, Reduce, TemplateKind, Unary};

pub type Out = *mut *mut RawArray;

extern "C" {
    pub fn shim_last_error() -> *const c_char;
    pub fn shim_version() -> *const c_char;

    pub fn shim_array_free(a: *mut RawArray);
    pub fn shim_array_clone(a: *const RawArray, out: Out) -> c_int;
    pub fn shim_array_ndim(a: *const RawArray) -> c_int;
    pub fn shim_array_shape(a: *const RawArray, out: *mut i32);
    pub fn shim_array_dtype(a: *const RawArray) -> c_int;
    pub fn shim_array_size(a: *const RawArray) -> usize;
    pub fn shim_array_nbytes(a: *const RawArray) -> usize;
    pub fn shim_array_new_uninit(
        shape: *const i32,
        ndim: c_int,
        dtype: Dtype,
        nbytes: usize,
        data: *mut *mut c_void,
        out: Out,
    ) -> c_int;
    pub fn shim_array_to_bytes(a: *const RawArray, dst: *mut c_void, nbytes: usize) -> c_int;
    pub fn shim_array_data(a: *const RawArray, data: *mut *const c_void) -> c_int;
    pub fn shim_eval(arrays: *const *mut RawArray, n: usize) -> c_int;
    pub fn shim_scalar(value: f64, dtype: Dtype, out: Out) -> c_int;

    pub fn shim_unary(op: Unary, a: *const RawArray, out: Out) -> c_int;
    pub fn shim_binary(op: Binary, a: *const RawArray, b: *const RawArray, out: Out) -> c_int;
    pub fn shim_where(
        c: *const RawArray,
        x: *const RawArray,
        y: *const RawArray,
        out: Out,
    ) -> c_int;
    pub fn shim_clip(
        a: *const RawArray,
        lo: *const RawArray,
        hi: *const RawArray,
        out: Out,
    ) -> c_int;
    pub fn shim_astype(a: *const RawArray, dtype: Dtype, out: Out) -> c_int;
    pub fn shim_view(a: *const RawArray, dtype: Dtype, out: Out) -> c_int;
    pub fn shim_reduce(
        op: Reduce,
        a: *const RawArray,
        axes: *const i32,
        naxes: c_int,
        keepdims: bool,
        out: Out,
    ) -> c_int;

    pub fn shim_reshape(a: *const RawArray, shape: *const i32, ndim: c_int, out: Out) -> c_int;
    pub fn shim_transpose(a: *const RawArray, axes: *const i32, n: c_int, out: Out) -> c_int;
    pub fn shim_swapaxes(a: *const RawArray, a1: c_int, a2: c_int, out: Out) -> c_int;
    pub fn shim_broadcast_to(a: *const RawArray, shape: *const i32, ndim: c_int, out: Out)
        -> c_int;
    pub fn shim_expand_dims(a: *const RawArray, axes: *const i32, n: c_int, out: Out) -> c_int;
    pub fn shim_squeeze(a: *const RawArray, axes: *const i32, n: c_int, out: Out) -> c_int;
    pub fn shim_concatenate(arrays: *const *mut RawArray, n: usize, axis: c_int, out: Out)
        -> c_int;
    pub fn shim_stack(arrays: *const *mut RawArray, n: usize, axis: c_int, out: Out) -> c_int;
    pub fn shim_split(
        a: *const RawArray,
        indices: *const i32,
        n: c_int,
        axis: c_int,
        outs: *mut *mut RawArray,
    ) -> c_int;
    /// `upd` null reads the slice; otherwise writes `upd` into it.
    pub fn shim_slice(
        a: *const RawArray,
        upd: *const RawArray,
        start: *const i32,
        stop: *const i32,
        strides: *const i32,
        n: c_int,
        out: Out,
    ) -> c_int;
    pub fn shim_take(a: *const RawArray, idx: *const RawArray, axis: c_int, out: Out) -> c_int;
    pub fn shim_take_along_axis(
        a: *const RawArray,
        idx: *const RawArray,
        axis: c_int,
        out: Out,
    ) -> c_int;
    pub fn shim_repeat(a: *const RawArray, repeats: c_int, axis: c_int, out: Out) -> c_int;
    pub fn shim_tile(a: *const RawArray, reps: *const i32, n: c_int, out: Out) -> c_int;
    pub fn shim_pad(
        a: *const RawArray,
        axes: *const i32,
        lo: *const i32,
        hi: *const i32,
        n: c_int,
        value: *const RawArray,
        out: Out,
    ) -> c_int;

    pub fn shim_arange(start: f64, stop: f64, step: f64, dtype: Dtype, out: Out) -> c_int;
    pub fn shim_linspace(start: f64, stop: f64, num: c_int, dtype: Dtype, out: Out) -> c_int;
    pub fn shim_full(shape: *const i32, ndim: c_int, value: f64, dtype: Dtype, out: Out) -> c_int;

    #[allow(clippy::too_many_arguments)]
    pub fn shim_conv2d(
        input: *const RawArray,
        weight: *const RawArray,
        sh: c_int,
        sw: c_int,
        ph: c_int,
        pw: c_int,
        dh: c_int,
        dw: c_int,
        groups: c_int,
        out: Out,
    ) -> c_int;
    pub fn shim_addmm(
        c: *const RawArray,
        a: *const RawArray,
        b: *const RawArray,
        alpha: f32,
        beta: f32,
        out: Out,
    ) -> c_int;
    pub fn shim_quantize(
        w: *const RawArray,
        group_size: c_int,
        bits: c_int,
        wq: Out,
        scales: Out,
        biases: Out,
    ) -> c_int;
    pub fn shim_dequantize(
        w: *const RawArray,
        scales: *const RawArray,
        biases: *const RawArray,
        group_size: c_int,
        bits: c_int,
        out: Out,
    ) -> c_int;
    pub fn shim_quantized_matmul(
        x: *const RawArray,
        w: *const RawArray,
        scales: *const RawArray,
        biases: *const RawArray,
        transpose: c_int,
        group_size: c_int,
        bits: c_int,
        out: Out,
    ) -> c_int;
    pub fn shim_rms_norm(x: *const RawArray, w: *const RawArray, eps: f32, out: Out) -> c_int;
    pub fn shim_layer_norm(
        x: *const RawArray,
        w: *const RawArray,
        b: *const RawArray,
        eps: f32,
        out: Out,
    ) -> c_int;
    #[allow(clippy::too_many_arguments)]
    pub fn shim_rope(
        x: *const RawArray,
        dims: c_int,
        traditional: bool,
        has_base: bool,
        base: f32,
        scale: f32,
        offset: c_int,
        freqs: *const RawArray,
        out: Out,
    ) -> c_int;
    pub fn shim_sdpa(
        q: *const RawArray,
        k: *const RawArray,
        v: *const RawArray,
        scale: f32,
        mask_mode: *const c_char,
        mask: *const RawArray,
        out: Out,
    ) -> c_int;

    pub fn shim_random_key(seed: u64, out: Out) -> c_int;
    pub fn shim_random_split(key: *const RawArray, a: Out, b: Out) -> c_int;
    pub fn shim_random_normal(
        shape: *const i32,
        ndim: c_int,
        dtype: Dtype,
        loc: f32,
        scale: f32,
        key: *const RawArray,
        out: Out,
    ) -> c_int;
    pub fn shim_random_uniform(
        shape: *const i32,
        ndim: c_int,
        dtype: Dtype,
        lo: f32,
        hi: f32,
        key: *const RawArray,
        out: Out,
    ) -> c_int;

    pub fn shim_load_safetensors(path: *const c_char, out: *mut *mut RawSafetensors) -> c_int;
    pub fn shim_st_len(f: *const RawSafetensors) -> usize;
    pub fn shim_st_name(f: *const RawSafetensors, i: usize) -> *const c_char;
    pub fn shim_st_get(f: *const RawSafetensors, i: usize, out: Out) -> c_int;
    pub fn shim_st_meta_len(f: *const RawSafetensors) -> usize;
    pub fn shim_st_meta_key(f: *const RawSafetensors, i: usize) -> *const c_char;
    pub fn shim_st_meta_value(f: *const RawSafetensors, i: usize) -> *const c_char;
    pub fn shim_st_free(f: *mut RawSafetensors);
    pub fn shim_save_safetensors(
        path: *const c_char,
        names: *const *const c_char,
        arrays: *const *mut RawArray,
        n: usize,
    ) -> c_int;

    pub fn shim_get_active_memory() -> usize;
    pub fn shim_get_peak_memory() -> usize;
    pub fn shim_get_cache_memory() -> usize;
    pub fn shim_get_memory_limit() -> usize;
    pub fn shim_reset_peak_memory();
    pub fn shim_clear_cache();
    pub fn shim_set_memory_limit(limit: usize, previous: *mut usize) -> c_int;
    pub fn shim_set_cache_limit(limit: usize, previous: *mut usize) -> c_int;
    pub fn shim_set_wired_limit(limit: usize, previous: *mut usize) -> c_int;

    pub fn shim_default_device() -> c_int;
    pub fn shim_set_default_device(device: DeviceType) -> c_int;
    pub fn shim_gpu_available() -> c_int;

    #[allow(clippy::too_many_arguments)]
    pub fn shim_metal_kernel_new(
        name: *const c_char,
        input_names: *const *const c_char,
        n_in: c_int,
        output_names: *const *const c_char,
        n_out: c_int,
        source: *const c_char,
        header: *const c_char,
        ensure_row_contiguous: bool,
        atomic_outputs: bool,
        out: *mut *mut RawKernel,
    ) -> c_int;
    pub fn shim_metal_kernel_free(k: *mut RawKernel);
    #[allow(clippy::too_many_arguments)]
    pub fn shim_metal_kernel_call(
        k: *const RawKernel,
        inputs: *const *mut RawArray,
        n_in: c_int,
        out_ndims: *const i32,
        out_dims: *const i32,
        out_dtypes: *const Dtype,
        n_out: c_int,
        grid: *const i32,
        threadgroup: *const i32,
        tmpl_names: *const *const c_char,
        tmpl_kinds: *const TemplateKind,
        tmpl_values: *const i32,
        n_tmpl: c_int,
        has_init: bool,
        init: f32,
        outs: *mut *mut RawArray,
    ) -> c_int;

    pub fn shim_blas_library(buf: *mut c_char, len: usize) -> c_int;
    pub fn shim_blas_sgemm(
        m: c_int,
        n: c_int,
        k: c_int,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
    ) -> c_int;
}
