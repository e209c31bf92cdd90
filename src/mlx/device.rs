//! The default device new operations run on.

use std::ffi::CStr;

use super::error::{check, Result};
use super::ffi::{self, DeviceType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cpu,
    Gpu,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
        })
    }
}

pub fn default_device() -> Device {
    let code = unsafe { ffi::shim_default_device() };
    match DeviceType::from_code(code) {
        Some(DeviceType::Gpu) => Device::Gpu,
        _ => Device::Cpu,
    }
}

pub fn set_default_device(device: Device) -> Result<()> {
    check("set_default_device", unsafe {
        ffi::shim_set_default_device(match device {
            Device::Cpu => DeviceType::Cpu,
            Device::Gpu => DeviceType::Gpu,
        })
    })
}

/// Whether this MLX build has a GPU backend and a GPU to run it on.
pub fn gpu_available() -> bool {
    unsafe { ffi::shim_gpu_available() == 1 }
}

/// MLX's version string, e.g. "0.32.4".
pub fn version() -> String {
    unsafe { CStr::from_ptr(ffi::shim_version()) }
        .to_string_lossy()
        .into_owned()
}
