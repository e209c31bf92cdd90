//! Parity harness: runs our code on the inputs of golden sidecars and compares every output.
//!
//! ```text
//! cargo run --release --example parity -- --fixtures ../shared/fixtures ../shared/fixtures/golden/*.json
//! ```
//!
//! Prints one JSON line per compared output,
//! `{"case","output","max_abs_diff","tolerance":{"atol","rtol"},"pass"}`, and exits with 1 if
//! any comparison fails or a sidecar cannot be run (2 for bad arguments). Repositories and
//! tokenizers are found under `--fixtures` by the names the sidecars give; each sidecar's
//! tensors file is next to it. Computation is float32 on the CPU (the goldens' tight
//! tolerances are for float32). `--skip-missing` reports folders that are absent (e.g. the
//! real Qwen tokenizer) on stderr instead of failing. The logic lives in
//! `ideogram4::parity`, where the tests use it.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = ideogram4::parity::command_line(
        std::env::args_os().skip(1),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
