//! Loading the three tiny repos (same layout as the official ones) and checking dequantised
//! weights against `golden/quant_formats` (bitsandbytes' own dequantisation and the FP8
//! reference formula): NF4 bit for bit, nested scales included; FP8 bit for bit in float32.

use std::path::{Path, PathBuf};

use ideogram4::mlx::{self, Array, Dtype};
use ideogram4::weights::{
    Absmax, Checkpoint, CheckpointFormat, ComponentKind, DeclaredQuant, Weight, WeightFormat,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn repo(flavour: &str) -> PathBuf {
    fixtures().join(format!("tiny-ideogram4-{flavour}"))
}

fn golden(name: &str) -> Array {
    let file =
        mlx::io::load_safetensors(&fixtures().join("golden/quant_formats.safetensors")).unwrap();
    file.tensors
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("golden tensor {name}"))
        .1
}

fn bits(a: &Array) -> Vec<u32> {
    a.to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

/// Both dequantisers, checked bit for bit against the golden and each other.
fn assert_dequant_exact(w: &Weight, golden_name: &str) {
    let want = golden(golden_name);
    let portable = w.dequantize(Dtype::F32).unwrap();
    let host = w.dequantize_host(Dtype::F32).unwrap();
    assert_eq!(portable.shape(), want.shape(), "{golden_name}");
    assert_eq!(host.shape(), want.shape(), "{golden_name}");
    let want = bits(&want);
    let diff = bits(&portable)
        .iter()
        .zip(&want)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        diff, 0,
        "{golden_name}: portable path differs in {diff} elements"
    );
    assert_eq!(bits(&host), want, "{golden_name}: host path");
}

#[test]
fn nf4_plain_and_nested_match_bitsandbytes_bit_for_bit() {
    let ckpt = Checkpoint::open(&repo("nf4")).unwrap();
    assert_eq!(ckpt.format(), CheckpointFormat::Nf4);
    let mut dit = ckpt.load_component(ComponentKind::Transformer).unwrap();

    let qkv = dit.take("layers.0.attention.qkv.weight").unwrap();
    assert_eq!(qkv.format(), WeightFormat::Nf4);
    assert_eq!(qkv.shape(), vec![288, 96]);
    let Weight::Nf4(ref q) = qkv else {
        panic!("nf4")
    };
    // Packed stays 4-bit: half a byte per weight, plus one f32 scale per 64.
    assert_eq!(q.packed().dtype(), Dtype::U8);
    assert_eq!(q.packed().size(), 288 * 96 / 2);
    assert_eq!(qkv.resident_bytes(), 288 * 96 / 2 + 288 * 96 / 64 * 4);
    assert_dequant_exact(&qkv, "dit_nf4.dequantized");

    // Its absmax and nested_absmax sit in different shards.
    let w2 = dit.take("layers.1.feed_forward.w2.weight").unwrap();
    let Weight::Nf4(ref n) = w2 else {
        panic!("nf4")
    };
    assert!(matches!(n.absmax(), Absmax::Nested { blocksize: 256, .. }));
    assert_dequant_exact(&w2, "dit_nf4_nested.dequantized");

    let mut te = ckpt.load_component(ComponentKind::TextEncoder).unwrap();
    let q = te
        .take("language_model.layers.0.self_attn.q_proj.weight")
        .unwrap();
    assert_dequant_exact(&q, "te_nf4_nested.dequantized");
}

#[test]
fn fp8_matches_the_reference_formula() {
    let ckpt = Checkpoint::open(&repo("fp8")).unwrap();
    assert_eq!(ckpt.format(), CheckpointFormat::Fp8);
    let mut dit = ckpt.load_component(ComponentKind::Transformer).unwrap();
    let dense = Checkpoint::open(&repo("bf16")).unwrap();
    let mut dense_dit = dense.load_component(ComponentKind::Transformer).unwrap();
    for key in ["final_layer.linear.weight", "layers.0.attention.qkv.weight"] {
        let w = dit.take(key).unwrap();
        let Weight::Fp8(ref f) = w else {
            panic!("{key} is {:?}", w.format())
        };
        assert_eq!(
            bits(&f.values_f32().unwrap()),
            bits(&golden(&format!("dit_fp8.{key}.e4m3_as_float")))
        );
        assert_dequant_exact(&w, &format!("dit_fp8.{key}.dequantized"));
        // The bf16 flavour holds the unquantised originals.
        let original = dense_dit
            .take_dense(key)
            .unwrap()
            .astype(Dtype::F32)
            .unwrap();
        assert_eq!(
            bits(&original),
            bits(&golden(&format!("dit_fp8.{key}.original_bf16")))
        );
    }
}

