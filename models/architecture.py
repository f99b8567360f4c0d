"""The shape of a transformer: everything that decides bytes moved and FLOPs, nothing about weights."""

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
class Architecture:
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

    def param_count(self) -> int:
        """Learned parameters, as model cards count them (no derived tables such as rope_freqs)."""
        from models.tensors import tensor_layout  # tensors.py types against this module

        return sum(t.n_elements for t in tensor_layout(self) if t.learned)

    def kv_bytes_per_token(self, bytes_per_element: float = 2) -> int:
        """KV-cache bytes one token occupies (K and V, every layer); 2 = an F16 cache.

        Every layer counts in full, sliding-window ones too: llama-cpp-python allocates a full-size
        cache for them unless swa_full is turned off, and vLLM pages them like any other layer.
        """
        return int(2 * self.n_layers * self.n_kv_heads * self.head_dim * bytes_per_element)

    def problems(self) -> list[str]:
        """Why this shape cannot be a working model; empty when it is consistent."""
        from models.tensors import FAMILIES

        out = []
        family = FAMILIES.get(self.family)
        if family is None:
            out.append(f"unknown family {self.family!r} (known: {', '.join(sorted(FAMILIES))})")
        elif family.head_dim_is_hidden_over_heads and self.head_dim * self.n_heads != self.hidden:
            out.append(f"head_dim {self.head_dim} x n_heads {self.n_heads} != hidden {self.hidden}")
        for name in ("n_layers", "hidden", "n_heads", "n_kv_heads", "head_dim", "ffn", "vocab", "max_context"):
            if getattr(self, name) <= 0:
                out.append(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_kv_heads > 0 and self.n_heads % self.n_kv_heads:
            out.append(f"n_kv_heads {self.n_kv_heads} does not divide n_heads {self.n_heads}")
        if self.head_dim % 2:
            out.append(f"head_dim {self.head_dim} must be even for RoPE")
        if self.rope_theta <= 0 or self.rms_norm_eps <= 0:
            out.append("rope_theta and rms_norm_eps must be positive")
        if self.rope_scaling is not None and self.rope_scaling.original_context > self.max_context:
            out.append("rope_scaling original_context exceeds max_context")
        if self.sliding_window is not None and not 0 < self.sliding_window <= self.max_context:
            out.append(f"sliding_window {self.sliding_window} must be in 1..max_context")
        if family is not None:
            for name in ("sliding_window", "attn_logit_softcap", "final_logit_softcap"):
                if (getattr(self, name) is not None) != (name in family.needs):
                    need = "needs" if name in family.needs else "has no"
                    out.append(f"family {self.family} {need} {name}")
            if family.always_tied and not self.tied_embeddings:
                out.append(f"family {self.family} always ties the output to the embeddings")
        return out


def architecture_from_dict(d: dict) -> Architecture:
    """The inverse of dataclasses.asdict (result files and ResolvedModel hold architectures as dicts)."""
    d = dict(d)
    if d.get("rope_scaling") is not None:
        d["rope_scaling"] = RopeScaling(**d["rope_scaling"])
    return Architecture(**d)
