"""The synthetic build each backend runs for a catalog model at a quant level, and the engine
options that go with it: its model format's build (models/formats.py FORMATS: llama.cpp a GGUF,
models/synthetic.py; torch and vLLM a Hugging Face checkpoint, models/synthetic_hf.py; mlx-lm an MLX
conversion, models/synthetic_mlx.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.formats import FORMATS, get_format
from models.spec import ModelSpec


def materialize_for(backend: str, spec: ModelSpec, quant: str, cache_dir: Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> tuple[Path, dict]:
    """(model path, backend options) for `backend` running `spec` at `quant`, built if not cached."""
    fmt = get_format(backend, quant)              # ModelError naming the valid quants
    return FORMATS[fmt.backend].build(spec, fmt.quant, cache_dir, progress)