#[test]
fn host_and_portable_paths_agree_in_every_dtype_on_every_quantised_tensor() {
    for flavour in ["nf4", "fp8"] {
        let ckpt = Checkpoint::open(&repo(flavour)).unwrap();
        for kind in ComponentKind::ALL {
            let c = ckpt.load_component(kind).unwrap();
            for (name, w) in c.iter().filter(|(_, w)| w.is_quantized()) {
                for dtype in [Dtype::F32, Dtype::Bf16, Dtype::F16] {
                    let a = w.dequantize(dtype).unwrap().to_bytes().unwrap();
                    let b = w.dequantize_host(dtype).unwrap().to_bytes().unwrap();
                    assert!(a == b, "{flavour} {kind} {name} {dtype}");
                }
            }
        }
    }
}

#[test]
fn fp8_bf16_dequant_rounds_the_scale_first() {
    // The reference computes bf16(e4m3) * bf16(scale) in bf16; check one element by hand.
    let ckpt = Checkpoint::open(&repo("fp8")).unwrap();
    let mut dit = ckpt.load_component(ComponentKind::Transformer).unwrap();
    let Weight::Fp8(f) = dit.take("input_proj.weight").unwrap() else {
        panic!()
    };
    let codes = f.codes().to_vec::<u8>().unwrap();
    let scale = f.scale().to_vec::<f32>().unwrap();
    let got = f
        .dequantize(Dtype::Bf16)
        .unwrap()
        .to_vec::<half::bf16>()
        .unwrap();
    let cols = f.shape()[1];
    for (i, g) in got.iter().enumerate().step_by(37) {
        let v = ideogram4::weights::fp8::e4m3_to_f32(codes[i]);
        let s = half::bf16::from_f32(scale[i / cols]).to_f32();
        assert_eq!(
            g.to_bits(),
            half::bf16::from_f32(v * s).to_bits(),
            "element {i}"
        );
    }
}

#[test]
fn every_flavour_loads_every_component_with_the_expected_formats() {
    for (flavour, linear) in [
        ("bf16", WeightFormat::Bf16),
        ("nf4", WeightFormat::Nf4),
        ("fp8", WeightFormat::Fp8E4M3),
    ] {
        let ckpt = Checkpoint::open(&repo(flavour)).unwrap();
        for kind in [
            ComponentKind::Transformer,
            ComponentKind::UnconditionalTransformer,
        ] {
            let dit = ckpt.load_component(kind).unwrap();
            assert_eq!(dit.len(), 2 * 13 + 16, "{flavour} {kind}");
            let d = dit.dims().dit().unwrap();
            assert_eq!(
                (
                    d.emb_dim,
                    d.num_layers,
                    d.num_heads,
                    d.head_dim,
                    d.intermediate_size,
                    d.adaln_dim,
                    d.in_channels,
                    d.llm_features_dim
                ),
                (96, 2, 2, 48, 192, 32, 16, 416)
            );
            assert_eq!(
                (d.rope_theta, d.mrope_section, d.rope_from_config),
                (5e6, [10, 7, 7], true)
            );
            let linears = dit.iter().filter(|(_, w)| w.format() == linear).count();
            assert!(linears >= 19, "{flavour} {kind}: {linears} linears");
            for (name, w) in dit.iter() {
                let is_linear_weight = name.ends_with(".weight")
                    && !name.contains("norm")
                    && name != "embed_image_indicator.weight";
                let want = if is_linear_weight {
                    linear
                } else {
                    WeightFormat::Bf16
                };
                assert_eq!(w.format(), want, "{flavour} {kind} {name}");
            }
        }
        let te = ckpt.load_component(ComponentKind::TextEncoder).unwrap();
        let d = te.dims().text_encoder().unwrap();
        assert_eq!(
            (
                d.hidden_size,
                d.num_layers,
                d.num_heads,
                d.num_kv_heads,
                d.head_dim,
                d.vocab_size
            ),
            (32, 36, 4, 2, 16, 1152)
        );
        assert_eq!(
            (d.mrope_section.clone(), d.mrope_interleaved),
            (vec![4, 2, 2], true)
        );
        assert_eq!(te.len(), 1 + 36 * 11);
        assert!(te.names().all(|n| n.starts_with("language_model.")));
        assert!(te.skipped().any(|n| n.starts_with("visual.")));
        assert!(te.skipped().any(|n| n == "language_model.norm.weight"));
        let want_decl = match flavour {
            "nf4" => DeclaredQuant::BitsAndBytes4Bit,
            "fp8" => DeclaredQuant::Fp8WeightOnly,
            _ => DeclaredQuant::None,
        };
        assert_eq!(ckpt.plan(ComponentKind::TextEncoder).declared, want_decl);
        let q = te
            .get("language_model.layers.35.mlp.down_proj.weight")
            .unwrap();
        assert_eq!(q.format(), linear);
        assert_eq!(q.shape(), vec![32, 96]);

        let vae = ckpt.load_component(ComponentKind::Vae).unwrap();
        assert!(vae
            .names()
            .all(|n| !n.starts_with("encoder.") && !n.starts_with("quant_conv.")));
        assert!(vae.get("decoder.conv_in.weight").is_some());
        let v = vae.dims().vae().unwrap();
        assert_eq!(
            (v.z_channels, v.up_block_channels.clone(), v.out_channels),
            (4, vec![64, 32, 32, 32], 3)
        );
    }
}

