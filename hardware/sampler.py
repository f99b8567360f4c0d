"""The background sampler: one thread per run that records a timeline of power,
utilisation, clocks, temperature, process RSS and GPU memory, and measures its own CPU cost."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from .provider import EnergySource, Telemetry

DEFAULT_INTERVAL_S = 0.5
_CHILD_REFRESH_S = 4.0   # finding children scans /proc: do it rarely, read their RSS every tick


class ProcessTree:
    """RSS of this process plus its descendants (engine servers and workers are children,
    so they count). Summing RSS counts pages shared between them more than once, so the
    figure is an upper bound; this process's own kernel-tracked peak is reported apart."""

    def __init__(self, include_children: bool = True):
        self.me = psutil.Process()
        self.include_children = include_children
        self.children: list[psutil.Process] = []
        self._refreshed = 0.0

    def pids(self) -> set[int]:
        return {self.me.pid, *(c.pid for c in self.children)}

    def rss(self) -> int:
        now = time.monotonic()
        if self.include_children and now - self._refreshed >= _CHILD_REFRESH_S:
            try:
                self.children = self.me.children(recursive=True)
            except psutil.Error:
                self.children = []
            self._refreshed = now
        total = self.me.memory_info().rss
        for c in self.children:
            with contextlib.suppress(psutil.Error):   # exited since the last refresh
                total += c.memory_info().rss
                pass
        return total


def _cpu_temp_path() -> Path | None:
    """The package temperature input of the CPU's hwmon driver, found once."""
    for hw in Path("/sys/class/hwmon").glob("hwmon*"):
        try:
            name = (hw / "name").read_text().strip()
        except OSError:
            continue
        if name in ("k10temp", "coretemp", "zenpower", "cpu_thermal") and (hw / "temp1_input").exists():
            return hw / "temp1_input"
    return None


class Sampler(threading.Thread):
    def __init__(self, sources: Sequence[EnergySource], telemetry: Sequence[Telemetry] = (),
                 interval_s: float = DEFAULT_INTERVAL_S, tree: ProcessTree | None = None):
        super().__init__(daemon=True, name="rightsize-sampler")
        self.sources, self.telemetry, self.interval_s = sources, telemetry, interval_s
        self.tree = tree or ProcessTree()
        self.phase = "idle"
        self.timeline: list[dict] = []
        self.t0 = time.monotonic()
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self._halt = threading.Event()
        self._temp_path = _cpu_temp_path()
        psutil.cpu_percent(None)   # prime: the first call has no previous reading

    def run(self) -> None:
        cpu0, wall0 = time.thread_time(), time.monotonic()
        deadline = wall0
        while not self._halt.is_set():
            self.tick()
            self.cpu_seconds = time.thread_time() - cpu0
            self.wall_seconds = time.monotonic() - wall0
            deadline += self.interval_s
            # Fixed-rate schedule; if a tick overran, start the next one right away.
            self._halt.wait(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()

    def tick(self) -> None:
        now = time.monotonic()
        power: dict[str, float | None] = {}
        for s in self.sources:
            try:
                power.update(s.sample())
            except Exception:
                power.update(dict.fromkeys(s.devices))
        freq = psutil.cpu_freq()
        rec = {
            "t": round(now - self.t0, 4),
            "phase": self.phase,
            "power_w": power,
            "cpu_util_pct": psutil.cpu_percent(None),
            "cpu_freq_mhz": round(freq.current) if freq else None,
            "cpu_temp_c": self._cpu_temp(),
            "rss_bytes": self.tree.rss(),
        }
        for t in self.telemetry:
            rec.setdefault(t.key, []).extend(t.sample(self.tree.pids()))   # every vendor's GPUs in one list
        self.timeline.append(rec)   # list.append is atomic: readers may iterate a copy

    def _cpu_temp(self) -> float | None:
        if self._temp_path is None:
            return None
        try:
            return int(self._temp_path.read_text()) / 1000
        except (OSError, ValueError):
            return None

    def power_points(self, device: str) -> list[tuple[float, float | None]]:
        """(seconds since t0, watts) for one device, for integrating a window."""
        return [(r["t"], r["power_w"].get(device)) for r in list(self.timeline)]

    def cost(self) -> dict:
        wall = self.wall_seconds
        return {"interval_s": self.interval_s, "ticks": len(self.timeline),
                "thread_cpu_seconds": round(self.cpu_seconds, 6), "wall_seconds": round(wall, 3),
                "cpu_fraction_of_one_core": round(self.cpu_seconds / wall, 6) if wall > 0 else None,
                "mean_tick_ms": round(self.cpu_seconds / len(self.timeline) * 1000, 3)
                if self.timeline else None}
