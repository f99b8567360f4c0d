"""A stand-in for the `pynvml` module with the real API's names, units and errors.

Constants and NVMLError classes come from the real nvidia-ml-py, so code under test
catches exactly what it would catch on a GPU machine. Device figures are those an
H100 SXM and a Tesla P100 report (nvidia-smi -q / NVML): memory in bytes, power in mW,
energy in mJ, clocks in MHz."""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from typing import Any

import pynvml as real

H100: dict[str, Any] = {
    "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-6f0e5b36-2d6c-8c1f-1b4e-6a0d3c2b9e11",
    "total": 85520809984, "cc": (9, 0), "power_limit_mw": 700000, "bus": 5120, "max_mclk": 2619,
    "pcie": (5, 16, 5, 16), "mig": [0, 0], "energy": True, "power_mw": 300000,
}
P100: dict[str, Any] = {
    "name": "Tesla P100-PCIE-16GB", "uuid": "GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
    "total": 17071734784, "cc": (6, 0), "power_limit_mw": 250000, "bus": 4096, "max_mclk": 715,
    "pcie": (3, 16, 3, 16), "mig": None, "energy": False, "power_mw": 36000,
}


@dataclass
class Device:
    spec: dict
    used: int = 2 * 1024**3
    procs: list = field(default_factory=list)     # (pid, bytes or None)
    throttle_mask: int = 0
    t0: float = field(default_factory=time.monotonic)


def _raise(code):
    raise real.NVMLError(code)   # maps to the NVMLError_* subclass, as pynvml does


class FakeNvml(types.ModuleType):
    """The fake module, with its own bookkeeping (read by tests) declared."""
    devices: list[Device]
    init_count: int


def make(specs: list[dict] | None = None, init_error: int | None = None) -> FakeNvml:
    mod = FakeNvml("pynvml")
    for name in dir(real):
        if name.startswith(("NVML_", "NVMLError", "nvmlClocks")):
            setattr(mod, name, getattr(real, name))
    devices = [Device(s) for s in (specs or [])]
    mod.devices = devices
    mod.init_count = 0

    def init():
        if init_error is not None:
            _raise(init_error)
        mod.init_count += 1

    def shutdown():
        mod.init_count -= 1

    def handle(i):
        if not 0 <= i < len(devices):
            _raise(real.NVML_ERROR_INVALID_ARGUMENT)
        return devices[i]

    def energy_mj(d):
        if not d.spec["energy"]:
            _raise(real.NVML_ERROR_NOT_SUPPORTED)
        # The counter only moves every 100 ms, like the real one.
        elapsed_ms = int((time.monotonic() - d.t0) * 10) * 100
        return 123456789 + d.spec["power_mw"] * elapsed_ms // 1000

    def mig(d):
        if d.spec["mig"] is None:
            _raise(real.NVML_ERROR_NOT_SUPPORTED)
        return d.spec["mig"]

    def procs(d):
        return [types.SimpleNamespace(pid=p, usedGpuMemory=b, gpuInstanceId=0xFFFFFFFF,
                                      computeInstanceId=0xFFFFFFFF) for p, b in d.procs]

    pcie = lambda k: (lambda d: d.spec["pcie"][k])  # noqa: E731
    fns = {
        "nvmlInit": init, "nvmlShutdown": shutdown,
        "nvmlDeviceGetCount": lambda: len(devices),
        "nvmlSystemGetDriverVersion": lambda: "550.54.15",
        "nvmlSystemGetCudaDriverVersion": lambda: 12040,
        "nvmlDeviceGetHandleByIndex": handle,
        "nvmlDeviceGetName": lambda d: d.spec["name"],
        "nvmlDeviceGetUUID": lambda d: d.spec["uuid"],
        "nvmlDeviceGetMemoryInfo": lambda d: types.SimpleNamespace(
            total=d.spec["total"], used=d.used, free=d.spec["total"] - d.used),
        "nvmlDeviceGetCudaComputeCapability": lambda d: d.spec["cc"],
        "nvmlDeviceGetEnforcedPowerLimit": lambda d: d.spec["power_limit_mw"],
        "nvmlDeviceGetMemoryBusWidth": lambda d: d.spec["bus"],
        "nvmlDeviceGetMaxClockInfo": lambda d, t: d.spec["max_mclk"] if t == real.NVML_CLOCK_MEM else 1980,
        "nvmlDeviceGetClockInfo": lambda d, t: 2619 if t == real.NVML_CLOCK_MEM else 1755,
        "nvmlDeviceGetCurrPcieLinkGeneration": pcie(0), "nvmlDeviceGetCurrPcieLinkWidth": pcie(1),
        "nvmlDeviceGetMaxPcieLinkGeneration": pcie(2), "nvmlDeviceGetMaxPcieLinkWidth": pcie(3),
        "nvmlDeviceGetMigMode": mig,
        "nvmlDeviceGetTotalEnergyConsumption": energy_mj,
        "nvmlDeviceGetPowerUsage": lambda d: d.spec["power_mw"],
        "nvmlDeviceGetUtilizationRates": lambda d: types.SimpleNamespace(gpu=97, memory=80),
        "nvmlDeviceGetTemperature": lambda d, s: 64,
        "nvmlDeviceGetComputeRunningProcesses": procs,
        "nvmlDeviceGetCurrentClocksEventReasons": lambda d: d.throttle_mask,
    }
    for name, fn in fns.items():
        setattr(mod, name, fn)
    return mod
