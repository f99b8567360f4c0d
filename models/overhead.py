"""What an engine needs beyond weights and KV cache, per model format (each ModelFormat in
models/formats.py names its rule). The rules, and why:


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

from dataclasses import dataclass

from models.architecture import Architecture

MiB = 1 << 20
GiB = 1 << 30
_LLAMACPP_BASE = 256 * MiB
_MLX_BASE = 512 * MiB
_MLX_PREFILL_STEP = 2048
_VLLM_UTILIZATION = 0.9
_VLLM_BASE = 1 * GiB
_VLLM_STEP_TOKENS = 8192
_TORCH_BASE = 512 * MiB


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
    quant: str                    # the rung of the format's ladder
    context_tokens: int
    concurrency: int
    available_bytes: int
    flash_attn: bool = False
    n_ubatch: int = 512
    kv_unified: bool = False

    @property
    def cells(self) -> int:
        return self.context_tokens * self.concurrency


def llamacpp_overhead(s: Sizing) -> int:
    attended = s.cells if s.kv_unified else s.context_tokens
    return _LLAMACPP_BASE + llamacpp_compute_buffer(s.arch, attended, s.flash_attn, s.n_ubatch)


def mlx_overhead(s: Sizing) -> int:
    return _MLX_BASE + 2 * _MLX_PREFILL_STEP * max(s.arch.vocab, 2 * s.arch.ffn + 4 * s.arch.hidden)


def vllm_overhead(s: Sizing) -> int:
    reserved = int(s.available_bytes * (1 - _VLLM_UTILIZATION))
    return reserved + _VLLM_BASE + 2 * _VLLM_STEP_TOKENS * (2 * s.arch.ffn + 4 * s.arch.hidden)


def torch_overhead(s: Sizing) -> int:
    bytes_per = 4 if s.quant == "fp32" else 2
    return _TORCH_BASE + bytes_per * s.cells * (2 * s.arch.ffn + 4 * s.arch.hidden)
