//! GGUF DiTs (fixtures written by gguf-py, `scripts/make-quant-fixtures.py`): every GGML block
//! type decodes bit for bit like `gguf.quants.dequantize`; the tiny DiTs load from GGUF files
//! (leejet and molbal names, a combined two-branch file) beside the bf16 repo; their outputs
//! equal the dense path on the same dequantised weights exactly and stay within the
//! quantisation error of the bf16 golden; damaged files fail with one error naming file and
//! tensor.

mod dit_support;
mod quant_support;

use std::path::{Path, PathBuf};

use dit_support::{compare, cond_forward, fixtures, uncond_forward, Golden};
use ideogram4::mlx::Dtype;
use ideogram4::model::dit::Dit;
use ideogram4::model::linear::{Compute, Linear};
use ideogram4::weights::container::SafetensorsFile;
use ideogram4::weights::{
    Checkpoint, ComponentKind, ComponentSource, DitOverrides, GgmlType, GgufWeight, Weight,
    WeightFormat, WeightsError,
};
use quant_support::{dense_copy, gguf_write, GgufTensor};

fn quant() -> PathBuf {
    fixtures().join("quant")
}

fn bf16_root() -> PathBuf {
    fixtures().join("tiny-ideogram4-bf16")
}

fn gguf(path: PathBuf) -> Option<ComponentSource> {
    Some(ComponentSource::Gguf { path, config: None })
}

/// The block bytes and gguf-py values of one type from `gguf_blocks.safetensors`.
fn block_fixture(ty: GgmlType) -> (Vec<u8>, Vec<f32>, [usize; 2]) {
    let st = SafetensorsFile::open(&quant().join("gguf_blocks.safetensors")).unwrap();
    let read = |name: &str, dtype: Dtype| {
        let info = st.info(name).unwrap_or_else(|| panic!("{name}"));
        (
            st.read_array(name, info, &info.shape, dtype).unwrap(),
            info.shape.clone(),
        )
    };
    let (bytes, _) = read(&format!("{}.bytes", ty.name()), Dtype::U8);
    let (values, shape) = read(&format!("{}.values", ty.name()), Dtype::F32);
    (
        bytes.to_vec::<u8>().unwrap(),
        values.to_vec::<f32>().unwrap(),
        [shape[0], shape[1]],
    )
}

