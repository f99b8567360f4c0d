"""The models the suite knows by name: exact architectures, checked when the module loads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from bench.errors import ModelError
from models.architecture import Architecture


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    architecture: Architecture
    license: str
    notes: str = ""


DEFAULT_MODEL = "llama-3.1-8b"

_ENTRIES = [
    ModelSpec(
        id="llama-3.1-8b",
        name="Llama 3.1 8B",
        architecture=Architecture(
            family="llama", n_layers=32, hidden=4096, n_heads=32, n_kv_heads=8, head_dim=128,
            ffn=14336, vocab=128256, tied_embeddings=False, rope_theta=500000.0,
            max_context=131072, rms_norm_eps=1e-5,
        ),  # fmt: skip
        license="Llama 3.1 Community License",
        notes="meta-llama/Llama-3.1-8B; synthetic builds omit the llama3 rope-scaling factors tensor",
    ),
    ModelSpec(
        id="tiny",
        name="Tiny llama (tests)",
        architecture=Architecture(
            family="llama", n_layers=2, hidden=256, n_heads=4, n_kv_heads=2, head_dim=64,
            ffn=768, vocab=32000, tied_embeddings=False, rope_theta=10000.0,
            max_context=2048, rms_norm_eps=1e-5,
        ),  # fmt: skip
        license="n/a (synthetic)",
        notes="a few MB; dims are multiples of 256 so every K-quant applies",
    ),
]


def build_catalog(specs: Iterable[ModelSpec]) -> dict[str, ModelSpec]:
    """Index specs by id, refusing duplicates and impossible architectures."""
    out: dict[str, ModelSpec] = {}
    for spec in specs:
        if spec.id in out:
            raise ModelError(f"catalog: duplicate model id {spec.id!r}")
        problems = spec.architecture.problems()
        if problems:
            raise ModelError(f"catalog: model {spec.id!r} is inconsistent: {'; '.join(problems)}")
        out[spec.id] = spec
    return out


CATALOG = build_catalog(_ENTRIES)


def get_model(model_id: str) -> ModelSpec:
    spec = CATALOG.get(model_id.strip().lower())
    if spec is None:
        raise ModelError(f"unknown model {model_id!r}", f"known: {', '.join(CATALOG)}")
    return spec
