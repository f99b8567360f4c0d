"""The read-bandwidth roof: how fast this machine reads memory, measured, cached per machine.

Decode reads its weights (and the KV cache) once per token and writes almost nothing, so the
roof a decode rate is held against is a *read* figure, at the thread count the engine runs with.
A copy kernel is not that roof: on a 2-vCPU EPYC/Xeon slice numpy's copy moved 42 GB/s (reads
plus writes, the writes absorbed by the caches) while a compiled read loop read 13 GB/s on one
thread, 25-32 GB/s on two. Copy and add are kept as context in `kernels`, never as the roof.

CPU, read: one uint64 view of a large array, cut into disjoint chunks, one chunk per thread of
a ThreadPoolExecutor, each reduced by `np.bitwise_or.reduce` (numpy drops the GIL inside the
reduction loop, so the threads read in parallel); each pass is timed inside the workers, first
start to last end. Why that kernel: the numpy reductions, timed against a compiled OpenMP sum
(tests/hardware/read_probe.c, loaded as a library and reading the same array) on an AMD EPYC
2-vCPU slice (AVX2, no AVX-512), numpy 2.4, 256 MiB, pass by pass over 40 alternating rounds,
best pass, GB/s (the machine was shared: load average 4.8-5.3, so the figures are low and the
ratios the point):

    kernel                          1 thread  2 threads  vs probe (1 / 2 threads)
    C probe -O2 -march=native         10.7       9.5      1.00 / 1.00
    C probe -O2 (SSE2 baseline)        8.8       9.3      0.83 / 0.98
    float64 a.sum()                    9.6      10.3      0.90 / 1.08
    int64 np.add.reduce                9.7       9.7      0.91 / 1.03
    uint64 np.add.reduce              10.3      10.2      0.97 / 1.08
    uint64 np.bitwise_or.reduce       10.2      10.0      0.95 / 1.06
    uint64 np.max                      9.2       9.5      0.86 / 1.00
    int32 np.max                      13.5      11.2      1.27 / 1.18
    uint8 np.max                      12.1      11.5      1.13 / 1.21
    float32 np.dot(chunk, ones)        8.3      10.3      0.78 / 1.09

The uint64 add and bitwise_or reductions track the compiled loop at both counts (as they did
over 1 GiB, 0.96-1.04 at 1 thread); the float64 sum loses to its pairwise-summation bookkeeping
and the float32 dot to its chunking. int32/uint8 max read 13-27% *faster* than the compiled
loop here, in every run: fast, but no independent probe vouches for them, so they are not the
roof (the roof may be that much conservative at one thread). Of the two that agree,
bitwise_or: one SIMD OR per vector, no carry, no overflow, no dtype promotion on any numpy.
tests/hardware/test_hw_read_roof.py holds it to the probe (+-10%) wherever a C compiler with
OpenMP exists; the suite itself needs no compiler.

The read figure is measured at 1 thread, at the engine's thread count (physical cores:
llama.cpp's default n_threads, engines/llamacpp/threads.py) and at the powers of two in
between, alternating the counts over a few rounds and keeping each one's best repetition (best
of is what a transient load on a shared machine disturbs least). `gbps` is the read figure at
the engine's thread count.

CUDA: `torch.sum` over a 1 GiB float32 tensor, timed with CUDA events, best of a few (a
read-only reduction); a device-to-device copy as context.

When the cached figure is re-measured (`remeasure_reason`): the cache is older than
MAX_AGE_S (7 days: a kernel, BIOS or memory change is not seen by the fingerprint), it was
measured by an older rightsize (CACHE_VERSION; version 1 held the copy kernel as its roof), or
it was measured under load: the 1-minute load average of everything besides this measurement
was above LOAD_LIMIT_PER_CPU (half) of the logical CPUs before or after it, i.e. other work
held at least half the machine and the figure is low. `bench run` also re-measures once when a
decode comes out above 100% of the roof (bench/measurement.py).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from contract.build import utc_now
from contract.result import HardwareInfo

CACHE_ENV = "RIGHTSIZE_CACHE"
CACHE_VERSION = 2                # 2: the roof is a read kernel per thread count (1 was numpy's best of read/copy/add)
MAX_AGE_S = 7 * 24 * 3600        # a cached figure older than this is measured again
LOAD_LIMIT_PER_CPU = 0.5         # others' 1-min load average above this x logical CPUs: measured under load
_MiB, _GiB = 1024**2, 1024**3
READ_KERNEL = "numpy bitwise_or.reduce over uint64, disjoint chunks per thread"


@dataclass
class BandwidthMeasurement:
    device: str
    gbps: float | None              # the read roof at `threads` (CPU) or torch.sum (CUDA), GB/s (1e9 bytes/s)
    method: str | None
    reason: str | None = None       # why gbps is None
    kernels: dict[str, float] = field(default_factory=dict)   # read, and copy/add as context, at `threads`
    array_bytes: int | None = None
    threads: int | None = None      # the engine's thread count the roof is for (CPU)
    read_gbps_by_threads: dict[str, float] = field(default_factory=dict)   # {"1": .., "2": ..}
    loadavg_before: float | None = None    # 1-minute load average just before measuring
    loadavg_after: float | None = None     # ... and just after, less what this measurement added
    logical_cpus: int | None = None
    under_load: bool | None = None  # others' load above LOAD_LIMIT_PER_CPU x logical_cpus; None: not known
    measured_at: str | None = None
    measured_because: str | None = None    # first measurement, expired cache, under load, a run above the roof
    age_s: float | None = None      # seconds since measured_at, when this copy was read
    cached: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def read_gbps(self, threads: int | None) -> float | None:
        """The read roof at `threads` where it was measured at that count, else the roof."""
        return self.read_gbps_by_threads.get(str(threads), self.gbps) if threads else self.gbps


def cache_path(info: HardwareInfo) -> Path:
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "rightsize")
    return root / f"bandwidth-{info.fingerprint}.json"


def _now() -> str:
    return utc_now()


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):    # Windows has no load average
        return None


def load_verdict(before: float | None, after: float | None, seconds: float, busy_threads: int,
                 logical_cpus: int) -> tuple[float | None, bool | None]:
    """(others' load after, under load?). The 1-minute load average decays with a 60 s time
    constant, so `busy_threads` runnable for `seconds` added busy_threads x (1 - e^(-s/60))."""
    if before is None or after is None:
        return None, None
    others_after = round(max(0.0, after - busy_threads * (1 - math.exp(-seconds / 60))), 2)
    return others_after, max(before, others_after) > LOAD_LIMIT_PER_CPU * logical_cpus


def thread_counts(threads: int) -> list[int]:
    """1, the powers of two below `threads`, and `threads`."""
    return sorted({1, threads, *(2**k for k in range(1, max(threads, 1).bit_length()) if 2**k < threads)})


def _chunks(n: int, parts: int) -> list[slice]:
    step = -(-n // parts)
    return [slice(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _best_s(pool: ThreadPoolExecutor, fn: Callable[[slice], Any], chunks: list[slice], reps: int) -> float:
    """Best of `reps` timed passes, after one untimed pass that warms the threads and the TLB.
    A pass is timed inside the workers, from the first one's start to the last one's end: what
    the memory was being read for, without the time the pool takes to hand out the chunks and
    wake its threads (milliseconds on a busy machine, as OpenMP's timing leaves it out too)."""
    def span(c: slice) -> tuple[float, float]:
        t = time.perf_counter()
        fn(c)
        return t, time.perf_counter()

    list(pool.map(fn, chunks))
    best = math.inf
    for _ in range(reps):
        spans = list(pool.map(span, chunks))
        best = min(best, max(end for _, end in spans) - min(start for start, _ in spans))
    return best


def read_roof(words: Any, counts: list[int], rounds: int = 3, budget_s: float = 0.0,
              reps: int = 3) -> tuple[dict[int, float], int]:
    """({threads: GB/s}, rounds run): the read kernel over `words` (a uint64 numpy array) at each
    thread count, the counts alternated over at least `rounds` rounds (more while `budget_s`
    lasts, up to 4x), each round a best of `reps`, the best of all rounds kept."""
    import numpy as np

    def read(c: slice) -> None:
        np.bitwise_or.reduce(words[c])

    start, best, done = time.perf_counter(), dict.fromkeys(counts, 0.0), 0
    with ThreadPoolExecutor(max(counts)) as pool:
        while done < rounds or (time.perf_counter() - start < budget_s and done < 4 * rounds):
            for t in counts:
                best[t] = max(best[t], words.nbytes / _best_s(pool, read, _chunks(len(words), t), reps) / 1e9)
            done += 1
    return best, done


def measure_cpu(array_bytes: int, threads: int, budget_s: float = 4.0, rounds: int = 3,
                context_bytes: int | None = None) -> BandwidthMeasurement:
    """Read roof over `array_bytes` at 1..threads threads (read_roof, most of the budget), then
    copy and add at `threads` over `context_bytes` (default the same) as context."""
    import numpy as np

    n, m = array_bytes // 8, min(array_bytes, context_bytes or array_bytes) // 8
    logical = os.cpu_count() or threads
    before, start = _loadavg(), time.perf_counter()
    a = np.ones(n)                      # ones(), not empty(): fault every page in before timing
    read, done = read_roof(a.view(np.uint64), thread_counts(threads), rounds, budget_s * 0.6)
    copy, add = _context_kernels(a[:m], threads)
    del a
    others_after, under_load = load_verdict(before, _loadavg(), time.perf_counter() - start, threads, logical)
    by_threads = {str(t): round(g, 2) for t, g in read.items()}
    roof = by_threads[str(threads)]
    return BandwidthMeasurement(
        "cpu", roof, f"{READ_KERNEL}, {threads} threads, best of {done} rounds", array_bytes=n * 8,
        kernels={"read": roof, "copy": round(copy, 2), "add": round(add, 2)}, threads=threads,
        read_gbps_by_threads=by_threads, loadavg_before=before, loadavg_after=others_after,
        logical_cpus=logical, under_load=under_load, measured_at=_now(), age_s=0.0)


def _context_kernels(a: Any, threads: int) -> tuple[float, float]:
    """STREAM-like copy and add GB/s over `a` and two arrays like it (context, not the roof)."""
    import numpy as np

    b, c = np.ones_like(a), np.empty_like(a)
    chunks = _chunks(len(a), threads)
    with ThreadPoolExecutor(threads) as pool:
        copy = 2 * a.nbytes / _best_s(pool, lambda s: np.copyto(b[s], a[s]), chunks, 3) / 1e9         # read a, write b
        add = 3 * a.nbytes / _best_s(pool, lambda s: np.add(a[s], b[s], out=c[s]), chunks, 3) / 1e9   # read a, b, write c
    return copy, add


def last_level_cache_bytes(info: HardwareInfo) -> int:
    """The L3 (else L2) the probe saw; 32 MiB where it saw neither."""
    return info.cpu.caches_bytes.get("l3") or info.cpu.caches_bytes.get("l2") or 32 * _MiB


def cpu_array_bytes(info: HardwareInfo) -> tuple[int, int]:
    """(read, context) array sizes. The read array: 1 GiB, or 4x the last-level cache where
    that is larger, so no cache can serve it; the copy/add arrays 4x the LLC (at least 64 MiB).
    Capped so that all of them take at most a quarter of free memory."""
    llc = last_level_cache_bytes(info)
    context = max(4 * llc, 64 * _MiB)
    read = max(4 * llc, _GiB)
    cap = psutil.virtual_memory().available // 4
    if read + 2 * context > cap:
        read, context = cap // 3, cap // 3
    return read, context


def measure_cuda(index: int, device: str | None = None, array_bytes: int = _GiB,
                 reps: int = 10) -> BandwidthMeasurement:
    """torch's GPU `index` (a ROCm build of torch answers to torch.cuda too), reported as `device`."""
    device = device or f"gpu{index}"
    if importlib.util.find_spec("torch") is None:
        return BandwidthMeasurement(device, None, None, "torch is not installed")
    import torch

    if not torch.cuda.is_available():
        return BandwidthMeasurement(device, None, None, "torch has no CUDA support here")
    before = _loadavg()
    read, copy = _cuda_kernels(torch, torch.device("cuda", index), array_bytes, reps)
    torch.cuda.empty_cache()
    return BandwidthMeasurement(device, read, f"torch.sum over {array_bytes // _MiB} MiB float32, best of {reps}",
                                kernels={"read": read, "copy": copy}, array_bytes=array_bytes,
                                loadavg_before=before, measured_at=_now(), age_s=0.0)


def _cuda_kernels(torch: Any, dev: Any, array_bytes: int, reps: int) -> tuple[float, float]:
    """(read, copy) GB/s: torch.sum over a float32 tensor (reads it once) and a device-to-device
    copy (reads and writes), each the best of `reps` timed with CUDA events after a warm-up."""
    src = torch.ones(array_bytes // 4, dtype=torch.float32, device=dev)
    dst = torch.empty_like(src)

    def best_s(fn: Callable[[], Any]) -> float:
        fn()                                          # warm up: kernel selection, allocator
        torch.cuda.synchronize(dev)
        times = []
        for _ in range(reps):
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            torch.cuda.synchronize(dev)
            times.append(start.elapsed_time(stop) / 1000)
        return min(times)

    with torch.cuda.device(dev):
        read = array_bytes / best_s(lambda: torch.sum(src)) / 1e9
        copy = 2 * array_bytes / best_s(lambda: dst.copy_(src)) / 1e9
    return round(read, 1), round(copy, 1)


def remeasure_reason(m: BandwidthMeasurement) -> str | None:
    """Why a cached figure cannot be trusted and is measured again; None when it can."""
    if m.under_load:
        load = max(x for x in (m.loadavg_before, m.loadavg_after) if x is not None)
        return f"the cached figure was measured under load (load average {load:g} on {m.logical_cpus} CPUs)"
    if m.age_s is None:
        return "the cached figure has no measuring time"
    if m.age_s > MAX_AGE_S:
        return f"the cached figure is {m.age_s / 86400:.0f} days old (figures expire after {MAX_AGE_S // 86400} days)"
    return None


def age_text(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds / 3600:.1f} h" if seconds >= 3600 \
        else f"{seconds / 60:.0f} min"


def describe(m: BandwidthMeasurement) -> str:
    """One line for `bench hardware`: the read roof, its threads, the load and the age."""
    if m.gbps is None:
        return m.reason or "not measured"
    by = ", ".join(f"{t} thread{'s' * (t != '1')} {g:g}" for t, g in m.read_gbps_by_threads.items())
    context = ", ".join(f"{k} {v:g}" for k, v in m.kernels.items() if k != "read")
    parts = [f"read roof {m.gbps:g} GB/s" + (f" at {m.threads} threads" if m.threads else ""),
             f"read by threads: {by} GB/s" if by else None, f"context: {context} GB/s" if context else None,
             m.method]
    load = [x for x in (m.loadavg_before, m.loadavg_after) if x is not None]
    parts.append("load avg n/a (no load average on this OS)" if not load and m.device == "cpu" else
                 f"load avg {m.loadavg_before:g} before, {m.loadavg_after:g} after (others)"
                 f"{' on ' + str(m.logical_cpus) + ' CPUs' if m.logical_cpus else ''}"
                 if m.loadavg_before is not None and m.loadavg_after is not None else None)
    parts.append(f"measured {m.measured_at}" + (f", {age_text(m.age_s)} ago" if m.age_s is not None else ""))
    why = remeasure_reason(m) if m.cached else None
    if why:
        parts.append(f"{why}: measured again on next use")
    elif m.under_load:
        parts.append("measured under load: measured again on next use")
    return "; ".join(p for p in parts if p)


def _age_s(measured_at: str | None) -> float | None:
    try:
        return round((datetime.now(timezone.utc) - datetime.fromisoformat(measured_at or "")).total_seconds())
    except ValueError:
        return None


def cached_bandwidth(info: HardwareInfo) -> dict[str, BandwidthMeasurement]:
    """What the cache holds for this machine, measuring nothing; {} for a cache written by an
    older rightsize (CACHE_VERSION)."""
    try:
        doc = json.loads(cache_path(info).read_text())
        if doc.get("version") != CACHE_VERSION:
            return {}
        return {d: BandwidthMeasurement(**{**m, "cached": True, "age_s": _age_s(m.get("measured_at"))})
                for d, m in doc["devices"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def pending(info: HardwareInfo) -> dict[str, str]:
    """{device: why it will be measured} for what measured_bandwidth(info) would measure now."""
    cached = cached_bandwidth(info)
    out = {}
    for device in ["cpu", *(g.device for g in info.gpus)]:
        m = cached.get(device)
        why = "not measured on this machine yet" if m is None else remeasure_reason(m)
        if why:
            out[device] = why
    return out


def measured_bandwidth(info: HardwareInfo, refresh: bool = False, budget_s: float = 4.0,
                       array_bytes: int | None = None, because: str | None = None,
                       devices: list[str] | None = None) -> dict[str, BandwidthMeasurement]:
    """{"cpu": ..., "gpu0": ...}: from the per-machine cache where it can be trusted
    (remeasure_reason), else measured now and cached when the measurement succeeded. refresh
    measures `devices` (default all) again whatever the cache holds; `because` says why."""
    path = cache_path(info)
    cached = cached_bandwidth(info)
    out: dict[str, BandwidthMeasurement] = {}
    gpus = {g.device: g for g in info.gpus}
    for device in ["cpu", *gpus]:
        m = cached.get(device)
        forced = refresh and (devices is None or device in devices)
        why = (because or "asked to measure") if forced else \
            "not measured on this machine yet" if m is None else remeasure_reason(m)
        if m is not None and why is None:
            out[device] = m
            continue
        if device == "cpu":
            threads = info.cpu.cores or os.cpu_count() or 1
            read, context = (array_bytes, array_bytes) if array_bytes else cpu_array_bytes(info)
            out[device] = measure_cpu(read, threads, budget_s, context_bytes=context)
        else:
            out[device] = measure_cuda(gpus[device].index, device)
        out[device].measured_because = why
    if any(not m.cached and m.gbps is not None for m in out.values()):
        keep = {d: {**m.to_dict(), "cached": False, "age_s": None} for d, m in out.items() if m.gbps is not None}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")   # temp file + rename: a reader never sees half a file
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "fingerprint": info.fingerprint,
                                   "devices": keep}, indent=1))
        tmp.replace(path)
    return out
