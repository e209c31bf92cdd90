//! Damaged and foreign checkpoints: each must give one typed error that names the file, the
//! tensor where there is one, and what was expected — never a panic, never a half-load.
//! Every case starts from a copy of a tiny fixture repo and breaks one thing.

use std::path::{Path, PathBuf};

use ideogram4::weights::{Checkpoint, ComponentKind, WeightsError};
use serde_json::{Map, Value};

fn fixture(flavour: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/tiny-ideogram4-{flavour}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A writable copy of a fixture repo.
fn repo(flavour: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join(flavour);
    copy_dir(&fixture(flavour), &root);
    (tmp, root)
}

fn split(bytes: &[u8]) -> (Map<String, Value>, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header.as_object().unwrap().clone(), bytes[8 + n..].to_vec())
}

/// Rewrites a safetensors header in place (offsets are relative to the data section, so
/// the data bytes stay valid).
fn edit_header(path: &Path, f: impl FnOnce(&mut Map<String, Value>)) {
    let bytes = std::fs::read(path).unwrap();
    let (mut header, data) = split(&bytes);
    f(&mut header);
    let json = serde_json::to_vec(&Value::Object(header)).unwrap();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

fn edit_json(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

const NF4_SHARD1: &str = "transformer/diffusion_pytorch_model-00001-of-00002.safetensors";
const NF4_SHARD2: &str = "transformer/diffusion_pytorch_model-00002-of-00002.safetensors";
const NF4_INDEX: &str = "transformer/diffusion_pytorch_model.safetensors.index.json";

/// Opens, expecting an error; checks it names `file` (suffix) and contains every fragment.
fn open_err(root: &Path, file: &str, fragments: &[&str]) -> WeightsError {
    let err = Checkpoint::open(root).expect_err("a broken checkpoint must not open");
    let msg = err.to_string();
    assert!(
        err.path().ends_with(file),
        "error names {} instead of {file}: {msg}",
        err.path().display()
    );
    for f in fragments {
        assert!(msg.contains(f), "{msg:?} lacks {f:?}");
    }
    err
}

#[test]
fn missing_component_file_and_missing_shard() {
    let (_t, root) = repo("nf4");
    std::fs::remove_file(root.join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    let e = open_err(
        &root,
        "vae/diffusion_pytorch_model.safetensors",
        &["missing file", "vae weights"],
    );
    assert!(matches!(e, WeightsError::MissingFile { .. }));

    let (_t, root) = repo("nf4");
    std::fs::remove_file(
        root.join("transformer/diffusion_pytorch_model-00002-of-00002.safetensors"),
    )
    .unwrap();
    open_err(
        &root,
        "diffusion_pytorch_model-00002-of-00002.safetensors",
        &["shard listed in", "index.json"],
    );

    let (_t, root) = repo("bf16");
    std::fs::remove_file(root.join("tokenizer/tokenizer.json")).unwrap();
    open_err(&root, "tokenizer/tokenizer.json", &["missing file"]);

    let (_t, root) = repo("bf16");
    std::fs::remove_file(root.join("text_encoder/config.json")).unwrap();
    open_err(&root, "text_encoder/config.json", &["Qwen3-VL config"]);
}

#[test]
fn truncated_file_and_corrupt_headers() {
    let (_t, root) = repo("nf4");
    let shard = root.join(NF4_SHARD1);
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 1000]).unwrap();
    let e = open_err(
        &root,
        NF4_SHARD1,
        &["corrupt safetensors", "truncated", "data_offsets"],
    );
    assert!(
        e.tensor_name().is_some(),
        "names the tensor whose data is cut: {e}"
    );

    std::fs::write(&shard, &bytes[..5]).unwrap();
    open_err(&root, NF4_SHARD1, &["8-byte", "5 bytes"]);

    let mut garbage = bytes.clone();
    garbage[8..20].copy_from_slice(b"{\"oops\": [1,");
    std::fs::write(&shard, &garbage).unwrap();
    open_err(&root, NF4_SHARD1, &["invalid JSON"]);

    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&shard, &huge).unwrap();
    open_err(&root, NF4_SHARD1, &["header length"]);

    std::fs::write(&shard, &bytes).unwrap();
    edit_header(&shard, |h| {
        h["input_proj.bias"]["data_offsets"] = serde_json::json!([0, 4]);
    });
    open_err(&root, NF4_SHARD1, &["input_proj.bias", "192 bytes"]);
}

