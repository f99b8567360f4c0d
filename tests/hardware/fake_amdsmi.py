"""A stand-in for the `amdsmi` module (ROCm's Python bindings) with the real API's names, units,
return shapes and errors; amdsmi needs an AMD GPU and its driver, which this machine lacks.

Where the shapes come from: ROCm/amdsmi's Python API reference (docs/how-to/using-amdsmi-for-python.md)
and its implementation, py-interface/amdsmi_interface.py and amdsmi_exception.py (ROCm 6.2/6.3
line, commit 0ceca28 of github.com/ROCm/amdsmi), checked against the 6.4 to 7.x references for
what changed since: the dicts, their keys, "N/A" for a value a GPU does not support (0xFFFF in
power info), AmdSmiLibraryException(err_code) with its err_info, the status codes and enum values
of amdsmi_wrapper.py. Units there: power W (power info), power cap uW, energy a counter of
`counter_resolution` uJ steps, memory bytes, clocks MHz, temperature C.

The figures are those the GPUs report in public output: an MI300X (206141652992 bytes of VRAM in 8
KFD partitions of 25767706624, 8192-bit bus, 1300 MHz max memory clock: ROCm issue 4750's kfd
topology; gfx942; 750 W cap, the card's TDP), and an MI250X/MI250 GCD on ROCm 6.0 (gfx90a; no
instant socket power; the energy dict of amdsmi 6.0, whose counter was called "power", and its
15.3 uJ resolution, as `amdsmi_get_energy_count` printed it in AMDResearch/hpcfund issue 21). The
UUID format is amd-smi's (its CLI README lists 7eff74a0-0000-1000-808f-7e20764e2714). Serials,
driver and ROCm versions, the MI250X's memory and cap, and the live readings (power, activity,
clocks, temperature) are placeholders in amdsmi's formats, not recorded figures: no test reads a
figure it did not put there."""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

# amdsmi_wrapper.py's status codes, the ones these tests raise
AMDSMI_STATUS_NOT_SUPPORTED = 2
AMDSMI_STATUS_NO_PERM = 10
AMDSMI_STATUS_INIT_ERROR = 18
AMDSMI_STATUS_DRIVER_NOT_LOADED = 34
_ERR_INFO = {
    AMDSMI_STATUS_NOT_SUPPORTED: "AMDSMI_STATUS_NOT_SUPPORTED - Feature not supported",
    AMDSMI_STATUS_NO_PERM: "AMDSMI_STATUS_NO_PERM - Permission Denied",
    AMDSMI_STATUS_INIT_ERROR: "AMDSMI_STATUS_INIT_ERROR - Initialization error",
    AMDSMI_STATUS_DRIVER_NOT_LOADED: "AMDSMI_STATUS_DRIVER_NOT_LOADED - Driver not loaded",
}


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):
    def __init__(self, err_code: int):
        err_code = abs(err_code)
        super().__init__(err_code)
        self.err_code = err_code
        self.err_info = _ERR_INFO.get(err_code, "AMDSMI_STATUS_UNKNOWN_ERROR - An unknown error occurred")

    def __str__(self) -> str:
        return f"Error code:\n\t{self.err_code} | {self.err_info}"

    def get_error_info(self) -> str:
        return self.err_info

    def get_error_code(self) -> int:
        return self.err_code


class AmdSmiInitFlags(IntEnum):
    INIT_ALL_PROCESSORS = 4294967295
    INIT_AMD_CPUS = 1
    INIT_AMD_GPUS = 2
    INIT_NON_AMD_CPUS = 4
    INIT_NON_AMD_GPUS = 8
    INIT_AMD_APUS = 3


class AmdSmiClkType(IntEnum):
    SYS = 0
    GFX = 0
    DF = 1
    DCEF = 2
    SOC = 3
    MEM = 4
    PCIE = 5


class AmdSmiMemoryType(IntEnum):
    VRAM = 0
    VIS_VRAM = 1
    GTT = 2


class AmdSmiTemperatureType(IntEnum):
    EDGE = 0
    HOTSPOT = 1
    JUNCTION = 1
    VRAM = 2


