"""Synthetic Hugging Face checkpoints: the file format, the cache, and (with torch) transformers
loading every family with nothing missing and nothing left over."""

import importlib.util
import json
import struct

import numpy as np
import pytest

from contract.errors import ModelError
from models.catalog import get_model
from models.hf_config import architecture_from_config, read_model_dir
from models.hf_format import hf_config, hf_tensors
from models.synthetic_hf import WEIGHTS, _to_dtype, materialize_hf, read_header, weights_bytes
from models.vocab import FIRST_TEXT_ID
from tests.backends.engine_helpers import FAMILIES, require, tiny_spec


@pytest.mark.parametrize("family", FAMILIES)
def test_config_reads_back_as_the_same_architecture(family):
    arch = tiny_spec(family).architecture
    assert architecture_from_config(hf_config(arch, "bf16")) == arch


@pytest.mark.parametrize("model_id", ["llama-3.1-8b", "qwen2.5-14b", "qwen3-8b", "gemma-2-9b", "phi-4"])
def test_tensor_list_has_the_published_parameter_count(model_id):
    spec = get_model(model_id)
    assert sum(int(np.prod(t.shape)) for t in hf_tensors(spec.architecture)) == spec.params
    assert architecture_from_config(hf_config(spec.architecture, "bf16")) == spec.architecture


def test_bf16_is_float32_rounded_to_nearest_even():
    x = np.array([[1.0, -2.5, 3.140625, 1.00390625, 1.01171875]], dtype=np.float32)
    bits = _to_dtype(x, "bf16").view("<u2")[0]
    # exact values keep their upper half; 1+2^-8 is a tie rounded down to even, 1+3*2^-8 up
    assert list(bits) == [0x3F80, 0xC020, 0x4049, 0x3F80, 0x3F82]
    assert _to_dtype(x, "fp16").view("<f2")[0].tolist() == x.astype(np.float16)[0].tolist()


def test_checkpoint_layout_and_sizes(tmp_path):
    spec = tiny_spec("qwen2")
    path = materialize_hf(spec, "fp16", cache_dir=tmp_path)
    header = read_header(path / WEIGHTS)
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert {t.name: list(t.shape) for t in hf_tensors(spec.architecture)} == {k: v["shape"] for k, v in tensors.items()}
    assert {v["dtype"] for v in tensors.values()} == {"F16"}
    assert "model.layers.1.self_attn.k_proj.bias" in tensors     # qwen2 has qkv biases
    n_header = struct.unpack("<Q", (path / WEIGHTS).read_bytes()[:8])[0]
    assert n_header % 8 == 0
    assert (path / WEIGHTS).stat().st_size == 8 + n_header + weights_bytes(spec, "fp16")
    d = read_model_dir(path)
    assert (d.format, d.quant, d.architecture) == ("hf", "fp16", spec.architecture)
    vocab = json.loads((path / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) == spec.architecture.vocab


def test_weights_are_random_but_reproducible_and_norms_near_one(tmp_path):
    spec = tiny_spec()
    a = materialize_hf(spec, "fp32", cache_dir=tmp_path / "a")
    b = materialize_hf(spec, "fp32", cache_dir=tmp_path / "b")
    assert (a / WEIGHTS).read_bytes() == (b / WEIGHTS).read_bytes()
    raw = (a / WEIGHTS).read_bytes()
    header = read_header(a / WEIGHTS)
    start = 8 + struct.unpack("<Q", raw[:8])[0]

    def tensor(name):
        lo, hi = header[name]["data_offsets"]
        return np.frombuffer(raw[start + lo:start + hi], dtype="<f4").reshape(header[name]["shape"])

    q = tensor("model.layers.0.self_attn.q_proj.weight")
    assert 0.015 < q.std() < 0.025 and abs(q.mean()) < 0.005
    assert abs(tensor("model.norm.weight").mean() - 1.0) < 0.05
    # specials and byte pieces are never emitted: their head rows are zero, every other row random
    head = tensor("lm_head.weight")
    assert not head[:FIRST_TEXT_ID].any() and (np.abs(head[FIRST_TEXT_ID:]).max(axis=1) > 0).all()


def test_cache_is_reused_and_a_damaged_entry_rebuilt(tmp_path):
    spec = tiny_spec()
    path = materialize_hf(spec, "bf16", cache_dir=tmp_path)
    mtime = (path / WEIGHTS).stat().st_mtime_ns
    assert materialize_hf(spec, "bf16", cache_dir=tmp_path) == path
    assert (path / WEIGHTS).stat().st_mtime_ns == mtime
    with open(path / WEIGHTS, "r+b") as f:       # truncate: a crash mid-copy, a full disk
        f.truncate(1000)
    with pytest.raises(ModelError):
        read_header(path / WEIGHTS)
    rebuilt = materialize_hf(spec, "bf16", cache_dir=tmp_path)
    assert rebuilt == path and read_header(path / WEIGHTS)
    assert not list(tmp_path.glob(".*.tmp"))


def test_unknown_dtype_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="valid: bf16, fp16, fp32"):
        materialize_hf(tiny_spec(), "int4", cache_dir=tmp_path)


@pytest.mark.parametrize("family", FAMILIES)
def test_transformers_loads_every_family_exactly(family, tmp_path):
    torch = require("torch", "torch")
    transformers = require("transformers", "torch")
    spec = tiny_spec(family)
    path = materialize_hf(spec, "fp32", cache_dir=tmp_path)
    model, info = transformers.AutoModelForCausalLM.from_pretrained(path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert sum(p.numel() for p in model.parameters()) == spec.architecture.param_count()
    logits = model(torch.tensor([[5, 6, 7]])).logits
    assert logits.shape == (1, 3, spec.architecture.vocab) and torch.isfinite(logits).all()


def test_each_backend_gets_its_own_build_and_options(tmp_path):
    from models.synthetic_engines import materialize_for

    spec = tiny_spec()
    path, options = materialize_for("torch", spec, "fp16", cache_dir=tmp_path)
    assert options == {"dtype": "fp16"} and read_model_dir(path).quant == "fp16"
    path, options = materialize_for("vllm", spec, "fp8", cache_dir=tmp_path)
    assert options == {"quant": "fp8"} and read_model_dir(path).quant == "bf16"   # quantized at load
    if importlib.util.find_spec("llama_cpp"):       # GGUF builds quantize with llama.cpp
        path, options = materialize_for("llamacpp", spec, "Q8_0", cache_dir=tmp_path)
        assert path.suffix == ".gguf" and options == {}
    with pytest.raises(ModelError, match="no synthetic awq-int4 checkpoint"):
        materialize_for("vllm", spec, "awq-int4", cache_dir=tmp_path)
    with pytest.raises(ModelError, match="unknown torch quantization"):
        materialize_for("torch", spec, "4bit", cache_dir=tmp_path)
