"""NVIDIA GPUs through NVML (`nvidia-ml-py`, imported as `pynvml` only when probing).

Units as NVML gives them: power mW, energy mJ, memory bytes, clocks MHz."""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

from contract.device import Device
from contract.result import GpuDriver, GpuInfo, HardwareInfo, PcieLink

from . import throttle as throttling
from .provider import Choice, GpuVendor, Method, Provision, Settings, gpu_memory_peaks

# Clock-event reasons that mean the GPU was held back, by NVML bit. Idle, application-clock
# settings, sync boost and display clock are left out: they are not throttling.
THROTTLE_BITS = {
    0x04: "sw_power_cap",
    0x08: "hw_slowdown",
    0x20: "sw_thermal",
    0x40: "hw_thermal",
    0x80: "hw_power_brake",
    0x200: "board_limit",
}

VENDOR_NAME = "nvidia"
RUNTIME = "CUDA"

# The energy counter updates every ~100 ms (NVIDIA open-gpu-kernel-modules, via ML.ENERGY);
# shorter windows can read 0, so they are integrated from power samples instead.
ENERGY_COUNTER_PERIOD_S = 0.1
NO_CLOCK_EVENTS = "NVML gave no clock-event reasons"


def load_nvml() -> tuple[ModuleType | None, str | None]:
    """(pynvml module, None) after nvmlInit, or (None, why not). Never raises."""
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError:
        return None, "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        return None, f"NVML unavailable: {e} (no NVIDIA driver or GPU)"
    except OSError as e:  # library present but unloadable
        return None, f"NVML unavailable: {e}"
    return nvml, None


def _try(nvml, unknown: dict, field: str, fn, *args):
    try:
        return fn(*args)
    except nvml.NVMLError as e:
        unknown[field] = f"NVML: {e}"
        return None


def _probe_gpu(nvml, index: int, device: str) -> GpuInfo:
    h = nvml.nvmlDeviceGetHandleByIndex(index)
    u: dict[str, str] = {}
    mem = _try(nvml, u, "memory_bytes", nvml.nvmlDeviceGetMemoryInfo, h)
    cc = _try(nvml, u, "arch", nvml.nvmlDeviceGetCudaComputeCapability, h)
    limit_mw = _try(nvml, u, "power_limit_w", nvml.nvmlDeviceGetEnforcedPowerLimit, h)
    bus = _try(nvml, u, "memory_bus_width_bits", nvml.nvmlDeviceGetMemoryBusWidth, h)
    mclk = _try(nvml, u, "max_memory_clock_mhz", nvml.nvmlDeviceGetMaxClockInfo, h, nvml.NVML_CLOCK_MEM)
    link_u: dict[str, str] = {}
    link = {k: _try(nvml, link_u, k, fn, h) for k, fn in (
        ("gen", nvml.nvmlDeviceGetCurrPcieLinkGeneration),
        ("width", nvml.nvmlDeviceGetCurrPcieLinkWidth),
        ("max_gen", nvml.nvmlDeviceGetMaxPcieLinkGeneration),
        ("max_width", nvml.nvmlDeviceGetMaxPcieLinkWidth))}
    if link_u:
        u["pcie_link"] = next(iter(link_u.values()))   # e.g. SXM parts or vGPU
    mig = _try(nvml, u, "mig_mode", nvml.nvmlDeviceGetMigMode, h)
    energy = _try(nvml, {}, "", nvml.nvmlDeviceGetTotalEnergyConsumption, h) is not None
    from .specs import nvidia_spec_bandwidth_gbps
    spec_bw = nvidia_spec_bandwidth_gbps(bus, mclk)
    if spec_bw is None:
        u["spec_bandwidth_gbps"] = "needs memory bus width and max memory clock from NVML"
    return GpuInfo(
        vendor=VENDOR_NAME, index=index, device=device, name=nvml.nvmlDeviceGetName(h),
        uuid=_try(nvml, u, "uuid", nvml.nvmlDeviceGetUUID, h),
        memory_bytes=mem.total if mem else None,
        arch=f"{cc[0]}.{cc[1]}" if cc else None,
        power_limit_w=limit_mw / 1000 if limit_mw is not None else None,
        memory_bus_width_bits=bus, max_memory_clock_mhz=mclk, spec_bandwidth_gbps=spec_bw,
        spec_source=f"NVML bus width {bus} bit x max memory clock {mclk} MHz x 2" if spec_bw else None,
        pcie_link=None if link_u else PcieLink(**link),
        mig_mode=(mig[0] == nvml.NVML_DEVICE_MIG_ENABLE) if mig else None,
        energy_counter=energy, unknown=u)


def probe_nvidia(first: int = 0) -> tuple[GpuDriver, list[GpuInfo]]:
    """NVML's driver and its GPUs, named gpu<first>, gpu<first + 1>, ... Never raises."""
    nvml, why = load_nvml()
    if nvml is None:
        return GpuDriver(available=False, reason=why, runtime=RUNTIME), []
    try:
        count = nvml.nvmlDeviceGetCount()
        cuda = _try(nvml, {}, "", nvml.nvmlSystemGetCudaDriverVersion)
        driver = GpuDriver(available=count > 0, reason=None if count else "NVML found no GPUs",
                           driver_version=nvml.nvmlSystemGetDriverVersion(), runtime=RUNTIME,
                           runtime_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None)
        return driver, [_probe_gpu(nvml, i, f"gpu{first + i}") for i in range(count)]
    except nvml.NVMLError as e:
        return GpuDriver(available=False, reason=f"NVML error while probing: {e}", runtime=RUNTIME), []
    finally:
        nvml.nvmlShutdown()


