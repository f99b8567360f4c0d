"""Several sequences at once through llama.cpp's multi-sequence batch API (continuous batching).

Why this and not a llama-cpp-python server: that server holds one global lock per model, so
concurrent requests run one after another and a concurrency sweep would measure a queue, not a
batch. Here each step is one llama_decode over one token of every decoding sequence plus
prompt chunks of newly admitted ones (decodes first, as llama.cpp's own server schedules
them), so on a CPU too throughput grows with concurrency as far as the hardware allows.

The session owns a context of its own, sized for its sequences: `n_seqs` KV streams of
`seq_len` cells each (non-unified KV: independent sequences attend only to their own cells).
Generation is greedy with end-of-sequence ignored, as in LlamaCppBackend.generate.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import BackendError


@dataclass
class _Sequence:
    index: int            # the request's index in its level
    slot: int             # llama.cpp sequence id
    prompt: list[int]
    max_tokens: int
    fed: int = 0          # prompt tokens decoded so far
    generated: int = 0
    last: int | None = None   # sampled token still to be decoded


class BatchSession:
    def __init__(self, llm, n_seqs: int, seq_len: int, n_batch: int, kv_in_ram: bool = True):
        import llama_cpp
        import numpy as np

        self._lib, self._np = llama_cpp, np
        self.n_seqs = n_seqs
        self.seq_len = -(-seq_len // 256) * 256
        self._n_vocab = llm.n_vocab()
        if kv_in_ram:
            _check_ram(llm._model.model, n_seqs * self.seq_len)
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_seq_max = n_seqs
        params.n_ctx = n_seqs * self.seq_len
        params.kv_unified = False
        # Every decoding sequence needs a place in each batch, whatever the prompt batch size.
        params.n_batch = self.n_batch = max(n_batch, n_seqs)
        self._ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
        if not self._ctx:
            raise BackendError(
                f"llama.cpp could not create a context for {n_seqs} sequences of {self.seq_len} tokens",
                "lower --concurrency or --max-in-flight, or use a shorter workload")
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._free_slots = list(range(n_seqs - 1, -1, -1))
        self._active: list[_Sequence] = []

    @property
    def active(self) -> int:
        return len(self._active)

    def submit(self, index: int, prompt_token_ids: list[int], max_tokens: int) -> None:
        if len(prompt_token_ids) + max_tokens > self.seq_len:
            raise BackendError(f"{len(prompt_token_ids)} prompt + {max_tokens} output tokens exceed the "
                               f"{self.seq_len} tokens per sequence", "a shorter workload")
        if not self._free_slots:
            raise RuntimeError("no free sequence slot: the load generator admitted too many requests")
        self._active.append(_Sequence(index, self._free_slots.pop(), list(prompt_token_ids), max_tokens))

    def _add(self, n: int, token: int, pos: int, slot: int, logits: bool) -> None:
        b = self._batch
        b.token[n], b.pos[n], b.n_seq_id[n], b.logits[n] = token, pos, 1, logits
        b.seq_id[n][0] = slot

    def step(self) -> list[tuple[int, int]]:
        """One llama_decode. Returns (request index, token id) for every token it produced;
        a sequence is finished (and its KV freed) once it has its max_tokens."""
        lib, n = self._lib, 0
        outputs: list[tuple[_Sequence, int]] = []
        for s in self._active:                       # decodes first: one token each
            if s.last is not None:
                self._add(n, s.last, len(s.prompt) + s.generated - 1, s.slot, True)
                outputs.append((s, n))
                n += 1
        for s in self._active:                       # then prompt chunks, in arrival order
            if n >= self.n_batch:
                break
            if s.fed < len(s.prompt):
                take = min(self.n_batch - n, len(s.prompt) - s.fed)
                for k in range(take):
                    self._add(n + k, s.prompt[s.fed + k], s.fed + k, s.slot, False)
                s.fed += take
                n += take
                if s.fed == len(s.prompt):           # the prompt's last token samples the first output
                    self._batch.logits[n - 1] = True
                    outputs.append((s, n - 1))
        if n == 0:
            return []
        self._batch.n_tokens = n
        rc = lib.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc} for a batch of {n} tokens over {len(self._active)} sequences")
        events = []
        for s, i in outputs:
            logits = lib.llama_get_logits_ith(self._ctx, i)
            tok = int(self._np.ctypeslib.as_array(logits, shape=(self._n_vocab,)).argmax())
            s.generated += 1
            s.last = tok
            events.append((s.index, tok))
            if s.generated >= s.max_tokens:
                lib.llama_memory_seq_rm(self._mem, s.slot, -1, -1)
                self._free_slots.append(s.slot)
                self._active.remove(s)
        return events

    def cached_tokens(self, index: int) -> int | None:
        """0: each sequence prefills its whole prompt into KV cells of its own (no prefix reuse)."""
        return 0

    def close(self) -> None:
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None


def _check_ram(model, cells: int) -> None:
    """llama.cpp clears a new KV cache, touching every page: on Linux a cache larger than free
    memory gets the process killed rather than an error. Refuse it first (f16 K and V, head
    size taken as width / heads, which holds for the Llama, Mistral and Qwen families)."""
    import llama_cpp
    import psutil

    head_dim = llama_cpp.llama_model_n_embd(model) // max(1, llama_cpp.llama_model_n_head(model))
    need = cells * llama_cpp.llama_model_n_layer(model) * 2 * llama_cpp.llama_model_n_head_kv(model) * head_dim * 2
    free = psutil.virtual_memory().available
    if need > 0.9 * free:
        raise BackendError(f"a KV cache for these sequences needs about {need / 2**30:.1f} GiB, "
                           f"{free / 2**30:.1f} GiB is free", "lower --concurrency or --max-in-flight")
