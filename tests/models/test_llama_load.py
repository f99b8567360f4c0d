"""Synthetic builds load and run in the real llama.cpp."""

import numpy as np
import pytest

from models.catalog import get_model
from models.quant import QUANTS
from models.synthetic import materialize

llama_cpp = pytest.importorskip("llama_cpp")


@pytest.mark.parametrize("quant", list(QUANTS))
def test_tiny_loads_and_decodes(quant, model_cache):
    path = materialize(get_model("tiny"), quant, cache_dir=model_cache)
    # logits_all: this llama-cpp-python keeps llm.scores only then
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    try:
        assert llm.n_vocab() == get_model("tiny").architecture.vocab
        prompt = llm.tokenize(b"hello world")
        out = []
        for token in llm.generate(prompt, temp=0.0):
            logits = llm.scores[llm.n_tokens - 1]
            assert np.isfinite(logits).all()
            assert logits.std() > 0  # not a degenerate all-equal output
            out.append(token)
            if len(out) == 4:
                break
        assert len(out) == 4 and all(0 <= t < llm.n_vocab() for t in out)
    finally:
        llm.close()
