"""NVIDIA GPUs through NVML (`nvidia-ml-py`, imported as `pynvml` only when probing).

Units as NVML gives them: power mW, energy mJ, memory bytes, clocks MHz."""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

from . import throttle as throttling
from .info import GpuInfo, HardwareInfo, NvidiaInfo
from .provider import Choice, Method, Provision, Settings

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


def _probe_gpu(nvml, index: int) -> GpuInfo:
    h = nvml.nvmlDeviceGetHandleByIndex(index)
    u: dict[str, str] = {}
    mem = _try(nvml, u, "memory_bytes", nvml.nvmlDeviceGetMemoryInfo, h)
    cc = _try(nvml, u, "compute_capability", nvml.nvmlDeviceGetCudaComputeCapability, h)
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
        index=index, name=nvml.nvmlDeviceGetName(h),
        uuid=_try(nvml, u, "uuid", nvml.nvmlDeviceGetUUID, h),
        memory_bytes=mem.total if mem else None,
        compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
        power_limit_w=limit_mw / 1000 if limit_mw is not None else None,
        memory_bus_width_bits=bus, max_memory_clock_mhz=mclk, spec_bandwidth_gbps=spec_bw,
        pcie_link=None if link_u else link,
        mig_mode=(mig[0] == nvml.NVML_DEVICE_MIG_ENABLE) if mig else None,
        energy_counter=energy, unknown=u)


def probe_nvidia() -> NvidiaInfo:
    nvml, why = load_nvml()
    if nvml is None:
        return NvidiaInfo(available=False, reason=why)
    try:
        count = nvml.nvmlDeviceGetCount()
        cuda = _try(nvml, {}, "", nvml.nvmlSystemGetCudaDriverVersion)
        return NvidiaInfo(
            available=count > 0, reason=None if count else "NVML found no GPUs",
            driver_version=nvml.nvmlSystemGetDriverVersion(),
            cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
            gpus=[_probe_gpu(nvml, i) for i in range(count)])
    except nvml.NVMLError as e:
        return NvidiaInfo(available=False, reason=f"NVML error while probing: {e}")
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
        self.device = f"gpu{gpu.index}"
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
    (device-wide and held by our process tree) and throttle reasons."""

    key = "gpus"

    def __init__(self, nvml, gpus: list[GpuInfo]):
        self.nvml = nvml
        self.handles = [(g.index, nvml.nvmlDeviceGetHandleByIndex(g.index)) for g in gpus]
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
        for index, h in self.handles:
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
        """Peak memory per GPU: held by our process tree, and in use on the whole device."""
        gpus: dict[str, dict[str, int | None]] = {}
        for tick in ticks:
            for g in tick:
                peak = gpus.setdefault(f"gpu{g['index']}", {"process_bytes": None, "device_used_bytes": None})
                for key, src in (("process_bytes", "process_mem_bytes"), ("device_used_bytes", "mem_used_bytes")):
                    if g[src] is not None:
                        peak[key] = max(peak[key] or 0, g[src])
        return gpus

    def throttle(self, ticks: list[list[dict[str, Any]]]) -> dict[str, throttling.Throttle]:
        out = {}
        for index, _ in self.handles:
            marks = [x["throttle"] for tick in ticks for x in tick
                     if x["index"] == index and x["throttle"] is not None]
            out[f"gpu{index}"] = (throttling.seen(set().union(*marks)) if marks
                                 else throttling.unknown(NO_CLOCK_EVENTS))
        return out


def provide(info: HardwareInfo, settings: Settings) -> Provision:
    """Each GPU's energy counter (or power samples), their telemetry, and NVML to shut down."""
    if not info.gpus:
        return Provision()
    nvml, why = load_nvml()
    if nvml is None:
        return Provision([Choice((f"gpu{g.index}",), None, why or "NVML unavailable") for g in info.gpus],
                         throttle_unknown={f"gpu{g.index}": NO_CLOCK_EVENTS for g in info.gpus})
    return Provision([Choice.of(NvmlSource(nvml, g)) for g in info.gpus],
                     telemetry=lambda: NvmlTelemetry(nvml, info.gpus), release=nvml.nvmlShutdown)
