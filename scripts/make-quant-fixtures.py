#!/usr/bin/env python3
"""Writes the GGUF and MLX-affine test fixtures under tests/fixtures/quant/ from the tiny bf16
repo, with the independent reference tools: gguf-py (`gguf` on PyPI: GGUFWriter,
gguf.quants.quantize/dequantize) and MLX's Python package (mx.quantize / mx.dequantize).

Run by hand (CI never runs it; its outputs are committed):

    python3 -m venv /tmp/quant-venv
    /tmp/quant-venv/bin/pip install gguf==0.19.0 numpy safetensors "mlx[cpu]==0.32.4"
    /tmp/quant-venv/bin/python scripts/make-quant-fixtures.py

Outputs (all deterministic for a given seed and package versions):

* gguf_blocks.safetensors: per GGML type T, `T.bytes` (U8 [rows, row bytes], the stored
  blocks) and `T.values` (F32 [rows, cols], gguf.quants.dequantize of those bytes). Types that
  gguf-py quantises are quantised from random normals; the K-quants, which gguf-py can only
  decode, get random valid blocks (finite fp16 scales, any quant bits).
* tiny-gguf/: the tiny conditional and unconditional DiT as GGUF files, named the way the
  community files are (leejet `ideogram4-T.gguf` / `ideogram4_uncond-T.gguf`, molbal
  `ideogram4-transformer-T.gguf` / `ideogram4-unconditional_transformer-T.gguf`), plus one
  combined file with branch prefixes. Like leejet's files, only the per-block 2-D linears are
  quantised; everything else is BF16. The tiny model's rows (16..416 values) are not multiples
  of 256, so there are no K-quant DiT files: K types are covered by the block goldens.
* tiny-mlx-q8/, tiny-mlx-q4/: the split_model.json layout (mlx-forge) with
  quantize_config.json group_size 32 (the tiny rows are not multiples of 64; the loader reads
  the group size from the shapes anyway). The VAE is not quantised (skip_components) and, to
  keep the fixture small, its unused encoder half is left out.
* tiny-mlx-q4-folders/: the per-component-folder layout of an mflux save (shards
  `0.safetensors` + `model.safetensors.index.json` with `quantization_level`), group size 32.
* affine_goldens.safetensors: per bits b in (4, 8): `qb.weight/scales/biases` of one bf16
  matrix and `qb.values` = mx.dequantize of them (F32).
"""

import json
import shutil
from pathlib import Path

import gguf
import mlx.core as mx
import numpy as np
from gguf.quants import dequantize, quantize
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "tests/fixtures/tiny-ideogram4-bf16"
OUT = ROOT / "tests/fixtures/quant"
T = gguf.GGMLQuantizationType
RNG = np.random.default_rng(20261205)


def read_safetensors(path: Path) -> dict:
    """Float tensors of a safetensors file as float32 (bf16 widened exactly; safetensors'
    numpy loader has no bf16)."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        buf = np.frombuffer(data[b:e], dtype=np.uint8)
        if info["dtype"] == "BF16":
            v = bf16_to_f32(buf.view(np.uint16))
        elif info["dtype"] == "F32":
            v = buf.view(np.float32).copy()
        elif info["dtype"] == "F16":
            v = buf.view(np.float16).astype(np.float32)
        else:
            continue
        out[name] = v.reshape(info["shape"])
    return out


def load_component(folder: Path) -> dict:
    """All float tensors of a component folder as float32 numpy arrays."""
    tensors = {}
    for f in sorted(folder.glob("*.safetensors")):
        tensors.update(read_safetensors(f))
    return tensors


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 → bf16 bit patterns (round to nearest even), uint16."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = b + 0x7FFF + ((b >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def random_k_blocks(qtype, rows: int, cols: int) -> np.ndarray:
    """Random but valid K-quant blocks: every byte random, fp16 scale fields set to finite
    values of realistic size."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * cols // block
    raw = RNG.integers(0, 256, size=(n, size), dtype=np.uint8)

    def f16(lo, hi):
        return RNG.uniform(lo, hi, size=n).astype(np.float16).view(np.uint8).reshape(n, 2)

    if qtype in (T.Q4_K, T.Q5_K):
        raw[:, 0:2] = f16(1e-4, 2e-3)  # d
        raw[:, 2:4] = f16(1e-4, 2e-3)  # dmin
    elif qtype == T.Q6_K:
        raw[:, 208:210] = f16(1e-4, 2e-3)  # d (last field)
    else:
        raise ValueError(qtype)
    return raw.reshape(rows, cols // block * size)


def block_goldens():
    rows, cols = 3, 512
    out = {}
    for name in ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]:
        qtype = T[name]
        if name in ("Q4_K", "Q5_K", "Q6_K"):
            raw = random_k_blocks(qtype, rows, cols)
        else:
            x = (RNG.standard_normal((rows, cols)) * 0.05).astype(np.float32)
            raw = quantize(x, qtype)
            if raw.dtype != np.uint8:
                raw = raw.view(np.uint8).reshape(rows, -1)
        values = dequantize(raw, qtype).astype(np.float32)
        assert values.shape == (rows, cols), (name, values.shape)
        out[f"{name}.bytes"] = np.ascontiguousarray(raw)
        out[f"{name}.values"] = values
    save_file(out, str(OUT / "gguf_blocks.safetensors"), metadata={"gguf": "0.19.0"})