#[test]
fn nf4_vision_tower_is_skipped_and_its_data_never_reaches_mlx() {
    let ckpt = Checkpoint::open(&repo("nf4")).unwrap();
    let plan = ckpt.plan(ComponentKind::TextEncoder);
    let visual_bytes: u64 = plan
        .tensors()
        .iter()
        .filter(|t| !t.kept)
        .map(|t| t.stored_bytes)
        .sum();
    assert!(visual_bytes > 50_000, "{visual_bytes}");
    let before = mlx::memory::active();
    let te = ckpt.load_component(ComponentKind::TextEncoder).unwrap();
    let grew = mlx::memory::active() - before;
    let kept = te.resident_bytes();
    let expected: u64 = plan
        .tensors()
        .iter()
        .filter(|t| t.kept)
        .map(|t| t.stored_bytes)
        .sum();
    assert_eq!(kept as u64, expected);
    // MLX may round allocations up, but never by anything near the skipped tower.
    assert!(
        grew >= kept && grew < kept + visual_bytes as usize / 2,
        "grew {grew}, kept {kept}"
    );
}

#[test]
fn take_and_take_dense_explain_failures() {
    let ckpt = Checkpoint::open(&repo("nf4")).unwrap();
    let mut te = ckpt.load_component(ComponentKind::TextEncoder).unwrap();
    let err = te
        .take("visual.merger.linear_fc1.weight")
        .unwrap_err()
        .to_string();
    assert!(err.contains("skipped"), "{err}");
    let err = te
        .take_dense("language_model.layers.0.mlp.up_proj.weight")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected a dense tensor") && err.contains("nf4"),
        "{err}"
    );
    let err = te
        .take("language_model.layers.0.mlp.up_proj.weight")
        .unwrap_err()
        .to_string();
    assert!(err.contains("already taken"), "{err}");
    let err = te.take("no.such.tensor").unwrap_err().to_string();
    assert!(
        err.contains("no.such.tensor") && err.contains("text_encoder"),
        "{err}"
    );
    let emb = te.take_dense("language_model.embed_tokens.weight").unwrap();
    assert_eq!((emb.shape(), emb.dtype()), (vec![1152, 32], Dtype::Bf16));
}

