//! Every intermediate of the conditional DiT (bf16 weights, fp32 compute) against the
//! reference's forward hooks (`dit_forward_b1_intermediates`): pinpoints the first step
//! that drifts when the end-to-end parity test fails.

mod dit_support;

use std::collections::BTreeMap;

use dit_support::{compare, load_dit, options, take_rows, Golden};
use ideogram4::mlx::Array;
use ideogram4::model::linear::Compute;
use ideogram4::weights::ComponentKind;

/// Absolute + relative tolerance for fp32 intermediates (README: ~1e-4 for fp32 parity;
/// the observed differences are ~1e-6).
const ATOL: f32 = 1e-4;
const RTOL: f32 = 1e-4;

#[test]
fn every_intermediate_matches_the_reference() {
    let inputs = Golden::open("dit_forward_b1");
    let hooks = Golden::open("dit_forward_b1_intermediates");
    let dit = load_dit("bf16", ComponentKind::Transformer, options(Compute::CPU));
    let packed = inputs.packed("cond");
    let seq = dit.sequence(&packed).unwrap();
    let t_len = packed.text_len();
    let llm = inputs
        .get("input.cond.llm_features")
        .slice_axis(1, 0, t_len)
        .unwrap();

    let mut ours: BTreeMap<String, Array> = BTreeMap::new();
    let out = dit
        .forward_traced(
            inputs.get("input.cond.x"),
            &inputs.times("cond"),
            &seq,
            Some(&llm),
            &mut |name, a| {
                ours.insert(name, a.clone());
            },
        )
        .unwrap();
    ours.insert("(output)".into(), out);

    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, want) in &hooks.tensors {
        let got = ours
            .get(name)
            .unwrap_or_else(|| panic!("no traced value for hook {name}"));
        let mut want_v = want.to_f32_vec().unwrap();
        // Text features are computed for the text region only (image rows are masked away).
        if name.starts_with("llm_cond_") {
            let s = want.shape();
            want_v = take_rows(&want_v, s[0], s[1], s[2], 0..t_len);
        }
        let got_v = got.to_f32_vec().unwrap();
        let (d, ok) = compare(&got_v, &want_v, ATOL, RTOL);
        eprintln!("{name:32} {:?} max|Δ| {d:.3e}", got.shape());
        checked += 1;
        if !ok {
            failures.push(format!("{name}: {d}"));
        }
    }
    assert_eq!(checked, hooks.tensors.len());
    assert!(
        checked >= 17,
        "expected every hook of the fixture, saw {checked}"
    );
    assert!(failures.is_empty(), "intermediates off: {failures:?}");
}
