//! The owned array handle: creation from host memory, queries, evaluation, copies back.

use std::fmt;
use std::os::raw::c_void;
use std::ptr;

use super::dtype::{Dtype, Element};
use super::error::{check, Error, Result};
use super::ffi::{self, RawArray};

/// An MLX array. Operations are lazy: they build a graph that runs on [`Array::eval`] or when
/// data is copied out. Dropping the handle releases MLX's reference.
pub struct Array {
    raw: *mut RawArray,
}

// SAFETY: an `mlx::core::array` is a reference-counted handle whose count is atomic; the
// engine drives MLX from one thread, but moving handles between threads (e.g. results sent
// back over a channel) is sound.
unsafe impl Send for Array {}

impl Drop for Array {
    fn drop(&mut self) {
        // SAFETY: `raw` came from the shim and is dropped exactly once.
        unsafe { ffi::shim_array_free(self.raw) }
    }
}

impl Clone for Array {
    /// Another handle to the same (lazy) array; no data is copied.
    fn clone(&self) -> Self {
        let mut out = ptr::null_mut();
        // SAFETY: `self.raw` is a live array; copying an mlx::array only bumps a refcount,
        // which cannot fail short of out-of-memory (then the shim reports it and we abort,
        // as Rust does on allocation failure).
        let status = unsafe { ffi::shim_array_clone(self.raw, &mut out) };
        if status != 0 {
            std::alloc::handle_alloc_error(std::alloc::Layout::new::<usize>());
        }
        Array { raw: out }
    }
}

/// Checks a shape for the shim: dimensions must be non-negative and fit in i32.
pub(crate) fn dims(op: &'static str, shape: &[usize]) -> Result<Vec<i32>> {
    shape
        .iter()
        .map(|&d| {
            i32::try_from(d).map_err(|_| Error::new(op, format!("dimension {d} exceeds i32")))
        })
        .collect()
}

/// Axis lists and offsets cross as i32; a value that cannot fit is the caller's mistake.
pub(crate) fn ints(op: &'static str, values: &[isize]) -> Result<Vec<i32>> {
    values
        .iter()
        .map(|&v| i32::try_from(v).map_err(|_| Error::new(op, format!("{v} exceeds i32"))))
        .collect()
}

impl Array {
    /// Wraps a handle the shim just produced.
    pub(crate) fn from_raw(op: &'static str, status: i32, raw: *mut RawArray) -> Result<Array> {
        check(op, status)?;
        Ok(Array { raw })
    }

    pub(crate) fn raw(&self) -> *mut RawArray {
        self.raw
    }

    /// Calls a shim function that writes one array handle.
    pub(crate) fn make(op: &'static str, f: impl FnOnce(ffi::Out) -> i32) -> Result<Array> {
        let mut out = ptr::null_mut();
        let status = f(&mut out);
        Array::from_raw(op, status, out)
    }

