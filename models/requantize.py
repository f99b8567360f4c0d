"""Your own unquantized GGUF, quantized by llama.cpp's own quantizer (llama-quantize's
llama_model_quantize), once, into the model cache: `bench quality --model file.gguf` compares
each quant with the file it was made from, on the same weights.
"""

from __future__ import annotations

import contextlib
import ctypes
from pathlib import Path

from contract.errors import ModelError
from models import cache_entry
from models.gguf_file import inspect_gguf
from models.quant import QuantType
from models.synthetic import cache_dir_default

UNQUANTIZED = {0: "F32", 1: "F16", 32: "BF16"}     # llama_ftype values a reference may have
_STALE_TEMP_S = 600


def reference_type(path: Path) -> str:
    """The reference file's type name; ModelError unless it is F32, F16 or BF16."""
    ftype = inspect_gguf(path).metadata.get("general.file_type")
    if ftype not in UNQUANTIZED:
        raise ModelError(f"{path.name} is already quantized (llama_ftype {ftype}): it cannot be the reference",
                         "pass --model with the F16, BF16 or F32 GGUF that the quants are made from")
    return UNQUANTIZED[ftype]


def quantized_copy(reference: Path, fingerprint: str, quant: QuantType, cache_dir: Path | None = None,
                   threads: int | None = None, verbose: bool = False) -> Path:
    """Path of `reference` quantized to `quant` (llama.cpp's default mix for the type), made if missing."""
    import llama_cpp

    directory = Path(cache_dir) if cache_dir is not None else cache_dir_default()
    final = directory / "quantized" / f"{reference.stem}-{fingerprint.split(':')[-1][:16]}-{quant.name}.gguf"
    if final.exists():
        return final
    # llama-quantize writes about bits-per-weight / 16 of the F16 file; refuse early without room for it
    cache_entry.prepare(final, _STALE_TEMP_S, reference.stat().st_size, f"{reference.name} at {quant.name}")
    with cache_entry.building(final, lambda p: p.exists()) as tmp:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = quant.ftype
        params.nthread = threads or 0
        with _quiet(not verbose):
            rc = llama_cpp.llama_model_quantize(str(reference).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0:
            raise ModelError(f"llama.cpp could not quantize {reference.name} to {quant.name} (code {rc})",
                             "rerun with --debug to see llama.cpp's log")
    return final


@contextlib.contextmanager
def _quiet(quiet: bool):
    """llama-quantize logs a line per tensor: kept for --debug only."""
    import llama_cpp
    from llama_cpp import _logger

    if not quiet:
        yield
        return

    @llama_cpp.llama_log_callback
    def drop(level, text, user_data):
        pass

    llama_cpp.llama_log_set(drop, ctypes.c_void_p(0))
    try:
        yield
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