#[test]
fn wrong_shape_and_wrong_dtype() {
    let (_t, root) = repo("bf16");
    let uncond = "unconditional_transformer/diffusion_pytorch_model.safetensors";
    edit_header(&root.join(uncond), |h| {
        h["layers.1.ffn_norm2.weight"]["shape"] = serde_json::json!([48, 2]);
    });
    let e = open_err(
        &root,
        uncond,
        &[
            "layers.1.ffn_norm2.weight",
            "expected shape [96]",
            "found shape [48, 2]",
        ],
    );
    assert!(matches!(e, WeightsError::Tensor { .. }));

    let (_t, root) = repo("bf16");
    edit_header(&root.join(uncond), |h| {
        h["layers.0.attention.norm_k.weight"]["dtype"] = "I16".into();
    });
    open_err(
        &root,
        uncond,
        &["layers.0.attention.norm_k.weight", "floating-point", "I16"],
    );

    // A quantised sibling with the wrong dtype.
    let (_t, root) = repo("nf4");
    edit_header(&root.join(NF4_SHARD1), |h| {
        h["input_proj.weight.absmax"]["dtype"] = "I32".into();
    });
    open_err(
        &root,
        NF4_SHARD1,
        &["input_proj.weight.absmax", "F32 with 24 elements", "I32"],
    );

    // A quant state that disagrees with its packed data.
    let (_t, root) = repo("nf4");
    let te = root.join("text_encoder/model.safetensors");
    edit_header(&te, |h| {
        // Same bytes, half the elements: the packed data no longer fits the quant state.
        h["language_model.layers.3.mlp.up_proj.weight"]["dtype"] = "U16".into();
        h["language_model.layers.3.mlp.up_proj.weight"]["shape"] = serde_json::json!([768, 1]);
    });
    open_err(
        &root,
        "text_encoder/model.safetensors",
        &[
            "language_model.layers.3.mlp.up_proj.weight",
            "1536 elements",
        ],
    );
}

#[test]
fn missing_siblings_are_named() {
    // Nested absmax of the double-quantised DiT tensor.
    let (_t, root) = repo("nf4");
    let key = "layers.1.feed_forward.w2.weight.nested_absmax";
    edit_header(&root.join(NF4_SHARD2), |h| {
        h.remove(key).unwrap();
    });
    edit_json(&root.join(NF4_INDEX), |v| {
        v["weight_map"].as_object_mut().unwrap().remove(key);
    });
    let e = open_err(
        &root,
        "diffusion_pytorch_model-00002-of-00002.safetensors",
        &[key, "nested absmax", "no such tensor"],
    );
    assert_eq!(e.tensor_name(), Some(key));

    // The quant state itself: the absmax is then an orphan.
    let (_t, root) = repo("nf4");
    let te = root.join("text_encoder/model.safetensors");
    edit_header(&te, |h| {
        h.remove("language_model.layers.7.self_attn.o_proj.weight.quant_state.bitsandbytes__nf4")
            .unwrap();
    });
    open_err(
        &root,
        "text_encoder/model.safetensors",
        &["o_proj.weight.quant_state.bitsandbytes__nf4", "belongs to"],
    );

    // FP8 without its scale.
    let (_t, root) = repo("fp8");
    edit_header(
        &root.join("unconditional_transformer/diffusion_pytorch_model.safetensors"),
        |h| {
            h.remove("layers.0.attention.o.weight_scale").unwrap();
        },
    );
    open_err(
        &root,
        "unconditional_transformer/diffusion_pytorch_model.safetensors",
        &["layers.0.attention.o.weight_scale", "per-row scale"],
    );

    // A required plain tensor.
    let (_t, root) = repo("bf16");
    edit_header(
        &root.join("unconditional_transformer/diffusion_pytorch_model.safetensors"),
        |h| {
            h.remove("final_layer.linear.bias").unwrap();
        },
    );
    let e = open_err(
        &root,
        "unconditional_transformer/diffusion_pytorch_model.safetensors",
        &["final_layer.linear.bias", "[16]"],
    );
    assert!(matches!(e, WeightsError::MissingTensor { .. }));
}

