//! The BLAS that MLX's CPU matmul ends up calling, and a direct sgemm for comparison.

use std::ffi::CStr;

use super::error::{Error, Result};
use super::ffi;

/// Path of the shared library that provides `cblas_sgemm` in this process, if any.
pub fn sgemm_provider() -> Option<String> {
    let mut buf = vec![0 as std::ffi::c_char; 4096];
    if unsafe { ffi::shim_blas_library(buf.as_mut_ptr(), buf.len()) } == 0 {
        return None;
    }
    Some(
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Which BLAS family the provider path names.
pub fn provider_kind(path: &str) -> &'static str {
    let p = path.to_ascii_lowercase();
    if p.contains("openblas") {
        "OpenBLAS"
    } else if p.contains("accelerate") || p.contains("veclib") {
        "Accelerate"
    } else if p.contains("mkl") {
        "MKL"
    } else if p.contains("mlx_cpu.libs") || p.contains("libblas") {
        "reference BLAS (slow)"
    } else {
        "unknown BLAS"
    }
}

/// `C = A(m×k) · B(k×n)`, row-major float32, straight through `cblas_sgemm`.
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<()> {
    if a.len() != m * k || b.len() != k * n || c.len() != m * n {
        return Err(Error::new("sgemm", "buffer sizes do not match m, n, k"));
    }
    let to_i =
        |v: usize| i32::try_from(v).map_err(|_| Error::new("sgemm", "dimension exceeds i32"));
    let (mi, ni, ki) = (to_i(m)?, to_i(n)?, to_i(k)?);
    let status =
        unsafe { ffi::shim_blas_sgemm(mi, ni, ki, a.as_ptr(), b.as_ptr(), c.as_mut_ptr()) };
    if status != 0 {
        return Err(Error::new(
            "sgemm",
            "no cblas_sgemm is loaded in this process",
        ));
    }
    Ok(())
}
