"""Your own results calibrate your own machine.

A measured row of machine M pulls M's projection to the measurement: the ratio measured /
projected (the geometric mean over M's measured rows, for decode and for prefill) multiplies every
figure projected for M, so the measured model and quant come back as measured, and the ratio
carries to M's other models and quants through the model's bytes (decode) and FLOPs (prefill).

The published fit is not refit on the user's rows: a machine's own result says how far the
projection is off on that machine, not on the others, and the platform bands stay the ones the
held-out validation earned. The band of a carried figure is the "calibrated" class the validation
earns by calibrating reference machines on one row and projecting their others
(hardware/validation.py calibration_errors); a figure of the measured model and quant carries the
run's own 95% confidence interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardware.machines import Machine
from hardware.projection import PlatformFit, compute_of, model_flops, predict_pp, row_tg
from hardware.reference import ReferenceRow


def _geomean(values: list[float]) -> float | None:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


@dataclass
class MachineCalibration:
    machine: Machine
    rows: list[ReferenceRow]            # measured on it
    tg_ratio: float | None              # measured / projected decode (None: nothing to calibrate on)
    pp_ratio: float | None

    @property
    def scale(self) -> tuple[float, float]:
        return self.tg_ratio or 1.0, self.pp_ratio or 1.0

    def measured(self, model: str, quant: str) -> ReferenceRow | None:
        return next((r for r in self.rows if (r.model, r.quant) == (model, quant)), None)

    def sources(self) -> list[str]:
        return list(dict.fromkeys(r.source for r in self.rows))


def calibrate(fit: PlatformFit | None, machine: Machine, rows: list[ReferenceRow]) -> MachineCalibration:
    """The ratios of `machine`'s measured rows to what the published fit projects for them."""
    tg, pp = [], []
    for r in rows:
        if fit is None:
            break
        projected_tg = row_tg(fit, r, machine) if r.tg128 is not None else None
        if projected_tg and r.tg128:
            tg.append(r.tg128 / projected_tg)
        projected_pp = (predict_pp(fit, compute_of(r, machine), model_flops(r.model, r.pp_tokens / 2))
                        if r.pp512 is not None else None)
        if projected_pp and r.pp512:
            pp.append(r.pp512 / projected_pp)
    return MachineCalibration(machine, rows, _geomean(tg), _geomean(pp))


@dataclass
class CIBand:
    """The band of a figure the user's own run measured: its 95% CI, as a share of the mean."""
    band: float | None
    unvalidated: str | None = None
    misses: tuple[str, ...] = ()

    @classmethod
    def of(cls, mean: float | None, ci95: tuple[float, float] | None) -> CIBand:
        if not mean or not ci95:
            return cls(None, "the run gave no confidence interval (one sample)")
        return cls(max(mean - ci95[0], ci95[1] - mean) / mean)
