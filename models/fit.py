"""Will a model at a quantization fit in a machine's memory for a scenario? Decided before loading.

need = weights + KV cache (context x concurrency tokens) + runtime overhead, against the memory the
engine can use. Each format's overhead rule is its ModelFormat's (models/formats.py), written in
models/overhead.py, which says why each is what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from contract.errors import ModelError
from contract.result import vendors_text
from models.architecture import Architecture, architecture_from_dict
from models.formats import FORMATS, Format, check_backend, get_format, weight_bytes
from models.overhead import _LLAMACPP_BASE, GiB, MiB, Sizing, llamacpp_compute_buffer

__all__ = ["OVERHEAD_RULES", "_LLAMACPP_BASE", "GiB", "MiB", "llamacpp_compute_buffer", "runtime_overhead"]

APPLE_WIRED_FRACTION = 0.75   # about what Metal lets one process wire of unified memory by default


@dataclass(frozen=True)
class FitVerdict:
    fits: bool
    need_bytes: int
    available_bytes: int
    weights_bytes: int
    kv_bytes: int
    overhead_bytes: int
    reason: str
    kv_room_bytes: int  # memory left for the KV cache once weights and overhead are placed
    max_kv_tokens: int  # tokens (all sequences together) that room holds; 0 when there is none

    def to_dict(self) -> dict:
        return asdict(self)


def _gib(n: int) -> str:
    return f"{n / GiB:.1f} GiB"


# each format's overhead rule (models/overhead.py), as its ModelFormat names it
OVERHEAD_RULES: dict[str, Callable[[Sizing], int]] = {name: f.overhead for name, f in FORMATS.items()}


def runtime_overhead(arch: Architecture, fmt: Format, context_tokens: int, concurrency: int,
                     available_bytes: int, flash_attn: bool = False, n_ubatch: int = 512,
                     kv_unified: bool = False) -> int:
    """Bytes the engine needs beyond weights and KV cache (see the module docstring)."""
    rule = FORMATS[fmt.backend].overhead
    return rule(Sizing(arch, fmt.quant, context_tokens, concurrency, available_bytes, flash_attn, n_ubatch, kv_unified))


def check_fit(model, quant: str | None, context_tokens: int, concurrency: int, available_bytes: int,
              backend: str = "llamacpp", flash_attn: bool = False, n_ubatch: int = 512,
              kv_unified: bool = False) -> FitVerdict:
    """Does `model` at `quant` fit in `available_bytes` for `concurrency` sequences of
    `context_tokens` each? `model` is a catalog ModelSpec, a ResolvedModel (its file's real size
    counts; `quant` may be None) or a bare Architecture."""
    if context_tokens <= 0 or concurrency <= 0:
        raise ModelError(f"context ({context_tokens}) and concurrency ({concurrency}) must be positive")
    if available_bytes <= 0:
        raise ModelError(f"available memory must be positive, got {available_bytes}", "for example --memory 24GB")
    arch, weights, fmt = _weights(model, quant, backend)
    kv = arch.kv_bytes_per_token(fmt.kv_bytes_per_element) * context_tokens * concurrency
    overhead = runtime_overhead(arch, fmt, context_tokens, concurrency, available_bytes, flash_attn, n_ubatch,
                                kv_unified)
    need = weights + kv + overhead
    room = available_bytes - weights - overhead
    max_tokens = max(0, room) // arch.kv_bytes_per_token(fmt.kv_bytes_per_element)
    parts = (f"weights {_gib(weights)} + KV {_gib(kv)} for {concurrency} x {context_tokens} tokens "
             f"+ overhead {_gib(overhead)}")
    if context_tokens > arch.max_context:
        fits, reason = False, f"context {context_tokens} exceeds the model's maximum of {arch.max_context} tokens"
    elif need <= available_bytes:
        spare = _gib(available_bytes - need)
        fits, reason = True, f"fits: {_gib(need)} of {_gib(available_bytes)} ({parts}); {spare} spare"
    else:
        fits, reason = False, f"needs {_gib(need)} but {_gib(available_bytes)} is available ({parts})"
    return FitVerdict(fits, need, available_bytes, weights, kv, overhead, reason, max(0, room), max_tokens)


def _weights(model, quant: str | None, backend: str) -> tuple[Architecture, int, Format]:
    from models.resolve import ResolvedModel
    from models.spec import ModelSpec

    if isinstance(model, ResolvedModel):
        # the file on disk is the truth; its quant was read from the file
        fmt = Format(check_backend(backend), quant or model.quant)
        return architecture_from_dict(model.architecture), model.file_bytes, fmt
    if quant is None:
        raise ModelError("a quantization is needed to size a catalog model", "pass --quant, e.g. Q4_K_M")
    fmt = get_format(backend, quant)
    if isinstance(model, ModelSpec):
        return model.architecture, weight_bytes(model.architecture, fmt, model.name).file_bytes, fmt
    if isinstance(model, Architecture):
        return model, weight_bytes(model, fmt).file_bytes, fmt
    raise TypeError(f"check_fit takes a ModelSpec, ResolvedModel or Architecture, not {type(model).__name__}")


def available_memory(info) -> tuple[int, str]:
    """Memory an engine may use on the machine `info` (hardware.HardwareInfo) describes, and where
    the figure came from: all GPUs together (llama.cpp splits layers across them), else 3/4
    of Apple unified memory (about what Metal lets one process wire by default), else CPU RAM."""
    gpus = [g for g in info.gpus if g.memory_bytes]
    if gpus:
        total = sum(g.memory_bytes for g in gpus)
        return total, f"{len(gpus)} {vendors_text(gpus)} GPU(s), {_gib(total)} in all"
    if info.apple is not None and info.apple.unified_memory_bytes:
        unified = info.apple.unified_memory_bytes
        return int(unified * APPLE_WIRED_FRACTION), f"{info.apple.chip}: 3/4 of {_gib(unified)} unified memory"
    if info.cpu.ram_bytes:
        return info.cpu.ram_bytes, f"CPU RAM, {_gib(info.cpu.ram_bytes)} in all"
    raise ModelError("could not detect this machine's memory", "pass --memory, for example --memory 24GB")