def is_block_linear(name: str, w: np.ndarray) -> bool:
    return name.startswith("layers.") and name.endswith(".weight") and w.ndim == 2


def add_gguf_tensor(writer, name: str, w: np.ndarray, qtype):
    if qtype == T.F32:
        writer.add_tensor(name, np.ascontiguousarray(w, dtype=np.float32))
    elif qtype == T.F16:
        writer.add_tensor(name, w.astype(np.float16))
    else:
        writer.add_tensor(name, quantize(w, qtype), raw_dtype=qtype)


def write_gguf(path: Path, branches: list[tuple[str, dict]], qtype):
    writer = gguf.GGUFWriter(str(path), arch="ideogram4")
    for prefix, tensors in branches:
        for name, w in tensors.items():
            if qtype in (T.F16, T.F32):
                t = qtype
            elif is_block_linear(name, w) and w.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0] == 0:
                t = qtype
            else:
                t = T.BF16
            add_gguf_tensor(writer, prefix + name, w, t)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def gguf_dits(cond: dict, uncond: dict):
    d = OUT / "tiny-gguf"
    d.mkdir(parents=True, exist_ok=True)
    for name in ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0"]:
        write_gguf(d / f"ideogram4-{name}.gguf", [("", cond)], T[name])
        write_gguf(d / f"ideogram4_uncond-{name}.gguf", [("", uncond)], T[name])
    write_gguf(d / "ideogram4-transformer-Q5_1.gguf", [("", cond)], T.Q5_1)
    write_gguf(d / "ideogram4-unconditional_transformer-Q5_1.gguf", [("", uncond)], T.Q5_1)
    write_gguf(
        d / "ideogram4-both-Q8_0.gguf",
        [("transformer.", cond), ("unconditional_transformer.", uncond)],
        T.Q8_0,
    )


def mx_quantize(w: np.ndarray, bits: int, group: int):
    """mx.quantize of the bf16 weight (scales and biases come back bf16, as mlx-forge's do)."""
    a = mx.array(w).astype(mx.bfloat16)
    q, s, b = mx.quantize(a, group_size=group, bits=bits)
    return np.array(q), np.array(s.astype(mx.float32)), np.array(b.astype(mx.float32))


def affine_entries(name: str, w: np.ndarray, bits: int, group: int, quantise: bool) -> dict:
    """`name` (a `.weight`) as stored by the MLX writers; values are float32 here and become
    bf16 when saved."""
    if quantise:
        base = name[: -len(".weight")]
        q, s, b = mx_quantize(w, bits, group)
        return {f"{base}.weight": q, f"{base}.scales": s, f"{base}.biases": b}
    return {name: w}


