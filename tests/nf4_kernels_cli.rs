//! The NF4 kernels through the real binary: `doctor`'s report of the path taken (and the
//! fallback, with stand-in runners), the `nf4_kernels` setting, and `bench nf4`.

use std::path::PathBuf;
use std::process::Command;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ideogram4-nf4-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("home")).unwrap();
        std::fs::create_dir_all(p.join("config/ideogram4-tui")).unwrap();
        Scratch(p)
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"));
        c.current_dir(&self.0)
            .env("HOME", self.0.join("home"))
            .env("XDG_DATA_HOME", self.0.join("data"))
            .env("XDG_CONFIG_HOME", self.0.join("config"))
            .env("IDEOGRAM4_LOG", "off")
            .env_remove("IDEOGRAM4_NF4_KERNELS");
        c
    }

    /// `doctor --json`'s two NF4 entries and its notes.
    fn doctor(&self, extra: &[&str], env: Option<(&str, &str)>) -> (String, String, String) {
        let mut c = self.command();
        c.args(["doctor", "--json"]).args(extra);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let out = c.output().expect("run ideogram4-tui");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        (
            report["nf4_kernels"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            report["nf4_kernel_emulation"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            report["notes"].to_string(),
        )
    }
}

#[test]
fn doctor_reports_the_path_and_the_fallback() {
    let s = Scratch::new("doctor");
    let (line, emulation, _) = s.doctor(&[], None);
    assert!(
        line.starts_with("portable path (expand, then multiply): MLX computes on the CPU"),
        "{line}"
    );
    assert!(line.ends_with("[nf4_kernels = auto]"), "{line}");
    assert!(
        emulation.starts_with("bit-exact with the host reference"),
        "{emulation}"
    );

    let (line, _, _) = s.doctor(&["--nf4-check-with", "emulation"], None);
    assert!(
        line.starts_with(
            "fused Metal kernels: cpu emulation kernels agree with the portable path on 2 layers"
        ),
        "{line}"
    );

    let (line, _, notes) = s.doctor(&["--nf4-check-with", "wrong"], None);
    assert!(line.starts_with("portable path"), "{line}");
    assert!(line.contains("disagreed with the portable path"), "{line}");
    assert!(
        notes.contains("the fused NF4 kernels are not used"),
        "{notes}"
    );

    let (line, _, _) = s.doctor(&["--nf4-check-with", "broken"], None);
    assert!(line.contains("could not be built"), "{line}");
    assert!(line.contains("compilation failed"), "{line}");
}

#[test]
fn setting_and_environment_force_a_path() {
    let s = Scratch::new("mode");
    std::fs::write(
        s.0.join("config/ideogram4-tui/config.toml"),
        "nf4_kernels = \"portable\"\n",
    )
    .unwrap();
    let (line, _, _) = s.doctor(&["--nf4-check-with", "emulation"], None);
    assert!(
        line.contains("forced by nf4_kernels = \"portable\""),
        "{line}"
    );
    assert!(line.ends_with("[nf4_kernels = portable]"), "{line}");
    // The environment wins over config.toml.
    let (line, _, _) = s.doctor(
        &["--nf4-check-with", "wrong"],
        Some(("IDEOGRAM4_NF4_KERNELS", "fused")),
    );
    assert!(line.starts_with("fused Metal kernels: forced"), "{line}");
}

#[test]
fn bench_nf4_smoke_check_without_a_gpu() {
    let s = Scratch::new("bench");
    let out = s
        .command()
        .args(["bench", "nf4", "--json", "--tokens", "1,9", "--runs", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["gpu"], false);
    assert_eq!(v["runner"], "cpu emulation");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["kernel"], "nf4_matvec");
    assert_eq!(results[1]["kernel"], "nf4_matmul");
    for r in results {
        // Same product both ways (float32: only the order of additions differs).
        assert!(r["max_abs_diff"].as_f64().unwrap() < 1e-2, "{r}");
        assert!(r["fused_seconds"].as_f64().unwrap() > 0.0);
    }
}
