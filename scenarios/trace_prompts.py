"""The prompts of a replayed trace as token ids, sharing exactly what the trace says they share.

A Mooncake request lists its prompt as `hash_ids`, one per block of BLOCK_TOKENS tokens (the last
block may be partial: input_length - BLOCK_TOKENS * (len(hash_ids) - 1) tokens). A hash id stands
for its block's content and everything before it, so two requests with the same leading ids share
that prefix. Here each hash id is realised as one fixed block of token ids, drawn from (seed, hash
id) alone: the same id is the same tokens in every request (a partial block is the leading part of
the full one), different ids are different tokens, so an engine's prefix cache sees exactly the
trace's sharing. A request without hash_ids gets a fresh prompt of its own, drawn from (seed, index).
Ids avoid the low control-token range and the BOS (scenarios.prompts.random_prompt).
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from scenarios import shared_prompts
from scenarios.prompts import random_prompt
from scenarios.traces import TracedRequest

BLOCK_TOKENS = 512                       # Mooncake's block size


def block(seed: int, hash_id: int, vocab_size: int, avoid: Set[int] = frozenset(),
          block_tokens: int = BLOCK_TOKENS) -> list[int]:
    """The token ids hash id `hash_id` stands for (a full block): a shared block (scenarios/shared_prompts.py)."""
    return shared_prompts.block(seed, f"trace:{hash_id}", block_tokens, vocab_size, avoid)


def trace_prompt(request: TracedRequest, index: int, seed: int, vocab_size: int, avoid: Set[int] = frozenset(),
                 block_tokens: int = BLOCK_TOKENS) -> list[int]:
    """Request `index`'s prompt: its blocks, cut to its input length. A trace whose input is longer
    than its blocks (inconsistent, or no hash_ids) gets the rest as tokens of its own."""
    out: list[int] = []
    for hash_id in request.hash_ids:
        need = request.input_tokens - len(out)
        if need <= 0:
            break
        out.extend(block(seed, hash_id, vocab_size, avoid, block_tokens)[:need])
    if len(out) < request.input_tokens:
        out.extend(random_prompt(request.input_tokens - len(out), vocab_size,
                                 shared_prompts.block_seed(seed, f"trace-own:{index}"), avoid))
    return out


def reusable_tokens(requests: Iterable[TracedRequest], block_tokens: int = BLOCK_TOKENS) -> tuple[int, int]:
    """(prompt tokens, of them in a leading run of blocks an earlier request already sent): what an
    unbounded prefix cache could serve, in schedule order; the trace's ceiling on cache hits."""
    seen: set[int] = set()
    total = reusable = 0
    for r in requests:
        total += r.input_tokens
        lead = 0
        for h in r.hash_ids:
            if h not in seen:
                break
            lead += 1
        reusable += min(r.input_tokens, lead * block_tokens)
        seen.update(r.hash_ids)
    return total, reusable
