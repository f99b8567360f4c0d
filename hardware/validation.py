"""How far off the projection is: leave one machine out, fit on the rest, project its rows.

Every published (and measured) row is projected by a fit that never saw any row of its machine,
then compared with its own figure. Per platform class and figure (tg, pp, batched) the median and
90th-percentile absolute relative error are reported against the targets; the p90 is the error
band every projected figure of that class carries. A class with fewer than three machines is
unvalidated: its figures carry no band and say so.

Batched rows are validated on what the batching model adds: given a source's batch-1 figure, its
batch-B figure on the held-out machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import median

import numpy as np

from hardware.machines import Machine
from hardware.projection import (batch_size, compute_of, decode_bytes, fit, model_flops, predict_pp, predict_tg,
                                 retention)
from hardware.reference import ReferenceRow

# (median, p90) targets for |projected / published - 1|; None: no target set
TARGETS = {"tg": (0.10, 0.20), "pp": (0.20, None), "batched": (None, None)}
MIN_MACHINES = 3


@dataclass
class RowError:
    row: str
    machine: str
    platform: str
    kind: str                 # tg, pp, batched
    published: float
    projected: float

    @property
    def error(self) -> float:
        return self.projected / self.published - 1


@dataclass
class ClassStats:
    platform: str
    kind: str
    machines: int
    rows: int
    median: float
    p90: float
    target_median: float | None
    target_p90: float | None
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

    def misses(self) -> list[str]:
        """One line per class and figure whose errors are wider than the target."""
        return [f"{s.platform} {s.kind}: " + "; ".join(s.misses) for s in self.stats.values() if s.misses]

    def to_dict(self) -> dict:
        return {"method": "leave one machine out: fit without any row of a machine, project its rows, compare",
                "targets": {k: {"median": m, "p90": p} for k, (m, p) in TARGETS.items()},
                "classes": [s.to_dict() for s in self.stats.values()],
                "rows": [{**asdict(e), "error": e.error} for e in self.errors]}


def _project_row(fits, row: ReferenceRow, m: Machine, served: list[ReferenceRow]) -> list[RowError]:
    f = fits.get(row.platform)
    out: list[RowError] = []
    if f is None:
        return out
    if row.tg128 is not None:
        v = predict_tg(f, decode_bytes(row.model, row.quant, row.tg_context, row.fmt_backend), m.bandwidth_gbps)
        if v is not None:
            out.append(RowError(row.id, row.machine, row.platform, "tg", row.tg128, v))
    if row.pp512 is not None:
        v = predict_pp(f, compute_of(row, m), model_flops(row.model, row.pp_tokens / 2))
        if v is not None:
            out.append(RowError(row.id, row.machine, row.platform, "pp", row.pp512, v))
    if row.output_tps is not None and (row.concurrency or 1) > 1 and f.beta is not None:
        one = next((o for o in served if o.machine == row.machine and o.source == row.source and o.concurrency == 1), None)
        if one is not None:
            # the batch-1 figure times the batch-B roofline gain, times what batching keeps
            v = row.output_tps / retention(one, row) * batch_size(row) ** -f.beta
            out.append(RowError(row.id, row.machine, row.platform, "batched", row.output_tps, v))
    return out


def leave_one_out(rows: list[ReferenceRow], machine_of: dict[str, Machine], fit_fn=fit) -> Validation:
    """Project every row with a fit on all rows of the other machines."""
    errors: list[RowError] = []
    for held_out in dict.fromkeys(r.machine for r in rows):
        train = [r for r in rows if r.machine != held_out]
        test = [r for r in rows if r.machine == held_out]
        fits = fit_fn(train, machine_of)
        for row in test:
            errors.extend(_project_row(fits, row, machine_of[row.machine], test))
    return Validation(errors, summarise(errors, rows))


def summarise(errors: list[RowError], rows: list[ReferenceRow]) -> dict[tuple[str, str], ClassStats]:
    stats = {}
    keys = dict.fromkeys((e.platform, e.kind) for e in errors)
    for platform, kind in keys:
        errs = [abs(e.error) for e in errors if e.platform == platform and e.kind == kind]
        n = len({e.machine for e in errors if e.platform == platform and e.kind == kind})
        tm, tp = TARGETS[kind]
        s = ClassStats(platform, kind, n, len(errs), median(errs), float(np.percentile(errs, 90)), tm, tp)
        if n < MIN_MACHINES:
            s.unvalidated = f"only {n} {platform} machine(s) with {kind} rows: fewer than {MIN_MACHINES}"
        if tm is not None and s.median > tm:
            s.misses.append(f"median error {s.median:.0%} is over the {tm:.0%} target")
        if tp is not None and s.p90 > tp:
            s.misses.append(f"p90 error {s.p90:.0%} is over the {tp:.0%} target")
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
