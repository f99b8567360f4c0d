"""mlx-lm in-process: Metal on Apple Silicon, the CPU elsewhere.

Single requests go through mlx-lm's generate_step from token ids, greedy (its default sampler is
argmax) and with no end-of-sequence check at all (generate_step has none), so the output length
is exact. Concurrency goes through mlx-lm's BatchGenerator (continuous batching) with no stop
tokens. The tokenizer is never loaded: prompts are token ids and counts are the engine's.

mlx evaluates lazily; a token id becomes a Python int only once its computation has run, so
the harness stamps a token that really exists. generate_step queues the next step before
handing out the current token (as every mlx-lm user gets it); we wait for that queued work
after the last token, so it never runs into the next measured pass.

Absolute imports: `import mlx` here is the real package, never this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

from contract.device import Device
from contract.errors import BackendError
from engines.base import Capabilities, EngineDefaults, LoadedModel, Prepared
from engines.options import EngineOptions, engine_option


class MLXOptions(EngineOptions):
    n_ctx: int | None = None     # set by the run: what its scenarios need, or --ctx-size
    device: Annotated[str | None, engine_option(str)] = None     # cpu; None: mlx's default (the GPU)
    prefill_step_size: Annotated[int, engine_option(int)] = 2048


class MLXBackend(EngineDefaults):
    name = "mlx"
    capabilities = Capabilities(streaming=True, devices=("metal", "cpu"),
                                quant_formats=("bf16", "8bit", "6bit", "4bit", "3bit"), engine_memory=True)
    engine_options = MLXOptions
    model_format = "mlx"

    def __init__(self):
        self._mx = None
        self._model = None
        self._n_ctx = 0
        self._prefill_step = 2048

    def check_installed(self, extra: str) -> None:
        try:
            import mlx.core  # noqa: F401
            import mlx_lm  # noqa: F401
        except ImportError:
            raise BackendError("mlx and mlx-lm are not installed", f"pip install 'rightsize[{extra}]'") from None

    def prepare(self, quant: str | None, options: EngineOptions | Mapping) -> Prepared:
        return Prepared(MLXOptions.of(options, self.name))    # nothing to settle before loading

    def load(self, model_path: Path | str, options: EngineOptions | Mapping) -> LoadedModel:
        import mlx.core as mx
        import mlx_lm
        from mlx.utils import tree_flatten
        from mlx_lm.utils import load_model

        o = MLXOptions.of(options, self.name)
        self._mx = mx
        if o.device == "cpu":
            mx.set_default_device(mx.cpu)
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise BackendError(f"{path} is not an MLX model directory (no config.json)",
                               "pass a directory made by mlx_lm.convert or an mlx-community download")
        try:
            self._model, config = load_model(path)
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(f"mlx-lm could not load {path}: {exc}") from None
        self._n_ctx = o.context()
        self._prefill_step = o.prefill_step_size
        mx.eval(self._model.parameters())      # load every weight now, not during the first pass
        mx.reset_peak_memory()
        q = config.get("quantization") or {}
        gpu = mx.default_device() == mx.gpu
        # Token ids for tg: BOS when the config names one (mlx-lm itself reads it from the tokenizer).
        bos = config.get("bos_token_id")
        return LoadedModel(
            path=path,
            n_ctx=self._n_ctx,
            vocab_size=config.get("vocab_size") or json.loads((path / "config.json").read_text())["vocab_size"],
            bos_token_id=bos if isinstance(bos, int) else None,
            device=Device.METAL if gpu else Device.CPU,
            engine_info={
                "engine": "mlx-lm",
                "mlx_version": mx.__version__,
                "mlx_lm_version": mlx_lm.__version__,
                "quantization": {"bits": q.get("bits"), "group_size": q.get("group_size"), "mode": q.get("mode")} if q else None,
                "prefill_step_size": self._prefill_step,
                "model_bytes": sum(v.nbytes for _, v in tree_flatten(self._model.parameters())),
            },
        )

    def _check_len(self, n_prompt: int, max_tokens: int) -> None:
        if n_prompt + max_tokens > self._n_ctx:
            raise BackendError(f"{n_prompt} prompt + {max_tokens} output tokens exceed the context of {self._n_ctx}",
                               "raise --ctx-size")

    def generate(self, prompt_token_ids: list[int], max_tokens: int, ignore_eos: bool = True) -> Iterator[int]:
        # ignore_eos=False is not offered: generate_step never stops early, so lengths are always exact.
        from mlx_lm.generate import generate_step
        from mlx_lm.models.cache import make_prompt_cache

        mx = self._mx
        assert mx is not None, "load() ran first"
        self._check_len(len(prompt_token_ids), max_tokens)
        steps = generate_step(mx.array(prompt_token_ids, dtype=mx.uint32), self._model, max_tokens=max_tokens,
                              prompt_cache=make_prompt_cache(self._model), prefill_step_size=self._prefill_step)
        try:
            for tok, _logprobs in steps:
                yield int(tok)
        finally:
            steps.close()
            mx.synchronize()     # the step queued after the last token: done before the next pass

    def engine_counters(self) -> dict | None:
        return None   # generate_step keeps no timing of its own

    def engine_memory(self) -> dict:
        """mlx's own accounting: peak since load (weights, KV cache and activations), and now."""
        mx = self._mx
        assert mx is not None, "load() ran first"
        return {"mlx_peak_memory_bytes": mx.get_peak_memory(), "mlx_active_memory_bytes": mx.get_active_memory(),
                "mlx_cache_memory_bytes": mx.get_cache_memory()}

    def batch_session(self, n_seqs: int, seq_len: int) -> MLXBatchSession:
        return MLXBatchSession(self, n_seqs)

    def unload(self) -> None:
        if self._mx is not None:
            self._model = None
            self._mx.clear_cache()


class MLXBatchSession:
    """The batch_session() shape the load generator drives (see llamacpp_batch.BatchSession),
    over mlx-lm's BatchGenerator: up to n_seqs sequences decode together."""

    def __init__(self, backend: MLXBackend, n_seqs: int):
        from mlx_lm.generate import BatchGenerator

        self._backend = backend
        self._gen = BatchGenerator(backend._model, stop_tokens=None, completion_batch_size=n_seqs,
                                   prefill_batch_size=min(n_seqs, 8), prefill_step_size=backend._prefill_step)
        self._index: dict[int, int] = {}     # BatchGenerator uid -> the request's index in its level

    @property
    def active(self) -> int:
        return len(self._index)

    def submit(self, index: int, prompt_token_ids: list[int], max_tokens: int) -> None:
        self._backend._check_len(len(prompt_token_ids), max_tokens)
        (uid,) = self._gen.insert([list(prompt_token_ids)], max_tokens=[max_tokens])
        self._index[uid] = index

    def step(self) -> list[tuple[int, int]]:
        """One BatchGenerator step: (request index, token id) for every token it produced."""
        _prompt_progress, generated = self._gen.next()
        events = []
        for r in generated:
            events.append((self._index[r.uid], int(r.token)))
            if r.finish_reason is not None:
                del self._index[r.uid]
        return events

    def cached_tokens(self, index: int) -> int | None:
        """None: mlx-lm's BatchGenerator does not say whether it reused any prompt cache."""
        return None

    def close(self) -> None:
        if self._index:
            self._gen.remove(list(self._index))
            self._index.clear()
        self._gen.close()
