"""Where a model's weights ended up: one vocabulary for every backend.

Each engine names its devices its own way (llama.cpp "CUDA0"/"Metal", torch "cuda"/"mps", vLLM
"cuda"/"cpu", mlx "gpu"). The run picks the memory bandwidth and the roofline by this value, so a
string compare against one engine's spelling would measure another engine's GPU against the CPU.
Backends report a `Device`; the result stores its value ("cuda", "metal", ...).
"""

from __future__ import annotations

from contract.enums import Vocabulary


class Device(Vocabulary):
    CPU = "cpu"
    CUDA = "cuda"          # NVIDIA (bandwidth and energy from NVML)
    ROCM = "rocm"          # AMD GPUs (HIP)
    METAL = "metal"        # Apple GPU: unified memory, the chip's bandwidth
    MPS = "mps"            # torch on Apple GPUs: the same memory as METAL
    VULKAN = "vulkan"
    SYCL = "sycl"
    GPU = "gpu"            # a GPU backend of an engine this vocabulary has no name for
    MIXED = "mixed"        # layers split between a GPU and the CPU: no single memory to bound it
    SERVER = "server"      # an HTTP server holds the model: its device is not known here

    @property
    def is_apple_gpu(self) -> bool:
        return self in (Device.METAL, Device.MPS)

    @classmethod
    def parse(cls, name: str | None) -> Device:
        """An engine's own device name -> Device."""
        key = (name or "").strip().lower()
        for prefix, device in _PREFIXES:
            if key.startswith(prefix):
                return device
        raise ValueError(f"unknown device name {name!r}")


# Engine spellings, by prefix: llama.cpp's ggml device names ("CUDA0", "ROCm0", "Vulkan0", "MTL0",
# "Metal", "SYCL0"), torch's and vLLM's device types, mlx's "gpu" (Metal: mlx runs nowhere else).
_PREFIXES = (("cuda", Device.CUDA), ("rocm", Device.ROCM), ("hip", Device.ROCM), ("metal", Device.METAL),
             ("mtl", Device.METAL), ("mps", Device.MPS), ("vulkan", Device.VULKAN), ("sycl", Device.SYCL),
             ("cpu", Device.CPU), ("mixed", Device.MIXED), ("server", Device.SERVER), ("gpu", Device.GPU))
