"""Build (once, cached) a GGUF with a catalog model's exact architecture and random weights.

Same tensors, types and bytes as the real quantized model, so llama.cpp moves the same bytes and
does the same FLOPs per token; the text it produces is meaningless. Each tensor is a block of
random rows quantized by llama.cpp's own quantizer (models/ggml.py), repeated to the tensor's full
height: every byte is a genuine quantization, and an 8B build costs seconds, not the minutes of
quantizing 8 billion random floats.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import BinaryIO

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter

from contract.errors import ModelError
from models import cache_entry
from models.architecture import Architecture
from models.ggml import quantize_rows
from models.gguf_file import inspect_gguf
from models.plan import PlannedTensor, tensor_plan
from models.quant import QuantType, get_quant
from models.spec import ModelSpec
from models.vocab import BOS, EOS, FIRST_TEXT_ID, UNK, spm_vocab

# Bump when the bytes a build produces change, so old cache entries are not reused.
# 3: the output head's rows for specials and byte pieces are zero (models/vocab.py).
BUILDER_VERSION = 3
DEFAULT_SEED = 0
_ALIGN = 32  # GGUF default data alignment
_TILE_ROWS = 32  # distinct random rows per tensor
_WEIGHT_STD = 0.02  # the usual init scale: keeps 100+ layers of activations finite
_CHUNK_BYTES = 32 << 20
_STALE_TEMP_S = 600  # a temp file untouched this long belongs to a dead build

Progress = Callable[[int, int], None]


def cache_dir_default() -> Path:
    return Path(os.environ.get("RIGHTSIZE_CACHE") or Path.home() / ".cache" / "rightsize" / "models")


def cache_key(spec: ModelSpec, quant: QuantType, seed: int = DEFAULT_SEED) -> str:
    ident = {
        "builder": BUILDER_VERSION,
        "name": spec.name,
        "architecture": asdict(spec.architecture),
        "quant": quant.name,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def cache_path(spec: ModelSpec, quant: QuantType | str, cache_dir: Path | None = None,
               seed: int = DEFAULT_SEED) -> Path:
    quant = get_quant(quant) if isinstance(quant, str) else quant
    directory = Path(cache_dir) if cache_dir is not None else cache_dir_default()
    return directory / f"{spec.id}-{quant.name}-{cache_key(spec, quant, seed)}.gguf"


def _padded(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _add_architecture(w: GGUFWriter, a: Architecture) -> None:
    """The hyperparameter keys llama.cpp's loader reads for the family (llama-model.cpp load_hparams),
    under the names convert_hf_to_gguf.py gives them."""
    w.add_context_length(a.max_context)
    w.add_embedding_length(a.hidden)
    w.add_block_count(a.n_layers)
    w.add_feed_forward_length(a.ffn)
    w.add_head_count(a.n_heads)
    w.add_head_count_kv(a.n_kv_heads)
    w.add_key_length(a.head_dim)
    w.add_value_length(a.head_dim)
    w.add_rope_dimension_count(a.head_dim)
    w.add_rope_freq_base(a.rope_theta)
    w.add_layer_norm_rms_eps(a.rms_norm_eps)
    w.add_vocab_size(a.vocab)
    if a.sliding_window is not None:
        w.add_sliding_window(a.sliding_window)
    elif a.family == "phi3":
        w.add_sliding_window(0)  # what the converter writes for Phi-4: no sliding window
    if a.family == "phi3":
        w.add_rope_scaling_orig_ctx_len(a.max_context)  # Phi-4 was trained at its full context
    if a.attn_logit_softcap is not None:
        w.add_attn_logit_softcapping(a.attn_logit_softcap)
    if a.final_logit_softcap is not None:
        w.add_final_logit_softcapping(a.final_logit_softcap)


def _write_header(path: Path, name: str, a: Architecture, quant: QuantType, plan: list[PlannedTensor], seed: int,
                  vocab_entries: int | None = None) -> int:
    """Write metadata and tensor directory to `path`; returns the header's length in bytes.
    `vocab_entries` writes only that many vocabulary entries (for sizing; see _header_bytes)."""
    w = GGUFWriter(path, a.family)
    w.add_name(name)
    w.add_file_type(quant.ftype)
    w.add_quantization_version(2)  # GGML_QNT_VERSION
    _add_architecture(w, a)
    tokens, scores, types = spm_vocab(a.vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens[:vocab_entries])
    w.add_token_scores(scores[:vocab_entries].tolist())
    w.add_token_types(types[:vocab_entries].tolist())
    w.add_bos_token_id(BOS)
    w.add_eos_token_id(EOS)
    w.add_unk_token_id(UNK)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    # lets result files and `bench` tell a synthetic model from a real one
    w.add_bool("rightsize.synthetic", True)
    w.add_uint32("rightsize.builder_version", BUILDER_VERSION)
    w.add_uint32("rightsize.seed", seed)
    for p in plan:
        # numpy-order shape with an explicit ggml type: gguf takes the shape as given
        shape = tuple(reversed(p.tensor.shape))
        w.add_tensor_info(p.tensor.name, shape, np.dtype(np.float32), p.nbytes, raw_dtype=GGMLQuantizationType[p.type])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    return path.stat().st_size


def _data_bytes(plan: list[PlannedTensor]) -> int:
    return sum(_padded(p.nbytes) for p in plan)


def expected_file_size(spec: ModelSpec, quant: QuantType | str, seed: int = DEFAULT_SEED) -> int:
    """Exact size of the synthetic GGUF, computed without building it."""
    return file_size(spec.name, spec.architecture, get_quant(quant) if isinstance(quant, str) else quant, seed)


def file_size(name: str, arch: Architecture, quant: QuantType, seed: int = DEFAULT_SEED) -> int:
    """Exact size of the synthetic GGUF of a model called `name` with this architecture."""
    return _padded(_header_bytes(name, arch, seed)) + _data_bytes(tensor_plan(arch, quant))


@functools.lru_cache(maxsize=64)
def _header_bytes(name: str, arch: Architecture, seed: int) -> int:
    # Every header field has the same length whatever the quant (type ids and offsets are
    # fixed-width), so one header per model serves the whole ladder. gguf packs a 150k-token
    # vocabulary element by element (seconds), so write one entry and add the others' encoded
    # length: a string is a u64 length plus its UTF-8 bytes, a score an f32, a type an i32.
    quant = get_quant("F16")
    tokens = spm_vocab(arch.vocab)[0]
    with tempfile.TemporaryDirectory() as tmp:
        one = _write_header(Path(tmp) / "header.gguf", name, arch, quant, tensor_plan(arch, quant), seed,
                            vocab_entries=1)
    return one + sum(8 + len(t.encode()) + 4 + 4 for t in tokens[1:])


def _tile(p: PlannedTensor, arch: Architecture, seed: int) -> np.ndarray:
    """The tensor's repeating unit: raw bytes of up to _TILE_ROWS rows, shape (rows, row bytes)."""
    t = p.tensor
    if t.name == "rope_freqs.weight":  # derived from the config, not random: RoPE must match the real model
        assert arch.rope_scaling is not None, "the tensor plan lists rope_freqs only for a model with rope scaling"
        factors = arch.rope_scaling.freq_factors(arch.rope_theta, arch.head_dim)
        return np.array([factors], dtype=np.float32).view(np.uint8)
    rng = np.random.default_rng([seed, zlib.crc32(t.name.encode())])
    if t.name.endswith(".bias"):  # F32, small like a trained model's
        return (_WEIGHT_STD * rng.standard_normal((1, t.row_len), dtype=np.float32)).view(np.uint8)
    if not t.is_matrix:  # norm weights: F32, near 1 like a trained model's
        return (1.0 + 0.1 * rng.standard_normal((1, t.row_len), dtype=np.float32)).view(np.uint8)
    rows = rng.standard_normal((min(_TILE_ROWS, t.n_rows), t.row_len), dtype=np.float32) * _WEIGHT_STD
    return quantize_rows(p.type, rows)


