"""A transformer's architecture: its shape (models/shape.py) plus what follows from its tensor
layout, the parameter count and the checks that it can be a working model."""

from __future__ import annotations

from models.shape import ModelShape, RopeScaling
from models.tensors import FAMILIES, tensor_layout

__all__ = ["Architecture", "RopeScaling", "architecture_from_dict"]


class Architecture(ModelShape):
    def param_count(self) -> int:
        """Learned parameters, as model cards count them (no derived tables such as rope_freqs)."""
        return sum(t.n_elements for t in tensor_layout(self) if t.learned)

    def problems(self) -> list[str]:
        """Why this shape cannot be a working model; empty when it is consistent."""
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
