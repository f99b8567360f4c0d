"""MeasurementSession: idle baseline, sampler thread, energy windows and the run report."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field

from contract.result import DeviceEnergy, EnergyWindow, HardwareInfo, IdleEnergy, Memory, Monitoring

from . import energy, throttle
from .energy import integrate
from .provider import EnergySource, ThrottleSource
from .sampler import DEFAULT_INTERVAL_S, ProcessTree, Sampler
from .sources import Sources, open_sources


@dataclass
class Window:
    t0: float                       # seconds on the sampler's clock
    tokens: list                    # one begin() token per source


@dataclass
class SessionReport:
    """What a session saw over the run: the contract's monitoring section (monitoring()), and the
    memory peaks (the contract's Memory, less what the model holds) and timeline the run puts beside it."""
    interval_s: float | None
    idle: IdleEnergy | None
    energy_sources: list[dict]
    unavailable: dict[str, str]
    memory: Memory
    throttle: dict[str, throttle.Throttle]
    sampler: dict | None
    timeline: list[dict] = field(default_factory=list)

    def monitoring(self) -> Monitoring:
        return Monitoring(interval_s=self.interval_s, idle=self.idle, energy_sources=self.energy_sources,
                          unavailable=self.unavailable, throttle=self.throttle, sampler=self.sampler)


def _self_peak_rss_bytes() -> int:
    # ru_maxrss: kilobytes on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _ticks(timeline: list[dict], key: str) -> list[list[dict]]:
    """One telemetry's samples, tick by tick."""
    return [r[key] for r in timeline if key in r]


class MeasurementSession:
    """One per run. measure_idle() then start(); begin_window()/end_window() around measured
    work (any number, may overlap); stop() returns the report and releases everything."""

    def __init__(self, info: HardwareInfo, interval_s: float = DEFAULT_INTERVAL_S,
                 cpu_tdp_w: float | None = None, include_children: bool = True,
                 sources: Sources | None = None):
        self.info = info
        self.interval_s = interval_s
        self.sources = sources if sources is not None else open_sources(info, interval_s, cpu_tdp_w)
        self.sampler = Sampler(self.sources.sources, self.sources.telemetry, interval_s,
                               ProcessTree(include_children))
        self.idle: IdleEnergy | None = None
        self._throttle_before: dict[str, int] | None = None
        self._report: SessionReport | None = None

    def _now(self) -> float:
        return time.monotonic() - self.sampler.t0

    def _ensure_sampler(self) -> None:
        if not self.sampler.is_alive() and self._report is None:
            self.sampler.start()

    def measure_idle(self, seconds: float = 3.0) -> IdleEnergy:
        """Energy while nothing of ours runs, kept apart from the active windows."""
        self.sampler.phase = "idle"
        self._ensure_sampler()
        w = self.begin_window()
        time.sleep(seconds)
        self.idle = energy.idle(self.end_window(w))
        return self.idle

    def start(self) -> None:
        self._throttle_before = throttle.cpu_throttle_counts()
        self.sampler.phase = "active"
        self._ensure_sampler()

    def sample_now(self) -> None:
        """One extra timeline sample, e.g. at the end of the work, so that peaks see it
        even when the work was shorter than the sampling interval."""
        if self._report is None:
            self.sampler.tick()

    def begin_window(self) -> Window:
        return Window(self._now(), [s.begin() for s in self.sources.sources])

    def end_window(self, w: Window) -> EnergyWindow:
        t1 = self._now()
        seconds = t1 - w.t0
        readings: list[DeviceEnergy] = []
        for src, token in zip(self.sources.sources, w.tokens, strict=True):
            values = src.end(token)
            for dev in src.devices:
                readings.append(self._reading(src, dev, values.get(dev), w.t0, t1))
        readings += [energy.reading(dev, None, seconds, None, why)
                     for dev, why in self.sources.unavailable.items()]
        return energy.window(seconds, readings)

    def _reading(self, src: EnergySource, dev: str, joules: float | None, t0: float, t1: float) -> DeviceEnergy:
        seconds = t1 - t0
        if joules is not None and src.method == "estimated" and joules == 0 and seconds < 2 * src.update_period_s:
            # A zero over a window of a tick or two is the kernel's CPU-time resolution, not idle cores;
            # integrating the estimate's own samples would pass it off as a measurement.
            return energy.reading(dev, None, seconds, None, f"window {seconds * 1000:.0f} ms is too short for the "
                                 f"kernel's CPU-time resolution ({src.update_period_s * 1000:g} ms): {src.reason}")
        if joules is not None and src.method == "counter" and (seconds < src.update_period_s or joules == 0):
            why = f"window {seconds * 1000:.0f} ms is shorter than the counter's update period"
            joules = None
        else:
            why = "the source gave no value"
        if joules is not None:
            return energy.reading(dev, joules, seconds, src.method, src.reason)
        integrated = integrate(self.sampler.power_points(dev), t0, t1)
        if integrated is not None:
            return energy.reading(dev, integrated, seconds, "integrated",
                                 f"{src.reason}; {why}: sampled power x time")
        return energy.reading(dev, None, seconds, None, f"{why}, and no power sample covers the window")

    def stop(self) -> SessionReport:
        if self._report is not None:
            return self._report
        self.sampler.stop()
        self.sources.close()
        active = [r for r in self.sampler.timeline if r["phase"] == "active"]
        self._report = SessionReport(
            interval_s=self.interval_s, idle=self.idle,
            energy_sources=[{"devices": list(s.devices), "method": s.method, "reason": s.reason}
                            for s in self.sources.sources],
            unavailable=dict(self.sources.unavailable),
            memory=self._memory(active), throttle=self._throttle(active),
            sampler=self.sampler.cost(), timeline=self.sampler.timeline)
        return self._report

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> MeasurementSession:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _memory(self, active: list[dict]) -> Memory:
        """The peaks seen while active; what the model holds is the run's to add (file, KV cache)."""
        rss = [r["rss_bytes"] for r in active]
        device_memory: dict[str, dict[str, int | None]] = {}
        for t in self.sources.telemetry:
            device_memory.update(t.device_memory(_ticks(active, t.key)))
        return Memory(
            peak_rss_bytes=max(rss) if rss else None,
            peak_rss_scope="this process + descendants, sampled (shared pages counted per process)"
            if self.sampler.tree.include_children else "this process, sampled",
            self_max_rss_bytes=_self_peak_rss_bytes(),
            peak_device_memory=device_memory or None,
        )

    def _throttle(self, active: list[dict]) -> dict[str, throttle.Throttle]:
        seen = throttle.cpu_throttle_seen(self._throttle_before, throttle.cpu_throttle_counts())
        out = {"cpu": throttle.unknown(throttle.CPU_THROTTLE_UNAVAILABLE) if seen is None else throttle.seen(seen)}
        for t in self.sources.telemetry:
            out.update(t.throttle(_ticks(active, t.key)))
        for s in self.sources.sources:
            if isinstance(s, ThrottleSource):
                out.update(s.throttle())
        out.update({dev: throttle.unknown(why) for dev, why in self.sources.throttle_unknown.items()})
        return out
