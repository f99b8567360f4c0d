"""vLLM in-process, driven step by step through its LLMEngine.

Why LLMEngine and not `LLM.generate`: `LLM.generate` returns whole completions, so the harness
could not stamp tokens. `LLMEngine.step()` runs one scheduler iteration and returns the tokens it
produced (RequestOutputKind.DELTA: only the new ones), so the harness stamps each token when it
reaches this process, as a client of the engine sees it. The same step loop runs single requests
(generate) and many at once (batch_session: vLLM's own continuous batching decides what runs).

Prompts go in as token ids with the tokenizer skipped: nothing is tokenised or detokenised, and
token counts are the engine's. Greedy (temperature 0) with ignore_eos, so lengths are exact.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

from contract.device import Device
from contract.errors import BackendError
from engines.base import Capabilities, EngineDefaults, LoadedModel, Prepared
from engines.options import EngineOptions, engine_option

# The quantization ladder (models/formats.py) -> vLLM's `quantization` argument. Pre-quantized
# checkpoints (AWQ, GPTQ, FP8) say their method in config.json and vLLM reads it from there
# (None); fp8 on a bf16 checkpoint quantizes the weights online at load.
QUANTIZATION = {"bf16": None, "fp8": "fp8", "awq-int4": None, "gptq-int4": None, "gptq-int8": None}
_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "auto": "auto"}
_ids = itertools.count()


def _sampling(max_tokens: int, ignore_eos: bool):
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    return SamplingParams(max_tokens=max_tokens, min_tokens=max_tokens if ignore_eos else 0, ignore_eos=ignore_eos,
                          temperature=0.0, detokenize=False, output_kind=RequestOutputKind.DELTA)


def _counters(out, n_prompt: int) -> dict | None:
    """vLLM's own timing of one finished request (engine-core monotonic timestamps)."""
    m = getattr(out, "metrics", None)
    if m is None or not m.first_token_ts:
        return None
    decode = m.num_generation_tokens - 1
    return {"prompt_tokens": n_prompt if m.scheduled_ts else None,
            "prompt_ms": (m.first_token_ts - m.scheduled_ts) * 1e3 if m.scheduled_ts else None,
            "decode_tokens": decode if decode > 0 else None,
            "decode_ms": (m.last_token_ts - m.first_token_ts) * 1e3 if decode > 0 else None}


def vllm_device(platform) -> Device:
    """vLLM names ROCm GPUs "cuda" too: ask the platform which it is."""
    if platform.is_rocm():
        return Device.ROCM
    return Device.parse(platform.device_type)


def memory_utilization(options: VLLMOptions) -> float:
    """vLLM's gpu_memory_utilization. On a CPU it is the share of RAM for weights and KV cache:
    0.3 leaves room for the rest (vLLM's 0.9 would take most of the machine)."""
    from vllm.platforms import current_platform

    given = options.gpu_memory_utilization
    return float(given if given is not None else 0.3 if current_platform.is_cpu() else 0.9)


class VLLMOptions(EngineOptions):
    n_ctx: int | None = None     # set by the run: what its scenarios need, or --ctx-size
    n_threads: int | None = None
    verbose: bool = False
    quant: str = "bf16"          # set by the model's resolution, as quantization is with --engine-option
    # None: 0.3 of the RAM on a CPU, else vLLM's 0.9 of the GPU (memory_utilization)
    gpu_memory_utilization: Annotated[float | None, engine_option(float)] = None
    kv_cache_memory_bytes: Annotated[int | None, engine_option(int)] = None
    tensor_parallel_size: Annotated[int, engine_option(int)] = 1
    max_num_seqs: Annotated[int | None, engine_option(int)] = None
    enforce_eager: Annotated[bool, engine_option(bool)] = False
    quantization: Annotated[str | None, engine_option(str)] = None    # None: the quant's (QUANTIZATION)
    dtype: Annotated[str, engine_option(str)] = "auto"
    # vLLM's automatic prefix caching (reuse of the KV blocks of a prompt's shared prefix); None: vLLM's default (on)
    prefix_caching: Annotated[bool | None, engine_option(bool)] = None

