"""Which synthetic build each backend runs for a catalog model at a quant level, and the engine
options that go with it.

llama.cpp runs a GGUF (models/synthetic.py), torch and vLLM a Hugging Face checkpoint
(models/synthetic_hf.py), mlx-lm an MLX conversion (models/synthetic_mlx.py). vLLM's fp8 is
its online quantization of the bf16 checkpoint at load: the same weight bytes per token as an
FP8 checkpoint. AWQ and GPTQ checkpoints are not built synthetically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contract.errors import ModelError
from models.formats import get_format
from models.spec import ModelSpec


def materialize_for(backend: str, spec: ModelSpec, quant: str, cache_dir: Path | None = None,
                    progress: Callable[[int, int], None] | None = None) -> tuple[Path, dict]:
    """(model path, backend options) for `backend` running `spec` at `quant`, built if not cached."""
    fmt = get_format(backend, quant)              # ModelError naming the valid quants
    if fmt.backend == "llamacpp":
        from models.synthetic import materialize
        return materialize(spec, fmt.quant, cache_dir=cache_dir, progress=progress), {}
    if fmt.backend == "mlx":
        from models.synthetic_mlx import materialize_mlx
        return materialize_mlx(spec, fmt.quant, cache_dir=cache_dir), {}
    from models.synthetic_hf import materialize_hf
    if fmt.backend == "torch":
        return materialize_hf(spec, fmt.quant, cache_dir=cache_dir, progress=progress), {"dtype": fmt.quant}
    if fmt.quant not in ("bf16", "fp8"):
        raise ModelError(f"no synthetic {fmt.quant} checkpoint for vLLM",
                         "pass a local AWQ/GPTQ checkpoint directory, or use --quant bf16 or fp8")
    return materialize_hf(spec, "bf16", cache_dir=cache_dir, progress=progress), {"quant": fmt.quant}