#[test]
fn unknown_and_unsupported_formats() {
    let (_t, root) = repo("nf4");
    let te = root.join("text_encoder/model.safetensors");
    edit_header(&te, |h| {
        let v = h
            .remove("language_model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4")
            .unwrap();
        h.insert(
            "language_model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__fp4".into(),
            v,
        );
    });
    let e = open_err(
        &root,
        "text_encoder/model.safetensors",
        &["unsupported format", "FP4"],
    );
    assert!(matches!(e, WeightsError::UnsupportedFormat { .. }));

    let (_t, root) = repo("bf16");
    edit_header(
        &root.join("unconditional_transformer/diffusion_pytorch_model.safetensors"),
        |h| {
            h["layers.0.attention.norm_k.weight"]["dtype"] = "Q4_K".into();
        },
    );
    open_err(
        &root,
        "unconditional_transformer/diffusion_pytorch_model.safetensors",
        &["layers.0.attention.norm_k.weight", "Q4_K"],
    );

    let (_t, root) = repo("bf16");
    edit_header(
        &root.join("unconditional_transformer/diffusion_pytorch_model.safetensors"),
        |h| {
            h["layers.0.attention.norm_k.weight"]["dtype"] = "F16".into();
            let mut e5m2 = h["layers.0.adaln_modulation.bias"].clone();
            e5m2["dtype"] = "F8_E5M2".into();
            e5m2["shape"] = serde_json::json!([768]);
            h.insert("layers.0.adaln_modulation.bias".into(), e5m2);
        },
    );
    open_err(
        &root,
        "unconditional_transformer/diffusion_pytorch_model.safetensors",
        &["e5m2"],
    );

    // mflux-style MLX affine quantisation.
    let (_t, root) = repo("bf16");
    edit_header(
        &root.join("unconditional_transformer/diffusion_pytorch_model.safetensors"),
        |h| {
            let b = h.remove("input_proj.bias").unwrap();
            h.insert("input_proj.scales".into(), b.clone());
            let n = h.remove("llm_cond_proj.bias").unwrap();
            h.insert("input_proj.biases".into(), n);
        },
    );
    open_err(
        &root,
        "unconditional_transformer/diffusion_pytorch_model.safetensors",
        &["MLX affine"],
    );

    // GGUF and split_model.json folders.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("ideogram-4-Q4_K.gguf"), b"GGUF").unwrap();
    let e = Checkpoint::open(tmp.path()).unwrap_err();
    assert!(
        matches!(e, WeightsError::UnsupportedFormat { .. }) && e.to_string().contains("GGUF"),
        "{e}"
    );
    std::fs::write(tmp.path().join("split_model.json"), b"{}").unwrap();
    assert!(Checkpoint::open(tmp.path())
        .unwrap_err()
        .to_string()
        .contains("split_model.json"));
}

