"""Which ggml type llama-quantize gives each tensor for a file type (the "_M"/"_S" mixes).

A re-statement of llama.cpp's llama_tensor_get_type (src/llama-quant.cpp, the version bundled with
llama-cpp-python 0.3.36) for dense models of the families in tensors.py and the file types in
quant.py, without an importance matrix. tests/models/test_quant_mix.py checks it against the real
quantizer.
"""

from __future__ import annotations

import re

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from models.architecture import Architecture
from models.quant import QuantType
from models.tensors import TensorDef, tensor_layout

# llama.cpp's tensor_type_fallback: a 256-block type whose rows do not divide falls back to these
_FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0", "IQ4_XS": "IQ4_NL"}


def _block(type_name: str) -> int:
    return GGML_QUANT_SIZES[GGMLQuantizationType[type_name]][0]


def _loader_order(t: TensorDef) -> tuple[int, str]:
    # llama_model_loader keeps tensors sorted by layer number, then name; the per-layer counters
    # below (i_attention_wv, i_ffn_down) advance in that order
    m = re.match(r"blk\.(\d+)\.", t.name)
    return (int(m.group(1)) if m else -1, t.name)


def _is_attn_v(name: str) -> bool:
    # a fused q/k/v projection (phi3) holds the V rows, so llama.cpp gives it attn_v's rules
    return name.endswith(("attn_v.weight", "attn_qkv.weight"))


def _quantizable(t: TensorDef) -> bool:
    return t.is_matrix and t.name.endswith("weight") and "_norm.weight" not in t.name


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _fallback(t: TensorDef, new: str) -> str:
    if t.row_len % _block(new) == 0:
        return new
    new = _FALLBACK.get(new, new)
    return new if t.row_len % _block(new) == 0 else "F16"


def tensor_types(arch: Architecture, quant: QuantType) -> dict[str, str]:
    """Tensor name -> ggml type name, for every tensor of the model."""
    layout = sorted(tensor_layout(arch), key=_loader_order)
    ftype = quant.name
    default = quant.default_type
    n_layer = arch.n_layers
    n_attn_v = sum(_is_attn_v(t.name) for t in layout)
    is_70b = arch.family == "llama" and n_layer == 80 and arch.n_heads != arch.n_kv_heads
    i_attn_v = i_ffn_down = 0

    out: dict[str, str] = {}
    for t in layout:
        if not _quantizable(t):
            out[t.name] = "F32"  # norms are stored (and kept) as F32
            continue
        new = default
        if default == "F16":  # not a quantized type: llama.cpp keeps the source type
            out[t.name] = new
            continue
        name = t.name
        if name == "output.weight" or (arch.tied_embeddings and name == "token_embd.weight"):
            if t.row_len % _block(new):
                new = "Q8_0"
            elif new != "Q8_0":
                new = "Q6_K"
        elif name == "token_embd.weight":
            pass  # only the IQ1/IQ2/IQ3_XXS/TQ mixes touch an untied embedding
        elif _is_attn_v(name):
            if ftype == "Q2_K":
                new = "Q4_K" if arch.gqa >= 4 else "Q3_K"
            elif ftype == "Q3_K_M":
                new = "Q5_K" if i_attn_v < 2 else "Q4_K"
            elif ftype == "Q3_K_L" or (ftype in ("IQ4_NL", "IQ4_XS") and arch.gqa >= 4):
                new = "Q5_K"
            elif ftype in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i_attn_v, n_attn_v):
                new = "Q6_K"
            elif ftype == "Q4_K_S" and i_attn_v < 4:
                new = "Q5_K"
            if is_70b and new in ("Q3_K", "Q4_K"):
                new = "Q5_K"  # 8 heads share each attn_v row in the 70B: more bits are cheap there
            i_attn_v += 1
        elif name.endswith("ffn_down.weight"):
            i = i_ffn_down
            if ftype == "Q2_K":
                new = "Q3_K"
            elif ftype == "Q3_K_M":
                new = "Q5_K" if i < n_layer // 16 else "Q4_K"
            elif ftype == "Q3_K_L":
                new = "Q5_K"
            elif ftype == "Q4_K_M":
                if _use_more_bits(i, n_layer):
                    new = "Q6_K"
            elif i < n_layer // 8 and ftype in ("IQ4_NL", "IQ4_XS"):
                new = "Q5_K"
            elif ftype == "Q5_K_M" and _use_more_bits(i, n_layer):
                new = "Q6_K"
            elif ftype == "Q4_K_S" and i < n_layer // 8:
                new = "Q5_K"
            i_ffn_down += 1
        elif name.endswith("attn_output.weight"):
            new = {"Q2_K": "Q3_K", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K"}.get(ftype, new)
        out[name] = _fallback(t, new)
    return out
