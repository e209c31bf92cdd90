//! Row blocks of quantised weights: a block expands to exactly those rows of the whole
//! expansion (NF4 plain and double-quantised, FP8), and a layer that multiplies block by block
//! under a small expansion budget gives the whole layer's output.

use std::path::{Path, PathBuf};

use ideogram4::mlx::{random, Dtype};
use ideogram4::model::linear::{Compute, Dequant, Linear};
use ideogram4::weights::{Absmax, Checkpoint, ComponentKind, Weight};

fn repo(flavour: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/tiny-ideogram4-{flavour}"))
}

fn weight(flavour: &str, name: &str) -> Weight {
    Checkpoint::open(&repo(flavour))
        .unwrap()
        .load_component(ComponentKind::Transformer)
        .unwrap()
        .take(name)
        .unwrap()
}

/// The tiny repos' weights used below: plain NF4, NF4 with nested scales, FP8.
fn cases() -> Vec<(String, Weight)> {
    let nested = weight("nf4", "layers.1.feed_forward.w2.weight");
    assert!(matches!(
        &nested,
        Weight::Nf4(w) if matches!(w.absmax(), Absmax::Nested { .. })
    ));
    vec![
        (
            "nf4 qkv".into(),
            weight("nf4", "layers.0.attention.qkv.weight"),
        ),
        ("nf4 nested w2".into(), nested),
        (
            "fp8 qkv".into(),
            weight("fp8", "layers.0.attention.qkv.weight"),
        ),
    ]
}

#[test]
fn row_blocks_expand_to_exactly_their_rows() {
    for (name, w) in cases() {
        let [out, cols] = <[usize; 2]>::try_from(w.shape()).unwrap();
        let align = w.row_alignment();
        if name.starts_with("nf4") {
            // NF4 blocks of 64 run over the flattened weight: a block cut must fall on one.
            assert_eq!((align * cols) % 64, 0, "{name}: alignment {align}");
        } else {
            assert_eq!(align, 1, "{name}");
        }
        let mut r0 = 0;
        while r0 < out {
            let r1 = (r0 + 3 * align).min(out);
            let block = w.rows(r0, r1).unwrap();
            assert_eq!(block.shape(), vec![r1 - r0, cols]);
            for dtype in [Dtype::F32, Dtype::Bf16] {
                let want = w
                    .dequantize_host(dtype)
                    .unwrap()
                    .slice_axis(0, r0, r1)
                    .unwrap()
                    .to_bytes()
                    .unwrap();
                let host = block.dequantize_host(dtype).unwrap().to_bytes().unwrap();
                let graph = block.dequantize(dtype).unwrap().to_bytes().unwrap();
                assert!(
                    host == want && graph == want,
                    "{name} rows {r0}..{r1} {dtype}"
                );
            }
            r0 = r1;
        }
    }
}

#[test]
fn misaligned_nf4_row_blocks_are_refused() {
    let w = weight("nf4", "layers.0.attention.qkv.weight");
    let align = w.row_alignment();
    if align > 1 {
        let err = w.rows(1, align + 1).unwrap_err().to_string();
        assert!(err.contains("boundaries"), "{err}");
    }
    let err = w.rows(5, 5).unwrap_err().to_string();
    assert!(err.contains("boundaries"), "{err}");
}

#[test]
fn blocked_layers_equal_whole_layers() {
    let x = random::normal(&[2, 7, 96], Dtype::F32, 0.0, 1.0, &random::key(3).unwrap()).unwrap();
    for (name, w) in cases() {
        let out = w.shape()[0];
        let bias = random::normal(&[out], Dtype::F32, 0.0, 1.0, &random::key(4).unwrap()).unwrap();
        let x = if w.shape()[1] == 96 {
            x.clone()
        } else {
            random::normal(
                &[2, 7, w.shape()[1]],
                Dtype::F32,
                0.0,
                1.0,
                &random::key(5).unwrap(),
            )
            .unwrap()
        };
        for dequant in [Dequant::Host, Dequant::Graph] {
            let compute = Compute {
                dtype: Dtype::F32,
                dequant,
            };
            let whole = Linear::new(&name, w.clone(), Some(bias.clone()), compute).unwrap();
            // A budget of about a tenth of the expansion: several blocks, the last one short.
            let budget = out * w.shape()[1] * 4 / 10;
            let blocked = whole.clone().with_expanded_block_bytes(budget);
            let a = whole.forward(&x).unwrap().to_f32_vec().unwrap();
            let b = blocked.forward(&x).unwrap();
            assert_eq!(b.shape(), vec![2, 7, out]);
            let b = b.to_f32_vec().unwrap();
            let worst = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs() / (1.0 + p.abs()))
                .fold(0f32, f32::max);
            assert!(worst <= 1e-6, "{name} {dequant:?}: {worst:e}");
        }
    }
}
