"""The Wilson score interval for a proportion: honest at 0 %, 100 % and small n, where the normal
approximation gives impossible bounds (Wilson, 1927; the interval statsmodels' proportion_confint
gives with method="wilson"). Ten lines here rather than statsmodels, which would bring scipy and
pandas for one formula."""

from __future__ import annotations

import math

Z95 = 1.959964


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """(low, high) for `successes` out of `n`; None for n = 0."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
