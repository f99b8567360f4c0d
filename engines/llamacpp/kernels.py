"""Which of llama.cpp's CPU kernel paths a model loads with, and how to leave some out.

llama.cpp places each weight in the first buffer type that takes it: its "extra" CPU buffer types
first, in the order the CPU backend lists them (AMX on Xeons with AMX, in builds compiled for them;
KleidiAI on some Arm chips; CPU_REPACK, weights re-laid for its AVX2/AVX-512/NEON gemm kernels),
then plain CPU memory. The buffer a weight lands in decides which kernels multiply it.

llama_model_params.use_extra_bufts drops all of them at once (llama-bench --repack 0), and
llama-cpp-python does not even expose that. To leave out only one (AMX crashes on some Xeons, while
REPACK is worth keeping), we edit the list llama.cpp reads at model load: the CPU backend hands out
a pointer to its own null-terminated array (ggml_backend_dev_get_extra_bufts), and llama_model_load
walks it. The edit holds for models loaded afterwards in this process, and nowhere else.

`model_log()` captures llama.cpp's own log of a load: which buffer types took how much, and how
flash attention was resolved. That is the record of which path a figure came from.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
from collections.abc import Iterable, Iterator
from typing import Any

AMX, REPACK = "AMX", "CPU_REPACK"
_CPU_DEVICE = 0          # GGML_BACKEND_DEVICE_TYPE_CPU
_GPU_DEVICES = (1, 2)    # GGML_BACKEND_DEVICE_TYPE_GPU, _IGPU

# (the ctypes array, the build's own entries), read once per process
_list: tuple[Any, list[int]] | None = None


def _ggml():
    from llama_cpp._ggml import libggml  # llama-cpp-python's own handle on libggml

    vp = ctypes.c_void_p
    for name, restype, argtypes in (("ggml_backend_dev_by_type", vp, [ctypes.c_int]),
                                    ("ggml_backend_dev_backend_reg", vp, [vp]),
                                    ("ggml_backend_reg_get_proc_address", vp, [vp, ctypes.c_char_p]),
                                    ("ggml_backend_buft_name", ctypes.c_char_p, [vp]),
                                    ("ggml_backend_dev_count", ctypes.c_size_t, []),
                                    ("ggml_backend_dev_get", vp, [ctypes.c_size_t]),
                                    ("ggml_backend_dev_type", ctypes.c_int, [vp]),
                                    ("ggml_backend_dev_name", ctypes.c_char_p, [vp]),
                                    ("ggml_backend_reg_count", ctypes.c_size_t, []),
                                    ("ggml_backend_reg_get", vp, [ctypes.c_size_t]),
                                    ("ggml_backend_reg_name", ctypes.c_char_p, [vp])):
        fn = getattr(libggml, name)
        fn.restype, fn.argtypes = restype, argtypes
    return libggml


def _extra_list():
    """The CPU backend's array of extra buffer types, and what it held before any edit."""
    global _list
    if _list is None:
        lib = _ggml()
        dev = lib.ggml_backend_dev_by_type(_CPU_DEVICE)
        if not dev:
            raise RuntimeError("llama.cpp has no CPU backend")
        address = lib.ggml_backend_reg_get_proc_address(lib.ggml_backend_dev_backend_reg(dev),
                                                        b"ggml_backend_dev_get_extra_bufts")
        if not address:          # a build without extra buffer types
            _list = (None, [])
            return _list
        get = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)(address)
        array = get(dev)
        original: list[int] = []
        while array and array[len(original)]:
            original.append(array[len(original)])
        _list = (array, original)
    return _list


def _name(buft: int) -> str:
    return _ggml().ggml_backend_buft_name(buft).decode()


def available() -> list[str]:
    """This build's extra CPU buffer types on this CPU, in llama.cpp's order of preference."""
    return [_name(b) for b in _extra_list()[1]]


def in_use() -> list[str]:
    """The extra buffer types models loaded now would use."""
    array, _original = _extra_list()
    out: list[str] = []
    while array is not None and array[len(out)]:
        out.append(_name(array[len(out)]))
    return out


def use_only(names: Iterable[str]) -> None:
    """From now on in this process, load weights into these extra buffer types only (in llama.cpp's
    own order); the others are left out as if the build lacked them. An empty list is llama-bench's
    --repack 0. Names this build does not have are ignored."""
    keep = set(names)
    array, original = _extra_list()
    if array is None:
        return
    kept = [b for b in original if _name(b) in keep]
    for i, b in enumerate(kept):
        array[i] = b
    array[len(kept)] = None


def gpu_device_names() -> list[str]:
    """ggml's GPU devices in this build ("CUDA0", "Metal", "Vulkan0", ...): where offloaded layers go."""
    lib = _ggml()
    devices = (lib.ggml_backend_dev_get(i) for i in range(lib.ggml_backend_dev_count()))
    return [lib.ggml_backend_dev_name(d).decode() for d in devices if lib.ggml_backend_dev_type(d) in _GPU_DEVICES]


def backend_names() -> list[str]:
    """The backends this build of ggml has ("CPU", "CUDA", "Metal", ...), devices present or not."""
    lib = _ggml()
    return [lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)).decode() for i in range(lib.ggml_backend_reg_count())]


_BUFFER_LINE = re.compile(r"load_tensors:\s+(\S+) model buffer size =\s+([\d.]+) MiB")
_FLASH_LINE = re.compile(r"Flash Attention (enabled|not supported, set to disabled)")


@contextlib.contextmanager
def model_log() -> Iterator[dict]:
    """Capture llama.cpp's log while a model and its context load. The yielded dict is filled on
    exit: `model_buffers` (buffer type -> MiB of weights) and `flash_attn_resolved` ("enabled",
    "disabled", or None when flash attention was not left to llama.cpp to decide)."""
    import llama_cpp
    from llama_cpp import _logger

    chunks: list[str] = []

    @llama_cpp.llama_log_callback
    def capture(level, text, user_data):
        chunks.append(text.decode(errors="replace"))
        _logger.llama_log_callback(level, text, user_data)    # llama-cpp-python's own (--debug prints)

    found: dict = {}
    llama_cpp.llama_log_set(capture, ctypes.c_void_p(0))
    try:
        yield found
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
        text = "".join(chunks)
        found["model_buffers"] = {m.group(1): float(m.group(2)) for m in _BUFFER_LINE.finditer(text)}
        fa = _FLASH_LINE.search(text)
        found["flash_attn_resolved"] = None if fa is None else ("enabled" if fa.group(1) == "enabled" else "disabled")
