"""Which engine `bench run` uses when --backend is not given, and why.

CUDA: vLLM if installed, else llama.cpp with full offload if its build can offload, else torch.
Apple Silicon: mlx-lm if installed, else llama.cpp on Metal. CPU: llama.cpp.
Looks for packages without importing them: an engine import can take seconds.
"""

from __future__ import annotations

import importlib.util


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _llamacpp_offloads() -> bool:
    if not _installed("llama_cpp"):
        return False
    import llama_cpp   # only here: we need to ask the built library
    return bool(llama_cpp.llama_supports_gpu_offload())


def default_backend(info) -> tuple[str, str]:
    """(backend name, one-line reason) for the machine `info` (hardware.HardwareInfo) describes."""
    if info.gpus:
        gpu = f"{len(info.gpus)} NVIDIA GPU(s) ({info.gpus[0].name})"
        if _installed("vllm"):
            return "vllm", f"{gpu} and vLLM is installed"
        if _llamacpp_offloads():
            return "llamacpp", f"{gpu}; vLLM is not installed, llama.cpp was built with GPU offload (all layers)"
        if _installed("torch"):
            return "torch", f"{gpu}; neither vLLM nor a GPU build of llama.cpp is installed"
        return "llamacpp", (f"{gpu}, but vLLM, a GPU build of llama.cpp and torch are all missing: "
                            "llama.cpp on the CPU (pip install 'rightsize[vllm]' to use the GPU)")
    if info.apple is not None:
        if _installed("mlx_lm"):
            return "mlx", f"{info.apple.chip or 'Apple Silicon'} and mlx-lm is installed"
        return "llamacpp", f"{info.apple.chip or 'Apple Silicon'}; mlx-lm is not installed: llama.cpp on Metal"
    return "llamacpp", "no GPU detected: llama.cpp on the CPU"
