"""Next-token logits of whole token windows from a loaded llama.cpp model (`bench quality`).

One llama_decode per window on the model's own context, as llama-perplexity does: the KV cache is
cleared, the window goes in as one batch at positions 0..n-1, and only the positions from `first`
on ask for logits (llama.cpp's output buffer holds just those rows).
"""

from __future__ import annotations

import numpy as np

from contract.errors import BackendError


class WindowLogits:
    def __init__(self, backend):
        """`backend`: a LlamaCppBackend after load(); its context must hold a whole window."""
        import llama_cpp

        self._lib = llama_cpp
        self._llm = backend._llm
        self.n_vocab = self._llm.n_vocab()
        self.n_ctx = self._llm.n_ctx()
        self._batch = llama_cpp.llama_batch_init(self.n_ctx, 0, 1)

    def tokenize(self, text: str) -> list[int]:
        """As llama-perplexity tokenizes its input: BOS added where the vocabulary asks for it,
        special tokens in the text read as plain text."""
        return self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    @property
    def bos(self) -> int | None:
        tok = self._lib.llama_vocab_bos(self._llm._model.vocab)
        return tok if tok >= 0 and self._lib.llama_vocab_get_add_bos(self._llm._model.vocab) else None

    def logits(self, window: list[int], first: int) -> np.ndarray:
        """(len(window) - first, n_vocab) float32: the logits at positions first..len(window)-1."""
        lib, ctx, b = self._lib, self._llm._ctx.ctx, self._batch
        n = len(window)
        if n > self.n_ctx:
            raise BackendError(f"a window of {n} tokens exceeds the context of {self.n_ctx}", "raise --ctx-size")
        lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
        for k, tok in enumerate(window):
            b.token[k], b.pos[k], b.n_seq_id[k], b.logits[k] = tok, k, 1, k >= first
            b.seq_id[k][0] = 0
        b.n_tokens = n
        rc = lib.llama_decode(ctx, b)
        if rc != 0:
            raise BackendError(f"llama_decode returned {rc} for a window of {n} tokens",
                               "rerun with --debug to see llama.cpp's own log")
        out = lib.llama_get_logits(ctx)
        return np.ctypeslib.as_array(out, shape=(n - first, self.n_vocab)).copy()

    def close(self) -> None:
        if self._batch is not None:
            self._lib.llama_batch_free(self._batch)
            self._batch = None
