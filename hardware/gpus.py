"""The GPU vendors this suite probes and measures, one line each, in the order their GPUs are
numbered (gpu0, gpu1, ... across vendors) and their providers are asked. A vendor is its module
(probe, energy and telemetry provider) plus its line here; nothing else names it."""

from __future__ import annotations

from contract.device import Device
from contract.result import GpuDriver, GpuInfo, HardwareInfo

from . import amd, nvidia
from .provider import GpuVendor

GPU_VENDORS: tuple[GpuVendor, ...] = (
    nvidia.VENDOR,      # NVML (nvidia-ml-py)
    amd.VENDOR,         # amdsmi (ROCm's Python bindings)
)


def probe_gpus() -> tuple[list[GpuInfo], dict[str, GpuDriver]]:
    """Every vendor's GPUs, numbered across vendors, and each vendor's driver (or why none)."""
    gpus: list[GpuInfo] = []
    drivers: dict[str, GpuDriver] = {}
    for vendor in GPU_VENDORS:
        drivers[vendor.name], found = vendor.probe(len(gpus))
        gpus += found
    return gpus, drivers


def vendor(name: str) -> GpuVendor | None:
    return next((v for v in GPU_VENDORS if v.name == name), None)


def gpus_for(info: HardwareInfo, device: Device | str | None) -> list[GpuInfo]:
    """The GPUs an engine on `device` can run on: those of the vendors whose devices include it
    (CUDA: NVIDIA's, ROCm: AMD's); none for the CPU, Apple's GPU, a server, or a device no vendor
    here claims (Vulkan runs on anyone's)."""
    try:
        device = Device.parse(device) if isinstance(device, str) else device
    except ValueError:
        return []
    if device is None:
        return []
    return [g for g in info.gpus if (v := vendor(g.vendor)) is not None and device in v.devices]


def gpu_for(info: HardwareInfo, device: Device | str | None) -> GpuInfo | None:
    """The GPU an engine on `device` ran on: the first of gpus_for (a CUDA engine reads NVIDIA's
    first GPU, a ROCm one AMD's)."""
    return next(iter(gpus_for(info, device)), None)


def default_device(info: HardwareInfo) -> Device | None:
    """Where an engine runs on this machine when nothing says otherwise: its first GPU's vendor's device."""
    v = vendor(info.gpus[0].vendor) if info.gpus else None
    return v.devices[0] if v is not None else None
