//! Custom Metal kernels compiled by MLX at run time (Apple GPUs only; on other backends a
//! call returns MLX's "No Metal back-end" error, so callers keep a portable path).

use std::ffi::{c_char, CString};
use std::ptr;

use super::array::{dims, Array};
use super::dtype::Dtype;
use super::error::{check, Error, Result};
use super::ffi::{self, TemplateKind};

/// A template argument of a kernel call.
#[derive(Debug, Clone, Copy)]
pub enum TemplateArg {
    Int(i32),
    Bool(bool),
    Dtype(Dtype),
}

/// A kernel built from Metal source with `fast::metal_kernel`.
pub struct MetalKernel {
    raw: *mut ffi::RawKernel,
}

impl Drop for MetalKernel {
    fn drop(&mut self) {
        unsafe { ffi::shim_metal_kernel_free(self.raw) }
    }
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new("metal_kernel", format!("{s:?} contains NUL")))
}

/// One call's launch configuration.
pub struct Launch<'a> {
    pub inputs: &'a [&'a Array],
    pub output_shapes: &'a [Vec<usize>],
    pub output_dtypes: &'a [Dtype],
    pub grid: (usize, usize, usize),
    pub threadgroup: (usize, usize, usize),
    pub template: &'a [(&'a str, TemplateArg)],
    pub init_value: Option<f32>,
}

impl MetalKernel {
    pub fn new(
        name: &str,
        input_names: &[&str],
        output_names: &[&str],
        source: &str,
        header: &str,
        ensure_row_contiguous: bool,
        atomic_outputs: bool,
    ) -> Result<MetalKernel> {
        let ins: Vec<CString> = input_names.iter().map(|s| cstr(s)).collect::<Result<_>>()?;
        let outs: Vec<CString> = output_names
            .iter()
            .map(|s| cstr(s))
            .collect::<Result<_>>()?;
        let in_ptrs: Vec<*const c_char> = ins.iter().map(|s| s.as_ptr()).collect();
        let out_ptrs: Vec<*const c_char> = outs.iter().map(|s| s.as_ptr()).collect();
        let (name, source, header) = (cstr(name)?, cstr(source)?, cstr(header)?);
        let mut raw = ptr::null_mut();
        check("metal_kernel", unsafe {
            ffi::shim_metal_kernel_new(
                name.as_ptr(),
                in_ptrs.as_ptr(),
                in_ptrs.len() as i32,
                out_ptrs.as_ptr(),
                out_ptrs.len() as i32,
                source.as_ptr(),
                header.as_ptr(),
                ensure_row_contiguous,
                atomic_outputs,
                &mut raw,
            )
        })?;
        Ok(MetalKernel { raw })
    }

    pub fn call(&self, launch: &Launch<'_>) -> Result<Vec<Array>> {
        if launch.output_shapes.len() != launch.output_dtypes.len() {
            return Err(Error::new(
                "metal_kernel",
                "output shapes and dtypes differ in count",
            ));
        }
        let inputs: Vec<*mut ffi::RawArray> = launch.inputs.iter().map(|a| a.raw()).collect();
        let mut ndims = Vec::new();
        let mut flat = Vec::new();
        for s in launch.output_shapes {
            ndims.push(s.len() as i32);
            flat.extend(dims("metal_kernel", s)?);
        }
        let dtypes = launch.output_dtypes;
        let g = dims(
            "metal_kernel",
            &[launch.grid.0, launch.grid.1, launch.grid.2],
        )?;
        let t = dims(
            "metal_kernel",
            &[
                launch.threadgroup.0,
                launch.threadgroup.1,
                launch.threadgroup.2,
            ],
        )?;
        let names: Vec<CString> = launch
            .template
            .iter()
            .map(|(n, _)| cstr(n))
            .collect::<Result<_>>()?;
        let name_ptrs: Vec<*const c_char> = names.iter().map(|s| s.as_ptr()).collect();
        let (kinds, values): (Vec<TemplateKind>, Vec<i32>) = launch
            .template
            .iter()
            .map(|(_, v)| match v {
                TemplateArg::Int(i) => (TemplateKind::Int, *i),
                TemplateArg::Bool(b) => (TemplateKind::Bool, i32::from(*b)),
                TemplateArg::Dtype(d) => (TemplateKind::Dtype, *d as i32),
            })
            .unzip();
        let mut outs = vec![ptr::null_mut(); launch.output_shapes.len()];
        check("metal_kernel", unsafe {
            ffi::shim_metal_kernel_call(
                self.raw,
                inputs.as_ptr(),
                inputs.len() as i32,
                ndims.as_ptr(),
                flat.as_ptr(),
                dtypes.as_ptr(),
                dtypes.len() as i32,
                g.as_ptr(),
                t.as_ptr(),
                name_ptrs.as_ptr(),
                kinds.as_ptr(),
                values.as_ptr(),
                kinds.len() as i32,
                launch.init_value.is_some(),
                launch.init_value.unwrap_or(0.0),
                outs.as_mut_ptr(),
            )
        })?;
        outs.into_iter()
            .map(|raw| Array::from_raw("metal_kernel", 0, raw))
            .collect()
    }
}
