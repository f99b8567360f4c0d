"""The GGUF tensor list of each model family: names and shapes exactly as llama.cpp expects them.

Adding a family (qwen2, qwen3, gemma2, phi3) means adding one layout function to FAMILIES here and
its metadata keys in synthetic.py; the quantization mix (quant_mix.py) works from tensor names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from models.architecture import Architecture


@dataclass(frozen=True)
class TensorDef:
    name: str
    shape: tuple[int, ...]  # ggml order: shape[0] is the row length (ne0), shape[1] the row count

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def row_len(self) -> int:
        return self.shape[0]

    @property
    def n_rows(self) -> int:
        return self.n_elements // self.shape[0]

    @property
    def is_matrix(self) -> bool:
        return len(self.shape) >= 2


def _llama(a: Architecture) -> list[TensorDef]:
    q, kv = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
    out = [TensorDef("token_embd.weight", (a.hidden, a.vocab))]
    for i in range(a.n_layers):
        b = f"blk.{i}."
        out += [
            TensorDef(b + "attn_norm.weight", (a.hidden,)),
            TensorDef(b + "attn_q.weight", (a.hidden, q)),
            TensorDef(b + "attn_k.weight", (a.hidden, kv)),
            TensorDef(b + "attn_v.weight", (a.hidden, kv)),
            TensorDef(b + "attn_output.weight", (q, a.hidden)),
            TensorDef(b + "ffn_norm.weight", (a.hidden,)),
            TensorDef(b + "ffn_gate.weight", (a.hidden, a.ffn)),
            TensorDef(b + "ffn_up.weight", (a.hidden, a.ffn)),
            TensorDef(b + "ffn_down.weight", (a.ffn, a.hidden)),
        ]
    out.append(TensorDef("output_norm.weight", (a.hidden,)))
    if not a.tied_embeddings:
        out.append(TensorDef("output.weight", (a.hidden, a.vocab)))
    return out


@dataclass(frozen=True)
class Family:
    layout: Callable[[Architecture], list[TensorDef]]
    head_dim_is_hidden_over_heads: bool  # llama.cpp derives head_dim from hidden/heads unless told


FAMILIES: dict[str, Family] = {
    "llama": Family(_llama, head_dim_is_hidden_over_heads=True),
}


def tensor_layout(arch: Architecture) -> list[TensorDef]:
    """Every tensor of the model, in the order convert_hf_to_gguf.py writes them."""
    return FAMILIES[arch.family].layout(arch)
