"""The shape of a transformer as data: everything that decides bytes moved and FLOPs.

The bottom of models/: tensors.py lays tensors out from a ModelShape, and architecture.py's
Architecture adds what needs those layouts (parameter count, consistency checks), so neither
of the two imports the other both ways."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RopeScaling:
    """Llama 3's frequency-dependent RoPE rescaling (config.json "rope_scaling", rope_type llama3).

    llama.cpp stores it as a per-frequency factor tensor (rope_freqs.weight), not as metadata.
    """

    factor: float
    original_context: int
    low_freq_factor: float
    high_freq_factor: float
    kind: str = "llama3"

    def freq_factors(self, rope_theta: float, head_dim: int) -> list[float]:
        """One divisor per rotary frequency: 1 for short wavelengths, `factor` for long ones,
        a smooth blend between (the rule Meta published with Llama 3.1)."""
        import math

        low_wavelen = self.original_context / self.low_freq_factor
        high_wavelen = self.original_context / self.high_freq_factor
        out = []
        for i in range(0, head_dim, 2):
            wavelen = 2 * math.pi * rope_theta ** (i / head_dim)
            if wavelen < high_wavelen:
                out.append(1.0)
            elif wavelen > low_wavelen:
                out.append(self.factor)
            else:
                smooth = (self.original_context / wavelen - self.low_freq_factor) / (
                    self.high_freq_factor - self.low_freq_factor
                )
                out.append(1 / ((1 - smooth) / self.factor + smooth))
        return out


@dataclass(frozen=True)
class ModelShape:
    family: str  # GGUF architecture name, e.g. "llama"
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    tied_embeddings: bool
    rope_theta: float
    max_context: int
    rms_norm_eps: float
    rope_scaling: RopeScaling | None = None
    sliding_window: int | None = None  # gemma2: every other layer attends to this many tokens
    attn_logit_softcap: float | None = None  # gemma2: tanh cap on attention scores
    final_logit_softcap: float | None = None  # gemma2: tanh cap on output logits

    @property
    def gqa(self) -> int:
        """Query heads per KV head (llama.cpp's n_gqa)."""
        return self.n_heads // self.n_kv_heads

    def kv_bytes_per_token(self, bytes_per_element: float = 2) -> int:
        """KV-cache bytes one token occupies (K and V, every layer); 2 = an F16 cache.

        Every layer counts in full, sliding-window ones too: llama-cpp-python allocates a full-size
        cache for them unless swa_full is turned off, and vLLM pages them like any other layer.
        """
        return int(2 * self.n_layers * self.n_kv_heads * self.head_dim * bytes_per_element)