#[test]
fn text_encoder_config_must_match_its_weights() {
    let (_t, root) = repo("nf4");
    edit_json(&root.join("text_encoder/config.json"), |v| {
        v["ideogram_fp8_weight_only"] = true.into();
    });
    let e = open_err(
        &root,
        "text_encoder/config.json",
        &["ideogram_fp8_weight_only", "is NF4"],
    );
    assert!(matches!(e, WeightsError::Config { .. }));

    let (_t, root) = repo("bf16");
    edit_json(&root.join("text_encoder/config.json"), |v| {
        v["text_config"]["num_key_value_heads"] = 4.into();
    });
    open_err(
        &root,
        "text_encoder/config.json",
        &["num_key_value_heads", "= 2"],
    );

    let (_t, root) = repo("nf4");
    edit_json(&root.join("text_encoder/config.json"), |v| {
        v["quantization_config"]["load_in_4bit"] = false.into();
        v["quantization_config"]["load_in_8bit"] = true.into();
    });
    open_err(
        &root,
        "text_encoder/config.json",
        &["unsupported format", "load_in_4bit: false"],
    );

    let (_t, root) = repo("fp8");
    std::fs::write(root.join("transformer/config.json"), b"{ not json").unwrap();
    open_err(
        &root,
        "transformer/config.json",
        &["bad config", "invalid JSON"],
    );
}

#[test]
fn index_problems() {
    let (_t, root) = repo("nf4");
    edit_json(&root.join(NF4_INDEX), |v| {
        v["weight_map"]["input_proj.bias"] = "../../etc/passwd".into();
    });
    open_err(
        &root,
        NF4_INDEX,
        &["bad shard index", "relative to the component folder"],
    );

    let (_t, root) = repo("nf4");
    edit_json(&root.join(NF4_INDEX), |v| {
        v["weight_map"]["input_proj.bias"] =
            "diffusion_pytorch_model-00002-of-00002.safetensors".into();
    });
    open_err(&root, NF4_INDEX, &["input_proj.bias", "00001-of-00002"]);

    // The same tensor in two shards.
    let (_t, root) = repo("nf4");
    // Zero-sized, so it overlaps nothing and only the duplicate name is wrong.
    let bias = serde_json::json!({"dtype": "BF16", "shape": [0], "data_offsets": [0, 0]});
    let shard2 = root.join(NF4_SHARD2);
    edit_header(&shard2, |h| {
        h.insert("input_proj.bias".into(), bias);
    });
    let e = open_err(&root, NF4_INDEX, &["exactly one shard"]);
    assert!(matches!(e, WeightsError::Index { .. }));
}

#[test]
fn not_a_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Checkpoint::open(tmp.path()).unwrap_err();
    assert!(matches!(e, WeightsError::NotACheckpoint { .. }), "{e}");
    assert!(e.to_string().contains("transformer/"), "{e}");
    let file = tmp.path().join("x.safetensors");
    std::fs::write(&file, b"12345678").unwrap();
    assert!(matches!(
        Checkpoint::open(&file).unwrap_err(),
        WeightsError::NotACheckpoint { .. }
    ));
    assert!(matches!(
        Checkpoint::open(&tmp.path().join("nope")).unwrap_err(),
        WeightsError::MissingFile { .. }
    ));
    // A component folder without weights.
    let (_t, root) = repo("bf16");
    std::fs::remove_file(
        root.join("unconditional_transformer/diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    std::fs::write(
        root.join("unconditional_transformer/pytorch_model.bin"),
        b"pickle",
    )
    .unwrap();
    open_err(
        &root,
        "unconditional_transformer/pytorch_model.bin",
        &["pickle"],
    );
}

#[test]
fn a_file_shrinking_after_open_fails_the_load_cleanly() {
    let (_t, root) = repo("nf4");
    let ckpt = Checkpoint::open(&root).unwrap();
    let file = root.join("unconditional_transformer/diffusion_pytorch_model.safetensors");
    let bytes = std::fs::read(&file).unwrap();
    // Truncate in place (same inode, which the open plan still holds).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(bytes.len() as u64 / 2)
        .unwrap();
    let e = ckpt
        .load_component(ComponentKind::UnconditionalTransformer)
        .unwrap_err();
    assert!(e.to_string().contains("end of file"), "{e}");
    assert!(e.tensor_name().is_some());
    // Other components are unaffected.
    assert!(ckpt.load_component(ComponentKind::Transformer).is_ok());
}
