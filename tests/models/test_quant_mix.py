"""Our per-tensor type choice equals llama-quantize's, checked against the real quantizer.

The source is an F16 synthetic build of a shrunk model with a catalog model's layer count (the
"more bits" layer pattern depends on it) and small matrices, so quantizing is quick.
"""

import ctypes
import dataclasses
from typing import Any

import pytest
from gguf import GGUFReader

from models.catalog import ModelSpec, get_model
from models.plan import weight_bytes
from models.quant import QUANTS, get_quant
from models.quant_mix import tensor_types
from models.synthetic import materialize

pytestmark = pytest.mark.engine   # real llama.cpp quantizing

llama_cpp = pytest.importorskip("llama_cpp")

_8B = get_model("llama-3.1-8b").architecture
SHAPES = {
    # 8B's layer count and GQA ratio (4), small dims
    "8b-like": dataclasses.replace(_8B, hidden=256, n_heads=4, n_kv_heads=1, head_dim=64, ffn=256, vocab=300),
    # GQA 2 and tied embeddings: other attn_v and output rules
    "gqa2-tied": dataclasses.replace(
        _8B, hidden=256, n_heads=4, n_kv_heads=2, head_dim=64, ffn=256, vocab=300, tied_embeddings=True
    ),
    # rows that are not whole 256-blocks (hidden 288, ffn 320): the fallback types
    "odd-rows": dataclasses.replace(_8B, hidden=288, n_heads=9, n_kv_heads=1, head_dim=32, ffn=320, vocab=300),
}
_SMALL: dict[str, Any] = {"hidden": 256, "n_heads": 4, "n_kv_heads": 1, "head_dim": 64, "ffn": 256, "vocab": 300}
# the other families, each with its model's layer count and GQA ratio, small dims
SHAPES["phi4-like"] = dataclasses.replace(get_model("phi-4").architecture, **_SMALL)  # fused attn_qkv, ffn_up
SHAPES["gemma2-like"] = dataclasses.replace(  # tied, head_dim decoupled from hidden
    get_model("gemma-2-9b").architecture, **{**_SMALL, "n_kv_heads": 2, "head_dim": 128, "sliding_window": 64}
)
SHAPES["qwen2-like"] = dataclasses.replace(get_model("qwen2.5-7b").architecture, **_SMALL)  # q/k/v biases
SHAPES["qwen3-like"] = dataclasses.replace(get_model("qwen3-8b").architecture, **_SMALL)  # q/k norms

# Every quant with rules of its own on the 8B-like shape (Q5_K_S, Q4_0, Q3_K_S and IQ4_NL only
# take their default type, IQ4_NL by IQ4_XS's rules); on the others, those whose rules the shape
# changes. Each case quantizes for real, so the list is kept to what can fail differently.
CASES = [("8b-like", q) for q in QUANTS if q not in ("F16", "Q5_K_S", "Q4_0", "Q3_K_S", "IQ4_NL")]
CASES += [("gqa2-tied", q) for q in ("Q8_0", "Q4_K_M", "Q2_K")]
CASES += [("odd-rows", q) for q in ("Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ4_XS")]
CASES += [("phi4-like", q) for q in ("Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")]  # attn_qkv takes attn_v's rules
CASES += [("gemma2-like", q) for q in ("Q6_K", "Q4_K_M")]
CASES += [("qwen2-like", "Q4_K_M"), ("qwen3-like", "Q4_K_M")]


@pytest.fixture(scope="module")
def f16_source(tmp_path_factory):
    cache = tmp_path_factory.mktemp("mix")

    def build(shape):
        spec = ModelSpec(id=f"mix-{shape}", name=shape, architecture=SHAPES[shape], license="n/a")
        return spec, materialize(spec, "F16", cache_dir=cache)  # cached after the first call

    return build


def _real_quantize(src, dst, ftype):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    assert llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params)) == 0


@pytest.mark.parametrize("shape, quant", CASES)
def test_type_mix_matches_llama_quantize(shape, quant, f16_source, tmp_path):
    spec, src = f16_source(shape)
    q = get_quant(quant)
    out = tmp_path / "q.gguf"
    _real_quantize(src, out, q.ftype)
    reader = GGUFReader(out)
    real = {t.name: t.tensor_type.name for t in reader.tensors}
    assert tensor_types(spec.architecture, q) == real
    assert sum(int(t.n_bytes) for t in reader.tensors) == weight_bytes(spec.architecture, q)
