"""How llama-perplexity cuts a text into windows and which positions it scores.

The tokenized text is cut into n_chunk = len(tokens) // n_ctx windows of n_ctx tokens that do not
overlap (`--chunks N` keeps the first N). Each window's first token is replaced by BOS where the
vocabulary adds one; only its second half is scored, so the model always has at least n_ctx/2
tokens of context: the logits at positions first = n_ctx/2 .. n_ctx-2 predict tokens
first+1 .. n_ctx-1, n_ctx - 1 - first of them per window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contract.errors import BenchError


@dataclass(frozen=True)
class Window:
    index: int
    tokens: list[int]        # what the model is given (first token BOS where the model adds one)
    first: int               # first position whose logits are scored
    targets: np.ndarray      # the tokens those positions predict


def windows(tokens: list[int], n_ctx: int, bos: int | None, chunks: int | None = None) -> list[Window]:
    if n_ctx < 16 or n_ctx % 2:
        raise BenchError(f"--ctx-size must be an even number of at least 16 tokens, got {n_ctx}",
                         "for example --ctx-size 512 (llama-perplexity's default)")
    n_chunk = len(tokens) // n_ctx
    if n_chunk < 2:
        raise BenchError(f"the text has {len(tokens)} tokens: at least {2 * n_ctx} are needed for windows of {n_ctx}",
                         "pass a longer --text or a smaller --ctx-size")
    if chunks is not None:
        if chunks < 1:
            raise BenchError(f"--chunks must be at least 1, got {chunks}", "for example --chunks 4")
        n_chunk = min(n_chunk, chunks)
    first = n_ctx // 2
    out = []
    for i in range(n_chunk):
        w = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        targets = np.asarray(w[first + 1:], dtype=np.int64)
        if bos is not None:
            w[0] = bos
        out.append(Window(i, w, first, targets))
    return out