#[test]
fn every_block_type_decodes_bit_for_bit_like_gguf_py() {
    for ty in GgmlType::ALL {
        let (bytes, want, shape) = block_fixture(ty);
        let raw = ideogram4::mlx::Array::from_slice(&bytes, &[bytes.len()]).unwrap();
        let w = GgufWeight::new(raw, ty, shape.to_vec()).unwrap();
        let got = w
            .dequantize_host(Dtype::F32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let diff = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(diff, 0, "{ty}: {diff} of {} values differ", want.len());
        // Row blocks expand to the same rows.
        let part = w.rows(1, 3).unwrap().dequantize(Dtype::F32).unwrap();
        assert_eq!(
            part.to_vec::<f32>().unwrap(),
            got[shape[1]..].to_vec(),
            "{ty} rows"
        );
        // bf16 expansion is the float32 values rounded once.
        let bf = w
            .dequantize(Dtype::Bf16)
            .unwrap()
            .astype(Dtype::F32)
            .unwrap();
        let round: Vec<f32> = want
            .iter()
            .map(|&v| half::bf16::from_f32(v).to_f32())
            .collect();
        assert_eq!(bf.to_vec::<f32>().unwrap(), round, "{ty} bf16");
    }
}

/// A Linear over K-quant weights (which the tiny DiT's rows are too short for) equals a
/// Linear over the gguf-py values, and runs in row blocks the same.
#[test]
fn k_quant_linears_equal_the_dense_linear_on_gguf_py_values() {
    for ty in [GgmlType::Q4K, GgmlType::Q5K, GgmlType::Q6K, GgmlType::Q8_0] {
        let (bytes, values, shape) = block_fixture(ty);
        let raw = ideogram4::mlx::Array::from_slice(&bytes, &[bytes.len()]).unwrap();
        let q = Weight::Gguf(GgufWeight::new(raw, ty, shape.to_vec()).unwrap());
        let d = Weight::Dense(ideogram4::mlx::Array::from_slice(&values, &shape).unwrap());
        let x: Vec<f32> = (0..2 * shape[1])
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let x = ideogram4::mlx::Array::from_slice(&x, &[2, shape[1]]).unwrap();
        let lq = Linear::new("q", q, None, Compute::CPU).unwrap();
        let ld = Linear::new("d", d, None, Compute::CPU).unwrap();
        let yq = lq.forward(&x).unwrap().to_vec::<f32>().unwrap();
        let yd = ld.forward(&x).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(yq, yd, "{ty}");
        let blocked = lq.clone().with_expanded_block_bytes(shape[1] * 4);
        assert_eq!(blocked.forward(&x).unwrap().to_vec::<f32>().unwrap(), yd);
    }
}

/// (file, uncond file, type of the quantised block linears)
const DITS: &[(&str, &str, &str)] = &[
    ("ideogram4-F16.gguf", "ideogram4_uncond-F16.gguf", "F16"),
    ("ideogram4-BF16.gguf", "ideogram4_uncond-BF16.gguf", "BF16"),
    ("ideogram4-Q8_0.gguf", "ideogram4_uncond-Q8_0.gguf", "Q8_0"),
    ("ideogram4-Q5_0.gguf", "ideogram4_uncond-Q5_0.gguf", "Q5_0"),
    ("ideogram4-Q4_1.gguf", "ideogram4_uncond-Q4_1.gguf", "Q4_1"),
    ("ideogram4-Q4_0.gguf", "ideogram4_uncond-Q4_0.gguf", "Q4_0"),
    (
        "ideogram4-transformer-Q5_1.gguf",
        "ideogram4-unconditional_transformer-Q5_1.gguf",
        "Q5_1",
    ),
];

fn open_pair(cond: &Path, uncond: &Path) -> Checkpoint {
    Checkpoint::open_with(
        &bf16_root(),
        &DitOverrides {
            dit: gguf(cond.to_path_buf()),
            uncond_dit: gguf(uncond.to_path_buf()),
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", cond.display()))
}

/// Max |x| of the bf16 golden's outputs, to state errors relative to it.
fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

#[test]
fn gguf_dits_equal_the_dense_path_and_stay_near_the_bf16_golden() {
    let g = Golden::open("dit_forward_b1");
    let want_cond = g.f32s("bf16.cond_out");
    let want_uncond = g.f32s("bf16.uncond_out");
    let scale = max_abs(&want_cond).max(max_abs(&want_uncond));
    let options = dit_support::options(Compute::CPU);
    let mut report = Vec::new();
    for &(c, u, ty) in DITS {
        let ckpt = open_pair(
            &quant().join("tiny-gguf").join(c),
            &quant().join("tiny-gguf").join(u),
        );
        // The block linears carry the file's type; everything else is BF16 (leejet style).
        let plan = ckpt.plan(ComponentKind::Transformer);
        let fmt = |n: &str| {
            plan.tensors()
                .into_iter()
                .find(|t| t.name == n)
                .unwrap()
                .format
        };
        let expect = match ty {
            "F16" => WeightFormat::F16,
            "BF16" => WeightFormat::Bf16,
            t => WeightFormat::Ggml(GgmlType::from_name(t).unwrap()),
        };
        assert_eq!(fmt("layers.1.attention.qkv.weight"), expect, "{c}");
        assert_eq!(fmt("layers.0.feed_forward.w2.weight"), expect, "{c}");
        if ty != "F16" {
            assert_eq!(fmt("llm_cond_proj.weight"), WeightFormat::Bf16, "{c}");
        }

        let mut cond_c = ckpt.load_component(ComponentKind::Transformer).unwrap();
        let (dense_dir, _keep) = dense_copy(&cond_c, "transformer");
        let cond = Dit::from_component(&mut cond_c, options).unwrap();
        let mut uncond_c = ckpt
            .load_component(ComponentKind::UnconditionalTransformer)
            .unwrap();
        let (dense_udir, _keep2) = dense_copy(&uncond_c, "unconditional_transformer");
        let uncond = Dit::from_component(&mut uncond_c, options).unwrap();
        let got_c = cond_forward(&cond, &g);
        let got_u = uncond_forward(&uncond, &g);

        // The same weights, expanded once and stored dense float32, through the dense path.
        let dense = Checkpoint::open_with(
            &bf16_root(),
            &DitOverrides {
                dit: Some(ComponentSource::Folder(dense_dir)),
                uncond_dit: Some(ComponentSource::Folder(dense_udir)),
            },
        )
        .unwrap();
        let dc = Dit::from_component(
            &mut dense.load_component(ComponentKind::Transformer).unwrap(),
            options,
        )
        .unwrap();
        let du = Dit::from_component(
            &mut dense
                .load_component(ComponentKind::UnconditionalTransformer)
                .unwrap(),
            options,
        )
        .unwrap();
        assert_eq!(got_c, cond_forward(&dc, &g), "{c}: cond vs dense path");
        assert_eq!(got_u, uncond_forward(&du, &g), "{u}: uncond vs dense path");

        let (ec, _) = compare(&got_c, &want_cond, 0.0, 0.0);
        let (eu, _) = compare(&got_u, &want_uncond, 0.0, 0.0);
        let err = ec.max(eu);
        report.push(format!(
            "{ty}: max |Δ| vs bf16 golden {err:.3e} ({:.2}% of max |out| {scale:.3})",
            100.0 * err / scale
        ));
        // Observed (gguf-py 0.19.0 quantiser, this fixture): F16/BF16 ~4e-7, Q8_0 0.39%,
        // Q5_0 3.6%, Q5_1 3.1%, Q4_0 6.3%, Q4_1 6.2% of the largest output; the bounds leave
        // about 2x headroom.
        let bound = match ty {
            "F16" | "BF16" => 1e-5,
            "Q8_0" => 0.01,
            "Q5_0" | "Q5_1" => 0.07,
            _ => 0.12,
        };
        assert!(
            err <= bound * scale,
            "{ty}: error {err} exceeds {bound} x {scale}"
        );
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn a_combined_file_gives_both_branches_and_equals_the_separate_files() {
    let both = quant().join("tiny-gguf/ideogram4-both-Q8_0.gguf");
    let combined = open_pair(&both, &both);
    let separate = open_pair(
        &quant().join("tiny-gguf/ideogram4-Q8_0.gguf"),
        &quant().join("tiny-gguf/ideogram4_uncond-Q8_0.gguf"),
    );
    for kind in [
        ComponentKind::Transformer,
        ComponentKind::UnconditionalTransformer,
    ] {
        let a = combined.load_component(kind).unwrap();
        let b = separate.load_component(kind).unwrap();
        assert_eq!(a.len(), b.len());
        for (name, w) in a.iter() {
            let x = w
                .dequantize_host(Dtype::F32)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            let y = b.get(name).unwrap().dequantize_host(Dtype::F32).unwrap();
            assert_eq!(x, y.to_vec::<f32>().unwrap(), "{kind} {name}");
        }
    }
    // The sibling rule: the combined file is its own unconditional sibling; leejet and molbal
    // names find theirs.
    use ideogram4::weights::sources::uncond_sibling;
    assert_eq!(uncond_sibling(&both), Some(both.clone()));
    let d = quant().join("tiny-gguf");
    assert_eq!(
        uncond_sibling(&d.join("ideogram4-Q4_0.gguf")),
        Some(d.join("ideogram4_uncond-Q4_0.gguf"))
    );
    assert_eq!(
        uncond_sibling(&d.join("ideogram4-transformer-Q5_1.gguf")),
        Some(d.join("ideogram4-unconditional_transformer-Q5_1.gguf"))
    );
}

/// The tensors of the tiny bf16 conditional DiT as F32 GGUF tensors (for damaged files).
fn tiny_tensors(prefix: &str) -> Vec<GgufTensor> {
    let ckpt = Checkpoint::open(&bf16_root()).unwrap();
    let c = ckpt.load_component(ComponentKind::Transformer).unwrap();
    c.iter()
        .map(|(name, w)| {
            let a = w.dequantize(Dtype::F32).unwrap();
            GgufTensor::f32(
                &format!("{prefix}{name}"),
                &a.shape(),
                &a.to_vec::<f32>().unwrap(),
            )
        })
        .collect()
}

fn open_err(path: &Path) -> WeightsError {
    Checkpoint::open_with(
        &bf16_root(),
        &DitOverrides {
            dit: gguf(path.to_path_buf()),
            uncond_dit: None,
        },
    )
    .expect_err("should fail")
}

#[test]
fn damaged_and_foreign_gguf_files_fail_naming_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ideogram4-bad.gguf");
    let write = |tensors: &[GgufTensor]| gguf_write(&path, tensors);
    let check = |e: WeightsError, tensor: Option<&str>, words: &[&str]| {
        let msg = e.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        if let Some(t) = tensor {
            assert_eq!(e.tensor_name(), Some(t), "{msg}");
            assert!(msg.contains(t), "{msg}");
        }
        for w in words {
            assert!(msg.contains(w), "{w:?} not in: {msg}");
        }
    };
    // A good file opens (so the failures below are the damage, not the writer).
    write(&tiny_tensors(""));
    open_err(&tmp.path().join("missing.gguf"));
    Checkpoint::open_with(
        &bf16_root(),
        &DitOverrides {
            dit: gguf(path.clone()),
            uncond_dit: None,
        },
    )
    .unwrap();

    // Truncated: the last tensor's data runs past the end.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let e = open_err(&path);
    assert!(e.tensor_name().is_some(), "{e}");
    check(e, None, &["truncated"]);
    // Truncated inside the header.
    std::fs::write(&path, &bytes[..300]).unwrap();
    check(open_err(&path), None, &["corrupt GGUF file"]);

    // Unknown GGML type id.
    let mut t = tiny_tensors("");
    t[3].ggml_type = 99;
    let name = t[3].name.clone();
    write(&t);
    check(open_err(&path), Some(&name), &["GGML type"]);

    // A known type we do not decode.
    let mut t = tiny_tensors("");
    let i = t
        .iter()
        .position(|x| x.name == "layers.0.attention.qkv.weight")
        .unwrap();
    t[i] = GgufTensor::raw(&t[i].name, &[288, 96], 10, vec![0u8; 288 * 96 / 256 * 84]);
    write(&t);
    check(
        open_err(&path),
        Some("layers.0.attention.qkv.weight"),
        &["Q2_K"],
    );

    // Data out of bounds.
    let mut t = tiny_tensors("");
    t[5].offset_override = Some(1 << 40);
    let name = t[5].name.clone();
    write(&t);
    check(open_err(&path), Some(&name), &["data"]);

    // Shape/type mismatch: rows not a whole number of blocks; a wrong logical shape.
    let mut t = tiny_tensors("");
    let i = t
        .iter()
        .position(|x| x.name == "input_proj.weight")
        .unwrap();
    t[i] = GgufTensor::raw(&t[i].name, &[96, 16], 8, vec![0u8; 96 * 34]);
    write(&t);
    check(
        open_err(&path),
        Some("input_proj.weight"),
        &["multiple of 32"],
    );
    let mut t = tiny_tensors("");
    let i = t
        .iter()
        .position(|x| x.name == "layers.1.attention.o.weight")
        .unwrap();
    t[i] = GgufTensor::f32(&t[i].name, &[96, 64], &vec![0.0; 96 * 64]);
    write(&t);
    check(
        open_err(&path),
        Some("layers.1.attention.o.weight"),
        &["shape"],
    );

    // Unknown and missing names, all listed.
    let mut t = tiny_tensors("");
    t.retain(|x| x.name != "layers.1.ffn_norm2.weight" && x.name != "adaln_proj.bias");
    t.push(GgufTensor::f32("layers.1.extra.weight", &[4], &[0.0; 4]));
    write(&t);
    check(
        open_err(&path),
        None,
        &[
            "layers.1.extra.weight",
            "layers.1.ffn_norm2.weight",
            "adaln_proj.bias",
        ],
    );

    // A combined file whose branch names say nothing about which is which.
    let mut t = tiny_tensors("first.");
    t.extend(tiny_tensors("second."));
    write(&t);
    check(
        open_err(&path),
        None,
        &["first.", "second.", "unconditional"],
    );
    // ... and one whose names do.
    let mut t = tiny_tensors("cond.");
    t.extend(tiny_tensors("uncond."));
    write(&t);
    Checkpoint::open_with(
        &bf16_root(),
        &DitOverrides {
            dit: gguf(path.clone()),
            uncond_dit: gguf(path.clone()),
        },
    )
    .unwrap();
}

/// The parser on every fixture header with deterministic byte flips and truncations: never a
/// panic, and whatever it accepts keeps its tensors inside the file (the fuzz target's
/// invariants, cheaply).
#[test]
fn mutated_headers_are_refused_or_stay_in_bounds() {
    use ideogram4::weights::gguf::Header;
    let bytes = std::fs::read(quant().join("tiny-gguf/ideogram4-both-Q8_0.gguf")).unwrap();
    let head = &bytes[..8192.min(bytes.len())];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accepted = 0;
    for i in 0..3000 {
        let mut m = head.to_vec();
        for _ in 0..1 + i % 4 {
            let at = (next() as usize) % m.len();
            m[at] = next() as u8;
        }
        let len = if i % 5 == 0 {
            (next() as usize) % m.len()
        } else {
            m.len()
        };
        let file_len = if i % 2 == 0 {
            len as u64
        } else {
            bytes.len() as u64
        };
        if let Ok(h) = Header::parse(&m[..len], file_len) {
            accepted += 1;
            for t in &h.tensors {
                assert!(h.data_start + t.offset + t.nbytes <= file_len, "{t:?}");
            }
        }
    }
    // Flips in tensor data offsets or padding keep some files valid; most are refused.
    assert!(accepted < 3000);
    assert!(Header::parse(&bytes, bytes.len() as u64).is_ok());
}
