"""Build (once, cached) an MLX model directory for a catalog architecture at an mlx-lm quant level.

The synthetic Hugging Face checkpoint (models/synthetic_hf.py) goes through mlx-lm's own
converter, which quantizes with mlx's quantizer (affine, a scale and bias per group of 64
weights): the same packing and bytes as the mlx-community conversions of the real model.

Needs mlx and mlx-lm (imported only here, when an MLX model is asked for).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from contract.errors import ModelError
from models import cache_entry
from models.spec import ModelSpec
from models.synthetic import DEFAULT_SEED, cache_dir_default
from models.synthetic_hf import BUILDER_VERSION as HF_BUILDER_VERSION
from models.synthetic_hf import cache_key as hf_cache_key
from models.synthetic_hf import materialize_hf

# The mlx-lm ladder (models/formats.py): bits per weight, None for unquantized bf16.
MLX_QUANTS = {"bf16": None, "8bit": 8, "6bit": 6, "4bit": 4, "3bit": 3}
GROUP_SIZE = 64    # mlx-lm's default, what mlx-community models use
_STALE_TEMP_S = 1800


def check_quant(quant: str) -> str:
    q = quant.strip().lower()
    if q not in MLX_QUANTS:
        raise ModelError(f"unknown mlx quantization {quant!r}", f"valid: {', '.join(MLX_QUANTS)}")
    return q


def cache_path(spec: ModelSpec, quant: str, cache_dir: Path | None = None, seed: int = DEFAULT_SEED) -> Path:
    quant = check_quant(quant)
    directory = Path(cache_dir) if cache_dir is not None else cache_dir_default()
    # The HF source's key covers architecture, seed and builder; add the MLX side's own inputs.
    key = f"{hf_cache_key(spec, 'bf16', seed)}-g{GROUP_SIZE}-v{HF_BUILDER_VERSION}"
    return directory / f"{spec.id}-mlx-{quant}-{key}"


def _cached(final: Path) -> bool:
    return (final / "config.json").is_file() and any(final.glob("*.safetensors"))


def materialize_mlx(spec: ModelSpec, quant: str = "4bit", cache_dir: Path | str | None = None,
                    seed: int = DEFAULT_SEED) -> Path:
    """The MLX model directory for (spec, quant), converting and quantizing it first if needed."""
    from mlx_lm.convert import convert

    quant = check_quant(quant)
    cache = Path(cache_dir) if cache_dir is not None else None
    final = cache_path(spec, quant, cache, seed)
    if _cached(final):
        return final
    source = materialize_hf(spec, "bf16", cache_dir=cache, seed=seed)
    cache_entry.prepare(final, _STALE_TEMP_S)
    bits = MLX_QUANTS[quant]
    # convert() makes the directory, and prints progress lines
    with cache_entry.building(final, _cached) as tmp, contextlib.redirect_stdout(io.StringIO()):
            convert(str(source), mlx_path=str(tmp), quantize=bits is not None, q_bits=bits,
                    q_group_size=GROUP_SIZE if bits else None, dtype="bfloat16")
    return final
