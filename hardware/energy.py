"""Energy readings with their provenance, and the per-token helpers.

A reading is the contract's own (contract/result.py): one device's joules over a window is a
DeviceEnergy, a window's devices together an EnergyWindow, built here as they are read.
method: `counter` (hardware energy counter), `integrated` (power samples x time),
`estimated` (TDP model). Unknown energy is None with a reason, never 0."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from contract.result import DeviceEnergy, EnergyWindow, IdleEnergy

# Weakest first: a total is only as good as its weakest part.
METHOD_RANK = {"estimated": 0, "integrated": 1, "counter": 2}


def reading(device: str, joules: float | None, seconds: float, method: str | None,
            reason: str | None = None) -> DeviceEnergy:
    """One device's energy over a window, with its average power."""
    watts = joules / seconds if joules is not None and seconds > 0 else None
    return DeviceEnergy(device=device, joules=joules, seconds=seconds, method=method, reason=reason,
                        average_watts=watts)


def window(seconds: float, devices: Sequence[DeviceEnergy]) -> EnergyWindow:
    """Energy per device over one measured window. Devices are disjoint (CPU packages, DRAM, each
    GPU, Apple subsystems), so their sum is the window's total, and the weakest method its method."""
    known = [d.joules for d in devices if d.joules is not None]
    methods = [d.method for d in devices if d.joules is not None and d.method is not None]
    return EnergyWindow(seconds=seconds, joules=sum(known) if known else None,
                        method=min(methods, key=METHOD_RANK.__getitem__) if methods else None,
                        covers=[d.device for d in devices if d.joules is not None],
                        missing={d.device: d.reason for d in devices if d.joules is None},
                        devices=list(devices))


def idle(w: EnergyWindow) -> IdleEnergy:
    """The idle baseline's window, with each device's average power."""
    return IdleEnergy(**{k: getattr(w, k) for k in w.model_fields_set},
                      watts={d.device: d.average_watts for d in w.devices})


Energy = EnergyWindow | DeviceEnergy | float | None


def _joules(energy: Energy) -> float | None:
    return energy if isinstance(energy, (int, float)) or energy is None else energy.joules


def joules_per_token(tokens: int, energy: Energy) -> float | None:
    """J per output token from a reading (or plain joules); None when either is unknown."""
    j = _joules(energy)
    return j / tokens if j is not None and tokens and tokens > 0 else None


def tokens_per_joule(tokens: int, energy: Energy) -> float | None:
    j = _joules(energy)
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
