"""llama.cpp's own row quantizer (ggml_quantize_chunk), called through ctypes.

The library is the libggml-base that ships inside llama-cpp-python, so synthetic weights are
quantized by exactly the code that quantizes real models. Loaded on first use only.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from contract.errors import ModelError


@functools.cache
def _lib() -> ctypes.CDLL:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise ModelError(
            "building a synthetic model needs llama-cpp-python", "bench engines install llamacpp"
        )
    # locate without importing llama_cpp: importing it loads the whole engine
    libs = sorted((Path(spec.origin).parent / "lib").glob("libggml-base.*"))
    if not libs:
        raise ModelError(f"no libggml-base in {Path(spec.origin).parent / 'lib'}", "reinstall llama-cpp-python")
    lib = ctypes.CDLL(str(libs[0]))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [
        ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
    ]  # fmt: skip
    lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
    lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
    return lib


def row_bytes(type_name: str, n_per_row: int) -> int:
    """Bytes of one row of n_per_row elements (ggml_row_size), without loading the library."""
    block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    if n_per_row % block:
        raise ValueError(f"row of {n_per_row} is not a whole number of {type_name} blocks ({block})")
    return n_per_row // block * block_bytes


def quantize_rows(type_name: str, rows: np.ndarray) -> np.ndarray:
    """Quantize a 2-D float32 array row by row; returns the raw bytes, shape (n_rows, row_bytes)."""
    ggml_type = GGMLQuantizationType[type_name].value
    lib = _lib()
    if lib.ggml_quantize_requires_imatrix(ggml_type):
        raise ModelError(f"{type_name} needs an importance matrix", "pick another quantization type")
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    n_rows, n_per_row = rows.shape
    out = np.empty((n_rows, row_bytes(type_name, n_per_row)), dtype=np.uint8)
    written = lib.ggml_quantize_chunk(
        ggml_type, rows.ctypes.data, out.ctypes.data, 0, n_rows, n_per_row, None
    )
    assert written == out.nbytes, (type_name, written, out.nbytes)
    return out
