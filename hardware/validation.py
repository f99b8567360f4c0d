"""How far off the projection is, on rows its fit never saw, and the bands that earns.

Four ways to hold rows out, each a test the projection could fail:
- machine: fit without any row of a machine, project its rows (a box nobody here has measured);
- source: without a whole publication (another lab, another build, another methodology);
- quant: without every row of one quant (carrying the fit to a quant it never saw);
- model: without every row of one model (carrying it to another architecture).

Per platform class and figure (tg, pp, batched), and per way, the median and p90 absolute relative
error are reported, with the coverage: the share of held-out rows whose error is inside the band
the other groups of that way earned (the p90 of their errors), i.e. a band checked on data it was
not computed from. The class's band is the p90 of its worst way. A class with fewer than three
machines, or whose coverage is under 80% in any way, is unvalidated: it shows no band and says why.

A second check covers calibration (a user's own result pulling their machine's projection): on
every reference machine with rows of two or more model/quant pairs, the fit without that machine
is calibrated on one row and carried to the others; those errors earn the "calibrated" band.

Batched rows are validated on what the batching model adds: given a source's batch-1 figure, its
batch-B figure held out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from statistics import median

import numpy as np

from hardware.machines import Machine
from hardware.projection import batch_size, compute_of, fit, model_flops, predict_pp, retention, row_tg
from hardware.reference import ReferenceRow

# Targets for |projected / published - 1|: (median, p90) per figure; CPUs get their own median.
TARGETS = {"tg": (0.10, None), "pp": (0.20, None), "batched": (None, None), "tg-calibrated": (0.10, None),
           "pp-calibrated": (0.20, None)}
PLATFORM_MEDIAN_TARGET = {("cpu", "tg"): 0.15}
MIN_COVERAGE = 0.80
MIN_MACHINES = 3
GROUPINGS: dict[str, Callable[[ReferenceRow], str]] = {
    "machine": lambda r: r.machine,
    "source": lambda r: r.source_key,
    "quant": lambda r: r.quant,
    "model": lambda r: r.model,
}


def target(platform: str, kind: str) -> tuple[float | None, float | None]:
    m, p = TARGETS[kind]
    return PLATFORM_MEDIAN_TARGET.get((platform, kind), m), p


@dataclass
class RowError:
    row: str
    machine: str
    platform: str
    kind: str                 # tg, pp, batched, calibrated
    published: float
    projected: float
    held_out: str = ""        # the group it was held out with, e.g. "machine=rtx-4090"

    @property
    def error(self) -> float:
        return self.projected / self.published - 1


def _p90(errs: list[float]) -> float:
    return float(np.percentile(errs, 90))


@dataclass
class WayStats:
    """One class's errors when held out one way."""
    way: str
    rows: int
    groups: int
    median: float
    p90: float
    coverage: float | None    # held-out rows inside the band the other groups earned; None: too few groups


def _way_stats(way: str, errors: list[RowError]) -> WayStats:
    errs = [abs(e.error) for e in errors]
    groups = dict.fromkeys(e.held_out for e in errors)
    inside, judged = 0, 0
    for g in groups:
        others = [abs(e.error) for e in errors if e.held_out != g]
        if len(others) < MIN_MACHINES:
            continue
        band = _p90(others)
        mine = [abs(e.error) for e in errors if e.held_out == g]
        judged += len(mine)
        inside += sum(v <= band for v in mine)
    return WayStats(way, len(errs), len(groups), median(errs), _p90(errs), inside / judged if judged else None)


@dataclass
class ClassStats:
    platform: str
    kind: str
    machines: int
    rows: int
    median: float             # of the worst way (the highest p90)
    p90: float                # the worst way's p90: the band, where validated
    coverage: float | None    # the lowest coverage over the ways
    target_median: float | None
    target_p90: float | None
    ways: dict[str, WayStats] = field(default_factory=dict)
    worst: str = ""                                     # the way that set the band
    misses: list[str] = field(default_factory=list)   # the targets it misses, in words
    unvalidated: str | None = None                      # why there is no band

    @property
    def band(self) -> float | None:
        return None if self.unvalidated else self.p90

    def to_dict(self) -> dict:
        return {**asdict(self), "band": self.band}


