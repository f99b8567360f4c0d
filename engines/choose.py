"""Which engine `bench run` uses when --backend is not given, and why.

CUDA: vLLM if installed, else llama.cpp with full offload if its build can offload, else torch; else
llama.cpp on the CPU, saying how to rebuild it for CUDA (bench engines install llamacpp).
Apple Silicon: mlx-lm if installed, else llama.cpp on Metal. CPU: llama.cpp.
Looks for packages without importing them: an engine import can take seconds.
"""

from __future__ import annotations

import importlib.util

from contract.result import HardwareInfo, vendors_text


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _llamacpp_offloads() -> bool:
    if not _installed("llama_cpp"):
        return False
    import llama_cpp  # only here: we need to ask the built library
    return bool(llama_cpp.llama_supports_gpu_offload())


def default_backend(info: HardwareInfo) -> tuple[str, str]:
    """(backend name, the run's first line: the device measured and why) for the machine `info`
    (hardware.HardwareInfo) describes."""
    if info.gpus:
        gpu = info.gpus[0].name + (f" ({len(info.gpus)} {vendors_text(info.gpus)} GPUs here)"
                                   if len(info.gpus) > 1 else "")
        driver = info.gpu_drivers.get(info.gpus[0].vendor)
        runtime = (driver.runtime if driver else None) or "GPU support"
        if _installed("vllm"):
            return "vllm", f"measuring {gpu} with vLLM (backend vllm): vLLM is installed"
        if _llamacpp_offloads():
            return "llamacpp", (f"measuring {gpu} with llama.cpp (backend llamacpp), all layers offloaded: "
                                "this llama.cpp build has GPU offload and vLLM is not installed")
        if _installed("torch"):
            return "torch", (f"measuring {gpu} with torch (backend torch): neither vLLM nor a GPU build of "
                             "llama.cpp is installed")
        from engines.llamacpp.build import rebuild_hint
        # `bench engines install llamacpp` builds for CUDA only
        hint = rebuild_hint() if runtime == "CUDA" else (f"install vLLM or torch built for {runtime}, or build "
                                                         f"llama-cpp-python for {runtime} yourself")
        return "llamacpp", (f"measuring the CPU with llama.cpp (backend llamacpp) although {gpu} is present: this "
                            f"llama.cpp build has no {runtime}, and neither vLLM nor torch is installed; {hint}")
    if info.apple is not None:
        chip = info.apple.chip or "Apple Silicon"
        if _installed("mlx_lm"):
            return "mlx", f"measuring {chip} with mlx-lm (backend mlx): mlx-lm is installed"
        return "llamacpp", f"measuring {chip} with llama.cpp on Metal (backend llamacpp): mlx-lm is not installed"
    return "llamacpp", "measuring the CPU with llama.cpp (backend llamacpp): no NVIDIA GPU detected"