/// Reading chosen rows of the embedding table gives those rows of the whole table (order and
/// repeats kept); bad requests name the tensor and file.
#[test]
fn read_rows_returns_exactly_the_requested_rows() {
    let ckpt = Checkpoint::open(&repo("nf4")).unwrap();
    let plan = ckpt.plan(ComponentKind::TextEncoder);
    let name = "language_model.embed_tokens.weight";
    let whole = ckpt
        .load_component(ComponentKind::TextEncoder)
        .unwrap()
        .take_dense(name)
        .unwrap();
    let rows = [5usize, 0, 1151, 5, 17];
    let ours = plan.read_rows(name, &rows).unwrap();
    assert_eq!((ours.shape(), ours.dtype()), (vec![5, 32], Dtype::Bf16));
    let idx = Array::from_slice(&rows.map(|r| r as i32), &[5]).unwrap();
    let want = whole.take(&idx, Some(0)).unwrap();
    let f32s = |a: &Array| bits(&a.astype(Dtype::F32).unwrap());
    assert_eq!(f32s(&ours), f32s(&want));
    assert_eq!(plan.shape_of(name), Some(vec![1152, 32]));

    let err = plan.read_rows(name, &[1152]).unwrap_err().to_string();
    assert!(err.contains("row 1152") && err.contains(name), "{err}");
    let err = plan
        .read_rows("language_model.layers.0.mlp.up_proj.weight", &[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("dense") && err.contains("nf4"), "{err}");
    let err = plan
        .read_rows("no.such.tensor", &[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no.such.tensor"), "{err}");
}

#[test]
fn resident_estimate_matches_what_loading_allocates() {
    for flavour in ["bf16", "nf4", "fp8"] {
        let ckpt = Checkpoint::open(&repo(flavour)).unwrap();
        let loaded: usize = ComponentKind::ALL
            .iter()
            .map(|k| ckpt.load_component(*k).unwrap().resident_bytes())
            .sum();
        assert_eq!(loaded as u64, ckpt.resident_bytes_estimate(), "{flavour}");
    }
}

/// The generation working set counts what the pipeline really holds: the text encoder whole
/// only when kept, else its largest layer (what a streamed encode loads at once), and not the
/// unconditional DiT's unread text projection.
#[test]
fn working_set_estimate_matches_what_the_pipeline_loads() {
    for flavour in ["bf16", "nf4", "fp8"] {
        let ckpt = Checkpoint::open(&repo(flavour)).unwrap();
        let load = |kind| ckpt.load_component(kind).unwrap().resident_bytes() as u64;
        let uncond = ckpt
            .load_component_filtered(ComponentKind::UnconditionalTransformer, &|n| {
                !n.starts_with("llm_cond_")
            })
            .unwrap()
            .resident_bytes() as u64;
        let base = load(ComponentKind::Transformer) + uncond + load(ComponentKind::Vae);
        let plan = ckpt.plan(ComponentKind::TextEncoder);
        let largest_layer = (0..36)
            .map(|i| {
                let prefix = format!("language_model.layers.{i}.");
                plan.load_filtered(&|n| n.starts_with(&prefix))
                    .unwrap()
                    .resident_bytes() as u64
            })
            .max()
            .unwrap();
        assert!(largest_layer > 0, "{flavour}");
        assert_eq!(
            ckpt.working_set_estimate(true),
            base + load(ComponentKind::TextEncoder),
            "{flavour}"
        );
        assert_eq!(
            ckpt.working_set_estimate(false),
            base + largest_layer,
            "{flavour}"
        );
    }
}

/// Moves tensor `name` (header entry and data) from one safetensors file to another.
fn move_tensor(from: &Path, to: &Path, name: &str) {
    fn split(bytes: &[u8]) -> (serde_json::Map<String, serde_json::Value>, Vec<u8>) {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let h: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        (h.as_object().unwrap().clone(), bytes[8 + n..].to_vec())
    }
    fn join(h: serde_json::Map<String, serde_json::Value>, data: &[u8]) -> Vec<u8> {
        let json = serde_json::to_vec(&serde_json::Value::Object(h)).unwrap();
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&json);
        out.extend_from_slice(data);
        out
    }
    let (mut hf, df) = split(&std::fs::read(from).unwrap());
    let (mut ht, mut dt) = split(&std::fs::read(to).unwrap());
    let mut entry = hf.remove(name).unwrap();
    let off = &entry["data_offsets"];
    let (b, e) = (
        off[0].as_u64().unwrap() as usize,
        off[1].as_u64().unwrap() as usize,
    );
    let start = dt.len();
    dt.extend_from_slice(&df[b..e]);
    entry["data_offsets"] = serde_json::json!([start, start + (e - b)]);
    ht.insert(name.to_string(), entry);
    std::fs::write(from, join(hf, &df)).unwrap();
    std::fs::write(to, join(ht, &dt)).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn nf4_siblings_split_across_shards_resolve_after_merging() {
    // save_torch_state_dict splits by size, so a weight's siblings may land in different
    // shards; spread the nested tensor's five parts over both shards.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("nf4");
    copy_dir(&repo("nf4"), &root);
    let t = root.join("transformer");
    let s1 = t.join("diffusion_pytorch_model-00001-of-00002.safetensors");
    let s2 = t.join("diffusion_pytorch_model-00002-of-00002.safetensors");
    let index = t.join("diffusion_pytorch_model.safetensors.index.json");
    let mut idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    for suffix in [".nested_absmax", ".quant_state.bitsandbytes__nf4", ""] {
        let name = format!("layers.1.feed_forward.w2.weight{suffix}");
        move_tensor(&s2, &s1, &name);
        idx["weight_map"][name.as_str()] =
            "diffusion_pytorch_model-00001-of-00002.safetensors".into();
    }
    std::fs::write(&index, serde_json::to_vec(&idx).unwrap()).unwrap();

    let ckpt = Checkpoint::open(&root).unwrap();
    let mut dit = ckpt.load_component(ComponentKind::Transformer).unwrap();
    let origin = dit
        .origin("layers.1.feed_forward.w2.weight")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(origin.ends_with("00001-of-00002.safetensors"), "{origin}");
    let w2 = dit.take("layers.1.feed_forward.w2.weight").unwrap();
    assert_dequant_exact(&w2, "dit_nf4_nested.dequantized");
}
