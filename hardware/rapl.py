"""CPU and DRAM energy from Linux RAPL (/sys/class/powercap), in microjoules.

Domains nest: psys covers the packages, a package covers its core and uncore subzones.
Only package zones (one per socket or die) are summed for the CPU and dram subzones
(not part of the package) for DRAM, so nothing is counted twice."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

from contract.result import HardwareInfo

from . import estimate
from .provider import Choice, Method, Provision, Settings

POWERCAP = Path("/sys/class/powercap")

PERMISSION_HINT = (
    "RAPL energy_uj is readable by root only since CVE-2020-8694 (PLATYPUS). Grant read access "
    "until reboot with `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
    "/sys/class/powercap/intel-rapl:*:*/energy_uj`, or permanently with a udev rule such as "
    'SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chgrp rapl /sys%p/energy_uj", '
    'RUN+="/bin/chmod 0440 /sys%p/energy_uj" (then add yourself to group rapl)')


class Zone:
    """One counter with wraparound: it restarts from 0 after max_energy_range_uj."""

    def __init__(self, path: Path, name: str, max_range_uj: int, opener=open):
        self.path, self.name, self.max_range_uj, self._open = path, name, max_range_uj, opener
        self._last: int | None = None
        self._total_uj = 0

    def read_raw(self) -> int:
        with self._open(self.path / "energy_uj") as f:
            return int(f.read())

    def accumulate(self) -> int:
        """Cumulative µJ since the first call, corrected for wraps. Called at least once per
        wrap period (the sampler ticks far more often than the ~4 min worst case)."""
        raw = self.read_raw()
        if self._last is not None:
            delta = raw - self._last
            self._total_uj += delta if delta >= 0 else delta + self.max_range_uj
        self._last = raw
        return self._total_uj


def discover(root: Path = POWERCAP, opener=open) -> tuple[dict[str, list[Zone]], str | None]:
    """({"cpu": [package zones], "dram": [dram zones]}, problem). Problem is a message when
    the zones exist but cannot be read (permission) or do not exist."""
    def text(p: Path) -> str:
        with opener(p) as f:
            return f.read().strip()

    # intel-rapl-mmio duplicates the package zone on some Intel parts: skip it.
    tops = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1) if root.is_dir() else []
    if not tops:
        return {}, f"no RAPL zones under {root} (not Linux, a VM, or the powercap driver not loaded)"
    groups: dict[str, list[Zone]] = {"cpu": [], "dram": []}
    for top in tops:
        for path in [top, *sorted(top.glob(f"{top.name}:*"))]:
            try:
                name = text(path / "name")
                max_range = int(text(path / "max_energy_range_uj"))
            except OSError:
                continue
            if path == top and name.startswith("package"):
                groups["cpu"].append(Zone(path, name, max_range, opener))
            elif name == "dram":
                groups["dram"].append(Zone(path, name, max_range, opener))
    groups = {k: v for k, v in groups.items() if v}
    if not groups:
        return {}, f"RAPL under {root} has no package zone"
    try:
        for zones in groups.values():
            for z in zones:
                z.accumulate()
    except PermissionError:
        return {}, PERMISSION_HINT
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            return {}, PERMISSION_HINT
        return {}, f"RAPL energy_uj unreadable: {e}"
    return groups, None


class RaplSource:
    method: Method = "counter"
    update_period_s = 0.001   # AMD RAPL updates every 1 ms (kernel amd_energy.rst); Intel similar

    def __init__(self, groups: dict[str, list[Zone]]):
        self.groups = groups
        self.devices = tuple(groups)
        self.reason = "RAPL " + ", ".join(
            f"{dev}: {'+'.join(z.name for z in zones)}" for dev, zones in groups.items())
        self._lock = threading.Lock()
        self._last: tuple[float, dict[str, float]] | None = None

    def _joules(self) -> dict[str, float]:
        with self._lock:
            return {dev: sum(z.accumulate() for z in zones) / 1e6 for dev, zones in self.groups.items()}

    def begin(self):
        return self._joules()

    def end(self, token) -> dict[str, float | None]:
        now = self._joules()
        return {dev: now[dev] - token[dev] for dev in self.devices}

    def sample(self) -> dict[str, float | None]:
        """Average power since the previous sample; reading also keeps the wrap tracking fresh."""
        t, now = time.monotonic(), self._joules()
        prev, self._last = self._last, (t, now)
        if prev is None or t <= prev[0]:
            return dict.fromkeys(self.devices)
        return {dev: (now[dev] - prev[1][dev]) / (t - prev[0]) for dev in self.devices}

    def close(self) -> None:
        pass


def provide(info: HardwareInfo, settings: Settings) -> Provision:
    """The CPU and DRAM of any machine but Apple Silicon (its provider measures its CPU):
    RAPL counters, else the TDP estimate for the CPU and no DRAM figure."""
    if info.apple is not None:
        return Provision()
    groups, problem = discover(settings.powercap, settings.opener)
    if groups:
        src = RaplSource(groups)
        out = [Choice.of(src)]
        if "dram" not in groups:
            out.append(Choice(("dram",), None, "RAPL has no dram domain on this CPU"))
        return Provision(out)
    tdp, origin = estimate.cpu_tdp_w(info.cpu.spec_tdp_w, info.cpu.sockets, settings.cpu_tdp_w, info.cpu.cores)
    no_dram = Choice(("dram",), None, "no RAPL dram domain; DRAM power is not modelled")
    if tdp is None:
        return Provision([Choice(("cpu",), None, f"{problem}; {origin}"), no_dram])
    tdp_src = estimate.TdpEstimateSource(tdp, origin)
    return Provision([Choice.of(tdp_src, f"{problem}; {tdp_src.reason}"), no_dram])
