//! OpenBLAS's kernel choice: which one is in use, and picking the AVX-512 one ourselves.
//!
//! OpenBLAS 0.3.21 (Debian 12's) does not recognise recent AVX-512 Xeons and falls back to its
//! Haswell kernels, which run sgemm at a quarter to a half of the SkylakeX ones. It reads
//! `OPENBLAS_CORETYPE` once, in its own library constructor, which runs before any code of this
//! executable: setting the variable from `main` is too late. So an early constructor of this
//! library (linked into the app, its tests and examples alike) sets it and re-executes
//! `/proc/self/exe` once, before anything else has happened in the process.

use std::ffi::{c_char, CStr};

/// OpenBLAS's own override, read by its library constructor.
pub const CORETYPE_VAR: &str = "OPENBLAS_CORETYPE";
/// Set alongside [`CORETYPE_VAR`] when we chose the kernel: it stops a second re-exec and lets
/// `doctor` tell our choice from the user's.
pub const AUTO_VAR: &str = "IDEOGRAM4_AUTO_OPENBLAS_CORETYPE";
/// The kernel set we ask for on AVX-512 CPUs.
pub const AVX512_CORETYPE: &str = "SKYLAKEX";

/// Who decided the kernel in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// `OPENBLAS_CORETYPE` came from the user's environment.
    User,
    /// This program set `OPENBLAS_CORETYPE` for an AVX-512 CPU.
    Automatic,
    /// Nobody set it: OpenBLAS detected the CPU itself.
    OpenBlas,
}

/// Name of the kernel set OpenBLAS is using (`Haswell`, `SkylakeX`, …), if OpenBLAS is loaded.
pub fn corename() -> Option<String> {
    call_string_fn(c"openblas_get_corename")
}

/// OpenBLAS's build description (version, `DYNAMIC_ARCH`, threading), if OpenBLAS is loaded.
pub fn config() -> Option<String> {
    call_string_fn(c"openblas_get_config")
}

/// How the kernel in use was chosen.
pub fn choice() -> Choice {
    match (std::env::var_os(CORETYPE_VAR), std::env::var_os(AUTO_VAR)) {
        (None, _) => Choice::OpenBlas,
        (Some(set), Some(auto)) if set == auto => Choice::Automatic,
        (Some(_), _) => Choice::User,
    }
}

/// Whether a kernel name is one of OpenBLAS's AVX-512 kernel sets.
pub fn is_avx512_kernel(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["skylakex", "cooperlake", "sapphirerapids"]
        .iter()
        .any(|k| n.contains(k))
}

/// Whether the CPU (and the OS, which must save the AVX-512 registers) can run the SkylakeX
/// kernels: they use the F, CD, BW, DQ and VL subsets.
pub fn cpu_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512cd")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this process should re-execute itself to get the AVX-512 kernels.
fn should_switch() -> bool {
    if std::env::var_os(CORETYPE_VAR).is_some() || std::env::var_os(AUTO_VAR).is_some() {
        return false;
    }
    if !cpu_has_avx512() {
        return false;
    }
    match corename() {
        Some(core) if !is_avx512_kernel(&core) => {}
        _ => return false,
    }
    // Only a DYNAMIC_ARCH build can switch kernels at load time; re-executing any other would
    // cost a process start for nothing.
    config().is_some_and(|c| c.contains("DYNAMIC_ARCH"))
}

fn call_string_fn(name: &CStr) -> Option<String> {
    // SAFETY: dlsym with RTLD_DEFAULT only looks the name up; both OpenBLAS functions take no
    // argument and return a pointer to a static NUL-terminated string.
    unsafe {
        let sym = libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr());
        if sym.is_null() {
            return None;
        }
        let f: extern "C" fn() -> *const c_char = std::mem::transmute(sym);
        let s = f();
        if s.is_null() {
            return None;
        }
        Some(CStr::from_ptr(s).to_string_lossy().trim().to_string())
    }
}

/// Runs from `.init_array`, after the shared libraries' constructors (so OpenBLAS has already
/// chosen) and before `main`. glibc passes `argc, argv, envp` to these functions.
#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
extern "C" fn select_kernel(_argc: libc::c_int, argv: *const *const c_char, _env: *const c_void) {
    if argv.is_null() || !should_switch() {
        return;
    }
    // Started through the dynamic loader (`ld-linux… ./prog`): /proc/self/exe is the loader,
    // and re-executing it with our argv would not start this program.
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let exe_name = exe.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if exe_name.is_empty() || exe_name.starts_with("ld-") {
        return;
    }
    let (var, auto, value) = (
        c"OPENBLAS_CORETYPE",
        c"IDEOGRAM4_AUTO_OPENBLAS_CORETYPE",
        c"SKYLAKEX",
    );
    // SAFETY: no other thread of ours exists yet; argv is the NULL-terminated vector glibc
    // handed to the constructor. execv only returns on failure.
    unsafe {
        libc::setenv(var.as_ptr(), value.as_ptr(), 1);
        libc::setenv(auto.as_ptr(), value.as_ptr(), 1);
        libc::execv(c"/proc/self/exe".as_ptr(), argv);
        // Could not re-execute (binary deleted since, exec denied): carry on with the kernel
        // OpenBLAS chose, and leave the environment saying so.
        libc::unsetenv(var.as_ptr());
        libc::unsetenv(auto.as_ptr());
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
use std::ffi::c_void;

#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
static SELECT_KERNEL: extern "C" fn(libc::c_int, *const *const c_char, *const c_void) =
    select_kernel;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names() {
        assert!(is_avx512_kernel("SkylakeX"));
        assert!(is_avx512_kernel("SKYLAKEX"));
        assert!(is_avx512_kernel("Cooperlake"));
        assert!(!is_avx512_kernel("Haswell"));
        assert!(!is_avx512_kernel("Zen"));
    }

    #[test]
    fn constructor_names_match_the_constants() {
        assert_eq!(CORETYPE_VAR, "OPENBLAS_CORETYPE");
        assert_eq!(AUTO_VAR, "IDEOGRAM4_AUTO_OPENBLAS_CORETYPE");
        assert_eq!(AVX512_CORETYPE, "SKYLAKEX");
    }
}
