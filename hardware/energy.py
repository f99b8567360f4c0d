"""Energy readings with their provenance, and the per-token helpers.

method: `counter` (hardware energy counter), `integrated` (power samples x time),
`estimated` (TDP model). Unknown energy is None with a reason, never 0."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise

# Weakest first: a total is only as good as its weakest part.
METHOD_RANK = {"estimated": 0, "integrated": 1, "counter": 2}


@dataclass
class EnergyReading:
    device: str
    joules: float | None
    seconds: float
    method: str | None
    reason: str | None = None

    @property
    def average_watts(self) -> float | None:
        return self.joules / self.seconds if self.joules is not None and self.seconds > 0 else None

    def to_dict(self) -> dict:
        return {**asdict(self), "average_watts": self.average_watts}


@dataclass
class WindowReading:
    """Energy per device over one measured window. Devices are disjoint (CPU packages,
    DRAM, each GPU, Apple subsystems), so their sum is the window's total."""

    seconds: float
    devices: list[EnergyReading] = field(default_factory=list)

    @property
    def joules(self) -> float | None:
        known = [d.joules for d in self.devices if d.joules is not None]
        return sum(known) if known else None

    @property
    def method(self) -> str | None:
        methods = [d.method for d in self.devices if d.joules is not None and d.method is not None]
        return min(methods, key=METHOD_RANK.__getitem__) if methods else None

    def device(self, name: str) -> EnergyReading | None:
        return next((d for d in self.devices if d.device == name), None)

    def to_dict(self) -> dict:
        return {"seconds": self.seconds, "joules": self.joules, "method": self.method,
                "covers": [d.device for d in self.devices if d.joules is not None],
                "missing": {d.device: d.reason for d in self.devices if d.joules is None},
                "devices": [d.to_dict() for d in self.devices]}


def _joules(reading) -> float | None:
    return reading if isinstance(reading, (int, float)) or reading is None else reading.joules


def joules_per_token(tokens: int, reading) -> float | None:
    """J per output token from a reading (or plain joules); None when either is unknown."""
    j = _joules(reading)
    return j / tokens if j is not None and tokens and tokens > 0 else None


def tokens_per_joule(tokens: int, reading) -> float | None:
    j = _joules(reading)
    return tokens / j if j and j > 0 and tokens is not None else None


def integrate(samples: Sequence[tuple[float, float | None]], t0: float, t1: float) -> float | None:
    """Joules from (time, watts) samples over [t0, t1]: trapezoids between samples, the
    nearest sample's power held out to the window edges. None with no usable sample."""
    pts = sorted((t, w) for t, w in samples if w is not None)
    if not pts or t1 <= t0:
        return None
    inside = [(t, w) for t, w in pts if t0 < t < t1]
    before = [p for p in pts if p[0] <= t0]
    after = [p for p in pts if p[0] >= t1]
    # Edge values: the last sample before the window, else the first one after it.
    first = (t0, (before[-1] if before else (inside or after)[0])[1])
    last = (t1, (after[0] if after else (inside or before)[-1])[1])
    path = [first, *inside, last]
    return sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in pairwise(path))
