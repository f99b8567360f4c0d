"""llama.cpp through llama-cpp-python, driven at the token level.

We decode with llama.cpp's batch API and pick tokens greedily ourselves, so the output length
is exact (end-of-sequence is never checked) and nothing re-tokenises text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from contract.device import Device
from contract.errors import BackendError
from engines.base import Capabilities, EngineDefaults, LoadedModel, Prepared
from engines.llamacpp.options import KERNEL_CHOICE, LlamaCppFlags, LlamaCppOptions
from engines.llamacpp.threads import default_threads
from engines.options import EngineOptions

__all__ = ["KERNEL_CHOICE", "LlamaCppBackend", "LlamaCppFlags", "LlamaCppOptions", "offload_device"]

@contextlib.contextmanager
def flash_attn_setting(flash_attn: bool | None):
    """llama-cpp-python maps its flash_attn argument to ENABLED or DISABLED only. For llama.cpp's own
    default, AUTO (on where the device supports it, as llama-bench runs), its ENABLED constant reads
    AUTO while Llama() builds its context; yields the flash_attn argument to pass."""
    if flash_attn is not None:
        yield bool(flash_attn)
        return
    from llama_cpp import llama_cpp as lib

    enabled = lib.LLAMA_FLASH_ATTN_TYPE_ENABLED
    lib.LLAMA_FLASH_ATTN_TYPE_ENABLED = lib.LLAMA_FLASH_ATTN_TYPE_AUTO
    try:
        yield True
    finally:
        lib.LLAMA_FLASH_ATTN_TYPE_ENABLED = enabled


def offload_device(gpu_layers: int, n_layers: int) -> Device:
    """Where llama.cpp put the layers: its GPU backend's device, or MIXED for a partial offload."""
    from engines.llamacpp.kernels import gpu_device_names

    if 0 <= gpu_layers <= n_layers:           # the output layer (one more) stays on the CPU
        return Device.MIXED
    names = gpu_device_names()
    try:
        return Device.parse(names[0]) if names else Device.MIXED
    except ValueError:
        return Device.GPU


