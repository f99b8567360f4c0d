"""Every tensor of a model at a quantization level, with its ggml type and exact byte size.

Sizes come from the layout and the type mix alone, so they are known without building anything:
the roofline needs weight bytes read per token; the catalog shows size on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.architecture import Architecture
from models.ggml import row_bytes
from models.quant import QuantType
from models.quant_mix import tensor_types
from models.tensors import TensorDef, tensor_layout


@dataclass(frozen=True)
class PlannedTensor:
    tensor: TensorDef
    type: str  # ggml type name
    nbytes: int


def tensor_plan(arch: Architecture, quant: QuantType) -> list[PlannedTensor]:
    """The model's tensors in file order, typed as llama-quantize would type them."""
    types = tensor_types(arch, quant)
    return [
        PlannedTensor(t, types[t.name], t.n_rows * row_bytes(types[t.name], t.row_len))
        for t in tensor_layout(arch)
    ]


def weight_bytes(arch: Architecture, quant: QuantType) -> int:
    return sum(p.nbytes for p in tensor_plan(arch, quant))


def weight_bytes_per_token(arch: Architecture, quant: QuantType) -> int:
    """Weight bytes one decoded token reads: all of them except an untied embedding table,
    of which a token reads a single row."""
    total = 0
    for p in tensor_plan(arch, quant):
        if p.tensor.name == "token_embd.weight" and not arch.tied_embeddings:
            total += p.nbytes // p.tensor.n_rows
        else:
            total += p.nbytes
    return total


def flops_per_token(arch: Architecture, attended_tokens: float = 0.0) -> float:
    """FLOPs to push one token through the model: 2 per weight of every matrix multiply (the
    embedding lookup is a row copy, not one; a tied output head multiplies by the embeddings), plus
    attention's QK^T and softmax x V over `attended_tokens` earlier positions: 2 x 2 x heads x head_dim
    per position and layer. A pp<N> pass attends over N/2 positions on average."""
    matmul = sum(t.n_elements for t in tensor_layout(arch)
                 if t.is_matrix and t.learned and (t.name != "token_embd.weight" or arch.tied_embeddings))
    attention = 4 * arch.n_layers * arch.n_heads * arch.head_dim * attended_tokens
    return 2.0 * matmul + attention
