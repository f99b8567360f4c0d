"""Several sequences at once through a transformers model: continuous batching over one
left-padded KV cache.

transformers has no per-sequence KV slots, so the batch shares one DynamicCache of
[rows, heads, columns, head_dim] in which every row's tokens end at the last column and the
columns before a row's first token are padding that its attention mask hides. Each step decodes
one token of every running row in one forward (each row at its own position), then prefills the
prompts that arrived (one forward each) and splices their caches in as new rows, left-padded to
the common width. A finished row is dropped, and columns that have become padding in every row
are cut off, so the cache stays as wide as the longest running sequence.

Greedy with end-of-sequence ignored, as TorchBackend.generate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contract.errors import BackendError

if TYPE_CHECKING:      # torch is imported on first use, not at import time
    import torch


@dataclass
class _Row:
    index: int            # the request's index in its level
    length: int           # real tokens in the cache (its next position)
    max_tokens: int
    generated: int
    last: int             # sampled token still to be decoded


class TorchBatchSession:
    def __init__(self, backend, n_seqs: int, seq_len: int):
        import transformers

        self._backend = backend
        self._torch = backend._torch
        self._model = backend._model
        self.n_seqs = n_seqs
        self._seq_len = seq_len
        self._new_cache = lambda: transformers.DynamicCache(config=self._model.config)
        if any(getattr(layer, "is_sliding", False) for layer in self._new_cache().layers):
            # Sliding-window layers keep only the window: splicing left-padded rows would corrupt them.
            raise BackendError("the torch backend batches only models whose layers all attend to the full context",
                               "run this model's load scenarios with --backend llamacpp or vllm")
        self._rows: list[_Row] = []
        self._waiting: list[tuple[int, list[int], int]] = []
        self._cache: Any = None   # a transformers DynamicCache while rows are in flight
        self._mask: torch.Tensor | None = None     # [rows, columns]: 1 where a row has a real token

    @property
    def active(self) -> int:
        return len(self._rows) + len(self._waiting)

    def submit(self, index: int, prompt_token_ids: list[int], max_tokens: int) -> None:
        if len(prompt_token_ids) + max_tokens > self._seq_len:
            raise BackendError(f"{len(prompt_token_ids)} prompt + {max_tokens} output tokens exceed the "
                               f"{self._seq_len} tokens per sequence", "a shorter workload")
        if self.active >= self.n_seqs:
            raise RuntimeError("no free sequence slot: the load generator admitted too many requests")
        self._waiting.append((index, list(prompt_token_ids), max_tokens))

    def step(self) -> list[tuple[int, int]]:
        """Decode every running row once, then prefill the arrivals. Returns (request index, token id)
        for every token produced; a row is dropped once it has its max_tokens."""
        with self._torch.inference_mode():
            events = self._decode() if self._rows else []
            while self._waiting:
                events.append(self._prefill(*self._waiting.pop(0)))
            self._drop_finished()
        return events

    def _decode(self) -> list[tuple[int, int]]:
        torch, rows = self._torch, self._rows
        assert self._mask is not None, "decode runs on a batch that has rows"
        device = self._mask.device
        ids = torch.tensor([[r.last] for r in rows], device=device)
        positions = torch.tensor([[r.length] for r in rows], device=device)
        self._mask = torch.cat([self._mask, self._mask.new_ones(len(rows), 1)], dim=1)
        logits = self._backend._forward(self._model.forward, ids, self._cache,
                                        attention_mask=self._mask, position_ids=positions)
        tokens = logits[:, -1].argmax(dim=-1).tolist()     # .tolist() waits for the device
        for r, tok in zip(rows, tokens, strict=True):
            r.length += 1
            r.generated += 1
            r.last = tok
        return [(r.index, r.last) for r in rows]

    def _prefill(self, index: int, prompt: list[int], max_tokens: int) -> tuple[int, int]:
        torch = self._torch
        cache = self._new_cache()
        ids = torch.tensor([prompt], device=self._backend._device)
        logits = self._backend._forward(self._model.forward, ids, cache)
        tok = int(logits[0, -1].argmax())
        self._splice(cache, len(prompt))
        self._rows.append(_Row(index, len(prompt), max_tokens, 1, tok))
        return index, tok

    def _splice(self, cache, n: int) -> None:
        """Add a one-row cache of n tokens as the batch's last row, both left-padded to one width."""
        torch = self._torch
        mask = torch.ones(1, n, dtype=torch.long, device=self._backend._device)
        if self._cache is None:
            self._cache, self._mask = cache, mask
            return
        assert self._mask is not None, "the cache and the mask are set together"
        width = max(n, self._mask.shape[1])

        def pad(t, dim):   # zeros on the left of dimension dim up to `width`
            extra = width - t.shape[dim]
            if extra == 0:
                return t
            shape = list(t.shape)
            shape[dim] = extra
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([pad(old.keys, 2), pad(new.keys, 2)], dim=0)
            old.values = torch.cat([pad(old.values, 2), pad(new.values, 2)], dim=0)
        self._mask = torch.cat([pad(self._mask, 1), pad(mask, 1)], dim=0)

    def _drop_finished(self) -> None:
        keep = [i for i, r in enumerate(self._rows) if r.generated < r.max_tokens]
        if len(keep) == len(self._rows):
            return
        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache = self._mask = None
            return
        assert self._mask is not None, "rows were kept, so the batch has a mask"
        rows = self._torch.tensor(keep, device=self._mask.device)
        mask = self._mask[rows]
        first = int(mask.any(dim=0).nonzero()[0])          # columns before it are padding in every row
        self._mask = mask[:, first:]
        for layer in self._cache.layers:
            layer.keys = layer.keys[rows, :, first:]
            layer.values = layer.values[rows, :, first:]

    def cached_tokens(self, index: int) -> int | None:
        """0: each arrival prefills its whole prompt into a fresh cache (no prefix reuse)."""
        return 0

    def close(self) -> None:
        self._rows, self._waiting = [], []
        self._cache = self._mask = None