class VLLMBackend(EngineDefaults):
    name = "vllm"
    capabilities = Capabilities(streaming=True, devices=("cuda", "rocm", "cpu"),
                                quant_formats=tuple(QUANTIZATION), engine_memory=True)
    engine_options = VLLMOptions
    model_format = "vllm"

    def __init__(self):
        self._engine = None
        self._n_ctx = 0
        self._last_counters: dict | None = None

    def check_installed(self, extra: str) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise BackendError("vllm is not installed", f"pip install 'rightsize[{extra}]'") from None

    def prepare(self, quant: str | None, options: EngineOptions | Mapping) -> Prepared:
        return Prepared(VLLMOptions.of(options, self.name))    # nothing to settle before loading

    def load(self, model_path: Path | str, options: EngineOptions | Mapping) -> LoadedModel:
        o = VLLMOptions.of(options, self.name)
        if o.n_threads:
            # vLLM on CPU keeps one core for its front end by default; a benchmark run that
            # names its thread count gets exactly those cores for the model.
            os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{o.n_threads - 1}"
            os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
        if not o.verbose:
            os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        import vllm
        from vllm import EngineArgs
        from vllm.platforms import current_platform
        from vllm.v1.engine.llm_engine import LLMEngine

        quant = o.quant
        if quant not in QUANTIZATION:
            raise BackendError(f"vLLM quantization {quant!r} is not in the ladder", f"choose one of {', '.join(QUANTIZATION)}")
        dtype = o.dtype
        if dtype not in _DTYPES:
            raise BackendError(f"unknown vLLM dtype {dtype!r}", f"choose one of {', '.join(_DTYPES)}")
        self._n_ctx = o.context()
        args = EngineArgs(
            model=str(model_path),
            skip_tokenizer_init=True,
            max_model_len=self._n_ctx,
            dtype=_DTYPES[dtype],
            quantization=o.quantization or QUANTIZATION[quant],
            gpu_memory_utilization=memory_utilization(o),
            kv_cache_memory_bytes=o.kv_cache_memory_bytes,
            tensor_parallel_size=o.tensor_parallel_size,
            max_num_seqs=o.max_num_seqs,
            enforce_eager=o.enforce_eager,
            enable_prefix_caching=o.prefix_caching,
            seed=0,
            disable_log_stats=False,     # keeps per-request timestamps: our cross-check
        )
        try:
            self._engine = LLMEngine.from_engine_args(args)
        except Exception as exc:  # vLLM raises many kinds (ValueError, RuntimeError, its own)
            raise BackendError(f"vLLM could not load {model_path}: {type(exc).__name__}: {exc}",
                               "rerun with --debug for vLLM's log") from None
        cfg = self._engine.vllm_config
        mc, cc, pc = cfg.model_config, cfg.cache_config, cfg.parallel_config
        return LoadedModel(
            path=Path(model_path),
            n_ctx=mc.max_model_len,
            vocab_size=mc.get_vocab_size(),
            bos_token_id=getattr(mc.hf_config, "bos_token_id", None),
            device=vllm_device(current_platform),
            engine_info={
                "engine": "vllm",
                "vllm_version": vllm.__version__,
                "dtype": str(mc.dtype).removeprefix("torch."),
                "quantization": mc.quantization,
                "tensor_parallel_size": pc.tensor_parallel_size,
                "max_num_seqs": cfg.scheduler_config.max_num_seqs,
                "max_num_batched_tokens": cfg.scheduler_config.max_num_batched_tokens,
                "gpu_memory_utilization": cc.gpu_memory_utilization,
                "enforce_eager": mc.enforce_eager,
                "prefix_caching": cc.enable_prefix_caching,
                "cpu_threads_bind": os.environ.get("VLLM_CPU_OMP_THREADS_BIND") if current_platform.is_cpu() else None,
                **self.engine_memory(),
            },
        )

    def engine_memory(self) -> dict:
        """The KV cache vLLM allocated: blocks x block size tokens, and bytes at the cache dtype."""
        assert self._engine is not None, "load() ran first"
        cfg = self._engine.vllm_config
        mc, cc, pc = cfg.model_config, cfg.cache_config, cfg.parallel_config
        tokens = cc.num_gpu_blocks * cc.block_size if cc.num_gpu_blocks else None
        per_token = None
        if tokens:
            import torch
            from vllm.utils.torch_utils import STR_DTYPE_TO_TORCH_DTYPE
            kv_dtype = mc.dtype if cc.cache_dtype == "auto" else STR_DTYPE_TO_TORCH_DTYPE[cc.cache_dtype]
            per_token = (2 * mc.get_num_layers(pc) * mc.get_num_kv_heads(pc) * mc.get_head_size()
                         * torch.empty((), dtype=kv_dtype).element_size() * pc.tensor_parallel_size)
        return {"kv_cache_tokens": tokens, "kv_cache_block_size": cc.block_size,
                "kv_cache_dtype": cc.cache_dtype, "kv_cache_bytes": tokens * per_token if per_token else None}

    def _check_len(self, n_prompt: int, max_tokens: int) -> None:
        if n_prompt + max_tokens > self._n_ctx:
            raise BackendError(f"{n_prompt} prompt + {max_tokens} output tokens exceed the context of {self._n_ctx}",
                               "raise --ctx-size")

    def generate(self, prompt_token_ids: list[int], max_tokens: int, ignore_eos: bool = True) -> Iterator[int]:
        self._check_len(len(prompt_token_ids), max_tokens)
        engine = self._engine
        assert engine is not None, "load() ran first"
        rid = f"g{next(_ids)}"
        self._last_counters = None
        engine.add_request(rid, {"prompt_token_ids": list(prompt_token_ids)}, _sampling(max_tokens, ignore_eos))
        finished = False
        try:
            while not finished:
                for out in engine.step():
                    if out.request_id != rid:
                        continue
                    finished = out.finished
                    if finished:
                        self._last_counters = _counters(out, len(prompt_token_ids))
                    yield from out.outputs[0].token_ids
        finally:
            if not finished:   # the harness stopped early (error, Ctrl-C): free the sequence
                engine.abort_request([rid])

    def engine_counters(self) -> dict | None:
        return self._last_counters

    def batch_session(self, n_seqs: int, seq_len: int) -> VLLMBatchSession:
        """Several sequences at once; vLLM's scheduler batches them (up to max_num_seqs)."""
        if seq_len > self._n_ctx:
            raise BackendError(f"sequences of {seq_len} tokens exceed vLLM's max_model_len {self._n_ctx}",
                               "raise --ctx-size")
        return VLLMBatchSession(self)

    def unload(self) -> None:
        if self._engine is not None:
            self._engine.engine_core.shutdown()
            self._engine = None


