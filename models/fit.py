"""Will a model at a quantization fit in a machine's memory for a scenario? Decided before loading.

need = weights + KV cache (context x concurrency tokens) + runtime overhead, against the memory the
engine can use. The overhead model per backend, and why:

- llamacpp: a fixed 256 MiB (process, ggml contexts, llama-cpp-python's buffers; CUDA/Metal
  contexts on a GPU) plus llama.cpp's compute buffer, which it reserves up front for the worst
  micro-batch (llamacpp_compute_buffer below): n_ubatch tokens that all produce logits, or, without
  flash attention, their attention scores against the whole cache, or the FFN, whichever is
  largest, plus the attention masks and the activations around them. tests/models/test_fit.py
  holds it to -10%..+35% of the compute buffer the real llama.cpp reports for the same shapes. The
  KV cache counts every layer at full context, sliding-window layers too: llama-cpp-python keeps
  llama.cpp's default swa_full=true (also checked there). Concurrent sequences each get a cache
  stream of their own (llama.cpp's default kv_unified=false), so attention spans one sequence's
  context; with kv_unified=true it spans all context x concurrency cells.
- mlx: 512 MiB plus mlx_lm's prefill chunk of 2048 tokens through the LM head (bf16 logits) or
  the FFN, whichever is larger (fused attention materialises no scores).
- vllm: vLLM takes 90% of the GPU (gpu_memory_utilization) and within it needs the activations of
  one 8192-token scheduler step and ~1 GiB for the CUDA context and graphs.
- torch: 512 MiB plus the FFN activations of the whole prompt batch (transformers' generate).

Engines other than llamacpp are estimates until their backends (a later issue) can check them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from contract.errors import ModelError
from contract.result import vendors_text
from models.architecture import Architecture, architecture_from_dict
from models.formats import Format, check_backend, get_format, weight_bytes

MiB = 1 << 20
GiB = 1 << 30
_LLAMACPP_BASE = 256 * MiB
_MLX_BASE = 512 * MiB
_MLX_PREFILL_STEP = 2048
_VLLM_UTILIZATION = 0.9
_VLLM_BASE = 1 * GiB
_VLLM_STEP_TOKENS = 8192
_TORCH_BASE = 512 * MiB
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


def llamacpp_compute_buffer(arch: Architecture, n_ctx: int, flash_attn: bool = False, n_ubatch: int = 512) -> int:
    """llama.cpp's compute buffer, which it reserves for the worst micro-batch of n_ubatch tokens
    against n_ctx cells (one sequence's stream, or the whole cache when it is unified):
    the attention masks (graph inputs, alive throughout; one per attention kind, f16 with flash
    attention), plus the largest of the attention scores against those cells (no flash
    attention), the FFN's gate/up/product, and every token's logits, plus the hidden-state and
    projection activations around them; +5% for the allocator's alignment and fragmentation."""
    n_ub = min(n_ubatch, n_ctx)
    n_kv = -(-n_ctx // 256) * 256  # llama.cpp pads the cells it attends over to 256
    n_masks = 2 if arch.sliding_window else 1  # sliding-window layers get a mask of their own
    masks = n_masks * n_kv * (2 if flash_attn else 4)
    widest = max(0 if flash_attn else 4 * arch.n_heads * n_kv, 4 * 3 * arch.ffn, 4 * arch.vocab)
    around = 4 * 3 * (arch.hidden + arch.n_heads * arch.head_dim)
    return int(1.05 * n_ub * (masks + widest + around))


@dataclass(frozen=True)
class Sizing:
    """What an engine's overhead rule looks at: the model, how it is run, and the memory there is."""
    arch: Architecture
    fmt: Format
    context_tokens: int
    concurrency: int
    available_bytes: int
    flash_attn: bool = False
    n_ubatch: int = 512
    kv_unified: bool = False

    @property
    def cells(self) -> int:
        return self.context_tokens * self.concurrency


def _llamacpp_overhead(s: Sizing) -> int:
    attended = s.cells if s.kv_unified else s.context_tokens
    return _LLAMACPP_BASE + llamacpp_compute_buffer(s.arch, attended, s.flash_attn, s.n_ubatch)


def _mlx_overhead(s: Sizing) -> int:
    return _MLX_BASE + 2 * _MLX_PREFILL_STEP * max(s.arch.vocab, 2 * s.arch.ffn + 4 * s.arch.hidden)


def _vllm_overhead(s: Sizing) -> int:
    reserved = int(s.available_bytes * (1 - _VLLM_UTILIZATION))
    return reserved + _VLLM_BASE + 2 * _VLLM_STEP_TOKENS * (2 * s.arch.ffn + 4 * s.arch.hidden)


def _torch_overhead(s: Sizing) -> int:
    bytes_per = 4 if s.fmt.quant == "fp32" else 2
    return _TORCH_BASE + bytes_per * s.cells * (2 * s.arch.ffn + 4 * s.arch.hidden)


# each engine's overhead rule (see the module docstring); a new engine adds its line here
OVERHEAD_RULES: dict[str, Callable[[Sizing], int]] = {
    "llamacpp": _llamacpp_overhead, "mlx": _mlx_overhead, "vllm": _vllm_overhead, "torch": _torch_overhead,
}


def runtime_overhead(arch: Architecture, fmt: Format, context_tokens: int, concurrency: int,
                     available_bytes: int, flash_attn: bool = False, n_ubatch: int = 512,
                     kv_unified: bool = False) -> int:
    """Bytes the engine needs beyond weights and KV cache (see the module docstring)."""
    rule = OVERHEAD_RULES[fmt.backend]
    return rule(Sizing(arch, fmt, context_tokens, concurrency, available_bytes, flash_attn, n_ubatch, kv_unified))


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
