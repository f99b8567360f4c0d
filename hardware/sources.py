"""Which energy source measures each device on this machine, and why.

Order of preference per device: a hardware counter, then sampled power integrated over
time, then a TDP estimate; else the device is listed as unavailable with the reason.
Each provider says that for its own devices; the GPU vendors' come first (hardware/gpus.py lists
them), then PROVIDERS, one line each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.result import HardwareInfo

from . import apple, gpus, rapl
from .provider import Choice, EnergySource, Provider, Provision, Settings, Telemetry

# After each GPU vendor's provider (hardware/gpus.py: its energy counter, else power samples):
PROVIDERS: tuple[Provider, ...] = (
    apple.provide,      # Apple Silicon: IOReport counters, else powermetrics
    rapl.provide,       # any other CPU and its DRAM: RAPL counters, else the TDP estimate
)


@dataclass
class Sources:
    """Open energy sources for one session; close() releases them and what choosing opened."""

    sources: list[EnergySource] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    telemetry: list[Telemetry] = field(default_factory=list)
    throttle_unknown: dict[str, str] = field(default_factory=dict)
    releases: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for s in self.sources:
            s.close()
        while self.releases:
            self.releases.pop(0)()


def provisions(info: HardwareInfo, interval_s: float = 0.5, cpu_tdp_w: float | None = None,
               powercap: Path = rapl.POWERCAP, opener: Callable[..., Any] = open) -> list[Provision]:
    settings = Settings(interval_s, cpu_tdp_w, powercap, opener)
    return [provide(info, settings) for provide in (*(v.provide for v in gpus.GPU_VENDORS), *PROVIDERS)]


def _release_all(found: list[Provision]) -> None:
    for p in found:
        if p.release is not None:
            p.release()


def choose(info: HardwareInfo, interval_s: float = 0.5, cpu_tdp_w: float | None = None,
           powercap: Path = rapl.POWERCAP, opener: Callable[..., Any] = open) -> tuple[list[Choice], Callable[[], None]]:
    """Decide without starting anything long-lived. Returns the choices and a function that
    releases what deciding opened (e.g. NVML), which the caller must call."""
    found = provisions(info, interval_s, cpu_tdp_w, powercap, opener)
    return [c for p in found for c in p.choices], lambda: _release_all(found)


def open_sources(info: HardwareInfo, interval_s: float = 0.5, cpu_tdp_w: float | None = None,
                 powercap: Path = rapl.POWERCAP, opener: Callable[..., Any] = open) -> Sources:
    out = Sources()
    for p in provisions(info, interval_s, cpu_tdp_w, powercap, opener):
        for c in p.choices:
            if c.factory is None:
                out.unavailable.update(dict.fromkeys(c.devices, c.reason))
            else:
                out.sources.append(c.factory())
        if p.telemetry is not None:
            out.telemetry.append(p.telemetry())
        out.throttle_unknown.update(p.throttle_unknown)
        if p.release is not None:
            out.releases.append(p.release)
    return out