class AmdSmiTemperatureMetric(IntEnum):
    CURRENT = 0
    MAX = 1


NA = "N/A"

MI300X: dict[str, Any] = {
    "asic": {"market_name": "AMD Instinct MI300X", "vendor_id": "0x1002", "vendor_name": "Advanced Micro Devices Inc.",
             "subvendor_id": "0x1002", "device_id": "0x74a1", "rev_id": "0x00", "asic_serial": "0x5E2A1C0B0D3F4E71",
             "oam_id": 0, "num_compute_units": 304, "target_graphics_version": "gfx942"},
    "uuid": "7eff74a0-0000-1000-808f-7e20764e2714",
    "vram_total": 206141652992,
    "vram_info": {"vram_type": 5, "vram_vendor": 1, "vram_size": 196592, "vram_bit_width": 8192},
    "power_cap": {"power_cap": 750000000, "default_power_cap": 750000000, "dpm_cap": 1300,
                  "min_power_cap": 0, "max_power_cap": 750000000},
    "mem_clock": {"clk": 1300, "min_clk": 900, "max_clk": 1300, "clk_locked": NA, "clk_deep_sleep": 0},
    "gfx_clock": {"clk": 2100, "min_clk": 500, "max_clk": 2100, "clk_locked": 0, "clk_deep_sleep": 0},
    "pcie": {"pcie_static": {"max_pcie_width": 16, "max_pcie_speed": 32000, "pcie_interface_version": 5,
                             "slot_type": "OAM"},
             "pcie_metric": {"pcie_width": 16, "pcie_speed": 32000, "pcie_bandwidth": 0, "pcie_replay_count": 0,
                             "pcie_l0_to_recovery_count": 0, "pcie_replay_roll_over_count": 0,
                             "pcie_nak_sent_count": 0, "pcie_nak_received_count": 0,
                             "pcie_lc_perf_other_end_recovery_count": 0}},
    "power_w": 300, "power_keys": ("current_socket_power",),       # MI300: the instant figure
    "energy_key": "energy_accumulator", "resolution": 15.300000190734863,
    "violations": True,
}
MI250X: dict[str, Any] = {
    **MI300X,
    "asic": {**MI300X["asic"], "market_name": "AMD Instinct MI250X/MI250", "device_id": "0x740c",
             "num_compute_units": 110, "target_graphics_version": "gfx90a"},
    "uuid": "36ff740c-0000-1000-8071-25d815189854",
    "vram_total": 68702699520,
    "vram_info": {"vram_type": 4, "vram_vendor": 1, "vram_size": 65520},     # amdsmi 6.0: no bit width
    "power_cap": {**MI300X["power_cap"], "power_cap": 500000000, "default_power_cap": 500000000},
    "mem_clock": {**MI300X["mem_clock"], "clk": 1600, "max_clk": 1600},
    "power_w": 90, "power_keys": ("average_socket_power",),       # MI200: the average only
    "energy_key": "power",                                         # amdsmi 6.0's name for the counter
    "violations": False,
}


@dataclass
class Device:
    spec: dict
    used: int = 2 * 1024**3
    procs: list = field(default_factory=list)       # (pid, vram bytes)
    violations: set = field(default_factory=set)    # active_* flags that are set
    unsupported: set = field(default_factory=set)   # calls that raise NOT_SUPPORTED here (a VM guest)
    t0: float = field(default_factory=time.monotonic)


class processor_handle:   # amdsmi_wrapper.amdsmi_processor_handle: an opaque ctypes pointer
    def __init__(self, device: Device):
        self.device = device


class FakeAmdsmi(types.ModuleType):
    """The fake module, with its own bookkeeping (read by tests) declared."""
    devices: list[Device]
    init_count: int


