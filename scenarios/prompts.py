"""Synthetic prompts as token ids: seeded, reproducible, free of special tokens.

Token ids go straight to the engine, so nothing is re-tokenised and lengths are exact.
"""

from __future__ import annotations

import random
from collections.abc import Set


def random_prompt(n_tokens: int, vocab_size: int, seed: int, avoid: Set[int] = frozenset()) -> list[int]:
    rng = random.Random(seed)
    # Skip the low ids, where tokenizers keep their control tokens.
    low = min(256, vocab_size // 2)
    out: list[int] = []
    while len(out) < n_tokens:
        tok = rng.randrange(low, vocab_size)
        if tok not in avoid:
            out.append(tok)
    return out
