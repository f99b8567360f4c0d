"""Which energy source measures each device on this machine, and why.

Order of preference per device: a hardware counter, then sampled power integrated over
time, then a TDP estimate; else the device is listed as unavailable with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable

from . import apple, estimate, nvidia, rapl
from .info import HardwareInfo


@dataclass
class Choice:
    devices: tuple[str, ...]
    method: str | None            # None: unavailable
    reason: str
    factory: Callable | None = None


@dataclass
class Sources:
    """Open energy sources for one session; close() releases NVML and child processes."""

    sources: list = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    nvml: ModuleType | None = None

    def close(self) -> None:
        for s in self.sources:
            s.close()
        if self.nvml is not None:
            self.nvml.nvmlShutdown()
            self.nvml = None


def choose(info: HardwareInfo, interval_s: float = 0.5, cpu_tdp_w: float | None = None,
           powercap: Path = rapl.POWERCAP, opener=open) -> tuple[list[Choice], ModuleType | None]:
    """Decide without starting anything long-lived. Returns the choices and an initialised
    NVML module (or None) that the caller must shut down."""
    choices: list[Choice] = []
    nvml = None
    if info.gpus:
        nvml, why = nvidia.load_nvml()
        for g in info.gpus:
            if nvml is None:
                choices.append(Choice((f"gpu{g.index}",), None, why or "NVML unavailable"))
                continue
            src = nvidia.NvmlSource(nvml, g)
            choices.append(Choice(src.devices, src.method, src.reason, lambda s=src: s))
    if info.apple is not None:
        choices.append(_apple_choice(interval_s))
    else:
        choices.extend(_linux_cpu_choices(info, cpu_tdp_w, powercap, opener))
    return choices, nvml


def _apple_choice(interval_s: float) -> Choice:
    devices = ("cpu", "gpu", "ane", "dram")
    zeus, zeus_why = apple.load_zeus_apple()
    if zeus is not None:
        return Choice(devices, "counter", apple.IOReportSource.reason,
                      lambda: apple.IOReportSource(zeus))
    if apple.sudo_powermetrics_ok():
        return Choice(apple.PowermetricsSource.devices, "integrated",
                      "powermetrics CPU/GPU/ANE power x time (passwordless sudo)",
                      lambda: apple.PowermetricsSource(interval_s))
    return Choice(devices, None, f"{zeus_why}; `sudo -n powermetrics` is not allowed; Apple publishes "
                                 "no TDP for its chips, so there is no estimate")


def _linux_cpu_choices(info, cpu_tdp_w, powercap, opener) -> list[Choice]:
    groups, problem = rapl.discover(powercap, opener)
    if groups:
        src = rapl.RaplSource(groups)
        out = [Choice(src.devices, "counter", src.reason, lambda: src)]
        if "dram" not in groups:
            out.append(Choice(("dram",), None, "RAPL has no dram domain on this CPU"))
        return out
    tdp, origin = estimate.cpu_tdp_w(info.cpu.spec_tdp_w, info.cpu.sockets, cpu_tdp_w, info.cpu.cores)
    no_dram = Choice(("dram",), None, "no RAPL dram domain; DRAM power is not modelled")
    if tdp is None:
        return [Choice(("cpu",), None, f"{problem}; {origin}"), no_dram]
    tdp_src = estimate.TdpEstimateSource(tdp, origin)
    return [Choice(("cpu",), "estimated", f"{problem}; {tdp_src.reason}", lambda: tdp_src), no_dram]


def open_sources(info: HardwareInfo, interval_s: float = 0.5, cpu_tdp_w: float | None = None,
                 **kw) -> Sources:
    choices, nvml = choose(info, interval_s, cpu_tdp_w, **kw)
    out = Sources(nvml=nvml)
    for c in choices:
        if c.factory is None:
            out.unavailable.update({d: c.reason for d in c.devices})
        else:
            out.sources.append(c.factory())
    return out