def throttle_names(mask: int) -> list[str]:
    return [name for bit, name in THROTTLE_BITS.items() if mask & bit]


class NvmlSource:
    """Energy and power of one GPU. Counter (mJ since driver load) on Volta and newer,
    otherwise power samples (mW) that the session integrates."""

    update_period_s = ENERGY_COUNTER_PERIOD_S

    def __init__(self, nvml, gpu: GpuInfo):
        self.nvml = nvml
        self.handle = nvml.nvmlDeviceGetHandleByIndex(gpu.index)
        self.device = gpu.device
        self.devices = (self.device,)
        self.method: Method = "counter" if gpu.energy_counter else "integrated"
        self.reason = ("nvmlDeviceGetTotalEnergyConsumption (mJ counter)" if gpu.energy_counter
                       else "no energy counter (pre-Volta or vGPU): nvmlDeviceGetPowerUsage samples "
                            "x time; on Ampere+ each sample is a 1 s average")
        self._lock = threading.Lock()

    def begin(self):
        return self._energy_mj()

    def end(self, token) -> dict[str, float | None]:
        now = self._energy_mj()
        if token is None or now is None:
            return {self.device: None}
        return {self.device: (now - token) / 1000}

    def _energy_mj(self) -> int | None:
        if self.method != "counter":
            return None
        with self._lock:
            try:
                return self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            except self.nvml.NVMLError:
                return None

    def sample(self) -> dict[str, float | None]:
        try:
            return {self.device: self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000}
        except self.nvml.NVMLError:
            return {self.device: None}

    def close(self) -> None:
        pass


class NvmlTelemetry:
    """Per-tick GPU state for the timeline: utilisation, clocks, temperature, memory
    (device-wide and held by our process tree) and throttle reasons. Other vendors' GPUs share
    the timeline's `gpus` list, each entry naming its device."""

    key = "gpus"

    def __init__(self, nvml, gpus: list[GpuInfo]):
        self.nvml = nvml
        self.handles = [(g.index, g.device, nvml.nvmlDeviceGetHandleByIndex(g.index)) for g in gpus]
        reasons = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        self._reasons = reasons or nvml.nvmlDeviceGetCurrentClocksThrottleReasons

    def _get(self, fn, *args):
        try:
            return fn(*args)
        except self.nvml.NVMLError:
            return None

    def sample(self, pids: set[int]) -> list[dict]:
        n = self.nvml
        out = []
        for index, device, h in self.handles:
            util = self._get(n.nvmlDeviceGetUtilizationRates, h)
            mem = self._get(n.nvmlDeviceGetMemoryInfo, h)
            procs = self._get(n.nvmlDeviceGetComputeRunningProcesses, h)
            ours = None
            if procs is not None:
                # usedGpuMemory is None where NVML cannot attribute memory (e.g. some vGPU/MIG)
                used = [p.usedGpuMemory for p in procs if p.pid in pids]
                ours = sum(u for u in used if u is not None) if all(u is not None for u in used) else None
            mask = self._get(self._reasons, h)
            out.append({
                "index": index,
                "device": device,
                "util_pct": util.gpu if util else None,
                "mem_used_bytes": mem.used if mem else None,
                "process_mem_bytes": ours,
                "sm_clock_mhz": self._get(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM),
                "mem_clock_mhz": self._get(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM),
                "temp_c": self._get(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU),
                "throttle": throttle_names(mask) if mask is not None else None,
            })
        return out

    def device_memory(self, ticks: list[list[dict[str, Any]]]) -> dict[str, dict[str, int | None]]:
        return gpu_memory_peaks(ticks, {device for _, device, _ in self.handles})

    def throttle(self, ticks: list[list[dict[str, Any]]]) -> dict[str, throttling.Throttle]:
        out = {}
        for _, device, _ in self.handles:
            marks = [x["throttle"] for tick in ticks for x in tick
                     if x["device"] == device and x["throttle"] is not None]
            out[device] = (throttling.seen(set().union(*marks)) if marks
                           else throttling.unknown(NO_CLOCK_EVENTS))
        return out


def provide(info: HardwareInfo, settings: Settings) -> Provision:
    """Each NVIDIA GPU's energy counter (or power samples), their telemetry, and NVML to shut down."""
    gpus = [g for g in info.gpus if g.vendor == VENDOR_NAME]
    if not gpus:
        return Provision()
    nvml, why = load_nvml()
    if nvml is None:
        return Provision([Choice((g.device,), None, why or "NVML unavailable") for g in gpus],
                         throttle_unknown={g.device: NO_CLOCK_EVENTS for g in gpus})
    return Provision([Choice.of(NvmlSource(nvml, g)) for g in gpus],
                     telemetry=lambda: NvmlTelemetry(nvml, gpus), release=nvml.nvmlShutdown)


VENDOR = GpuVendor(VENDOR_NAME, (Device.CUDA,), probe_nvidia, provide,
                   memory_method="NVML per-process used memory (nvmlDeviceGetComputeRunningProcesses)",
                   throttle_method="NVML clocks-event reasons (thermal, power cap)")
