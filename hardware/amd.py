"""AMD GPUs through amdsmi (ROCm's Python bindings, `import amdsmi`, imported only when probing).

Units as amdsmi gives them (its Python API reference, ROCm 6.x and 7.x): power in W, the power cap
in uW, energy as a counter of `counter_resolution` uJ steps, memory in bytes, clocks in MHz,
temperature in degrees C. A value a GPU does not support comes back as the string "N/A"; a call
it does not support (most power and energy calls in a VM guest) raises AmdSmiLibraryException."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import threading
from types import ModuleType
from typing import Any

from contract.device import Device
from contract.result import GpuDriver, GpuInfo, HardwareInfo, PcieLink

from . import throttle as throttling
from .provider import Choice, GpuVendor, Method, Provision, Settings, gpu_memory_peaks

VENDOR_NAME = "amd"
RUNTIME = "ROCm"
# The driver refreshes power and energy about every millisecond, returning its cached value to
# calls in between (a ROCm SMI maintainer, ROCm/ROCm issue 1649). Shorter windows are integrated.
ENERGY_COUNTER_PERIOD_S = 0.001
NO_VIOLATIONS = "amdsmi gave no violation status (MI300 and newer report one)"
# amdsmi_get_violation_status: which of its `active_*` flags mean the GPU was held back
VIOLATIONS = {"active_ppt_pwr": "power_cap", "active_socket_thrm": "socket_thermal",
              "active_prochot_thrm": "prochot_thermal", "active_vr_thrm": "vr_thermal",
              "active_hbm_thrm": "hbm_thermal"}
# PCIe transfer rate (MT/s, as amdsmi_get_pcie_info gives pcie_speed) -> generation
_PCIE_GEN = {2500: 1, 5000: 2, 8000: 3, 16000: 4, 32000: 5, 64000: 6}


def load_amdsmi() -> tuple[ModuleType | None, str | None]:
    """(amdsmi module, None) after amdsmi_init for GPUs, or (None, why not). Never raises."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):    # it prints when libamd_smi.so is missing
            amdsmi = importlib.import_module("amdsmi")
    except ImportError:
        return None, "amdsmi is not installed (it ships with ROCm: pip install /opt/rocm/share/amd_smi)"
    except (OSError, AttributeError, KeyError) as e:        # the library is missing or of another ROCm
        return None, f"amdsmi unavailable: {e}"
    try:
        amdsmi.amdsmi_init(amdsmi.AmdSmiInitFlags.INIT_AMD_GPUS)
    except amdsmi.AmdSmiException as e:
        return None, f"amdsmi unavailable: {_why(e)} (no amdgpu driver or GPU)"
    return amdsmi, None


def _why(e: Exception) -> str:
    # str() of an AmdSmiLibraryException is two lines; its err_info is the one that says why
    return getattr(e, "err_info", None) or str(e)


