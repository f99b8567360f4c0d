"""Hardware measurement around one run: what it ran on, what it drew, memory and roofline.

Glue between the run and `hardware/`: the idle baseline before the engine loads, one energy
window per scenario around its measured passes only (warmup excluded), and the figures that
need both a measurement and the model (energy per token, decode ceiling). The read-bandwidth
roof comes from the per-machine cache unless it cannot be trusted (hardware/bandwidth.py says
when), and is measured once more when a decode comes out above it (recheck_roof).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import hardware
from contract.device import Device
from contract.result import EnergyWindow, HardwareInfo, Roofline
from hardware import roofline
from hardware.gpus import gpu_for
from hardware.session import SessionReport, Window

if TYPE_CHECKING:
    from scenarios.kinds import MeasuredRecord


class Measurement(Protocol):
    """What a run asks of the measurement around it (RunMeasurement; a test's fake)."""

    def hardware(self) -> HardwareInfo: ...
    def bandwidth_doc(self) -> dict: ...
    def start(self, ui) -> None: ...
    def begin_scenario(self) -> None: ...
    def end_scenario(self, record: MeasuredRecord) -> EnergyWindow | None: ...
    def bandwidths(self, device: Device, threads: int | None = None) -> tuple[float | None, float | None]: ...
    def recheck_roof(self, ui, records: list[MeasuredRecord], model: dict, device: Device,
                     threads: int | None) -> bool: ...
    def sample_now(self) -> None: ...
    def finish(self) -> SessionReport: ...


# How a run starts its measurement: (ui, idle_seconds) -> Measurement. Called once the result
# exists, so that what it probes and measures is the run's (and a failure there is the run's too).
MeasurementFactory = Callable[[Any, float], Measurement]


class RunMeasurement:
    def __init__(self, ui, idle_seconds: float = 3.0, interval_s: float = 0.5):
        self.idle_seconds = idle_seconds
        self.info = hardware.probe()
        for device, why in hardware.bandwidth.pending(self.info).items():
            ui.info(f"measuring the {device} read-bandwidth roof ({why}; a few seconds)")
        self.bandwidth = hardware.bandwidth.measured_bandwidth(self.info)
        self.roof_rechecked = False
        self.session = hardware.MeasurementSession(self.info, interval_s=interval_s)
        self._window: Window | None = None

    def hardware(self) -> HardwareInfo:
        return self.info

    def bandwidth_doc(self) -> dict:
        return {d: m.to_dict() for d, m in self.bandwidth.items()}

    def start(self, ui) -> None:
        if self.idle_seconds > 0:
            ui.info(f"idle baseline ({self.idle_seconds:g} s)")
            self.session.measure_idle(self.idle_seconds)
        self.session.start()

    # -- per scenario ------------------------------------------------------------------
    def begin_scenario(self) -> None:
        self._window = self.session.begin_window()

    def end_scenario(self, record: MeasuredRecord) -> EnergyWindow | None:
        """Energy over the scenario's measured passes, per token, with its method."""
        if self._window is None:
            return None
        reading, self._window = self.session.end_window(self._window), None
        figures: dict[str, float | None] = {
            "average_watts": reading.joules / reading.seconds if reading.joules is not None and reading.seconds > 0
            else None}
        per, tokens = record.energy_tokens()
        if per == "prompt":
            figures["joules_per_prompt_token"] = hardware.joules_per_token(tokens, reading)
        else:
            figures["joules_per_output_token"] = hardware.joules_per_token(tokens, reading)
            figures["tokens_per_joule"] = hardware.tokens_per_joule(tokens, reading)
        return reading.model_copy(update=figures)

    # -- whole run -----------------------------------------------------------------------
    def sample_now(self) -> None:
        self.session.sample_now()

    def finish(self) -> SessionReport:
        return self.session.stop()

    def bandwidths(self, device: Device, threads: int | None = None) -> tuple[float | None, float | None]:
        return device_bandwidths(self.info, self.bandwidth, device, threads)

    def recheck_roof(self, ui, records: list[MeasuredRecord], model: dict, device: Device,
                     threads: int | None) -> bool:
        """A decode above 100% of the measured read roof means the roof is wrong (measured under
        load, or stale) more likely than the decode: measure it again, once per run, and recompute
        every record's roofline against the new figure. True when it re-measured."""
        over = [(r.roofline.efficiency_measured, r.name) for r in records
                if r.roofline and (r.roofline.efficiency_measured or 0) > 1]
        key = bandwidth_key(self.info, device)
        if not over or key is None or self.roof_rechecked:
            return False
        self.roof_rechecked = True
        ratio, name = max(over)
        because = f"{name} decoded at {ratio:.0%} of the read roof measured before the run"
        ui.warn(f"{because}: measuring the {key} roof again")
        self.bandwidth = hardware.bandwidth.measured_bandwidth(self.info, refresh=True, because=because,
                                                               devices=[key])
        spec, measured = self.bandwidths(device, threads)
        for r in records:
            if r.roofline is not None:
                r.roofline = decode_roofline(r.decode_rate(), model, spec, measured)
        return True


def bandwidth_key(info: HardwareInfo, device: Device) -> str | None:
    """Which measured roof (hardware/bandwidth.py's devices) a run on `device` reads its weights
    through: the first GPU of the vendor whose engines run on that device (hardware/gpus.py), the
    CPU's for the CPU; None where this machine cannot say (a remote server, layers split across
    memories, a GPU no driver here sees). Apple GPUs read the same unified memory as the CPU: the
    chip's figure holds for both."""
    gpu = gpu_for(info, device)
    if gpu is not None:
        return gpu.device
    return "cpu" if device is Device.CPU or device.is_apple_gpu else None


def device_bandwidths(info: HardwareInfo, bandwidth: dict, device: Device,
                      threads: int | None = None) -> tuple[float | None, float | None]:
    """(spec, measured read roof) GB/s of the memory the weights were read from; (None, None)
    where this machine cannot say (see bandwidth_key). On the CPU the roof is the read figure at
    the engine's `threads` where it was measured at that count."""
    key = bandwidth_key(info, device)
    if key is None:
        return None, None
    measured = bandwidth.get(key)
    gpu = gpu_for(info, device)
    if gpu is not None:
        return gpu.spec_bandwidth_gbps, measured.gbps if measured else None
    spec = info.apple.spec_bandwidth_gbps if info.apple else info.cpu.spec_bandwidth_gbps
    return spec, measured.read_gbps(threads) if measured else None


def decode_roofline(rate: tuple[float, float] | None, model: dict, spec_gbps: float | None,
                    measured_gbps: float | None) -> Roofline | None:
    """Ceiling and bandwidth efficiency of a decode figure: (tokens/s, mean context) from its record."""
    if rate is None or model.get("weight_bytes_per_token") is None:   # a server's model: bytes not known here
        return None
    tps, mean_context = rate
    per_token = roofline.bytes_per_token(model["weight_bytes_per_token"], model["kv_bytes_per_token"],
                                         round(mean_context))
    return roofline.bandwidth_efficiency(tps, per_token, spec_gbps, measured_gbps, mean_context_tokens=mean_context,
                                         kv_bytes_read_per_token=per_token - model["weight_bytes_per_token"])
