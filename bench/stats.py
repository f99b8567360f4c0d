"""Summary statistics over raw samples: mean, median, percentiles, sample stddev, t-based CI."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# Two-sided 95% Student-t critical values by degrees of freedom; beyond 30 the normal value is close enough.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


def _t95(dof: int) -> float:
    if dof > 30:
        return 1.960
    return _T95.get(dof) or _T95[max(k for k in _T95 if k <= dof)]


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(values: Sequence[float | None]) -> dict | None:
    """Summary of a distribution; None when there is nothing to summarise (never zeros)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None
    s = sorted(vals)
    n = len(s)
    mean = statistics.fmean(s)
    stddev = statistics.stdev(s) if n > 1 else None
    ci = None
    if stddev is not None:
        half = _t95(n - 1) * stddev / math.sqrt(n)
        ci = [mean - half, mean + half]
    return {
        "n": n,
        "mean": mean,
        "median": percentile(s, 50),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "min": s[0],
        "max": s[-1],
        "stddev": stddev,
        "cv": (stddev / mean) if (stddev is not None and mean) else None,
        "ci95": ci,
    }