class LlamaCppBackend(EngineDefaults):
    name = "llamacpp"
    capabilities = Capabilities(streaming=True, devices=("cpu", "cuda", "metal", "vulkan"),
                                quant_formats=("gguf",), memory_fit_checked=True)
    engine_options = LlamaCppOptions
    model_format = "llamacpp"

    def __init__(self):
        self._llm: Any | None = None     # the llama_cpp.Llama that load() makes
        self._n_batch = 2048
        self._offload = False
        self._depth: tuple[int, ...] = ()     # the tokens fill_depth left at the start of the cache
        self._armed = False                   # the next generate() runs on top of them
        self._context_tokens = 0              # what the cache held when the last generate() began
        self._depth_evaluated: int | None = None

    def check_installed(self, extra: str) -> None:
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise BackendError("llama-cpp-python is not installed",
                               "bench engines install llamacpp builds it for this machine's GPU or CPU") from None

    def prepare(self, quant: str | None, options: EngineOptions | Mapping) -> Prepared:
        """Probe this machine's llama.cpp (llamacpp_health) and choose the kernels to load with."""
        from engines.llamacpp.health import choose_kernels

        o = LlamaCppOptions.of(options, self.name)
        o = o.with_(n_threads=o.n_threads or default_threads())
        choice = choose_kernels(quant, o)
        return Prepared(options=o.with_(extra_buffer_types=choice.kept),
                        workarounds=[choice.workaround] if choice.workaround else [],
                        warnings=[choice.warning] if choice.warning else [],
                        engine_health=choice.to_dict(), if_it_dies=choice.if_it_dies)

    def load(self, model_path: Path | str, options: EngineOptions | Mapping) -> LoadedModel:
        import llama_cpp

        from engines.llamacpp import kernels as llamacpp_kernels

        o = LlamaCppOptions.of(options, self.name)
        self._n_batch = o.n_batch
        threads = o.n_threads or default_threads()
        gpu_layers = o.n_gpu_layers
        if o.extra_buffer_types is not None:     # the kernels prepare() chose
            llamacpp_kernels.use_only(o.extra_buffer_types)
        try:
            with llamacpp_kernels.model_log() as log, flash_attn_setting(o.flash_attn) as flash_attn:
                self._llm = llama_cpp.Llama(
                    model_path=str(model_path),
                    n_ctx=o.context(),
                    n_batch=o.n_batch,
                    n_ubatch=o.n_ubatch,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_gpu_layers=gpu_layers,
                    flash_attn=flash_attn,
                    logits_all=False,
                    verbose=o.verbose,
                )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"llama.cpp could not load {model_path}: {exc}",
                               "rerun with --debug to see llama.cpp's own log") from None
        llm = self._llm
        offload = self._offload = bool(llama_cpp.llama_supports_gpu_offload()) and gpu_layers != 0
        bos = llama_cpp.llama_vocab_bos(llm._model.vocab)
        requested_fa = o.flash_attn
        return LoadedModel(
            path=Path(model_path),
            n_ctx=llm.n_ctx(),
            vocab_size=llm.n_vocab(),
            bos_token_id=bos if bos >= 0 else None,
            device=offload_device(gpu_layers, llama_cpp.llama_model_n_layer(llm._model.model)) if offload
            else Device.CPU,
            engine_info={
                "engine": "llama.cpp",
                "n_threads": threads,
                "n_gpu_layers": gpu_layers if offload else 0,
                "n_batch": llm.n_batch,
                "n_ubatch": o.n_ubatch,
                "flash_attn": "auto" if requested_fa is None else bool(requested_fa),
                "flash_attn_resolved": log["flash_attn_resolved"] or ("enabled" if requested_fa else "disabled"),
                "kernels": {"extra_buffer_types": llamacpp_kernels.in_use(),
                            "available": llamacpp_kernels.available(),
                            "model_buffers_mib": log["model_buffers"]},
                "gpu_offload_supported": bool(llama_cpp.llama_supports_gpu_offload()),
                "model_bytes": int(llama_cpp.llama_model_size(llm._model.model)),
                "model_params": int(llama_cpp.llama_model_n_params(llm._model.model)),
                "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
            },
        )

    def _greedy(self) -> int:
        import llama_cpp
        import numpy as np

        llm = self._llm
        assert llm is not None, "load() ran first"
        logits = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return int(np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).argmax())

    def _cached_tokens(self) -> int:
        """How many positions of sequence 0 the KV cache holds, by llama.cpp's own count."""
        import llama_cpp

        assert self._llm is not None, "load() ran first"
        return int(llama_cpp.llama_memory_seq_pos_max(llama_cpp.llama_get_memory(self._llm._ctx.ctx), 0)) + 1

    def fill_depth(self, token_ids: list[int]) -> dict:
        """llama-bench's depth run: evaluate `token_ids` into the cache, untimed. llama-bench saves
        the state after the first fill and restores it for each later repetition; here the cache
        keeps the same tokens, and what a generation added after them is removed (where llama.cpp
        cannot remove part of a sequence, a recurrent model's, they are evaluated again)."""
        import llama_cpp

        llm = self._llm
        assert llm is not None, "load() ran first"
        depth = len(token_ids)
        if depth >= llm.n_ctx():
            raise BackendError(f"a depth of {depth} tokens fills the context of {llm.n_ctx()}", "raise --ctx-size")
        kept = (self._depth == tuple(token_ids) and self._cached_tokens() >= depth
                and llm._ctx.kv_cache_seq_rm(0, depth, -1))
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        if not kept:
            self._depth = ()
            llm.reset()
            llm._ctx.kv_cache_clear()
            llm.eval(token_ids)
            self._depth = tuple(token_ids)
        # Done before the clock starts (a GPU computes asynchronously), and counted as the fill's:
        # llama.cpp books evaluated tokens into its counters when it synchronizes.
        llama_cpp.llama_synchronize(llm._ctx.ctx)
        llm.n_tokens = depth
        self._armed = True
        self._depth_evaluated = 0 if kept else llama_cpp.llama_perf_context(llm._ctx.ctx).n_p_eval
        return {"depth_evaluated": self._depth_evaluated}

    def generate(self, prompt_token_ids: list[int], max_tokens: int, ignore_eos: bool = True) -> Iterator[int]:
        import llama_cpp

        llm = self._llm
        assert llm is not None, "load() ran first"
        # On top of fill_depth's tokens once, when it armed this generation; else from a clean context.
        depth, self._armed = (len(self._depth) if self._armed else 0), False
        if depth + len(prompt_token_ids) + max_tokens > llm.n_ctx() + 1:
            raise BackendError(f"{depth} depth + {len(prompt_token_ids)} prompt + {max_tokens} output tokens exceed "
                               f"the context of {llm.n_ctx()}", "raise --ctx-size")
        if depth:
            llm.n_tokens = depth          # llm.eval() removes whatever the cache holds past this
        else:
            self._depth, self._depth_evaluated = (), None
            llm.reset()
            llm._ctx.kv_cache_clear()
        self._context_tokens = self._cached_tokens() if depth else 0
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        eos = llama_cpp.llama_vocab_eos(llm._model.vocab)
        llm.eval(prompt_token_ids)
        for i in range(max_tokens):
            tok = self._greedy()
            yield tok
            if not ignore_eos and tok == eos:
                return
            if i + 1 < max_tokens:
                llm.eval([tok])

    def engine_counters(self) -> dict | None:
        """llama.cpp's own perf counters since the last generate() began."""
        import llama_cpp
        assert self._llm is not None, "load() ran first"
        d = llama_cpp.llama_perf_context(self._llm._ctx.ctx)
        # llama.cpp reports a count of 1 with 0 ms when a phase did not run; pass None instead.
        counters = {"prompt_tokens": d.n_p_eval if d.t_p_eval_ms > 0 else None,
                    "prompt_ms": d.t_p_eval_ms if d.t_p_eval_ms > 0 else None,
                    "decode_tokens": d.n_eval if d.t_eval_ms > 0 else None,
                    "decode_ms": d.t_eval_ms if d.t_eval_ms > 0 else None}
        if self._context_tokens:          # a generation at depth: what was in the cache, and who put it there
            counters |= {"context_tokens": self._context_tokens, "depth_evaluated": self._depth_evaluated}
        return counters

    def batch_session(self, n_seqs: int, seq_len: int):
        """Several sequences at once on this model (see llamacpp_batch); close() it when done."""
        from engines.llamacpp.batch import BatchSession
        return BatchSession(self._llm, n_seqs, seq_len, self._n_batch, kv_in_ram=not self._offload)

    def unload(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
