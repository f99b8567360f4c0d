"""Helpers for the engine tests. Engines live in tox environments of their own (tox -e torch,
vllm, mlx). Elsewhere a test whose engine is missing skips itself; in the engine's own
environment (RIGHTSIZE_REQUIRE_ENGINES names it) a missing engine is an error, so that
environment can never pass by skipping everything.
"""

import importlib
import os
from typing import Any

import pytest

from models.architecture import Architecture
from models.catalog import ModelSpec


def require(module: str, engine: str):
    """Import `module` for the `engine` tests, or skip them (fail where the engine is required)."""
    required = engine in os.environ.get("RIGHTSIZE_REQUIRE_ENGINES", "").split(",")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if required:
            pytest.fail(f"{engine} is required here but {module} does not import: {exc}")
        pytest.skip(f"{module} is not installed (tox -e {engine} runs these tests)")


def tiny_spec(family: str = "llama", **changes) -> ModelSpec:
    """A small model of the family with every dimension a multiple of 64 (mlx's quant group)."""
    fields: dict[str, Any] = {"family": family, "n_layers": 2, "hidden": 256, "n_heads": 4, "n_kv_heads": 2, "head_dim": 64, "ffn": 512,
                  "vocab": 1024, "tied_embeddings": False, "rope_theta": 10000.0, "max_context": 2048, "rms_norm_eps": 1e-6}
    if family == "gemma2":
        fields.update(tied_embeddings=True, sliding_window=512, attn_logit_softcap=50.0, final_logit_softcap=30.0)
    fields.update(changes)
    return ModelSpec(id=f"tiny-{family}", name=f"tiny {family} (tests)", license="n/a (synthetic)",
                     architecture=Architecture(**fields))


FAMILIES = ("llama", "qwen2", "qwen3", "gemma2", "phi3")
