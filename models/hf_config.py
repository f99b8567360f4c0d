"""Read a model directory in Hugging Face layout (safetensors + config.json): original weights,
an MLX conversion or an AWQ/GPTQ/FP8 checkpoint. Its architecture comes from its own config.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from contract.errors import ModelError
from models.architecture import Architecture, RopeScaling

# config.json model_type -> the llama.cpp family that runs it
_FAMILY = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma2": "gemma2", "phi3": "phi3"}

_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


@dataclass(frozen=True)
class ModelDir:
    path: Path
    format: str  # "mlx" or "hf"
    quant: str  # the ladder name: "4bit", "awq-int4", "fp8", "bf16"...
    architecture: Architecture
    weight_bytes: int  # all *.safetensors files together
    name: str


def architecture_from_config(config: dict, where: str = "config.json") -> Architecture:
    """The Architecture a Hugging Face config.json describes; ModelError naming what is missing."""
    model_type = config.get("model_type")
    family = _FAMILY.get(model_type) if isinstance(model_type, str) else None
    if family is None:
        raise ModelError(f"{where}: model_type {model_type!r} is not supported",
                         f"supported: {', '.join(sorted(_FAMILY))}")
    try:
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        scaling = config.get("rope_scaling") or None
        rope = None
        if scaling and scaling.get("rope_type", scaling.get("type")) == "llama3":
            rope = RopeScaling(float(scaling["factor"]), int(scaling["original_max_position_embeddings"]),
                               float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"]))
        gemma = family == "gemma2"
        return Architecture(
            family=family,
            n_layers=int(config["num_hidden_layers"]),
            hidden=hidden,
            n_heads=heads,
            n_kv_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            ffn=int(config["intermediate_size"]),
            vocab=int(config["vocab_size"]),
            tied_embeddings=bool(config.get("tie_word_embeddings", gemma)),  # transformers' defaults
            rope_theta=float(config.get("rope_theta", 10000.0)),
            max_context=int(config["max_position_embeddings"]),
            rms_norm_eps=float(config.get("rms_norm_eps", 1e-6)),
            rope_scaling=rope,
            # only gemma2's window is honoured by llama.cpp; Qwen2 and Mistral v0.1 configs carry
            # unused window sizes
            sliding_window=int(config["sliding_window"]) if gemma else None,
            attn_logit_softcap=float(config["attn_logit_softcapping"]) if gemma else None,
            final_logit_softcap=float(config["final_logit_softcapping"]) if gemma else None,
        )
    except KeyError as e:
        raise ModelError(f"{where} lacks {e.args[0]!r}", "is this the model's own config.json?") from None
    except (TypeError, ValueError) as e:
        raise ModelError(f"{where} has a malformed value: {e}") from None


def _quant(config: dict) -> tuple[str, str]:
    """(format, ladder quant) from the quantization block a converter leaves in config.json."""
    mlx = config.get("quantization")
    if mlx:  # mlx_lm.convert writes {"group_size": 64, "bits": 4}
        return "mlx", f"{mlx.get('bits')}bit"
    qc = config.get("quantization_config") or {}
    method = str(qc.get("quant_method", "")).lower()
    if method in ("awq", "gptq"):
        return "hf", f"{method}-int{qc.get('bits', qc.get('w_bit', 4))}"
    if method == "fp8" or "float8" in json.dumps(qc):
        return "hf", "fp8"
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    return "hf", _DTYPES.get(dtype, dtype)


def read_model_dir(path: Path) -> ModelDir:
    """Summarise a model directory without loading any weights."""
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{path} has no config.json",
                         "pass a .gguf file, an MLX directory or a Hugging Face model directory")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"cannot read {config_path}: {e}") from None
    if not isinstance(config, dict):
        raise ModelError(f"{config_path} is not a JSON object")
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        raise ModelError(f"{path} has no *.safetensors weights", "download the whole repository, not only its config")
    fmt, quant = _quant(config)
    return ModelDir(path=path, format=fmt, quant=quant, architecture=architecture_from_config(config, str(config_path)),
                    weight_bytes=sum(w.stat().st_size for w in weights), name=path.name)