def make(specs: list[dict] | None = None, init_error: int | None = None, rocm: str | None = "6.3.1") -> FakeAmdsmi:
    mod = FakeAmdsmi("amdsmi")
    for cls in (AmdSmiException, AmdSmiLibraryException, AmdSmiInitFlags, AmdSmiClkType, AmdSmiMemoryType,
                AmdSmiTemperatureType, AmdSmiTemperatureMetric):
        setattr(mod, cls.__name__, cls)
    devices = [Device(s) for s in (specs or [])]
    handles = [processor_handle(d) for d in devices]
    mod.devices = devices
    mod.init_count = 0

    def call(name):
        def wrap(fn):
            def checked(h, *args):
                if name in h.device.unsupported:
                    raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
                return fn(h.device, *args)
            return checked
        return wrap

    def init(flags=AmdSmiInitFlags.INIT_AMD_GPUS):
        if init_error is not None:
            raise AmdSmiLibraryException(init_error)
        mod.init_count += 1

    def shut_down():
        mod.init_count -= 1

    def energy(d):
        # 1 ms steps, as the driver refreshes it; `power_w` for as long as the device has existed
        elapsed_s = int((time.monotonic() - d.t0) * 1000) / 1000
        ticks = int((123456.0 + d.spec["power_w"] * elapsed_s) * 1e6 / d.spec["resolution"])
        out = {d.spec["energy_key"]: ticks, "counter_resolution": d.spec["resolution"], "timestamp": 3824190842400799}
        return out

    def power(d):
        out = {"current_socket_power": NA, "average_socket_power": NA, "gfx_voltage": NA, "soc_voltage": NA,
               "mem_voltage": NA, "power_limit": d.spec["power_cap"]["power_cap"] // 1000000}
        out.update(dict.fromkeys(d.spec["power_keys"], d.spec["power_w"]))
        return out

    def clock(d, kind):
        return d.spec["mem_clock"] if kind == AmdSmiClkType.MEM else d.spec["gfx_clock"]

    def processes(d):
        return [{"name": "python3", "pid": pid, "mem": vram, "engine_usage": {"gfx": 0, "enc": 0},
                 "memory_usage": {"gtt_mem": 0, "cpu_mem": 0, "vram_mem": vram}} for pid, vram in d.procs]

    def violations(d):
        if not d.spec["violations"]:
            raise AmdSmiLibraryException(AMDSMI_STATUS_NOT_SUPPORTED)
        flags = ("active_prochot_thrm", "active_ppt_pwr", "active_socket_thrm", "active_vr_thrm", "active_hbm_thrm")
        return {"reference_timestamp": 0, "violation_timestamp": 0, "acc_counter": 0,
                **{f: f in d.violations for f in flags}}

    def memory_total(d, kind):
        return d.spec["vram_total"]

    def memory_usage(d, kind):
        return d.used

    fns = {
        "amdsmi_get_gpu_asic_info": lambda d: dict(d.spec["asic"]),
        "amdsmi_get_gpu_device_uuid": lambda d: d.spec["uuid"],
        "amdsmi_get_gpu_driver_info": lambda d: {"driver_name": "amdgpu", "driver_version": "6.8.5",
                                                  "driver_date": "2015/01/01 00:00"},
        "amdsmi_get_gpu_memory_total": memory_total,
        "amdsmi_get_gpu_memory_usage": memory_usage,
        "amdsmi_get_gpu_vram_info": lambda d: dict(d.spec["vram_info"]),
        "amdsmi_get_power_cap_info": lambda d: dict(d.spec["power_cap"]),
        "amdsmi_get_power_info": power,
        "amdsmi_get_energy_count": energy,
        "amdsmi_get_clock_info": clock,
        "amdsmi_get_pcie_info": lambda d: d.spec["pcie"],
        "amdsmi_get_gpu_activity": lambda d: {"gfx_activity": 97, "umc_activity": 80, "mm_activity": NA},
        "amdsmi_get_temp_metric": lambda d, sensor, metric: 64,
        "amdsmi_get_gpu_process_list": processes,
        "amdsmi_get_violation_status": violations,
    }
    for name, fn in fns.items():
        setattr(mod, name, call(name)(fn))
    library = {"amdsmi_init": init, "amdsmi_shut_down": shut_down,
               "amdsmi_get_processor_handles": lambda: list(handles)}
    if rocm is not None:                 # amdsmi 6.4 and newer
        library["amdsmi_get_rocm_version"] = lambda: (True, rocm)
    for name, fn in library.items():
        setattr(mod, name, fn)
    return mod
