//! The OpenBLAS kernel is chosen by the program itself, however it is started: the installed
//! binary run directly (no scripts/env.sh), and test binaries such as this one.
//!
//! On a CPU without AVX-512 the automatic choice must stay out of the way; on one with it the
//! SkylakeX kernels must be in use unless the user set OPENBLAS_CORETYPE.

use std::process::Command;

use ideogram4::mlx::blas_kernel;

/// The CPU check, made here independently of the library's.
fn cpu_has_avx512() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| {
            let flags = s
                .lines()
                .find(|l| l.starts_with("flags"))
                .unwrap_or("")
                .to_string();
            ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
                .iter()
                .all(|f| flags.split_whitespace().any(|w| w == *f))
        })
        .unwrap_or(false)
}

fn doctor(coretype: Option<&str>) -> serde_json::Value {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"));
    c.args(["doctor", "--json"])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove(blas_kernel::CORETYPE_VAR)
        .env_remove(blas_kernel::AUTO_VAR);
    if let Some(v) = coretype {
        c.env(blas_kernel::CORETYPE_VAR, v);
    }
    let out = c.output().expect("run ideogram4-tui doctor");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn openblas_loaded() -> bool {
    blas_kernel::corename().is_some()
}

#[test]
fn the_binary_run_directly_picks_the_avx512_kernel() {
    if !openblas_loaded() {
        eprintln!("OpenBLAS is not loaded on this platform: nothing to choose");
        return;
    }
    let report = doctor(None);
    let kernel = report["blas_kernel"].as_str().expect("a blas_kernel entry");
    let warnings = report["warnings"].as_array().expect("a warnings list");
    if cpu_has_avx512() {
        assert!(
            blas_kernel::is_avx512_kernel(kernel) && kernel.contains("chosen by this program"),
            "{kernel}"
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    } else {
        assert!(!kernel.contains("chosen by this program"), "{kernel}");
    }
}

#[test]
fn an_explicit_coretype_is_left_alone_and_a_slow_one_is_warned_about() {
    if !openblas_loaded() {
        return;
    }
    let report = doctor(Some("Haswell"));
    let kernel = report["blas_kernel"].as_str().expect("a blas_kernel entry");
    assert!(
        kernel.to_ascii_lowercase().starts_with("haswell") && kernel.contains("OPENBLAS_CORETYPE"),
        "{kernel}"
    );
    let warnings = report["warnings"].as_array().expect("a warnings list");
    if cpu_has_avx512() {
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].as_str().unwrap_or("").contains("Haswell"),
            "{warnings:?}"
        );
    } else {
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}

/// Run as a child by the test below: reports the kernel this test binary ended up with.
#[test]
fn report_kernel_for_parent() {
    if std::env::var_os("IDEOGRAM4_TEST_REPORT_KERNEL").is_some() {
        println!(
            "KERNEL={}",
            blas_kernel::corename().unwrap_or_else(|| "none".into())
        );
    }
}

#[test]
fn test_binaries_get_the_avx512_kernel_too() {
    if !openblas_loaded() || !cpu_has_avx512() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["report_kernel_for_parent", "--exact", "--nocapture"])
        .env("IDEOGRAM4_TEST_REPORT_KERNEL", "1")
        .env_remove(blas_kernel::CORETYPE_VAR)
        .env_remove(blas_kernel::AUTO_VAR)
        .output()
        .expect("rerun this test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kernel = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KERNEL="))
        .unwrap_or_else(|| panic!("no KERNEL= line in {stdout}"));
    assert!(blas_kernel::is_avx512_kernel(kernel), "{kernel}");
}