@dataclass
class Validation:
    errors: list[RowError]
    stats: dict[tuple[str, str], ClassStats]

    def band(self, platform: str, kind: str) -> ClassStats | None:
        return self.stats.get((platform, kind))

    def calibrated_band(self, platform: str, figure: str) -> ClassStats | None:
        """The band of a figure carried from a calibration: the platform's own where it validates,
        else the pooled one."""
        own = self.band(platform, f"{figure}-calibrated")
        return own if own is not None and own.band is not None else self.band("any", f"{figure}-calibrated")

    def misses(self) -> list[str]:
        """One line per class and figure whose errors are wider than the target."""
        return [f"{s.platform} {s.kind}: " + "; ".join(s.misses) for s in self.stats.values() if s.misses]

    def to_dict(self) -> dict:
        return {"method": "held out by machine, by source, by quant and by model: fit without the group, project its "
                          "rows, compare; the band is the p90 of the worst way, coverage is checked on held-out groups",
                "targets": {k: {"median": m, "p90": p} for k, (m, p) in TARGETS.items()},
                "min_coverage": MIN_COVERAGE,
                "classes": [s.to_dict() for s in self.stats.values()],
                "rows": [{**asdict(e), "error": e.error} for e in self.errors]}


def _project_row(fits, row: ReferenceRow, m: Machine, served: list[ReferenceRow], held_out: str) -> list[RowError]:
    f = fits.get(row.platform)
    out: list[RowError] = []
    if f is None:
        return out
    if row.tg128 is not None:
        v = row_tg(f, row, m)
        if v is not None:
            out.append(RowError(row.id, row.machine, row.platform, "tg", row.tg128, v, held_out))
    if row.pp512 is not None:
        v = predict_pp(f, compute_of(row, m), model_flops(row.model, row.pp_tokens / 2))
        if v is not None:
            out.append(RowError(row.id, row.machine, row.platform, "pp", row.pp512, v, held_out))
    if row.output_tps is not None and (row.concurrency or 1) > 1 and f.beta is not None:
        one = next((o for o in served if o.machine == row.machine and o.source == row.source and o.concurrency == 1), None)
        if one is not None:
            # the batch-1 figure times the batch-B roofline gain, times what batching keeps
            v = row.output_tps / retention(one, row) * batch_size(row) ** -f.beta
            out.append(RowError(row.id, row.machine, row.platform, "batched", row.output_tps, v, held_out))
    return out


def leave_group_out(rows: list[ReferenceRow], machine_of: dict[str, Machine], way: str = "machine",
                    fit_fn=fit) -> list[RowError]:
    """Project every row with a fit on the rows outside its group (GROUPINGS[way])."""
    key = GROUPINGS[way]
    errors: list[RowError] = []
    for group in dict.fromkeys(key(r) for r in rows):
        train = [r for r in rows if key(r) != group]
        test = [r for r in rows if key(r) == group]
        fits = fit_fn(train, machine_of)
        for row in test:
            errors.extend(_project_row(fits, row, machine_of[row.machine], test, f"{way}={group}"))
    return errors


def calibration_errors(rows: list[ReferenceRow], machine_of: dict[str, Machine], fit_fn=fit) -> list[RowError]:
    """A machine calibrated on one of its rows and carried to its others (another model or quant),
    by a fit that never saw the machine: the error a user's own calibration carries (kinds
    tg-calibrated and pp-calibrated)."""
    errors: list[RowError] = []
    for machine, platform in dict.fromkeys((r.machine, r.platform) for r in rows):
        mine = [r for r in rows if r.machine == machine and r.platform == platform]   # one backend's rows
        if len({(r.model, r.quant) for r in mine}) < 2:
            continue
        f = fit_fn([r for r in rows if r.machine != machine], machine_of).get(platform)
        if f is None:
            continue
        m = machine_of[machine]
        projected = {("tg", r.id): row_tg(f, r, m) if r.tg128 is not None else None for r in mine}
        projected |= {("pp", r.id): predict_pp(f, compute_of(r, m), model_flops(r.model, r.pp_tokens / 2))
                      if r.pp512 is not None else None for r in mine}
        for kind, figure in (("tg", lambda r: r.tg128), ("pp", lambda r: r.pp512)):
            for anchor in mine:
                pa = projected[(kind, anchor.id)]
                for other in mine:
                    po = projected[(kind, other.id)]
                    if (other.model, other.quant) == (anchor.model, anchor.quant) or not pa or not po:
                        continue
                    errors.append(RowError(other.id, machine, other.platform, f"{kind}-calibrated", figure(other),
                                           po * figure(anchor) / pa, f"machine={machine}"))
    return errors


