//! Safetensors through MLX's own reader (lazy: data is read when an array is evaluated).

use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr;

use super::array::Array;
use super::error::{check, Error, Result};
use super::ffi;

/// Tensors and metadata of one safetensors file, in file order.
#[derive(Debug, Default)]
pub struct Safetensors {
    pub tensors: Vec<(String, Array)>,
    pub metadata: Vec<(String, String)>,
}

fn c_path(op: &'static str, path: &Path) -> Result<CString> {
    let s = path
        .to_str()
        .ok_or_else(|| Error::new(op, format!("path {} is not UTF-8", path.display())))?;
    CString::new(s).map_err(|_| Error::new(op, format!("path {s:?} contains a NUL byte")))
}

/// Opens a safetensors file with MLX's reader.
pub fn load_safetensors(path: &Path) -> Result<Safetensors> {
    let c = c_path("load_safetensors", path)?;
    let mut raw = ptr::null_mut();
    check("load_safetensors", unsafe {
        ffi::shim_load_safetensors(c.as_ptr(), &mut raw)
    })?;
    let mut out = Safetensors::default();
    // SAFETY: `raw` is a live handle until shim_st_free below; names are copied out.
    unsafe {
        for i in 0..ffi::shim_st_len(raw) {
            let name = CStr::from_ptr(ffi::shim_st_name(raw, i))
                .to_string_lossy()
                .into_owned();
            let mut a = ptr::null_mut();
            let status = ffi::shim_st_get(raw, i, &mut a);
            match Array::from_raw("load_safetensors", status, a) {
                Ok(a) => out.tensors.push((name, a)),
                Err(e) => {
                    ffi::shim_st_free(raw);
                    return Err(e);
                }
            }
        }
        for i in 0..ffi::shim_st_meta_len(raw) {
            let k = CStr::from_ptr(ffi::shim_st_meta_key(raw, i))
                .to_string_lossy()
                .into_owned();
            let v = CStr::from_ptr(ffi::shim_st_meta_value(raw, i))
                .to_string_lossy()
                .into_owned();
            out.metadata.push((k, v));
        }
        ffi::shim_st_free(raw);
    }
    Ok(out)
}

/// Writes arrays to a safetensors file (used by tests and tools that make fixtures).
pub fn save_safetensors(path: &Path, tensors: &[(&str, &Array)]) -> Result<()> {
    let c = c_path("save_safetensors", path)?;
    let names: Vec<CString> = tensors
        .iter()
        .map(|(n, _)| CString::new(*n).map_err(|_| Error::new("save_safetensors", "NUL in name")))
        .collect::<Result<_>>()?;
    let name_ptrs: Vec<*const std::ffi::c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let arrays: Vec<*mut ffi::RawArray> = tensors.iter().map(|(_, a)| a.raw()).collect();
    check("save_safetensors", unsafe {
        ffi::shim_save_safetensors(
            c.as_ptr(),
            name_ptrs.as_ptr(),
            arrays.as_ptr(),
            arrays.len(),
        )
    })
}
