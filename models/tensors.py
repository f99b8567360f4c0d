"""The GGUF tensor list of each model family: names and shapes exactly as llama.cpp expects them.

Names follow llama.cpp's src/llama-arch.cpp (the same table gguf-py's MODEL_TENSORS mirrors;
tests/models/test_tensors.py checks every name against it). Adding a family means one layout
function in FAMILIES here and its metadata keys in synthetic.py; the quantization mix
(quant_mix.py) works from tensor names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from models.shape import ModelShape


@dataclass(frozen=True)
class TensorDef:
    name: str
    shape: tuple[int, ...]  # ggml order: shape[0] is the row length (ne0), shape[1] the row count
    learned: bool = True  # False for tables derived from the config (rope_freqs)

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


def _embeddings(a: ModelShape) -> list[TensorDef]:
    out = [TensorDef("token_embd.weight", (a.hidden, a.vocab))]
    if a.rope_scaling is not None:  # convert_hf_to_gguf writes llama3 rope factors as a tensor
        out.append(TensorDef("rope_freqs.weight", (a.head_dim // 2,), learned=False))
    return out


def _head(a: ModelShape) -> list[TensorDef]:
    out = [TensorDef("output_norm.weight", (a.hidden,))]
    if not a.tied_embeddings:
        out.append(TensorDef("output.weight", (a.hidden, a.vocab)))
    return out


def _attention(a: ModelShape, b: str, bias: bool = False, qk_norm: bool = False) -> list[TensorDef]:
    q, kv = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
    out = [
        TensorDef(b + "attn_q.weight", (a.hidden, q)),
        TensorDef(b + "attn_k.weight", (a.hidden, kv)),
        TensorDef(b + "attn_v.weight", (a.hidden, kv)),
        TensorDef(b + "attn_output.weight", (q, a.hidden)),
    ]
    if bias:  # qwen2: q/k/v projections carry biases
        out += [TensorDef(b + "attn_q.bias", (q,)), TensorDef(b + "attn_k.bias", (kv,)),
                TensorDef(b + "attn_v.bias", (kv,))]
    if qk_norm:  # qwen3: RMSNorm over each head of q and k
        out += [TensorDef(b + "attn_q_norm.weight", (a.head_dim,)), TensorDef(b + "attn_k_norm.weight", (a.head_dim,))]
    return out


def _gated_ffn(a: ModelShape, b: str) -> list[TensorDef]:
    return [
        TensorDef(b + "ffn_gate.weight", (a.hidden, a.ffn)),
        TensorDef(b + "ffn_up.weight", (a.hidden, a.ffn)),
        TensorDef(b + "ffn_down.weight", (a.ffn, a.hidden)),
    ]


def _pre_norm_blocks(a: ModelShape, bias: bool = False, qk_norm: bool = False) -> list[TensorDef]:
    out = []
    for i in range(a.n_layers):
        b = f"blk.{i}."
        out += [TensorDef(b + "attn_norm.weight", (a.hidden,))]
        out += _attention(a, b, bias=bias, qk_norm=qk_norm)
        out += [TensorDef(b + "ffn_norm.weight", (a.hidden,))]
        out += _gated_ffn(a, b)
    return out


def _llama(a: ModelShape) -> list[TensorDef]:
    return _embeddings(a) + _pre_norm_blocks(a) + _head(a)


def _qwen2(a: ModelShape) -> list[TensorDef]:
    return _embeddings(a) + _pre_norm_blocks(a, bias=True) + _head(a)


def _qwen3(a: ModelShape) -> list[TensorDef]:
    return _embeddings(a) + _pre_norm_blocks(a, qk_norm=True) + _head(a)


def _gemma2(a: ModelShape) -> list[TensorDef]:
    # norms after attention and after the FFN as well as before each
    out = _embeddings(a)
    for i in range(a.n_layers):
        b = f"blk.{i}."
        out += [TensorDef(b + "attn_norm.weight", (a.hidden,))]
        out += _attention(a, b)
        out += [TensorDef(b + "post_attention_norm.weight", (a.hidden,)), TensorDef(b + "ffn_norm.weight", (a.hidden,))]
        out += _gated_ffn(a, b)
        out += [TensorDef(b + "post_ffw_norm.weight", (a.hidden,))]
    return out + _head(a)


def _phi3(a: ModelShape) -> list[TensorDef]:
    # fused projections, as Phi-3/Phi-4 checkpoints store them: qkv_proj and gate_up_proj
    q, kv = a.n_heads * a.head_dim, a.n_kv_heads * a.head_dim
    out = _embeddings(a)
    for i in range(a.n_layers):
        b = f"blk.{i}."
        out += [
            TensorDef(b + "attn_norm.weight", (a.hidden,)),
            TensorDef(b + "attn_qkv.weight", (a.hidden, q + 2 * kv)),
            TensorDef(b + "attn_output.weight", (q, a.hidden)),
            TensorDef(b + "ffn_norm.weight", (a.hidden,)),
            TensorDef(b + "ffn_up.weight", (a.hidden, 2 * a.ffn)),
            TensorDef(b + "ffn_down.weight", (a.ffn, a.hidden)),
        ]
    return out + _head(a)


@dataclass(frozen=True)
class Family:
    layout: Callable[[ModelShape], list[TensorDef]]
    head_dim_is_hidden_over_heads: bool  # llama.cpp derives head_dim from hidden/heads unless told
    needs: frozenset[str] = frozenset()  # shape fields that must be set for this family
    always_tied: bool = False  # llama.cpp has no output.weight for the family


FAMILIES: dict[str, Family] = {
    "llama": Family(_llama, head_dim_is_hidden_over_heads=True),
    "qwen2": Family(_qwen2, head_dim_is_hidden_over_heads=True),
    "qwen3": Family(_qwen3, head_dim_is_hidden_over_heads=False),
    "gemma2": Family(
        _gemma2, head_dim_is_hidden_over_heads=False,
        needs=frozenset({"sliding_window", "attn_logit_softcap", "final_logit_softcap"}), always_tied=True,
    ),
    "phi3": Family(_phi3, head_dim_is_hidden_over_heads=True),
}


def tensor_layout(arch: ModelShape) -> list[TensorDef]:
    """Every tensor of the model, in the order convert_hf_to_gguf.py writes them."""
    return FAMILIES[arch.family].layout(arch)
