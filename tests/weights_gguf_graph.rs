//! The MLX-ops expansion of GGML blocks (`GgufWeight::dequantize`, the GPU path) run on the
//! CPU backend gives the same bits as the host decoder (`dequantize_host`, itself checked
//! against gguf-py in `weights_gguf.rs`): on gguf-py's blocks of every type, on random blocks
//! of every type, on every tensor of the tiny GGUF DiTs, and through `Linear` and the DiT with
//! the graph path forced (`Dequant::Graph`).

mod dit_support;
mod quant_support;

use std::path::PathBuf;

use dit_support::{cond_forward, fixtures, Golden};
use ideogram4::mlx::{Array, Dtype};
use ideogram4::model::dit::Dit;
use ideogram4::model::linear::{Compute, Dequant, Linear};
use ideogram4::weights::container::SafetensorsFile;
use ideogram4::weights::{
    Checkpoint, ComponentKind, ComponentSource, DitOverrides, GgmlType, GgufWeight, Weight,
};

fn quant() -> PathBuf {
    fixtures().join("quant")
}

/// The CPU configuration with the graph expansion forced.
const GRAPH_F32: Compute = Compute {
    dtype: Dtype::F32,
    dequant: Dequant::Graph,
};

/// Positions where `a` and `b` differ as bits. Two NaNs count as equal: random scale bytes
/// make NaNs, whose payload bits are not part of any decoder's contract.
fn differing(a: &[u8], b: &[u8], dtype: Dtype) -> usize {
    assert_eq!(a.len(), b.len());
    match dtype {
        Dtype::F32 => a
            .chunks_exact(4)
            .zip(b.chunks_exact(4))
            .filter(|(x, y)| {
                let (x, y) = (
                    f32::from_le_bytes([x[0], x[1], x[2], x[3]]),
                    f32::from_le_bytes([y[0], y[1], y[2], y[3]]),
                );
                x.to_bits() != y.to_bits() && !(x.is_nan() && y.is_nan())
            })
            .count(),
        Dtype::Bf16 | Dtype::F16 => a
            .chunks_exact(2)
            .zip(b.chunks_exact(2))
            .filter(|(x, y)| {
                let nan = |v: &[u8]| {
                    let v = u16::from_le_bytes([v[0], v[1]]);
                    let exp_mask = if dtype == Dtype::Bf16 { 0x7F80 } else { 0x7C00 };
                    let man_mask = if dtype == Dtype::Bf16 { 0x007F } else { 0x03FF };
                    v & exp_mask == exp_mask && v & man_mask != 0
                };
                x != y && !(nan(x) && nan(y))
            })
            .count(),
        other => panic!("no comparison for {other}"),
    }
}

/// Graph and host expansions of `w` in float32, bfloat16 and float16 agree bit for bit.
fn assert_graph_equals_host(w: &GgufWeight, what: &str) {
    for dtype in [Dtype::F32, Dtype::Bf16, Dtype::F16] {
        let graph = w.dequantize(dtype).unwrap();
        assert_eq!(graph.dtype(), dtype, "{what}");
        assert_eq!(graph.shape(), w.shape(), "{what}");
        let host = w.dequantize_host(dtype).unwrap().to_bytes().unwrap();
        let graph = graph.to_bytes().unwrap();
        let diff = differing(&graph, &host, dtype);
        assert_eq!(
            diff,
            0,
            "{what} {dtype}: {diff} of {} values differ",
            w.shape().iter().product::<usize>()
        );
    }
}

fn weight(bytes: &[u8], ty: GgmlType, shape: &[usize]) -> GgufWeight {
    let raw = Array::from_slice(bytes, &[bytes.len()]).unwrap();
    GgufWeight::new(raw, ty, shape.to_vec()).unwrap()
}

#[test]
fn gguf_py_blocks_of_every_type_expand_alike_on_the_graph() {
    let st = SafetensorsFile::open(&quant().join("gguf_blocks.safetensors")).unwrap();
    for ty in GgmlType::ALL {
        let name = format!("{}.bytes", ty.name());
        let info = st.info(&name).unwrap();
        let bytes = st.read_array(&name, info, &info.shape, Dtype::U8).unwrap();
        let values = st.info(&format!("{}.values", ty.name())).unwrap();
        let w = weight(&bytes.to_vec::<u8>().unwrap(), ty, &values.shape);
        assert_graph_equals_host(&w, ty.name());
        assert_graph_equals_host(&w.rows(1, 3).unwrap(), &format!("{ty} rows 1..3"));
    }
}

