"""Synthetic builds load and run in the real llama.cpp, for every family in the catalog."""

import dataclasses
from typing import Any

import numpy as np
import pytest
from gguf import GGUFReader

from models.catalog import ModelSpec, get_model
from models.formats import LADDER
from models.gguf_file import inspect_gguf
from models.synthetic import materialize
from models.vocab import FIRST_TEXT_ID

pytestmark = pytest.mark.engine   # real llama.cpp loads

llama_cpp = pytest.importorskip("llama_cpp")

# a shrunk copy of a catalog model of each family: two layers, small matrices, a real vocabulary
_SMALL: dict[str, Any] = {"n_layers": 2, "hidden": 256, "n_heads": 4, "n_kv_heads": 2, "head_dim": 64, "ffn": 512, "vocab": 1000, "max_context": 2048}
FAMILY_MODELS = {
    "llama3": "llama-3.1-8b",  # with the llama3 rope_freqs tensor
    "qwen2": "qwen2.5-7b",
    "qwen3": "qwen3-8b",
    "gemma2": "gemma-2-9b",
    "phi3": "phi-4",
}


def _shrunk(family: str) -> ModelSpec:
    base = get_model(FAMILY_MODELS[family])
    changes: dict[str, Any] = dict(_SMALL)
    if family == "gemma2":
        changes.update(head_dim=128, sliding_window=16)  # q width 512 != hidden 256, as in Gemma 2
    if family == "llama3":
        rope = base.architecture.rope_scaling
        assert rope is not None, "llama 3 scales its RoPE"
        changes["rope_scaling"] = dataclasses.replace(rope, original_context=1024)
    return ModelSpec(id=f"shrunk-{family}", name=f"shrunk {base.name}", license="n/a",
                     architecture=dataclasses.replace(base.architecture, **changes))


def _decode(path, n_ctx=256, n_tokens=4) -> list[int]:
    # logits_all: this llama-cpp-python keeps llm.scores only then
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=2, logits_all=True, verbose=False)
    try:
        prompt = llm.tokenize(b"hello world")
        out = []
        for token in llm.generate(prompt, temp=0.0):
            logits = llm.scores[llm.n_tokens - 1]
            assert np.isfinite(logits).all()
            assert logits.std() > 0  # not a degenerate all-equal output
            out.append(token)
            if len(out) == n_tokens:
                break
        # never a special or byte piece: every streamed token is complete text (models/vocab.py)
        assert all(FIRST_TEXT_ID <= t < llm.n_vocab() for t in out), out
        assert all(llm.detokenize([t]).decode().strip() for t in out)
        return out
    finally:
        llm.close()


@pytest.mark.parametrize("quant", [f.quant for f in LADDER if f.backend == "llamacpp"])
def test_tiny_loads_and_decodes(quant, model_cache):
    path = materialize(get_model("tiny"), quant, cache_dir=model_cache)
    assert len(_decode(path)) == 4


@pytest.mark.parametrize("family", list(FAMILY_MODELS))
def test_each_family_loads_and_generates(family, model_cache):
    spec = _shrunk(family)
    path = materialize(spec, "Q4_K_M", cache_dir=model_cache)
    summary = inspect_gguf(path)
    assert summary.family == spec.architecture.family
    read_back = summary.architecture()
    # llama3 rope scaling lives in a tensor, not in metadata: everything else reads back as written
    assert read_back == dataclasses.replace(spec.architecture, rope_scaling=None)
    assert len(_decode(path, n_tokens=8)) == 8


def test_llama3_rope_factors_are_the_configs(model_cache):
    spec = _shrunk("llama3")
    path = materialize(spec, "Q8_0", cache_dir=model_cache)
    tensor = next(t for t in GGUFReader(path).tensors if t.name == "rope_freqs.weight")
    a = spec.architecture
    assert a.rope_scaling is not None
    factors = np.asarray(tensor.data, dtype=np.float32)
    np.testing.assert_allclose(factors, a.rope_scaling.freq_factors(a.rope_theta, a.head_dim), rtol=1e-6)
    # the highest frequencies are left alone, the lowest divided by the full factor
    assert factors[0] == 1.0 and factors[-1] == a.rope_scaling.factor
