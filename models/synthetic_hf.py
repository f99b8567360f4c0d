"""Build (once, cached) a Hugging Face checkpoint directory with a catalog model's exact
architecture and random weights: config.json, model.safetensors, a tokenizer.

torch, vLLM and mlx-lm load it as they load the real model, so they move the same bytes and do
the same FLOPs per token. As in models/synthetic.py, each tensor is a tile of random rows
repeated to its full height, so an 8B build costs the time to write 16 GB, not to draw 8 billion
random numbers. The safetensors file is written here (an 8-byte header length, a JSON header,
raw little-endian data) so the build needs neither torch nor the safetensors package.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from contract.errors import ModelError
from models import cache_entry
from models.hf_format import HF_DTYPES, HFTensor, hf_config, hf_tensors, hf_tokenizer, norm_offset
from models.spec import ModelSpec
from models.synthetic import DEFAULT_SEED, cache_dir_default
from models.vocab import FIRST_TEXT_ID

# Bump when the bytes a build produces change. 2: the head's rows for specials and byte pieces
# are zero, as in the GGUF builds (models/synthetic.py, models/vocab.py).
BUILDER_VERSION = 2
WEIGHTS = "model.safetensors"
_TILE_ROWS = 32
_WEIGHT_STD = 0.02          # the usual init scale (as models/synthetic.py)
_CHUNK_BYTES = 32 << 20
_STALE_TEMP_S = 600
_SAFETENSORS_DTYPE = {"bf16": "BF16", "fp16": "F16", "fp32": "F32"}
_ITEMSIZE = {"bf16": 2, "fp16": 2, "fp32": 4}

Progress = Callable[[int, int], None]


def check_dtype(dtype: str) -> str:
    d = dtype.strip().lower()
    if d not in HF_DTYPES:
        raise ModelError(f"unknown weight dtype {dtype!r} for a synthetic HF checkpoint", f"valid: {', '.join(HF_DTYPES)}")
    return d


def cache_key(spec: ModelSpec, dtype: str, seed: int = DEFAULT_SEED) -> str:
    ident = {"builder": BUILDER_VERSION, "format": "hf", "name": spec.name,
             "architecture": asdict(spec.architecture), "dtype": dtype, "seed": seed}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(spec: ModelSpec, dtype: str, cache_dir: Path | None = None, seed: int = DEFAULT_SEED) -> Path:
    dtype = check_dtype(dtype)
    directory = Path(cache_dir) if cache_dir is not None else cache_dir_default()
    return directory / f"{spec.id}-hf-{dtype}-{cache_key(spec, dtype, seed)}"


def _to_dtype(x: np.ndarray, dtype: str) -> np.ndarray:
    """float32 -> the stored dtype, as raw bytes (rows, row bytes). bf16 is float32's upper half,
    rounded to nearest even (numpy has no bfloat16)."""
    if dtype == "fp32":
        out = x.astype("<f4")
    elif dtype == "fp16":
        out = x.astype("<f2")
    else:
        bits = x.astype("<f4").view("<u4")
        out = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
    return out.view(np.uint8).reshape(x.shape[0], -1)


def _tile(t: HFTensor, offset: float, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, zlib.crc32(t.name.encode())])
    row_len = t.shape[-1]
    if t.is_norm:
        rows = offset + 0.1 * rng.standard_normal((1, row_len), dtype=np.float32)
    else:
        n_rows = 1 if len(t.shape) == 1 else min(_TILE_ROWS, t.shape[0])
        rows = _WEIGHT_STD * rng.standard_normal((n_rows, row_len), dtype=np.float32)
    return _to_dtype(rows, dtype)


def _header(tensors: list[HFTensor], dtype: str) -> bytes:
    meta: dict = {"__metadata__": {"format": "pt", "rightsize.synthetic": "true",
                                   "rightsize.builder_version": str(BUILDER_VERSION)}}
    offset = 0
    for t in tensors:
        n = int(np.prod(t.shape)) * _ITEMSIZE[dtype]
        meta[t.name] = {"dtype": _SAFETENSORS_DTYPE[dtype], "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(meta, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)   # data starts 8-byte aligned, as the safetensors writer does
    return struct.pack("<Q", len(raw)) + raw


def weights_bytes(spec: ModelSpec, dtype: str) -> int:
    """Size of the tensor data (all of model.safetensors but its header)."""
    dtype = check_dtype(dtype)
    return sum(int(np.prod(t.shape)) * _ITEMSIZE[dtype] for t in hf_tensors(spec.architecture))


def _write_weights(path: Path, spec: ModelSpec, dtype: str, seed: int, progress: Progress | None) -> None:
    tensors = hf_tensors(spec.architecture)
    header = _header(tensors, dtype)
    total, done = len(header) + weights_bytes(spec, dtype), 0
    offset = norm_offset(spec.architecture)
    names = {t.name for t in tensors}
    head = "lm_head.weight" if "lm_head.weight" in names else "model.embed_tokens.weight"
    with open(path, "wb") as f:
        f.write(header)
        for t in tensors:
            tile = _tile(t, offset, dtype, seed)
            rows_left = t.shape[0] if len(t.shape) > 1 else 1
            if t.name == head:   # never emitted: see models/synthetic.py _write_tensor
                f.write(bytes(FIRST_TEXT_ID * tile.shape[1]))
                rows_left -= FIRST_TEXT_ID
                done += FIRST_TEXT_ID * tile.shape[1]
            chunk = np.tile(tile, (max(1, _CHUNK_BYTES // tile.nbytes), 1))
            while rows_left:
                n = min(rows_left, chunk.shape[0])
                f.write(chunk[:n].data.cast("B"))
                rows_left -= n
                done += n * tile.shape[1]
                if progress is not None:
                    progress(done, total)
        os.fsync(f.fileno())


def read_header(path: Path) -> dict:
    """The JSON header of a safetensors file; ModelError when it is not one or is truncated."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if path.stat().st_size != 8 + n + end:
            raise ValueError(f"size {path.stat().st_size} != {8 + n + end}")
        return header
    except (OSError, ValueError, KeyError, struct.error) as exc:
        raise ModelError(f"{path} is not a complete safetensors file: {exc}") from None


