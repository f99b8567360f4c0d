"""PyTorch through transformers: a model built from a checkpoint directory (a synthetic one from
models/synthetic_hf.py, or a local Hugging Face checkpoint), decoded greedily token by token.

We run our own loop over the model's forward (not `generate`) so that each token is handed to the
harness the moment it exists: on CUDA and MPS kernels run asynchronously, so the device is
synchronised before every yield, or the harness would stamp a token the GPU has not produced yet.

Absolute imports: `import torch` here is the real package, never this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

from contract.device import Device
from contract.errors import BackendError
from engines.base import Capabilities, EngineDefaults, LoadedModel, Prepared
from engines.options import EngineOptions, engine_option

DTYPES = ("fp32", "bf16", "fp16")


def pick_device(torch, requested: str | None) -> str:
    """cuda, then mps, then cpu, unless the user named one."""
    if requested and requested != "auto":
        if requested == "cuda" and not torch.cuda.is_available():
            raise BackendError("--device cuda asked for, but torch sees no CUDA device",
                               "install a CUDA build of torch, or use --device cpu")
        if requested == "mps" and not torch.backends.mps.is_available():
            raise BackendError("--device mps asked for, but torch has no MPS support here", "use --device cpu")
        if requested not in ("cpu", "cuda", "mps"):
            raise BackendError(f"unknown torch device {requested!r}", "choose auto, cpu, cuda or mps")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _checkpoint_dtype(path: Path) -> str:
    import json

    cfg = json.loads((path / "config.json").read_text())
    name = cfg.get("dtype") or cfg.get("torch_dtype") or "bfloat16"
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(name, name)


def synchronizer(torch, device: str):
    """What makes the host wait for the device's queued kernels; None where nothing is queued."""
    return {"cuda": torch.cuda.synchronize, "mps": torch.mps.synchronize}.get(device)


class TorchOptions(EngineOptions):
    n_ctx: int | None = None     # set by the run: what its scenarios need, or --ctx-size
    n_threads: int | None = None     # None: torch's own
    dtype: str | None = None     # set by the model's resolution; None: the checkpoint's own
    device: Annotated[str | None, engine_option(str)] = None       # None: cuda, then mps, then cpu
    static_cache: Annotated[bool, engine_option(bool)] = False
    compile: Annotated[bool, engine_option(bool)] = False
    attn_implementation: Annotated[str | None, engine_option(str)] = None   # None: transformers' default


