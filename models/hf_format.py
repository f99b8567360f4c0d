"""What a Hugging Face checkpoint of a catalog architecture looks like: config.json and tensor names.

The tensor list is derived from the GGUF layout (models/tensors.py), so both formats of a model
hold the same tensors and the same parameter count; only names and axis order differ (ggml
lists the row length first, torch the rows). Names and config keys follow transformers'
modeling code for each family, which vLLM and mlx-lm read as well.

Kept free of heavy imports: nothing here needs torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.architecture import Architecture
from models.tensors import tensor_layout
from models.vocab import BOS, EOS, UNK, spm_vocab

HF_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


@dataclass(frozen=True)
class HFTensor:
    name: str
    shape: tuple[int, ...]   # torch order: (out_features, in_features) for a linear layer
    is_norm: bool            # a norm's scale, not a projection


# GGUF block-tensor suffix -> HF suffix under model.layers.N.
_BLOCK = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "attn_qkv.weight": "self_attn.qkv_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
# Families whose names differ from the table above.
_FAMILY_BLOCK = {
    # Gemma 2 norms the attention and the FFN on both sides.
    "gemma2": {"post_attention_norm.weight": "post_attention_layernorm.weight",
               "ffn_norm.weight": "pre_feedforward_layernorm.weight",
               "post_ffw_norm.weight": "post_feedforward_layernorm.weight"},
    "phi3": {"ffn_up.weight": "mlp.gate_up_proj.weight"},   # gate and up fused, as Phi-4 stores them
}
_TOP = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight"}
_BLK = re.compile(r"^blk\.(\d+)\.(.+)$")


def hf_tensors(arch: Architecture) -> list[HFTensor]:
    """Every stored tensor of the checkpoint (derived tables such as rope_freqs are not stored:
    transformers computes them from the config)."""
    block = {**_BLOCK, **_FAMILY_BLOCK.get(arch.family, {})}
    out = []
    for t in tensor_layout(arch):
        if not t.learned:
            continue
        m = _BLK.match(t.name)
        name = f"model.layers.{m.group(1)}.{block[m.group(2)]}" if m else _TOP[t.name]
        out.append(HFTensor(name, tuple(reversed(t.shape)), is_norm="norm" in name))
    return out


def norm_offset(arch: Architecture) -> float:
    """What a norm weight stores for a unit scale: Gemma scales by (1 + weight), the rest by weight."""
    return 0.0 if arch.family == "gemma2" else 1.0


_ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                  "gemma2": "Gemma2ForCausalLM", "phi3": "Phi3ForCausalLM"}


def hf_config(arch: Architecture, dtype: str) -> dict:
    """config.json for the architecture. Legacy key names (rope_theta, rope_scaling, torch_dtype):
    transformers 5 still reads them and mlx-lm reads only them."""
    a = arch
    cfg = {
        "architectures": [_ARCHITECTURES[a.family]],
        "model_type": a.family,
        "hidden_size": a.hidden,
        "intermediate_size": a.ffn,
        "num_hidden_layers": a.n_layers,
        "num_attention_heads": a.n_heads,
        "num_key_value_heads": a.n_kv_heads,
        "head_dim": a.head_dim,
        "vocab_size": a.vocab,
        "max_position_embeddings": a.max_context,
        "rms_norm_eps": a.rms_norm_eps,
        "rope_theta": a.rope_theta,
        "tie_word_embeddings": a.tied_embeddings,
        "hidden_act": "silu",
        "attention_bias": False,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "pad_token_id": None,    # Phi3Config defaults to 32000, outside small vocabularies
        "torch_dtype": HF_DTYPES[dtype],
        "use_cache": True,
    }
    if a.rope_scaling is not None:
        r = a.rope_scaling
        cfg["rope_scaling"] = {"rope_type": r.kind, "factor": r.factor, "low_freq_factor": r.low_freq_factor,
                               "high_freq_factor": r.high_freq_factor,
                               "original_max_position_embeddings": r.original_context}
    if a.family == "qwen2":
        cfg.update(use_sliding_window=False, max_window_layers=a.n_layers)
    if a.family == "gemma2":
        cfg.update(hidden_activation="gelu_pytorch_tanh", hidden_act="gelu_pytorch_tanh",
                   query_pre_attn_scalar=a.head_dim, sliding_window=a.sliding_window,
                   attn_logit_softcapping=a.attn_logit_softcap, final_logit_softcapping=a.final_logit_softcap)
    if a.family == "phi3":
        cfg.update(sliding_window=None, original_max_position_embeddings=a.max_context,
                   partial_rotary_factor=1.0)
    return cfg


def hf_tokenizer(arch: Architecture) -> tuple[dict, dict]:
    """(tokenizer.json, tokenizer_config.json): a word-level tokenizer over the synthetic
    vocabulary (models/vocab.py), so servers that detokenize (vllm serve) have text to stream.
    Its counts are the server's: vLLM's /tokenize uses it, and so does engines.openai.prompts
    where a server has no tokenize endpoint."""
    tokens = spm_vocab(arch.vocab)[0]
    specials = {UNK: tokens[UNK], BOS: tokens[BOS], EOS: tokens[EOS]}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, t in specials.items()],
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": None,
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "WordLevel", "vocab": {t: i for i, t in enumerate(tokens)}, "unk_token": tokens[UNK]},
    }
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": tokens[BOS], "eos_token": tokens[EOS],
              "unk_token": tokens[UNK], "add_bos_token": False, "add_eos_token": False,
              "model_max_length": arch.max_context}
    return tokenizer, config