def _try(amdsmi: Any, unknown: dict[str, str], field: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except amdsmi.AmdSmiException as e:
        unknown[field] = f"amdsmi: {_why(e)}"
        return None


def _number(value: Any) -> int | float | None:
    """A figure amdsmi gave, or None for its "N/A" (and for a bool, which is no figure)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _pcie(amdsmi: Any, h: Any, unknown: dict[str, str]) -> PcieLink | None:
    info = _try(amdsmi, unknown, "pcie_link", amdsmi.amdsmi_get_pcie_info, h)
    if info is None:
        return None
    static, metric = info.get("pcie_static") or {}, info.get("pcie_metric") or {}
    speed = _number(metric.get("pcie_speed"))
    return PcieLink(gen=_PCIE_GEN.get(int(speed)) if speed else None, width=_number(metric.get("pcie_width")),
                    max_gen=_number(static.get("pcie_interface_version")),
                    max_width=_number(static.get("max_pcie_width")))


def _probe_gpu(amdsmi: Any, index: int, h: Any, device: str) -> GpuInfo:
    from .specs import gpu_spec

    u: dict[str, str] = {}
    asic = _try(amdsmi, u, "name", amdsmi.amdsmi_get_gpu_asic_info, h) or {}
    name = asic.get("market_name") if asic.get("market_name") not in (None, "", "N/A") else None
    if name is None:
        u.setdefault("name", "amdsmi gave no market name")
    arch = asic.get("target_graphics_version")
    if not (isinstance(arch, str) and re.fullmatch(r"gfx[0-9a-f]{3,4}", arch)):
        u["arch"] = f"amdsmi gave no gfx target ({arch!r})"
        arch = None
    memory = _try(amdsmi, u, "memory_bytes", amdsmi.amdsmi_get_gpu_memory_total, h, amdsmi.AmdSmiMemoryType.VRAM)
    cap = _try(amdsmi, u, "power_limit_w", amdsmi.amdsmi_get_power_cap_info, h)
    cap_uw = _number((cap or {}).get("power_cap"))
    vram = _try(amdsmi, u, "memory_bus_width_bits", amdsmi.amdsmi_get_gpu_vram_info, h) or {}
    bus = _number(vram.get("vram_bit_width")) or None            # older amdsmi has no bit width
    mclk = _number((_try(amdsmi, u, "max_memory_clock_mhz", amdsmi.amdsmi_get_clock_info, h,
                         amdsmi.AmdSmiClkType.MEM) or {}).get("max_clk"))
    energy = _try(amdsmi, u, "energy_counter", amdsmi.amdsmi_get_energy_count, h) is not None
    # A bus width x memory clock product does not give HBM's rate on AMD (an MI300X reports 8192 bit
    # x 1300 MHz for 5.3 TB/s): the datasheet figure comes from the machine table where it has the GPU.
    row = gpu_spec(name)
    if row is None:
        u["spec_bandwidth_gbps"] = f"{name or 'this GPU'} is not in hardware/specs.json machines"
    return GpuInfo(
        vendor=VENDOR_NAME, index=index, device=device, name=name or "AMD GPU",
        uuid=_try(amdsmi, u, "uuid", amdsmi.amdsmi_get_gpu_device_uuid, h),
        memory_bytes=memory, arch=arch, power_limit_w=cap_uw / 1e6 if cap_uw else None,
        memory_bus_width_bits=bus, max_memory_clock_mhz=mclk,
        spec_bandwidth_gbps=row["bandwidth_gbps"] if row else None,
        spec_source=f"hardware/specs.json machine {row['id']}: {row['source']}" if row else None,
        pcie_link=_pcie(amdsmi, h, u), energy_counter=energy, unknown=u)


def _driver(amdsmi: Any, handles: list[Any]) -> GpuDriver:
    info = _try(amdsmi, {}, "", amdsmi.amdsmi_get_gpu_driver_info, handles[0]) if handles else None
    rocm = None
    if hasattr(amdsmi, "amdsmi_get_rocm_version"):               # amdsmi 6.4 and newer: (found, version)
        with contextlib.suppress(amdsmi.AmdSmiException):
            found, version = amdsmi.amdsmi_get_rocm_version()
            rocm = version if found else None
    return GpuDriver(available=bool(handles), reason=None if handles else "amdsmi found no GPUs",
                     driver_version=(info or {}).get("driver_version"), runtime=RUNTIME, runtime_version=rocm)


def probe_amd(first: int = 0) -> tuple[GpuDriver, list[GpuInfo]]:
    """amdsmi's driver and its GPUs, named gpu<first>, gpu<first + 1>, ... Never raises."""
    amdsmi, why = load_amdsmi()
    if amdsmi is None:
        return GpuDriver(available=False, reason=why, runtime=RUNTIME), []
    try:
        handles = list(amdsmi.amdsmi_get_processor_handles())
        return _driver(amdsmi, handles), [_probe_gpu(amdsmi, i, h, f"gpu{first + i}") for i, h in enumerate(handles)]
    except amdsmi.AmdSmiException as e:
        return GpuDriver(available=False, reason=f"amdsmi error while probing: {_why(e)}", runtime=RUNTIME), []
    finally:
        with contextlib.suppress(amdsmi.AmdSmiException):
            amdsmi.amdsmi_shut_down()


def _handle(amdsmi: Any, gpu: GpuInfo) -> Any:
    return amdsmi.amdsmi_get_processor_handles()[gpu.index]


def _watts(power: dict[str, Any] | None) -> float | None:
    """Socket power: the instant figure on MI300 and newer, the average on MI200 and older."""
    power = power or {}
    return _number(power.get("current_socket_power")) or _number(power.get("average_socket_power"))


class AmdsmiSource:
    """Energy and power of one AMD GPU: the energy counter where the driver gives one (not in a
    VM guest), otherwise power samples (W) that the session integrates."""

    update_period_s = ENERGY_COUNTER_PERIOD_S

    def __init__(self, amdsmi: Any, gpu: GpuInfo):
        self.amdsmi = amdsmi
        self.handle = _handle(amdsmi, gpu)
        self.device = gpu.device
        self.devices = (self.device,)
        self.method: Method = "counter" if gpu.energy_counter else "integrated"
        self.reason = ("amdsmi_get_energy_count (counter x resolution, uJ)" if gpu.energy_counter
                       else "no energy counter (a VM guest, or not supported): amdsmi_get_power_info "
                            "socket power samples x time")
        self._lock = threading.Lock()

    def begin(self) -> float | None:
        return self._energy_uj()

    def end(self, token: float | None) -> dict[str, float | None]:
        now = self._energy_uj()
        if token is None or now is None:
            return {self.device: None}
        return {self.device: (now - token) / 1e6}

    def _energy_uj(self) -> float | None:
        if self.method != "counter":
            return None
        with self._lock:
            try:
                e = self.amdsmi.amdsmi_get_energy_count(self.handle)
            except self.amdsmi.AmdSmiException:
                return None
        # "energy_accumulator" since amdsmi 6.1; before, the same counter was called "power"
        ticks = e.get("energy_accumulator", e.get("power"))
        return ticks * e["counter_resolution"] if _number(ticks) is not None else None

    def sample(self) -> dict[str, float | None]:
        try:
            return {self.device: _watts(self.amdsmi.amdsmi_get_power_info(self.handle))}
        except self.amdsmi.AmdSmiException:
            return {self.device: None}

    def close(self) -> None:
        pass


class AmdsmiTelemetry:
    """Per-tick AMD GPU state for the timeline's `gpus` list: utilisation, clocks, temperature,
    memory (device-wide and held by our process tree) and violation (throttle) flags."""

    key = "gpus"

    def __init__(self, amdsmi: Any, gpus: list[GpuInfo]):
        self.amdsmi = amdsmi
        self.handles = [(g.index, g.device, _handle(amdsmi, g)) for g in gpus]

    def _get(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self.amdsmi.AmdSmiException:
            return None

    def _ours(self, h: Any, pids: set[int]) -> int | None:
        procs = self._get(self.amdsmi.amdsmi_get_gpu_process_list, h)
        if procs is None:
            return None
        used = [_number((p.get("memory_usage") or {}).get("vram_mem")) for p in procs if p.get("pid") in pids]
        return int(sum(u for u in used if u is not None)) if None not in used else None

    def _violations(self, h: Any) -> list[str] | None:
        fn = getattr(self.amdsmi, "amdsmi_get_violation_status", None)
        status = self._get(fn, h) if fn is not None else None
        if not status or not any(isinstance(status.get(k), bool) for k in VIOLATIONS):
            return None
        return [name for k, name in VIOLATIONS.items() if status.get(k) is True]

    def sample(self, pids: set[int]) -> list[dict[str, Any]]:
        a = self.amdsmi
        out = []
        for index, device, h in self.handles:
            activity = self._get(a.amdsmi_get_gpu_activity, h) or {}
            gfx = self._get(a.amdsmi_get_clock_info, h, a.AmdSmiClkType.GFX) or {}
            mem = self._get(a.amdsmi_get_clock_info, h, a.AmdSmiClkType.MEM) or {}
            out.append({
                "index": index,
                "device": device,
                "util_pct": _number(activity.get("gfx_activity")),
                "mem_used_bytes": self._get(a.amdsmi_get_gpu_memory_usage, h, a.AmdSmiMemoryType.VRAM),
                "process_mem_bytes": self._ours(h, pids),
                "gfx_clock_mhz": _number(gfx.get("clk")),
                "mem_clock_mhz": _number(mem.get("clk")),
                # the hotspot (junction): MI300 reports no edge temperature
                "temp_c": self._get(a.amdsmi_get_temp_metric, h, a.AmdSmiTemperatureType.HOTSPOT,
                                    a.AmdSmiTemperatureMetric.CURRENT),
                "throttle": self._violations(h),
            })
        return out

    def device_memory(self, ticks: list[list[dict[str, Any]]]) -> dict[str, dict[str, int | None]]:
        return gpu_memory_peaks(ticks, {device for _, device, _ in self.handles})

    def throttle(self, ticks: list[list[dict[str, Any]]]) -> dict[str, throttling.Throttle]:
        out = {}
        for _, device, _ in self.handles:
            marks = [x["throttle"] for tick in ticks for x in tick
                     if x["device"] == device and x["throttle"] is not None]
            out[device] = throttling.seen(set().union(*marks)) if marks else throttling.unknown(NO_VIOLATIONS)
        return out


def _shut_down(amdsmi: Any) -> None:
    with contextlib.suppress(amdsmi.AmdSmiException):
        amdsmi.amdsmi_shut_down()


def provide(info: HardwareInfo, settings: Settings) -> Provision:
    """Each AMD GPU's energy counter (or power samples), their telemetry, and amdsmi to shut down."""
    gpus = [g for g in info.gpus if g.vendor == VENDOR_NAME]
    if not gpus:
        return Provision()
    amdsmi, why = load_amdsmi()
    if amdsmi is None:
        return Provision([Choice((g.device,), None, why or "amdsmi unavailable") for g in gpus],
                         throttle_unknown={g.device: NO_VIOLATIONS for g in gpus})
    return Provision([Choice.of(AmdsmiSource(amdsmi, g)) for g in gpus],
                     telemetry=lambda: AmdsmiTelemetry(amdsmi, gpus), release=lambda: _shut_down(amdsmi))


VENDOR = GpuVendor(VENDOR_NAME, (Device.ROCM,), probe_amd, provide,
                   memory_method="amdsmi per-process VRAM (amdsmi_get_gpu_process_list)",
                   throttle_method="amdsmi violation status (power cap, thermal)")