class VLLMBatchSession:
    """The batch_session() shape the load generator drives (see llamacpp_batch.BatchSession)."""

    def __init__(self, backend: VLLMBackend):
        assert backend._engine is not None, "load() ran first"
        self._backend = backend
        self._engine = backend._engine
        self._index: dict[str, int] = {}      # vLLM request id -> the request's index in its level
        self._cached: dict[int, int] = {}     # request index -> prompt tokens its prefix cache served

    @property
    def active(self) -> int:
        return len(self._index)

    def submit(self, index: int, prompt_token_ids: list[int], max_tokens: int) -> None:
        self._backend._check_len(len(prompt_token_ids), max_tokens)
        rid = f"b{next(_ids)}"
        self._engine.add_request(rid, {"prompt_token_ids": list(prompt_token_ids)}, _sampling(max_tokens, True))
        self._index[rid] = index

    def step(self) -> list[tuple[int, int]]:
        """One engine step: (request index, token id) for every token it returned."""
        events = []
        for out in self._engine.step():
            index = self._index.get(out.request_id)
            if index is None:
                continue
            events += [(index, tok) for tok in out.outputs[0].token_ids]
            if out.num_cached_tokens is not None:
                self._cached[index] = out.num_cached_tokens
            if out.finished:
                del self._index[out.request_id]
        return events

    def cached_tokens(self, index: int) -> int | None:
        """vLLM's own count (RequestOutput.num_cached_tokens): 0 with prefix caching off."""
        return self._cached.get(index)

    def close(self) -> None:
        if self._index:
            self._engine.abort_request(list(self._index))
            self._index.clear()
