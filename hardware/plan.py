"""What will be measured on this machine, how, and why: the rows `bench hardware` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from contract.result import HardwareInfo

from . import throttle
from .bandwidth import describe
from .gpus import vendor
from .sampler import DEFAULT_INTERVAL_S
from .sources import choose

# Methods beyond the energy trio: `sampled` (a reading every interval), `measured`
# (a benchmark this suite runs), `spec` (from the data table or the GPU driver's static figures).


@dataclass
class PlanRow:
    metric: str
    device: str
    method: str            # counter | integrated | estimated | sampled | measured | spec | unavailable
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def measurement_plan(info: HardwareInfo, interval_s: float = DEFAULT_INTERVAL_S,
                     cpu_tdp_w: float | None = None, bandwidth: dict | None = None) -> list[PlanRow]:
    choices, release = choose(info, interval_s, cpu_tdp_w)
    release()
    rows: list[PlanRow] = []
    for c in choices:
        for dev in c.devices:
            rows.append(PlanRow("energy", dev, c.method or "unavailable", c.reason))
            if c.method is None:
                rows.append(PlanRow("power", dev, "unavailable", "no energy or power source"))
            else:
                power = {"counter": "energy counter delta / interval",
                         "integrated": "the source's power readings",
                         "estimated": "TDP x utilisation"}[c.method]
                rows.append(PlanRow("power", dev, c.method, f"timeline every {interval_s:g} s from {power}"))
    rows.append(PlanRow("memory", "process", "sampled",
                        f"RSS of this process + descendants every {interval_s:g} s (psutil); "
                        "own peak from getrusage ru_maxrss"))
    for g in info.gpus:
        v = vendor(g.vendor)
        rows.append(PlanRow("memory", g.device, "sampled" if v else "unavailable",
                            v.memory_method if v else f"no provider for {g.vendor} GPUs"))
    rows += _bandwidth_rows(info, bandwidth or {})
    counts = throttle.cpu_throttle_counts()
    rows.append(PlanRow("throttling", "cpu", "counter" if counts is not None else "unavailable",
                        "thermal_throttle event counters, before vs after" if counts is not None
                        else throttle.CPU_THROTTLE_UNAVAILABLE))
    for g in info.gpus:
        v = vendor(g.vendor)
        rows.append(PlanRow("throttling", g.device, "sampled" if v else "unavailable",
                            v.throttle_method if v else f"no provider for {g.vendor} GPUs"))
    if info.apple is not None:
        pm = any(c.method == "integrated" for c in choices)
        rows.append(PlanRow("throttling", "apple", "sampled" if pm else "unavailable",
                            "powermetrics thermal pressure" if pm else "thermal pressure needs powermetrics (sudo)"))
    return rows


def _bandwidth_rows(info: HardwareInfo, bandwidth: dict) -> list[PlanRow]:
    rows = []
    specs = [("cpu", info.cpu.spec_bandwidth_gbps, info.cpu.spec_source or info.cpu.unknown.get("spec_bandwidth_gbps"))]
    specs += [(g.device, g.spec_bandwidth_gbps, g.spec_source or g.unknown.get("spec_bandwidth_gbps", ""))
              for g in info.gpus]
    if info.apple is not None:
        specs.append(("apple", info.apple.spec_bandwidth_gbps,
                      info.apple.spec_source or info.apple.unknown.get("spec_bandwidth_gbps", "")))
    for dev, gbps, why in specs:
        rows.append(PlanRow("bandwidth (spec)", dev, "spec" if gbps else "unavailable",
                            f"{gbps:g} GB/s ({why})" if gbps else why or "unknown"))
    for dev in ["cpu", *(g.device for g in info.gpus)]:
        m = bandwidth.get(dev)
        if m is None:
            how = "numpy read roof at 1..cores threads, copy/add as context" if dev == "cpu" else \
                "torch.sum read roof, copy as context"
            rows.append(PlanRow("bandwidth (measured)", dev, "measured",
                                f"not measured yet: {how}, a few seconds, cached per machine"))
        elif m.gbps is None:
            rows.append(PlanRow("bandwidth (measured)", dev, "unavailable", m.reason or "measurement failed"))
        else:
            rows.append(PlanRow("bandwidth (measured)", dev, "measured", describe(m)))
    return rows
