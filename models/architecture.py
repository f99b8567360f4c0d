"""The shape of a transformer: everything that decides bytes moved and FLOPs, nothing about weights."""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def gqa(self) -> int:
        """Query heads per KV head (llama.cpp's n_gqa)."""
        return self.n_heads // self.n_kv_heads

    def param_count(self) -> int:
        from models.tensors import tensor_layout  # tensors.py types against this module

        return sum(t.n_elements for t in tensor_layout(self))

    def kv_bytes_per_token(self, bytes_per_element: float = 2) -> int:
        """KV-cache bytes one token occupies (K and V, every layer); 2 = an F16 cache."""
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
        return out
