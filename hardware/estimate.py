"""CPU energy estimated as TDP x utilisation when no counter exists (the codecarbon
fallback). Crude: idle power, turbo above TDP and DRAM are not modelled, so readings
are marked `estimated`; with an unknown TDP there is no estimate at all."""

from __future__ import annotations

import os
import time

import psutil

from .provider import Method

TDP_ENV = "RIGHTSIZE_CPU_TDP_W"
# For a CPU missing from specs.json (a cloud vCPU slice reports "AMD EPYC" and nothing more):
# server parts draw about 4-6 W of TDP per core (EPYC 7763: 280 W / 64 cores = 4.4 W;
# EPYC 9654: 360 W / 96 = 3.8 W; Xeon Platinum 8480+: 350 W / 56 = 6.3 W), so 5 W per visible
# core gives an order-of-magnitude figure. It is labelled as this guess wherever it is used.
GENERIC_W_PER_CORE = 5.0


def cpu_tdp_w(spec_tdp_w: float | None, sockets: int | None,
              override_w: float | None = None, cores: int | None = None) -> tuple[float | None, str]:
    """Whole-machine TDP in watts and where it came from."""
    if override_w is None and os.environ.get(TDP_ENV):
        try:
            override_w = float(os.environ[TDP_ENV])
        except ValueError:
            return None, f"{TDP_ENV}={os.environ[TDP_ENV]!r} is not a number of watts"
    if override_w is not None:
        return override_w, "TDP given by the user"
    if spec_tdp_w is None:
        if not cores:
            return None, (f"CPU TDP unknown (model not in hardware/specs.json, core count unknown); "
                          f"set {TDP_ENV}=<watts> to get an estimate")
        return cores * GENERIC_W_PER_CORE, (
            f"CPU model not in hardware/specs.json: assumed {GENERIC_W_PER_CORE:g} W per core x {cores} "
            f"cores (typical server TDP per core); set {TDP_ENV}=<watts> for a better figure")
    n = sockets or 1
    return spec_tdp_w * n, f"TDP {spec_tdp_w:g} W x {n} socket(s) from hardware/specs.json"


def busy_cpu_seconds() -> float:
    """CPU-seconds spent not idle, summed over logical CPUs, system-wide. Linux counts
    guest time inside user/nice already, and steal is time the hypervisor took away."""
    t = psutil.cpu_times()
    not_busy = ("idle", "iowait", "steal", "guest", "guest_nice")
    return sum(t) - sum(getattr(t, f, 0.0) for f in not_busy)


class TdpEstimateSource:
    """Energy = TDP x (busy CPU-seconds / logical CPUs): TDP x mean utilisation x time,
    exact over any window because it uses the kernel's cumulative CPU times."""

    method: Method = "estimated"
    # the kernel counts CPU time in clock ticks (USER_HZ, 100 a second on Linux)
    update_period_s = 1 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
    devices = ("cpu",)

    def __init__(self, tdp_w: float, origin: str, busy=busy_cpu_seconds):
        self.tdp_w, self._busy = tdp_w, busy
        self._ncpu = psutil.cpu_count() or 1
        self.reason = f"{origin}; energy = TDP x CPU utilisation (idle power and DRAM not modelled)"
        self._last: tuple[float, float] | None = None

    def _joules(self) -> float:
        return self.tdp_w * self._busy() / self._ncpu

    def begin(self):
        return self._joules()

    def end(self, token) -> dict[str, float | None]:
        return {"cpu": self._joules() - token}

    def sample(self) -> dict[str, float | None]:
        t, j = time.monotonic(), self._joules()
        prev, self._last = self._last, (t, j)
        if prev is None or t <= prev[0]:
            return {"cpu": None}
        return {"cpu": (j - prev[1]) / (t - prev[0])}

    def close(self) -> None:
        pass