def _cached(final: Path) -> bool:
    if not final.exists():
        return False
    try:
        read_header(final / WEIGHTS)
        json.loads((final / "config.json").read_text())
        return True
    except (ModelError, OSError, ValueError):
        shutil.rmtree(final, ignore_errors=True)   # damaged entry: rebuild it
        return False


def materialize_hf(spec: ModelSpec, dtype: str = "bf16", cache_dir: Path | str | None = None,
                   progress: Progress | None = None, seed: int = DEFAULT_SEED) -> Path:
    """The synthetic HF checkpoint directory for (spec, dtype), building it first if the cache lacks it."""
    dtype = check_dtype(dtype)
    final = cache_path(spec, dtype, Path(cache_dir) if cache_dir is not None else None, seed)
    if _cached(final):
        return final
    cache_entry.prepare(final, _STALE_TEMP_S, weights_bytes(spec, dtype), f"{spec.id} {dtype}")
    with cache_entry.building(final, _cached) as tmp:
        tmp.mkdir()
        tokenizer, tokenizer_config = hf_tokenizer(spec.architecture)
        (tmp / "config.json").write_text(json.dumps(hf_config(spec.architecture, dtype), indent=2))
        (tmp / "tokenizer.json").write_text(json.dumps(tokenizer))
        (tmp / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
        (tmp / "rightsize.json").write_text(json.dumps({"synthetic": True, "model": spec.id, "dtype": dtype,
                                                        "seed": seed, "builder_version": BUILDER_VERSION}))
        _write_weights(tmp / WEIGHTS, spec, dtype, seed, progress)
    return final