def head_name(plan: list[PlannedTensor]) -> str:
    """The tensor whose rows give each token's logit: output.weight, or the tied embedding table."""
    return "output.weight" if any(p.tensor.name == "output.weight" for p in plan) else "token_embd.weight"


def _write_tensor(f: BinaryIO, p: PlannedTensor, arch: Architecture, seed: int, advance: Callable[[int], None],
                  head: bool = False) -> None:
    tile = _tile(p, arch, seed)
    row_nbytes = tile.shape[1]
    rows_left = p.nbytes // row_nbytes
    if head:
        # The head's rows repeat every _TILE_ROWS, so logits tie and greedy decoding takes the
        # lowest id of a tie: without this it emitted only ids below 32 (specials and control
        # bytes). A zero row's logit (0) is never the largest, so text pieces are emitted.
        zero = quantize_rows(p.type, np.zeros((1, p.tensor.row_len), dtype=np.float32))
        f.write(np.tile(zero, (FIRST_TEXT_ID, 1)).data.cast("B"))
        rows_left -= FIRST_TEXT_ID
        advance(FIRST_TEXT_ID * row_nbytes)
    # up to _CHUNK_BYTES of repeated tiles, never more than the tensor needs
    reps = max(1, min(_CHUNK_BYTES // tile.nbytes, -(-rows_left // tile.shape[0])))
    chunk = np.tile(tile, (reps, 1))
    while rows_left:
        n = min(rows_left, chunk.shape[0])
        f.write(chunk[:n].data.cast("B"))
        rows_left -= n
        advance(n * row_nbytes)
    pad = _padded(p.nbytes) - p.nbytes
    f.write(bytes(pad))
    advance(pad)


def _cached(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        inspect_gguf(path)
        return True
    except ModelError:
        path.unlink()  # damaged cache entry (truncated, overwritten): rebuild it
        return False


def materialize(
    spec: ModelSpec,
    quant: QuantType | str,
    cache_dir: Path | str | None = None,
    progress: Progress | None = None,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Path of the synthetic GGUF for (spec, quant), building it first if the cache lacks it."""
    quant = get_quant(quant) if isinstance(quant, str) else quant
    final = cache_path(spec, quant, Path(cache_dir) if cache_dir is not None else None, seed)
    if _cached(final):
        return final
    plan = tensor_plan(spec.architecture, quant)
    cache_entry.prepare(final, _STALE_TEMP_S, _data_bytes(plan), f"{spec.id} {quant.name}")
    with cache_entry.building(final, _cached) as tmp:
        header = _write_header(tmp, spec.name, spec.architecture, quant, plan, seed)
        total = _padded(header) + _data_bytes(plan)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total)

        with open(tmp, "r+b") as f:
            f.seek(header)
            f.write(bytes(_padded(header) - header))
            advance(_padded(header))
            head = head_name(plan)
            for p in plan:
                _write_tensor(f, p, spec.architecture, seed, advance, head=p.tensor.name == head)
            os.fsync(f.fileno())  # data on disk before the rename makes it visible
    return final
