"""Measured memory bandwidth, cached per machine.

CPU: STREAM-like copy and add kernels in numpy, one thread per physical core (numpy
drops the GIL inside these ufuncs), best repetition kept as STREAM does. CUDA: a
device-to-device tensor copy through torch, when torch with CUDA is installed."""

from __future__ import annotations

import importlib.util
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psutil

from .info import HardwareInfo

CACHE_ENV = "RIGHTSIZE_CACHE"
CACHE_VERSION = 1
_MiB = 1024**2


@dataclass
class BandwidthMeasurement:
    device: str
    gbps: float | None              # best kernel, GB/s (1e9 bytes/s)
    method: str | None
    reason: str | None = None       # why gbps is None
    kernels: dict[str, float] = field(default_factory=dict)
    array_bytes: int | None = None
    threads: int | None = None
    measured_at: str | None = None
    cached: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def cache_path(info: HardwareInfo) -> Path:
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "rightsize")
    return root / f"bandwidth-{info.fingerprint()}.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def measure_cpu(array_bytes: int, threads: int, budget_s: float = 3.0, max_reps: int = 20) -> BandwidthMeasurement:
    import numpy as np

    n = array_bytes // 8
    a, b, c = (np.ones(n) for _ in range(3))   # ones(), not empty(): fault every page in before timing
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)
    chunks = [slice(int(lo), int(hi)) for lo, hi in zip(bounds, bounds[1:])]
    kernels = {
        "read": (lambda s: a[s].sum(), 1),                   # read a: what decode mostly does
        "copy": (lambda s: np.copyto(b[s], a[s]), 2),        # read a, write b
        "add": (lambda s: np.add(a[s], b[s], out=c[s]), 3),  # read a, b, write c
    }
    best: dict[str, float] = {}
    deadline = time.perf_counter() + budget_s
    with ThreadPoolExecutor(threads) as pool:
        for name, (fn, arrays) in kernels.items():
            times: list[float] = []
            while len(times) < max_reps and (len(times) < 3 or time.perf_counter() < deadline):
                t = time.perf_counter()
                list(pool.map(fn, chunks))
                times.append(time.perf_counter() - t)
            best[name] = round(arrays * n * 8 / min(times[1:]) / 1e9, 2)   # first rep warms up
    return BandwidthMeasurement("cpu", max(best.values()), f"numpy STREAM-like read/copy/add, best kernel, {threads} threads",
                                kernels=best, array_bytes=n * 8, threads=threads, measured_at=_now())


def cpu_array_bytes(info: HardwareInfo) -> int:
    """Each array 4x the last-level cache (at least 64 MiB) so caches cannot serve it,
    capped so the three arrays take at most a quarter of free memory."""
    llc = info.cpu.caches_bytes.get("l3") or info.cpu.caches_bytes.get("l2") or 32 * _MiB
    want = max(4 * llc, 64 * _MiB)
    return min(want, psutil.virtual_memory().available // 12)


def measure_cuda(index: int, array_bytes: int = 1024 * _MiB, reps: int = 20) -> BandwidthMeasurement:
    device = f"gpu{index}"
    if importlib.util.find_spec("torch") is None:
        return BandwidthMeasurement(device, None, None, "torch is not installed")
    import torch

    if not torch.cuda.is_available():
        return BandwidthMeasurement(device, None, None, "torch has no CUDA support here")
    dev = torch.device("cuda", index)
    src = torch.ones(array_bytes, dtype=torch.uint8, device=dev)
    dst = torch.empty_like(src)
    dst.copy_(src)
    torch.cuda.synchronize(dev)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        dst.copy_(src)
    stop.record()
    torch.cuda.synchronize(dev)
    seconds = start.elapsed_time(stop) / 1000
    gbps = round(2 * array_bytes * reps / seconds / 1e9, 1)   # each copy reads and writes
    del src, dst
    torch.cuda.empty_cache()
    return BandwidthMeasurement(device, gbps, "torch device-to-device copy", kernels={"copy": gbps},
                                array_bytes=array_bytes, threads=None, measured_at=_now())


def cached_bandwidth(info: HardwareInfo) -> dict[str, BandwidthMeasurement]:
    """What the cache holds for this machine, measuring nothing."""
    try:
        doc = json.loads(cache_path(info).read_text())
        if doc.get("version") != CACHE_VERSION:
            return {}
        return {d: BandwidthMeasurement(**{**m, "cached": True}) for d, m in doc["devices"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def measured_bandwidth(info: HardwareInfo, refresh: bool = False, budget_s: float = 3.0,
                       array_bytes: int | None = None) -> dict[str, BandwidthMeasurement]:
    """{"cpu": ..., "gpu0": ...}: from the per-machine cache unless refresh, else measured
    (and cached when the measurement succeeded)."""
    path = cache_path(info)
    cached = {} if refresh else cached_bandwidth(info)
    out: dict[str, BandwidthMeasurement] = {}
    for device in ["cpu", *(f"gpu{g.index}" for g in info.gpus)]:
        if device in cached:
            out[device] = cached[device]
        elif device == "cpu":
            threads = info.cpu.cores or os.cpu_count() or 1
            out[device] = measure_cpu(array_bytes or cpu_array_bytes(info), threads, budget_s)
        else:
            out[device] = measure_cuda(int(device[3:]))
    if any(not m.cached and m.gbps is not None for m in out.values()):
        keep = {d: {**m.to_dict(), "cached": False} for d, m in out.items() if m.gbps is not None}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")   # temp file + rename: a reader never sees half a file
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "fingerprint": info.fingerprint(),
                                   "devices": keep}, indent=1))
        tmp.replace(path)
    return out
