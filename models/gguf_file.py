"""Check a GGUF file before an engine sees it: llama.cpp's own errors for bad files are cryptic.

Reads the header (metadata and tensor directory) only, never the tensor data, so it is cheap
even for a 15 GB file. Every failure is a ModelError of one line.
"""

from __future__ import annotations

import math
import os
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from contract.errors import ModelError
from models.architecture import Architecture

_MAGIC = b"GGUF"
_DEFAULT_ALIGNMENT = 32
# GGUF value type id -> struct format (scalars); 8 = string, 9 = array
# llama.cpp's built-in values for keys a gemma2 file may leave out (llama-model.cpp load_hparams)
_DEFAULTS = {
    ("gemma2", "attention.sliding_window"): 4096,
    ("gemma2", "attn_logit_softcapping"): 50.0,
    ("gemma2", "final_logit_softcapping"): 30.0,
}
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: str  # ggml type name, e.g. "Q4_K"
    shape: tuple[int, ...]  # ggml order (row length first)
    offset: int  # from the start of the data section
    nbytes: int


@dataclass(frozen=True)
class GGUFSummary:
    path: Path
    file_size: int
    version: int
    metadata: dict[str, Any]  # scalars and strings as values; arrays as their length
    tensors: tuple[TensorInfo, ...]
    data_offset: int  # where tensor data starts in the file
    tensor_bytes: int = field(init=False)
    type_counts: dict[str, int] = field(init=False)  # ggml type -> number of tensors

    def __post_init__(self) -> None:
        object.__setattr__(self, "tensor_bytes", sum(t.nbytes for t in self.tensors))
        object.__setattr__(self, "type_counts", dict(Counter(t.type for t in self.tensors)))

    @property
    def family(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def _arch_key(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.family}.{key}", _DEFAULTS.get((self.family, key), default))

    def architecture(self) -> Architecture:
        """The model shape recorded in the metadata; ModelError when a required key is missing."""
        try:
            hidden = int(self._arch_key("embedding_length"))
            n_heads = int(self._arch_key("attention.head_count"))
            names = {t.name for t in self.tensors}
            return Architecture(
                family=self.family,
                n_layers=int(self._arch_key("block_count")),
                hidden=hidden,
                n_heads=n_heads,
                n_kv_heads=int(self._arch_key("attention.head_count_kv", n_heads)),
                head_dim=int(self._arch_key("attention.key_length", hidden // n_heads)),
                ffn=int(self._arch_key("feed_forward_length")),
                vocab=int(self._arch_key("vocab_size", self.metadata.get("tokenizer.ggml.tokens", 0))),
                tied_embeddings="output.weight" not in names,
                rope_theta=_f32(self._arch_key("rope.freq_base", 10000.0)),
                max_context=int(self._arch_key("context_length")),
                rms_norm_eps=_f32(self._arch_key("attention.layer_norm_rms_epsilon", 1e-5)),
                sliding_window=self._arch_key("attention.sliding_window") or None,  # phi3 writes 0 for none
                attn_logit_softcap=_f32_or_none(self._arch_key("attn_logit_softcapping")),
                final_logit_softcap=_f32_or_none(self._arch_key("final_logit_softcapping")),
            )
        except (TypeError, ValueError, ZeroDivisionError) as e:
            raise ModelError(f"{self.path}: GGUF metadata lacks the {self.family!r} architecture keys ({e})") from e


def _f32(value: Any) -> float:
    """A float32 from the file as the decimal it was written from (1e-5, not 9.99999974e-06)."""
    return float(f"{float(value):.7g}")


def _f32_or_none(value: Any) -> float | None:
    return None if value is None else _f32(value)


class _Corrupt(Exception):
    pass


class _Header:
    """Sequential reader of the GGUF header that never reads past the end of the file."""

    def __init__(self, f: BinaryIO, size: int):
        self.f, self.size = f, size

    def raw(self, n: int) -> bytes:
        if n < 0 or self.f.tell() + n > self.size:
            raise _Corrupt(f"a field of {n} bytes at offset {self.f.tell()} runs past the end of the file")
        return self.f.read(n)

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.raw(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        try:
            return self.raw(self.scalar("<Q")).decode("utf-8")
        except UnicodeDecodeError as e:
            raise _Corrupt(f"a string at offset {self.f.tell()} is not UTF-8") from e

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype, count = self.scalar("<I"), self.scalar("<Q")
            if etype in _SCALARS:  # skip fixed-size elements in one seek
                self.f.seek(struct.calcsize(_SCALARS[etype]) * count, os.SEEK_CUR)
                if self.f.tell() > self.size:
                    raise _Corrupt("an array runs past the end of the file")
            else:
                for _ in range(count):
                    self.value(etype)
            return count
        raise _Corrupt(f"unknown value type {vtype}")


def _tensor(h: _Header) -> TensorInfo:
    name = h.string()
    n_dims = h.scalar("<I")
    if not 1 <= n_dims <= 4:
        raise _Corrupt(f"tensor {name!r} has {n_dims} dimensions")
    shape = tuple(h.scalar("<Q") for _ in range(n_dims))
    type_id, offset = h.scalar("<I"), h.scalar("<Q")
    try:
        qtype = GGMLQuantizationType(type_id)
    except ValueError:
        raise _Corrupt(f"tensor {name!r} has unknown type id {type_id}") from None
    block, block_bytes = GGML_QUANT_SIZES[qtype]
    n = math.prod(shape)
    if shape[0] % block:
        raise _Corrupt(f"tensor {name!r} rows of {shape[0]} are not whole {qtype.name} blocks")
    return TensorInfo(name, qtype.name, shape, offset, n // block * block_bytes)


def inspect_gguf(path: str | os.PathLike[str]) -> GGUFSummary:
    """Summarise a GGUF file from its header; ModelError if it is missing, foreign, corrupt or truncated."""
    path = Path(path)
    hint = "delete it and build or download it again"
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    size = path.stat().st_size
    with open(path, "rb", buffering=1 << 20) as f:
        magic = f.read(4)
        if magic != _MAGIC:
            raise ModelError(f"not a GGUF file: {path} (starts with {magic!r}, expected {_MAGIC!r})")
        h = _Header(f, size)
        try:
            version = h.scalar("<I")
            if version not in (2, 3):
                raise _Corrupt(f"unsupported GGUF version {version}")
            n_tensors, n_kv = h.scalar("<Q"), h.scalar("<Q")
            metadata: dict[str, Any] = {}
            for _ in range(n_kv):
                key = h.string()
                metadata[key] = h.value(h.scalar("<I"))
            tensors = tuple(_tensor(h) for _ in range(n_tensors))
            alignment = metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
            if not isinstance(alignment, int) or alignment <= 0:
                raise _Corrupt(f"bad general.alignment {alignment!r}")
            data_offset = -(-f.tell() // alignment) * alignment
        except _Corrupt as e:
            raise ModelError(f"corrupt GGUF metadata in {path}: {e}", hint) from None
    data_end = max((data_offset + t.offset + t.nbytes for t in tensors), default=data_offset)
    if data_end > size:
        raise ModelError(
            f"truncated GGUF file: {path} has {size:,} bytes but its tensors need {data_end:,}", hint
        )
    return GGUFSummary(path, size, version, metadata, tensors, data_offset)
