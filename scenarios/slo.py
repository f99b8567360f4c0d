"""Service-level objectives: is a load level acceptable, and which is the highest that is.

An SLO bounds the 99th percentile of ttft and of tpot. A level meets it when at least 99% of
its measured requests are within each bound, a failed request counting as a miss: with ten
requests that means all ten, which is what "p99" can honestly claim from ten samples.
"""

from __future__ import annotations

import math
import re

from contract.errors import ScenarioError
from contract.result import SLO, SearchSummary, SloVerdict
from engines.stats import percentile

__all__ = ["PRESETS", "SLO", "Search", "judge", "parse_slo"]


def _slo(name: str, ttft_s: float, tpot_s: float, percentile: float = 99.0) -> SLO:
    """An SLO with every field set, so that a result names its percentile too."""
    return SLO(name=name, ttft_s=ttft_s, tpot_s=tpot_s, percentile=percentile)


# default: MLPerf's Llama-3.1-8B server scenario (p99 ttft 2 s, tpot 100 ms);
# interactive: its interactive scenario (500 ms / 30 ms), a chat that feels instant.
PRESETS = {"default": _slo("default", 2.0, 0.100), "interactive": _slo("interactive", 0.5, 0.030)}

# A level whose p99 is this many times the bound is overloaded: queues only grow from there,
# so a sweep stops instead of measuring ever longer waits.
FAR_FACTOR = 4.0

_PART = re.compile(r"^(ttft|tpot)\s*=\s*([0-9]*\.?[0-9]+)\s*(ms|s)?$")


def parse_slo(spec: str | None) -> SLO:
    """A preset name, or bounds such as `ttft=500ms,tpot=30ms` (a bare number is seconds)."""
    if spec is None:
        return PRESETS["default"]
    key = spec.strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    bounds = PRESETS["default"].model_dump()
    for part in filter(None, (p.strip() for p in key.split(","))):
        m = _PART.match(part)
        if not m or float(m.group(2)) <= 0:
            raise ScenarioError(f"cannot read SLO {spec!r}",
                                f"use {' or '.join(PRESETS)}, or bounds like ttft=500ms,tpot=30ms")
        bounds[f"{m.group(1)}_s"] = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    return _slo("custom", bounds["ttft_s"], bounds["tpot_s"])


def judge(slo: SLO, ttfts: list[float], tpots: list[float | None], failed: int) -> SloVerdict:
    """Verdict for one level from its measured requests (successful ones' ttft and tpot, and the
    count of failed ones). tpot is None for a one-token output: nothing to bound."""
    n = len(ttfts) + failed
    ttft_ok = sum(t <= slo.ttft_s for t in ttfts)
    tpot_ok = sum(p is None or p <= slo.tpot_s for p in tpots)
    good = sum(t <= slo.ttft_s and (p is None or p <= slo.tpot_s) for t, p in zip(ttfts, tpots, strict=True))
    need = slo.percentile / 100.0
    p_ttft = percentile(sorted(ttfts), slo.percentile) if ttfts else None
    known = sorted(p for p in tpots if p is not None)
    p_tpot = percentile(known, slo.percentile) if known else None
    far = (n == 0 or failed * 2 > n
           or (p_ttft is not None and p_ttft > FAR_FACTOR * slo.ttft_s)
           or (p_tpot is not None and p_tpot > FAR_FACTOR * slo.tpot_s))
    return SloVerdict(
        slo=slo,
        met=n > 0 and ttft_ok >= need * n and tpot_ok >= need * n,
        far_past=far,
        good_requests=good,
        good_fraction=good / n if n else None,
        ttft_within_fraction=ttft_ok / n if n else None,
        tpot_within_fraction=tpot_ok / n if n else None,
        ttft_s_at_percentile=p_ttft,
        tpot_s_at_percentile=p_tpot,
    )


class Search:
    """Highest level meeting the SLO: double from `start` until a level misses (or halve until
    one meets), then bisect between the highest met and the lowest missed level.

    Concurrency is searched over integers to a step of 1 (or 1/8 of the level); rates
    geometrically to 1/8. Each probed level is measured in full, so the search is bounded.
    """

    def __init__(self, start: float, integer: bool, ceiling: float, max_levels: int = 16):
        self.start, self.integer, self.ceiling, self.max_levels = start, integer, ceiling, max_levels
        self.best: float | None = None          # highest level that met the SLO
        self.lowest_miss: float | None = None   # lowest level that missed it
        self.tried: list[float] = []

    def report(self, level: float, met: bool) -> None:
        self.tried.append(level)
        if met:
            self.best = level if self.best is None else max(self.best, level)
        else:
            self.lowest_miss = level if self.lowest_miss is None else min(self.lowest_miss, level)

    def next(self) -> float | None:
        if not self.tried:
            return self.start
        if len(self.tried) >= self.max_levels:
            return None
        lo, hi = self.best, self.lowest_miss
        if hi is None:                                   # everything met so far: go up
            assert lo is not None, "levels were tried and none missed, so one met"
            return None if lo >= self.ceiling else min(self.ceiling, lo * 2)
        if lo is None:                                   # nothing met yet: go down
            down = math.floor(hi / 2) if self.integer else _round(hi / 2)
            return None if down < (1 if self.integer else self.start / 64) else down
        if self.integer:
            if hi - lo <= max(1, lo // 8):
                return None
            return (lo + hi) // 2
        return None if hi <= lo * 1.125 else _round(math.sqrt(lo * hi))

    def summary(self) -> SearchSummary:
        """What the search found, as its entry's summary (the level's name and goodput are the record's)."""
        return SearchSummary(best=self.best, lowest_miss=self.lowest_miss, levels_tried=list(self.tried),
                             at_ceiling=self.best is not None and self.best >= self.ceiling)


def _round(rate: float) -> float:
    """Three significant digits: rates in results stay readable and exactly reproducible."""
    return float(f"{rate:.3g}")
