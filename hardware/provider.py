"""The seam between an energy provider (NVIDIA, AMD, Apple, the Linux CPU) and the session:
what a source implements, and what a provider hands over when asked about a machine.

A provider is one function `provide(info, settings) -> Provision`; hardware/sources.py
lists them in order of preference. Device names ("gpu0", "cpu", "ane") are free strings.
A GPU vendor is a `GpuVendor`: its probe and its provider, one line in hardware/gpus.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from contract.device import Device
from contract.result import GpuDriver, GpuInfo, HardwareInfo

from .throttle import Throttle

# `counter`: a hardware energy counter; `integrated`: power samples x time; `estimated`: a model.
Method = Literal["counter", "integrated", "estimated"]


class EnergySource(Protocol):
    """Joules per device over a window (begin/end, any number overlapping) and the latest
    power per device for the timeline (sample). A device a source cannot read this time is None."""

    @property
    def devices(self) -> tuple[str, ...]: ...
    @property
    def method(self) -> Method: ...
    @property
    def reason(self) -> str: ...             # how it measures, said in every reading
    @property
    def update_period_s(self) -> float: ...  # windows shorter than this fall back to power samples

    def begin(self) -> Any: ...
    def end(self, token: Any) -> dict[str, float | None]: ...
    def sample(self) -> dict[str, float | None]: ...
    def close(self) -> None: ...


@runtime_checkable
class ThrottleSource(EnergySource, Protocol):
    """A source that also sees why its devices were held back (Apple's thermal pressure)."""

    def throttle(self) -> dict[str, Throttle]: ...


class Telemetry(Protocol):
    """Per-tick state of a provider's devices beside their power (memory, utilisation, clocks,
    clock-event reasons). Each timeline record keeps its sample under `key`, one list for all the
    telemetries of that key (every vendor's GPUs under "gpus", each entry naming its device); at
    the end the session hands back the active phase's samples for the peaks and the throttle report."""

    @property
    def key(self) -> str: ...

    def sample(self, pids: set[int]) -> list[dict[str, Any]]: ...
    def device_memory(self, ticks: list[list[dict[str, Any]]]) -> dict[str, dict[str, int | None]]: ...
    def throttle(self, ticks: list[list[dict[str, Any]]]) -> dict[str, Throttle]: ...


@dataclass
class Choice:
    devices: tuple[str, ...]
    method: Method | None            # None: unavailable
    reason: str
    factory: Callable[[], EnergySource] | None = None

    @classmethod
    def of(cls, src: EnergySource, reason: str | None = None) -> Choice:
        """A source already open (cheap to hold), chosen as it is."""
        return cls(src.devices, src.method, src.reason if reason is None else reason, lambda: src)


@dataclass
class Provision:
    """What one provider found on this machine; empty where it has nothing to measure."""

    choices: list[Choice] = field(default_factory=list)
    telemetry: Callable[[], Telemetry] | None = None
    # devices whose throttling the provider cannot see with what it chose, and why
    throttle_unknown: dict[str, str] = field(default_factory=dict)
    release: Callable[[], None] | None = None   # what choosing opened (a driver library), closed last


@dataclass(frozen=True)
class Settings:
    """The session's settings that providers may use."""

    interval_s: float
    cpu_tdp_w: float | None
    powercap: Path
    opener: Callable[..., Any]


Provider = Callable[[HardwareInfo, Settings], Provision]


def gpu_memory_peaks(ticks: list[list[dict[str, Any]]], devices: set[str]) -> dict[str, dict[str, int | None]]:
    """Peak memory per GPU of `devices` over a GPU telemetry's ticks (entries with `device`,
    `process_mem_bytes`, `mem_used_bytes`): held by our process tree, and in use on the whole device."""
    gpus: dict[str, dict[str, int | None]] = {}
    for tick in ticks:
        for g in tick:
            if g["device"] not in devices:
                continue
            peak = gpus.setdefault(g["device"], {"process_bytes": None, "device_used_bytes": None})
            for key, src in (("process_bytes", "process_mem_bytes"), ("device_used_bytes", "mem_used_bytes")):
                if g[src] is not None:
                    peak[key] = max(peak[key] or 0, g[src])
    return gpus


# (first device number) -> (the vendor's driver, its GPUs named gpu<first>, gpu<first+1>, ...)
GpuProbe = Callable[[int], tuple[GpuDriver, list[GpuInfo]]]


@dataclass(frozen=True)
class GpuVendor:
    """What the rest of the suite knows of a GPU vendor: nothing outside its module and this."""

    name: str                        # GpuInfo.vendor and the key of HardwareInfo.gpu_drivers
    devices: tuple[Device, ...]      # the engine devices that run on its GPUs (CUDA, ROCm)
    probe: GpuProbe                  # never raises: a vendor without GPUs here says why in its GpuDriver
    provide: Provider
    memory_method: str               # how its telemetry samples memory, for `bench hardware`
    throttle_method: str             # how its telemetry sees throttling