    /// Allocates an array of `shape` and lets `fill` write its bytes (row-major) before MLX
    /// sees it. This is how host code (e.g. a parallel dequantiser) writes straight into an
    /// MLX buffer without an intermediate copy.
    pub fn from_fn_bytes(
        shape: &[usize],
        dtype: Dtype,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<Array> {
        let d = dims("from_bytes", shape)?;
        let count: usize = shape.iter().product();
        let nbytes = count
            .checked_mul(dtype.size())
            .ok_or_else(|| Error::new("from_bytes", "array size overflows usize"))?;
        let mut data: *mut c_void = ptr::null_mut();
        let array = Array::make("from_bytes", |out| unsafe {
            // SAFETY: `d` outlives the call; the shim writes `data` and `out`.
            ffi::shim_array_new_uninit(d.as_ptr(), d.len() as i32, dtype, nbytes, &mut data, out)
        })?;
        if nbytes > 0 {
            // SAFETY: the shim allocated at least `nbytes` bytes at `data`, owned by `array`,
            // which nothing else references yet.
            let bytes = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), nbytes) };
            fill(bytes);
        }
        Ok(array)
    }

    /// Copies raw little-endian bytes into a new array of `shape` and `dtype`.
    pub fn from_bytes(bytes: &[u8], shape: &[usize], dtype: Dtype) -> Result<Array> {
        let count: usize = shape.iter().product();
        if count.checked_mul(dtype.size()) != Some(bytes.len()) {
            return Err(Error::new(
                "from_bytes",
                format!(
                    "{} bytes do not match shape {shape:?} of {dtype} ({} bytes per element)",
                    bytes.len(),
                    dtype.size()
                ),
            ));
        }
        Array::from_fn_bytes(shape, dtype, |dst| dst.copy_from_slice(bytes))
    }

    /// Copies a host slice into a new array of `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Array> {
        let count: usize = shape.iter().product();
        if count != data.len() {
            return Err(Error::new(
                "from_slice",
                format!("{} elements do not fill shape {shape:?}", data.len()),
            ));
        }
        // SAFETY: `Element` types are POD, so viewing them as bytes is sound.
        let bytes = unsafe {
            std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data))
        };
        Array::from_bytes(bytes, shape, T::DTYPE)
    }

    /// A 0-d array holding `value` converted to `dtype`.
    pub fn scalar(value: f64, dtype: Dtype) -> Result<Array> {
        Array::make("scalar", |out| unsafe {
            ffi::shim_scalar(value, dtype, out)
        })
    }

    /// A 0-d float32 array.
    pub fn f32(value: f32) -> Array {
        // Building a float32 scalar cannot fail.
        Array::scalar(f64::from(value), Dtype::F32).expect("float32 scalar")
    }

    pub fn ndim(&self) -> usize {
        // SAFETY: live handle.
        unsafe { ffi::shim_array_ndim(self.raw) as usize }
    }

    pub fn shape(&self) -> Vec<usize> {
        let mut out = vec![0i32; self.ndim()];
        // SAFETY: `out` has room for ndim dims.
        unsafe { ffi::shim_array_shape(self.raw, out.as_mut_ptr()) };
        out.into_iter().map(|d| d as usize).collect()
    }

    /// Size of axis `axis` (negative counts from the end).
    pub fn dim(&self, axis: isize) -> Result<usize> {
        let shape = self.shape();
        let n = shape.len() as isize;
        let a = if axis < 0 { axis + n } else { axis };
        if a < 0 || a >= n {
            return Err(Error::new(
                "dim",
                format!("axis {axis} is out of bounds for an array of {n} dimensions"),
            ));
        }
        Ok(shape[a as usize])
    }

    pub fn dtype(&self) -> Dtype {
        // SAFETY: live handle.
        let code = unsafe { ffi::shim_array_dtype(self.raw) };
        Dtype::from_code(code).unwrap_or(Dtype::U8)
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        // SAFETY: live handle.
        unsafe { ffi::shim_array_size(self.raw) }
    }

    pub fn nbytes(&self) -> usize {
        // SAFETY: live handle.
        unsafe { ffi::shim_array_nbytes(self.raw) }
    }

    /// Runs the graph that produces this array.
    pub fn eval(&self) -> Result<()> {
        eval(&[self])
    }

    /// Evaluates and copies the data out as raw bytes (row-major).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = vec![0u8; self.nbytes()];
        // SAFETY: `out` has exactly nbytes bytes; the shim checks the length again.
        check("to_bytes", unsafe {
            ffi::shim_array_to_bytes(self.raw, out.as_mut_ptr().cast(), out.len())
        })?;
        Ok(out)
    }

    /// Evaluates and copies the data out. `T` must match the dtype exactly.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if self.dtype() != T::DTYPE {
            return Err(Error::new(
                "to_vec",
                format!("array is {}, asked for {}", self.dtype(), T::DTYPE),
            ));
        }
        let mut out = vec![T::default(); self.size()];
        // SAFETY: `out` is size elements of a POD type with dtype's size.
        check("to_vec", unsafe {
            ffi::shim_array_to_bytes(
                self.raw,
                out.as_mut_ptr().cast(),
                std::mem::size_of_val(out.as_slice()),
            )
        })?;
        Ok(out)
    }

    /// Evaluates and lends the row-major bytes to `f` without copying them (e.g. packed
    /// quantised weights read by a host dequantiser). Errors for arrays that are not
    /// row-contiguous (views, broadcasts): call `contiguous()` first.
    pub fn with_host_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let mut data: *const c_void = ptr::null();
        check("host_bytes", unsafe {
            ffi::shim_array_data(self.raw, &mut data)
        })?;
        let nbytes = self.nbytes();
        if nbytes == 0 || data.is_null() {
            return Ok(f(&[]));
        }
        // SAFETY: the array is evaluated and row-contiguous, so `data` points at `nbytes`
        // initialised bytes owned by MLX. `&self` keeps the buffer alive for the borrow, and
        // evaluated arrays are never written again (MLX only donates buffers of arrays that
        // nothing else references, and we hold a reference).
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), nbytes) };
        Ok(f(bytes))
    }

    /// Converts to float32 and copies out: the usual way to inspect results.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        if self.dtype() == Dtype::F32 {
            self.to_vec()
        } else {
            self.astype(Dtype::F32)?.to_vec()
        }
    }

    /// The single value of a one-element array, as f32.
    pub fn item_f32(&self) -> Result<f32> {
        if self.size() != 1 {
            return Err(Error::new(
                "item",
                format!(
                    "array of shape {:?} has {} elements, not 1",
                    self.shape(),
                    self.size()
                ),
            ));
        }
        Ok(self.to_f32_vec()?[0])
    }
}

/// Evaluates several arrays in one graph run.
pub fn eval(arrays: &[&Array]) -> Result<()> {
    let raws: Vec<*mut RawArray> = arrays.iter().map(|a| a.raw).collect();
    // SAFETY: every pointer is a live handle borrowed for the call.
    check("eval", unsafe { ffi::shim_eval(raws.as_ptr(), raws.len()) })
}

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Array({:?}, {})", self.shape(), self.dtype())
    }
}
