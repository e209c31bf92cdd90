//! Finds the official MLX binaries, compiles the C++ shim over MLX's C++ API, and links.
//!
//! Search order: `MLX_DIR`; the per-user install made by `scripts/setup`; the `mlx-cpu` /
//! `mlx-metal` Python distribution found through importlib.metadata; Homebrew.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "build/codes.rs"]
mod codes;

/// The MLX release the binding is written and tested against.
const MLX_VERSION: &str = "0.32.4";

struct Found {
    /// Folder holding `include/mlx/mlx.h` and `lib/libmlx.{so,dylib}`.
    dir: PathBuf,
    how: &'static str,
}

fn main() {
    println!("cargo:rerun-if-changed=csrc/shim.cpp");
    println!("cargo:rerun-if-changed=csrc/codes.h");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/codes.rs");
    for var in ["MLX_DIR", "PYTHON", "XDG_DATA_HOME", "HOME"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    // The ABI's codes for Rust, from the header the shim compiles against.
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    codes::generate(Path::new("csrc/codes.h"), &out_dir.join("codes.rs"));

    let found = match find_mlx() {
        Ok(found) => found,
        Err(tried) => {
            eprintln!("\n{}\n", not_found_message(&tried));
            std::process::exit(1);
        }
    };
    let include = found.dir.join("include");
    let lib = found.dir.join("lib");
    println!("cargo:rerun-if-changed={}", lib.display());

    cc::Build::new()
        .cpp(true)
        .std("c++20")
        .file("csrc/shim.cpp")
        .include(&include)
        .flag_if_supported("-Wno-unused-parameter")
        // A code of csrc/codes.h that a switch of the shim misses is a build error.
        .flag("-Werror=switch")
        .opt_level(2)
        .compile("ideogram4_mlx_shim");

    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=mlx");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());

    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        // The Metal kernels of kernels/ compiled as C++ over a Metal emulation, so their
        // logic runs (and is tested) without a GPU. No contraction into FMAs: the tests
        // require bit-for-bit equality with a host reference that adds in the same order.
        println!("cargo:rerun-if-changed=csrc/metal_emu");
        println!("cargo:rerun-if-changed=kernels");
        cc::Build::new()
            .cpp(true)
            .std("c++17")
            .file("csrc/metal_emu/nf4_emu.cpp")
            .flag("-ffp-contract=off")
            .flag_if_supported("-Wno-unused-parameter")
            .opt_level(2)
            .compile("ideogram4_metal_emu");
        // The wheel bundles a reference BLAS ~30x slower than OpenBLAS. Linking OpenBLAS into
        // every binary of this package (rustc passes --as-needed, which would drop it) makes it
        // the first provider of cblas_sgemm, so MLX's matmul binds to it.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-lopenblas");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
        println!("cargo:rustc-link-lib=dylib=dl");
    }

    println!("cargo:rustc-env=IDEOGRAM4_MLX_DIR={}", found.dir.display());
    println!("cargo:rustc-env=IDEOGRAM4_MLX_FOUND_BY={}", found.how);
    println!("cargo:rustc-env=IDEOGRAM4_MLX_PINNED={MLX_VERSION}");
}

fn has_mlx(dir: &Path) -> bool {
    dir.join("include/mlx/mlx.h").is_file()
        && (dir.join("lib/libmlx.so").is_file() || dir.join("lib/libmlx.dylib").is_file())
}

fn find_mlx() -> Result<Found, Vec<String>> {
    let mut tried = Vec::new();

    if let Some(dir) = std::env::var_os("MLX_DIR") {
        let dir = PathBuf::from(dir);
        if has_mlx(&dir) {
            return Ok(Found {
                dir,
                how: "MLX_DIR",
            });
        }
        // An explicit choice that is wrong must not be silently replaced by another install.
        eprintln!(
            "\nMLX_DIR={} does not contain include/mlx/mlx.h and lib/libmlx.so (or .dylib).\n\
             Point it at the `mlx` folder of an mlx-cpu / mlx-metal install, or unset it.\n",
            dir.display()
        );
        std::process::exit(1);
    }
    tried.push("MLX_DIR (not set)".to_string());

    if let Some(dirs) = directories::ProjectDirs::from("", "", "ideogram4-tui") {
        for dist in ["mlx-cpu", "mlx-metal"] {
            let dir = dirs
                .data_dir()
                .join(format!("{dist}-{MLX_VERSION}"))
                .join("mlx");
            if has_mlx(&dir) {
                return Ok(Found {
                    dir,
                    how: "scripts/setup install",
                });
            }
            tried.push(dir.display().to_string());
        }
    }

    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    for dist in ["mlx-cpu", "mlx-metal"] {
        let code = format!(
            "import importlib.metadata as m; print(m.distribution('{dist}').locate_file('mlx'))"
        );
        if let Ok(out) = Command::new(&python).args(["-c", &code]).output() {
            if out.status.success() {
                let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                if has_mlx(&dir) {
                    return Ok(Found {
                        dir,
                        how: "python distribution",
                    });
                }
            }
        }
        tried.push(format!(
            "{python}: importlib.metadata distribution '{dist}'"
        ));
    }

    let mut brew = vec![
        PathBuf::from("/opt/homebrew/opt/mlx"),
        PathBuf::from("/usr/local/opt/mlx"),
    ];
    if let Ok(out) = Command::new("brew").args(["--prefix", "mlx"]).output() {
        if out.status.success() {
            brew.insert(
                0,
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            );
        }
    }
    for dir in brew {
        if has_mlx(&dir) {
            return Ok(Found {
                dir,
                how: "homebrew",
            });
        }
        tried.push(dir.display().to_string());
    }
    Err(tried)
}

fn not_found_message(tried: &[String]) -> String {
    format!(
        "error: MLX {MLX_VERSION} was not found, so the MLX binding cannot be built.\n\
         Install it with one of:\n\
         \x20 Linux:  scripts/setup        (apt libopenblas-dev + the mlx-cpu=={MLX_VERSION} wheel into your data folder)\n\
         \x20 macOS:  python3 -m pip install mlx-metal=={MLX_VERSION}   or   brew install mlx\n\
         or set MLX_DIR to the folder holding include/mlx/mlx.h and lib/libmlx.*.\n\
         Looked in:\n  {}",
        tried.join("\n  ")
    )
}