def validate(rows: list[ReferenceRow], machine_of: dict[str, Machine], fit_fn=fit) -> Validation:
    errors: list[RowError] = []
    by_way: dict[str, list[RowError]] = {}
    for way in GROUPINGS:
        by_way[way] = leave_group_out(rows, machine_of, way, fit_fn)
        errors += by_way[way]
    # per platform, and pooled ("any") for a platform with too few calibrated machines of its own
    carried = calibration_errors(rows, machine_of, fit_fn)
    by_way["calibration"] = carried + [replace(e, platform="any") for e in carried]
    errors += by_way["calibration"]
    return Validation(errors, summarise(by_way))


def summarise(by_way: dict[str, list[RowError]]) -> dict[tuple[str, str], ClassStats]:
    stats = {}
    classes = dict.fromkeys((e.platform, e.kind) for errs in by_way.values() for e in errs)
    for platform, kind in classes:
        ways = {way: _way_stats(way, mine) for way, errs in by_way.items()
                if (mine := [e for e in errs if e.platform == platform and e.kind == kind])}
        machines = len({e.machine for errs in by_way.values() for e in errs if e.platform == platform and e.kind == kind})
        worst = max(ways.values(), key=lambda w: w.p90)
        covered = [w.coverage for w in ways.values() if w.coverage is not None]
        tm, tp = target(platform, kind)
        s = ClassStats(platform, kind, machines, max(w.rows for w in ways.values()), worst.median, worst.p90,
                       min(covered) if covered else None, tm, tp, ways, worst.way)
        if machines < MIN_MACHINES:
            s.unvalidated = f"only {machines} {platform} machine(s) with {kind} rows: fewer than {MIN_MACHINES}"
        elif s.coverage is None:
            s.unvalidated = "too few held-out groups to check a band's coverage"
        elif s.coverage < MIN_COVERAGE:
            low = min((w for w in ways.values() if w.coverage is not None), key=lambda w: w.coverage or 0.0)
            s.unvalidated = (f"coverage {s.coverage:.0%} under {MIN_COVERAGE:.0%} when held out by {low.way}: "
                             f"no band holds")
        for w in ways.values():
            if tm is not None and w.median > tm:
                s.misses.append(f"median error {w.median:.0%} by {w.way} is over the {tm:.0%} target")
            if tp is not None and w.p90 > tp:
                s.misses.append(f"p90 error {w.p90:.0%} by {w.way} is over the {tp:.0%} target")
            if w.coverage is not None and w.coverage < MIN_COVERAGE:
                s.misses.append(f"coverage {w.coverage:.0%} by {w.way} is under {MIN_COVERAGE:.0%}")
        stats[(platform, kind)] = s
    return stats


class Compounded:
    """The band of a figure resting on two validated ones (a batched figure: the batch-1 decode
    figure and what batching adds): their bands added, as errors that may compound."""

    def __init__(self, a: ClassStats | None, b: ClassStats | None):
        self.band = None if a is None or b is None or a.band is None or b.band is None else a.band + b.band
        self.unvalidated = None if self.band is not None else (
            "; ".join(s.unvalidated for s in (a, b) if s and s.unvalidated) or "no batched rows validate this class")
        self.misses = (a.misses if a else []) + (b.misses if b else [])


def stream_band(decode: float | None, prefill: float | None, prefill_counted: bool) -> float | None:
    """The band of a request stream's throughput (and so of its $/1M): the decode band, plus the
    prefill band where the prompts' prefill time is in it; None where either is unvalidated."""
    if decode is None or not prefill_counted:
        return decode
    return None if prefill is None else decode + prefill
