"""Shared token blocks: the same tokens wherever the same block is asked for.

A prefix cache hits only where requests start with exactly the same tokens. A block is named by
a key (a document's number, "system", a trace's hash id) and made from (seed, key) alone, so
every request that includes block "doc:3" includes the very same ids, whatever else it holds,
at every level and in every process. Prompts are then concatenations of blocks and fresh tokens:

    prompt = block(seed, "rag-shared:system", 512, vocab, avoid) + block(seed, "rag-shared:doc:3", ...) + fresh

Ids avoid the low ids (control tokens, scenarios.prompts) and whatever `avoid` names (the BOS),
so a block in the middle of a prompt never restarts it. Over HTTP a text prompt spells each id as
one letter (engines.openai.prompts.letters): a shared block is then the same text too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Set
from functools import lru_cache

from scenarios.prompts import random_prompt


def block_seed(seed: int, key: str) -> int:
    """The random seed of block `key` (stable across processes, unlike hash())."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 2


@lru_cache(maxsize=512)
def _block(seed: int, key: str, n_tokens: int, vocab_size: int, avoid: frozenset[int]) -> tuple[int, ...]:
    return tuple(random_prompt(n_tokens, vocab_size, seed=block_seed(seed, key), avoid=avoid))


def block(seed: int, key: str, n_tokens: int, vocab_size: int, avoid: Set[int] = frozenset()) -> list[int]:
    """`n_tokens` ids of block `key`: the same list on every call with the same arguments. The ids
    are drawn one after another from the block's seed, so a shorter block of a key is a prefix of
    a longer one."""
    return list(_block(seed, key, n_tokens, vocab_size, frozenset(avoid)))
