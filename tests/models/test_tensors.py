"""Every tensor a family's layout names is one llama.cpp knows for that architecture."""

import re

import pytest
from gguf.constants import MODEL_ARCH, MODEL_ARCH_NAMES, MODEL_TENSORS, TENSOR_NAMES

from models.catalog import CATALOG
from models.tensors import FAMILIES, tensor_layout

_ARCH_BY_NAME = {name: arch for arch, name in MODEL_ARCH_NAMES.items()}


def _known_names(family: str) -> set[str]:
    # gguf-py mirrors llama.cpp's per-architecture tensor table (src/llama-arch.cpp)
    return {TENSOR_NAMES[t] for t in MODEL_TENSORS[_ARCH_BY_NAME[family]]}


@pytest.mark.parametrize("model_id", list(CATALOG))
def test_layout_names_are_llama_cpp_tensors(model_id):
    arch = CATALOG[model_id].architecture
    known = _known_names(arch.family)
    for t in tensor_layout(arch):
        base = re.sub(r"^blk\.\d+\.", "blk.{bid}.", t.name).rsplit(".", 1)[0]
        assert base in known, (arch.family, t.name)


def test_every_family_is_a_gguf_architecture():
    assert set(FAMILIES) <= set(_ARCH_BY_NAME)
    assert _ARCH_BY_NAME["phi3"] == MODEL_ARCH.PHI3


def test_family_specific_tensors():
    layouts = {m: {t.name: t.shape for t in tensor_layout(CATALOG[m].architecture)} for m in
               ("qwen2.5-7b", "qwen3-8b", "gemma-2-9b", "phi-4", "llama-3.1-8b")}
    assert layouts["qwen2.5-7b"]["blk.0.attn_k.bias"] == (512,)
    assert layouts["qwen3-8b"]["blk.35.attn_k_norm.weight"] == (128,)
    assert layouts["gemma-2-9b"]["blk.41.post_ffw_norm.weight"] == (3584,)
    assert layouts["gemma-2-9b"]["blk.0.attn_q.weight"] == (3584, 4096)  # 16 heads x 256 != hidden
    assert "output.weight" not in layouts["gemma-2-9b"]
    assert layouts["phi-4"]["blk.0.attn_qkv.weight"] == (5120, 5120 + 2 * 1280)
    assert layouts["phi-4"]["blk.0.ffn_up.weight"] == (5120, 2 * 17920)
    assert layouts["llama-3.1-8b"]["rope_freqs.weight"] == (64,)