class TorchBackend(EngineDefaults):
    name = "torch"
    capabilities = Capabilities(streaming=True, devices=("cpu", "cuda", "mps"),
                                quant_formats=DTYPES, engine_memory=True)
    engine_options = TorchOptions
    model_format = "torch"

    def __init__(self):
        self._torch = None
        self._model = None
        self._device = "cpu"
        self._n_ctx = 0
        self._cache = None           # the static KV cache, allocated once at load
        self._decode = None          # the forward used for single-token steps (compiled or not)
        self._cache_kw = "past_key_values"
        self._synchronize = None

    def check_installed(self, extra: str) -> None:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            raise BackendError("torch and transformers are not installed",
                               f"pip install 'rightsize[{extra}]'") from None

    def prepare(self, quant: str | None, options: EngineOptions | Mapping) -> Prepared:
        return Prepared(TorchOptions.of(options, self.name))    # nothing to settle before loading

    def load(self, model_path: Path | str, options: EngineOptions | Mapping) -> LoadedModel:
        import torch
        import transformers

        o = TorchOptions.of(options, self.name)
        self._torch = torch
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise BackendError(f"{path} is not a Hugging Face checkpoint directory (no config.json)",
                               "pass a directory with config.json and safetensors weights")
        # The checkpoint's own dtype unless the run asks for another (weights are cast at load).
        dtype = o.dtype or _checkpoint_dtype(path)
        if dtype not in DTYPES:
            raise BackendError(f"torch runs {', '.join(DTYPES)}, not {dtype!r}", "pass --quant fp32, bf16 or fp16")
        self._device = pick_device(torch, o.device)
        self._synchronize = synchronizer(torch, self._device)
        if o.n_threads:
            torch.set_num_threads(o.n_threads)
        torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
        try:
            self._model = transformers.AutoModelForCausalLM.from_pretrained(
                path, dtype=torch_dtype, attn_implementation=o.attn_implementation,
            ).to(self._device).eval()   # no attention asked for: transformers' default (sdpa where the model has it)
        except (OSError, ValueError, RuntimeError) as exc:
            raise BackendError(f"transformers could not load {path}: {exc}") from None
        model = self._model
        # transformers renamed past_key_values to cache (5.2x); take whichever this version has.
        self._cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self._n_ctx = o.context()
        static = o.static_cache
        compiled = o.compile
        if static:
            self._cache = transformers.StaticCache(config=model.config, max_cache_len=self._n_ctx)
        self._decode = model.forward
        if compiled:
            # CUDA graphs ("reduce-overhead") need the cache at fixed addresses: static cache only.
            mode = "reduce-overhead" if self._device == "cuda" and static else None
            self._decode = torch.compile(model.forward, mode=mode, fullgraph=False, dynamic=not static)
        cfg = model.config
        params = sum(p.numel() for p in model.parameters())
        return LoadedModel(
            path=path,
            n_ctx=self._n_ctx,
            vocab_size=cfg.vocab_size,
            bos_token_id=cfg.bos_token_id,
            device=Device.parse(self._device),
            engine_info={
                "engine": "torch",
                "torch_version": torch.__version__,
                "transformers_version": transformers.__version__,
                "dtype": dtype,
                "device_name": torch.cuda.get_device_name() if self._device == "cuda" else None,
                "static_cache": static,
                "compile": compiled,
                "attn_implementation": getattr(cfg, "_attn_implementation", None),
                "n_threads": torch.get_num_threads() if self._device == "cpu" else None,
                "model_params": params,
                "model_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
            },
        )

    def _forward(self, fn, ids, cache, **inputs):
        return fn(input_ids=ids, use_cache=True, logits_to_keep=1, **{self._cache_kw: cache}, **inputs).logits

    def generate(self, prompt_token_ids: list[int], max_tokens: int, ignore_eos: bool = True) -> Iterator[int]:
        import transformers

        torch, model = self._torch, self._model
        assert torch is not None and model is not None, "load() ran first"
        if len(prompt_token_ids) + max_tokens > self._n_ctx + 1:
            raise BackendError(f"{len(prompt_token_ids)} prompt + {max_tokens} output tokens exceed the context "
                               f"of {self._n_ctx}", "raise --ctx-size")
        eos = model.config.eos_token_id
        eos = set(eos) if isinstance(eos, list) else {eos}   # Llama 3 lists several
        with torch.inference_mode():
            if self._cache is not None:
                self._cache.reset()   # its tensors were made under inference mode: reset them there
                cache = self._cache
            else:
                cache = transformers.DynamicCache(config=model.config)
            ids = torch.tensor([prompt_token_ids], device=self._device)
            # The prompt pass runs eager: compiling it would recompile for every prompt length.
            logits = self._forward(model.forward, ids, cache)
            for i in range(max_tokens):
                nxt = logits[:, -1].argmax(dim=-1, keepdim=True)
                if self._synchronize is not None:
                    self._synchronize()
                tok = int(nxt.item())
                yield tok
                if not ignore_eos and tok in eos:
                    return
                if i + 1 < max_tokens:
                    logits = self._forward(self._decode, nxt, cache)

    def engine_counters(self) -> dict | None:
        return None   # torch keeps no timing of its own

    def batch_session(self, n_seqs: int, seq_len: int):
        """Several sequences at once (eager forward and a dynamic cache, whatever the load options)."""
        from engines.torch.batch import TorchBatchSession

        if seq_len > self._n_ctx:
            raise BackendError(f"sequences of {seq_len} tokens exceed the context of {self._n_ctx}", "raise --ctx-size")
        return TorchBatchSession(self, n_seqs, seq_len)

    def engine_memory(self) -> dict:
        """What torch itself says about device memory since load (None where it cannot tell)."""
        torch = self._torch
        assert torch is not None, "load() ran first"
        cuda = self._device == "cuda"
        kv = None
        if self._cache is not None and getattr(self._cache, "layers", None):
            kv = sum(layer.keys.nbytes + layer.values.nbytes for layer in self._cache.layers
                     if getattr(layer, "is_initialized", False)) or None
        return {
            "device_peak_allocated_bytes": torch.cuda.max_memory_allocated() if cuda else None,
            "device_peak_reserved_bytes": torch.cuda.max_memory_reserved() if cuda else None,
            "mps_driver_allocated_bytes": torch.mps.driver_allocated_memory() if self._device == "mps" else None,
            "static_kv_cache_bytes": kv,
        }

    def unload(self) -> None:
        torch = self._torch
        self._model = self._cache = self._decode = None
        if torch is not None and self._device == "cuda":
            torch.cuda.empty_cache()