def save_bf16(path: Path, tensors: dict, metadata=None):
    """Writes float tensors as BF16 and integer tensors as they are. safetensors.numpy has no
    bf16, so the header is written by hand."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        v = np.ascontiguousarray(tensors[name])
        if v.dtype == np.float32:
            data, dtype = bf16_bits(v).tobytes(), "BF16"
        elif v.dtype == np.uint32:
            data, dtype = v.tobytes(), "U32"
        else:
            raise ValueError((name, v.dtype))
        header[name] = {"dtype": dtype, "shape": list(v.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)


def quantisable(name: str, w: np.ndarray, group: int, component: str) -> bool:
    if w.ndim != 2 or not name.endswith(".weight") or w.shape[-1] % group != 0:
        return False
    if component.endswith("transformer") and name == "embed_image_indicator.weight":
        return False
    if component == "text_encoder" and name == "embed_tokens.weight":
        return False
    return True


def mlx_components(bits: int, group: int, quantise_vae: bool):
    """The four components as the MLX writers store them: DiT keys as official, text-encoder
    keys without `language_model.` and without the vision tower, VAE decoder only."""
    comps = {
        "conditional_transformer": load_component(SRC / "transformer"),
        "unconditional_transformer": load_component(SRC / "unconditional_transformer"),
        "text_encoder": {
            k[len("language_model.") :]: v
            for k, v in load_component(SRC / "text_encoder").items()
            if k.startswith("language_model.") and not k.startswith("language_model.norm.")
        },
        "vae": {
            k: v
            for k, v in load_component(SRC / "vae").items()
            if not (k.startswith("encoder.") or k.startswith("quant_conv."))
        },
    }
    out = {}
    for comp, tensors in comps.items():
        stored = {}
        for name, w in tensors.items():
            w = bf16_to_f32(bf16_bits(w))
            q = quantisable(name, w, group, comp) and (comp != "vae" or quantise_vae)
            stored.update(affine_entries(name, w, bits, group, q))
        out[comp] = stored
    return out


def copy_tokenizer(dst: Path):
    shutil.copytree(SRC / "tokenizer", dst / "tokenizer", dirs_exist_ok=True)


def mlx_split(bits: int, group: int):
    d = OUT / f"tiny-mlx-q{bits}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    comps = mlx_components(bits, group, quantise_vae=False)
    names = list(comps)
    for comp, tensors in comps.items():
        save_bf16(d / f"{comp}.safetensors", {f"{comp}.{k}": v for k, v in tensors.items()})
    configs = {
        "conditional_transformer": SRC / "transformer/config.json",
        "unconditional_transformer": SRC / "unconditional_transformer/config.json",
        "text_encoder": SRC / "text_encoder/config.json",
        "vae": SRC / "vae/config.json",
    }
    for comp, src in configs.items():
        shutil.copy(src, d / f"{comp}_config.json")
    (d / "config.json").write_text(json.dumps({"model_type": "ideogram4", "components": names, "source": "tiny-ideogram4-bf16"}, indent=2))
    (d / "split_model.json").write_text(json.dumps({"format": "split", "components": names, "source": "tiny-ideogram4-bf16", "quantized": True, "quantization_bits": bits}, indent=2))
    (d / "quantize_config.json").write_text(json.dumps({"quantization": {"bits": bits, "group_size": group, "skip_components": ["vae"]}}, indent=2))
    (d / "model_index.json").write_text(json.dumps({"_class_name": "Ideogram4Pipeline"}, indent=2))
    copy_tokenizer(d)


def mlx_folders(bits: int, group: int):
    d = OUT / f"tiny-mlx-q{bits}-folders"
    if d.exists():
        shutil.rmtree(d)
    comps = mlx_components(bits, group, quantise_vae=True)
    folder = {
        "conditional_transformer": "transformer",
        "unconditional_transformer": "unconditional_transformer",
        "text_encoder": "text_encoder",
        "vae": "vae",
    }
    meta = {"quantization_level": str(bits), "mflux_version": "0.24.0"}
    for comp, tensors in comps.items():
        sub = d / folder[comp]
        sub.mkdir(parents=True)
        save_bf16(sub / "0.safetensors", tensors, metadata=meta)
        index = {"metadata": meta, "weight_map": {k: "0.safetensors" for k in sorted(tensors)}}
        (sub / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        shutil.copy(SRC / folder[comp] / "config.json", sub / "config.json")
    copy_tokenizer(d)


def affine_goldens():
    out = {}
    w = bf16_to_f32(bf16_bits((RNG.standard_normal((6, 128)) * 0.05).astype(np.float32)))
    for bits in (4, 8):
        for group in (32, 64):
            a = mx.array(w).astype(mx.bfloat16)
            q, s, b = mx.quantize(a, group_size=group, bits=bits)
            v = mx.dequantize(q, s, b, group_size=group, bits=bits)
            k = f"q{bits}g{group}"
            out[f"{k}.weight"] = np.array(q)
            out[f"{k}.scales"] = np.array(s.astype(mx.float32))
            out[f"{k}.biases"] = np.array(b.astype(mx.float32))
            out[f"{k}.values"] = np.array(v.astype(mx.float32))
    # scales/biases are exact bf16 values widened to float32; values are MLX's bf16 output.
    save_file(out, str(OUT / "affine_goldens.safetensors"), metadata={"mlx": mx.__version__})


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    block_goldens()
    cond = load_component(SRC / "transformer")
    uncond = load_component(SRC / "unconditional_transformer")
    gguf_dits(cond, uncond)
    mlx_split(8, 32)
    mlx_split(4, 32)
    mlx_folders(4, 32)
    affine_goldens()
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"{p.stat().st_size:>9} {p.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
