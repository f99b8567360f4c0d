"""A model the suite knows: its exact architecture and where its real weights live.

Kept apart from the catalog's entries so that the builders (synthetic*.py) and the hub can type
against it without importing the catalog, which checks its entries against the formats ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.architecture import Architecture


@dataclass(frozen=True)
class Sources:
    """Where the real weights live, per format: Hugging Face repos, GGUF files as "repo/file.gguf"."""

    hf: str | None = None  # original safetensors (bf16): torch, and vLLM at bf16, load this
    gguf: dict[str, str] = field(default_factory=dict)  # llama.cpp quant -> "repo/file.gguf"
    mlx: dict[str, str] = field(default_factory=dict)  # "bf16", "8bit", ... -> repo
    vllm: dict[str, str] = field(default_factory=dict)  # "fp8", "awq-int4", "gptq-int4", "gptq-int8" -> repo
    # repos seen named in public references when the entry was written; the others follow the
    # publisher's naming pattern and may not exist. File names inside a repo follow its pattern.
    verified: frozenset[str] = frozenset()

    def get(self, backend: str, quant: str) -> str | None:
        """The download for one cell of the ladder; None when no repo is known for it."""
        if backend == "llamacpp":
            return self.gguf.get(quant)
        if backend == "mlx":
            return self.mlx.get(quant)
        if backend == "vllm" and quant != "bf16":
            return self.vllm.get(quant)
        return self.hf

    def is_verified(self, location: str) -> bool:
        return "/".join(location.split("/")[:2]) in self.verified


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    architecture: Architecture
    license: str
    notes: str = ""
    params: int | None = None  # the published parameter count; the architecture must reproduce it
    sources: Sources = field(default_factory=Sources)
    config: str = ""  # where the architecture values were read
    listed: bool = True  # False hides test-only entries from `bench models` and `bench plan`
