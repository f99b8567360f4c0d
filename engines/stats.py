"""Summary statistics over raw samples: mean, median, percentiles, sample stddev, and a 95% CI
of the mean.

The samples here are rates and times: positive, few and often skewed (a busy machine gives one
pass at 868 tok/s beside two at 15). A symmetric t interval then reaches below zero, which no
rate can. For positive samples the interval is the modified Cox interval for the mean of a
log-normal quantity (Olsson, J. Stat. Educ. 13(1), 2005): in log space, centred on
mean(log x) + s^2/2, half-width t x sqrt(s^2/n + s^4 / (2(n-1))), then exponentiated, so it is
positive and as wide on the high side as the skew demands. Samples with a zero or a negative
value keep the plain t interval."""

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


def _log_ci95(positive: list[float]) -> list[float]:
    """Modified Cox interval for the mean of positive, possibly skewed samples (n >= 2)."""
    logs = [math.log(v) for v in positive]
    n = len(logs)
    m, var = statistics.fmean(logs), statistics.variance(logs)
    half = _t95(n - 1) * math.sqrt(var / n + var * var / (2 * (n - 1)))
    centre = m + var / 2
    return [math.exp(centre - half), math.exp(min(centre + half, 700.0))]   # 700: exp() stays finite


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
        ci = _log_ci95(s) if s[0] > 0 else [mean - (half := _t95(n - 1) * stddev / math.sqrt(n)), mean + half]
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