#[test]
fn random_blocks_of_every_type_expand_alike_on_the_graph() {
    // Knuth's MMIX LCG; the high bits are the well-mixed ones.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 40
    };
    for ty in GgmlType::ALL {
        let (per_block, block_bytes) = ty.block();
        // Rows of several blocks, so block and row boundaries both occur; every byte random
        // (scales included: subnormal, infinite and NaN float16 scales come up too).
        let (rows, blocks_per_row) = (24, 3);
        let cols = per_block * blocks_per_row * if ty.is_float() { 32 } else { 1 };
        let n = rows * ty.row_bytes(cols);
        let bytes: Vec<u8> = (0..n).map(|_| next() as u8).collect();
        assert_eq!(n % block_bytes, 0);
        assert_graph_equals_host(&weight(&bytes, ty, &[rows, cols]), &format!("random {ty}"));
        // A 3-D tensor (the blocked axis last) expands the same.
        assert_graph_equals_host(
            &weight(&bytes, ty, &[4, rows / 4, cols]),
            &format!("random 3-D {ty}"),
        );
    }
}

fn tiny_gguf_pairs() -> Vec<(PathBuf, PathBuf)> {
    let d = quant().join("tiny-gguf");
    let mut pairs = Vec::new();
    for entry in std::fs::read_dir(&d).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.contains("uncond") || name.contains("unconditional") {
            continue;
        }
        let sibling = ideogram4::weights::sources::uncond_sibling(&path)
            .unwrap_or_else(|| panic!("{name} has no unconditional sibling"));
        pairs.push((path, sibling));
    }
    pairs.sort();
    assert!(pairs.len() >= 7, "{pairs:?}");
    pairs
}

fn open_pair(cond: &std::path::Path, uncond: &std::path::Path) -> Checkpoint {
    let gguf = |path: &std::path::Path| {
        Some(ComponentSource::Gguf {
            path: path.to_path_buf(),
            config: None,
        })
    };
    Checkpoint::open_with(
        &fixtures().join("tiny-ideogram4-bf16"),
        &DitOverrides {
            dit: gguf(cond),
            uncond_dit: gguf(uncond),
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", cond.display()))
}

#[test]
fn every_tensor_of_the_tiny_gguf_dits_expands_alike_on_the_graph() {
    let mut seen = std::collections::BTreeSet::new();
    for (cond, uncond) in tiny_gguf_pairs() {
        let ckpt = open_pair(&cond, &uncond);
        for kind in [
            ComponentKind::Transformer,
            ComponentKind::UnconditionalTransformer,
        ] {
            let c = ckpt.load_component(kind).unwrap();
            for (name, w) in c.iter() {
                if let Weight::Gguf(g) = w {
                    seen.insert(g.ggml_type());
                    assert_graph_equals_host(g, &format!("{} {name}", cond.display()));
                }
            }
        }
    }
    // The fixtures hold the 32-value block types (K-quants need rows of 256: random blocks
    // and gguf-py's blocks above cover them).
    for ty in [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
    ] {
        assert!(seen.contains(&ty), "no {ty} tensor in the tiny GGUF files");
    }
}

/// `Linear` with `Dequant::Graph` on GGUF weights equals the host path, whole and in row
/// blocks, and the tiny DiTs give the same outputs through either path.
#[test]
fn linear_and_dit_with_the_graph_path_forced_equal_the_host_path() {
    let st = SafetensorsFile::open(&quant().join("gguf_blocks.safetensors")).unwrap();
    for ty in GgmlType::ALL.into_iter().filter(|t| !t.is_float()) {
        let name = format!("{}.bytes", ty.name());
        let info = st.info(&name).unwrap();
        let bytes = st.read_array(&name, info, &info.shape, Dtype::U8).unwrap();
        let shape = st
            .info(&format!("{}.values", ty.name()))
            .unwrap()
            .shape
            .clone();
        let w = Weight::Gguf(weight(&bytes.to_vec::<u8>().unwrap(), ty, &shape));
        let x: Vec<f32> = (0..3 * shape[1])
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
            .collect();
        let x = Array::from_slice(&x, &[3, shape[1]]).unwrap();
        let host = Linear::new("h", w.clone(), None, Compute::CPU).unwrap();
        let graph = Linear::new("g", w, None, GRAPH_F32).unwrap();
        let want = host.forward(&x).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(
            graph.forward(&x).unwrap().to_vec::<f32>().unwrap(),
            want,
            "{ty}"
        );
        let blocked = graph.with_expanded_block_bytes(shape[1] * 4);
        assert_eq!(
            blocked.forward(&x).unwrap().to_vec::<f32>().unwrap(),
            want,
            "{ty} row blocks"
        );
    }

    let g = Golden::open("dit_forward_b1");
    for (cond, uncond) in tiny_gguf_pairs() {
        let ckpt = open_pair(&cond, &uncond);
        let forward = |compute: Compute| {
            let mut c = ckpt.load_component(ComponentKind::Transformer).unwrap();
            let dit = Dit::from_component(&mut c, dit_support::options(compute)).unwrap();
            cond_forward(&dit, &g)
        };
        assert_eq!(
            forward(GRAPH_F32),
            forward(Compute::CPU),
            "{}",
            cond.display()
        );
    }
}
