"""Apple Silicon: chip probe (sysctl, ioreg) and energy from IOReport (zeus-apple-silicon,
no root) or `powermetrics` (needs passwordless sudo)."""

from __future__ import annotations

import importlib
import platform
import re
import subprocess
import threading
import time
from typing import ClassVar

from contract.result import AppleInfo, HardwareInfo

from . import specs
from . import throttle as throttling
from .cpu import _sysctl
from .provider import Choice, Method, Provision, Settings

NO_PRESSURE = "thermal pressure needs powermetrics (sudo)"


def is_apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def parse_gpu_cores(ioreg_text: str) -> int | None:
    m = re.search(r'"gpu-core-count"\s*=\s*(\d+)', ioreg_text)
    return int(m.group(1)) if m else None


def probe_apple() -> AppleInfo | None:
    if not is_apple_silicon():
        return None
    unknown: dict[str, str] = {}
    chip = _sysctl("machdep.cpu.brand_string")
    try:
        ioreg = subprocess.run(["ioreg", "-rc", "AGXAccelerator", "-d1"], capture_output=True,
                               text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        ioreg = ""
    gpu_cores = parse_gpu_cores(ioreg)
    if gpu_cores is None:
        unknown["gpu_cores"] = "ioreg AGXAccelerator has no gpu-core-count"

    def count(name: str) -> int | None:
        v = _sysctl(name)
        return int(v) if v and v.isdigit() else None

    mem = count("hw.memsize")
    row = specs.apple_spec(chip, gpu_cores)
    if row is None:
        unknown["spec_bandwidth_gbps"] = f"{chip!r} with {gpu_cores} GPU cores is not in hardware/specs.json"
    return AppleInfo(chip=chip, p_cores=count("hw.perflevel0.physicalcpu"),
                     e_cores=count("hw.perflevel1.physicalcpu"), gpu_cores=gpu_cores,
                     unified_memory_bytes=mem, spec_bandwidth_gbps=row["bandwidth_gbps"] if row else None,
                     spec_source=row["source"] if row else None, unknown=unknown)


# --- powermetrics -----------------------------------------------------------------------

_HEADER = re.compile(r"^\*\*\* Sampled system activity .*\(([\d.]+)ms elapsed\) \*\*\*")
_POWER = re.compile(r"^(CPU|GPU|ANE) Power:\s*([\d.]+)\s*mW")
_PRESSURE = re.compile(r"^Current pressure level:\s*(\w+)")


def parse_powermetrics(text: str) -> list[dict]:
    """One dict per sample block: elapsed_s, cpu/gpu/ane watts, thermal pressure."""
    samples: list[dict] = []
    for line in text.splitlines():
        feed_line(samples, line)
    return samples


def feed_line(samples: list[dict], line: str) -> None:
    line = line.strip()
    if m := _HEADER.match(line):
        samples.append({"elapsed_s": float(m.group(1)) / 1000, "cpu": None, "gpu": None,
                        "ane": None, "thermal_pressure": None})
    elif samples and (m := _POWER.match(line)):
        key = m.group(1).lower()
        if samples[-1][key] is None:   # GPU Power is printed twice (cpu_power and gpu_power samplers)
            samples[-1][key] = float(m.group(2)) / 1000
    elif samples and (m := _PRESSURE.match(line)):
        samples[-1]["thermal_pressure"] = m.group(1)


def sudo_powermetrics_ok() -> bool:
    """True when `sudo -n` may run powermetrics without a password."""
    try:
        return subprocess.run(["sudo", "-n", "-l", "/usr/bin/powermetrics"], capture_output=True,
                              timeout=5).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class PowermetricsSource:
    """Streams `sudo -n powermetrics`; its samples are contiguous intervals, so each one
    covers [previous end, previous end + elapsed] from the process start."""

    method: Method = "integrated"
    devices = ("cpu", "gpu", "ane")

    def __init__(self, interval_s: float = 0.5, popen=subprocess.Popen):
        self.update_period_s = interval_s
        self.reason = "powermetrics CPU/GPU/ANE power samples x time (package and DRAM power not reported)"
        self._samples: list[dict] = []
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._proc = popen(["sudo", "-n", "powermetrics", "--samplers", "cpu_power,gpu_power,thermal",
                            "-i", str(int(interval_s * 1000))], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True, name="powermetrics")
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            with self._lock:
                feed_line(self._samples, line)

    def _spans(self) -> list[tuple[float, float, dict]]:
        with self._lock:
            done = self._samples[:-1] if self._proc.poll() is None else list(self._samples)
        spans, t = [], self._t0
        for s in done:
            spans.append((t, t + s["elapsed_s"], s))
            t += s["elapsed_s"]
        return spans

    def begin(self):
        return time.monotonic()

    def end(self, token, now: float | None = None) -> dict[str, float | None]:
        now = time.monotonic() if now is None else now
        out: dict[str, float | None] = {}
        for dev in self.devices:
            joules, covered = 0.0, 0.0
            for a, b, s in self._spans():
                overlap = min(b, now) - max(a, token)
                if overlap > 0 and s[dev] is not None:
                    joules += s[dev] * overlap
                    covered += overlap
            out[dev] = joules if covered > 0 else None
        return out

    def sample(self) -> dict[str, float | None]:
        spans = self._spans()
        return {dev: spans[-1][2][dev] if spans else None for dev in self.devices}

    def thermal_pressure(self) -> set[str]:
        return {s["thermal_pressure"] for _, _, s in self._spans() if s["thermal_pressure"]}

    def throttle(self) -> dict[str, throttling.Throttle]:
        return {"apple": throttling.seen(f"thermal pressure {p}" for p in self.thermal_pressure() if p != "Nominal")}

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()


# --- IOReport through zeus-apple-silicon -------------------------------------------------

def load_zeus_apple():
    try:
        return importlib.import_module("zeus_apple_silicon"), None
    except ImportError:
        return None, "zeus-apple-silicon is not installed (pip install zeus-apple-silicon)"


class IOReportSource:
    """IOReport energy counters (mJ) per subsystem; Apple calls them model-based estimates,
    but they are cumulative counters and need no root. M1 reports no DRAM/ANE (None)."""

    method: Method = "counter"
    update_period_s = 0.001
    devices = ("cpu", "gpu", "ane", "dram")
    reason = "IOReport energy counters via zeus-apple-silicon"
    _FIELDS: ClassVar[dict[str, str]] = {"cpu": "cpu_total_mj", "gpu": "gpu_mj", "ane": "ane_mj", "dram": "dram_mj"}

    def __init__(self, zeus_module):
        self._mon = zeus_module.AppleEnergyMonitor()
        self._n = 0
        self._lock = threading.Lock()
        self._tick: tuple[str, float] | None = None

    def begin(self):
        with self._lock:
            self._n += 1
            name = f"rightsize-{self._n}"
            self._mon.begin_window(name)
        return name

    def end(self, token) -> dict[str, float | None]:
        with self._lock:
            m = self._mon.end_window(token)
        joules: dict[str, float | None] = {}
        for dev, f in self._FIELDS.items():
            mj = getattr(m, f, None)          # millijoules; None where the chip has no such rail
            joules[dev] = mj / 1000 if mj is not None else None
        return joules

    def sample(self) -> dict[str, float | None]:
        t = time.monotonic()
        prev, self._tick = self._tick, (self.begin(), t)
        if prev is None:
            return dict.fromkeys(self.devices)
        joules = self.end(prev[0])
        return {dev: j / (t - prev[1]) if j is not None else None for dev, j in joules.items()}

    def close(self) -> None:
        if self._tick is not None:
            self.end(self._tick[0])
            self._tick = None


def provide(info: HardwareInfo, settings: Settings) -> Provision:
    """An Apple Silicon chip's subsystems: IOReport counters, else powermetrics (which also
    sees thermal pressure), else unavailable: Apple publishes no TDP to estimate from."""
    if info.apple is None:
        return Provision()
    devices = ("cpu", "gpu", "ane", "dram")
    zeus, zeus_why = load_zeus_apple()
    if zeus is not None:
        return Provision([Choice(devices, "counter", IOReportSource.reason, lambda: IOReportSource(zeus))],
                         throttle_unknown={"apple": NO_PRESSURE})
    if sudo_powermetrics_ok():
        return Provision([Choice(PowermetricsSource.devices, "integrated",
                                 "powermetrics CPU/GPU/ANE power x time (passwordless sudo)",
                                 lambda: PowermetricsSource(settings.interval_s))])
    return Provision([Choice(devices, None, f"{zeus_why}; `sudo -n powermetrics` is not allowed; Apple publishes "
                                            "no TDP for its chips, so there is no estimate")],
                     throttle_unknown={"apple": NO_PRESSURE})
