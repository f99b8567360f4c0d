"""How well `bench project` projects published machines, and why its model has the terms it has.

    python -m benchmarks.projection_validation

Leave one machine out over the shipped reference set (hardware/reference.json), three ways:
- shipped: decode time per token = bytes / (eta x bandwidth) + t0, per platform class;
- eta only: the plain roofline times one efficiency per class (t0 = 0);
- per quant family: the shipped model fit on one quant family's rows at a time (Q4_0, Q8_0, F16),
  i.e. eta and t0 per class and family, on the platforms that have more than one family (Metal, CPU).
Prints median and p90 absolute error per class and figure for each.
"""

from __future__ import annotations

from statistics import median

import numpy as np

import hardware.projection as projection
from hardware.machines import machines
from hardware.reference import reference_rows
from hardware.validation import leave_one_out


def table(title: str, errors) -> None:
    print(f"\n{title}")
    print(f"  {'class':7} {'figure':8} {'rows':>4} {'median':>7} {'p90':>7}")
    keys = dict.fromkeys((e.platform, e.kind) for e in errors)
    for platform, kind in keys:
        errs = [abs(e.error) for e in errors if e.platform == platform and e.kind == kind]
        print(f"  {platform:7} {kind:8} {len(errs):>4} {median(errs):>7.1%} {np.percentile(errs, 90):>7.1%}")


def main() -> None:
    rows, known = list(reference_rows()), machines()
    shipped = leave_one_out(rows, known)
    table("shipped: bytes / (eta x BW) + t0", shipped.errors)

    keep = projection.MIN_MACHINES_FOR_T0
    projection.MIN_MACHINES_FOR_T0 = 10**9          # never fit t0
    try:
        table("eta only (t0 = 0)", [e for e in leave_one_out(rows, known).errors if e.kind == "tg"])
    finally:
        projection.MIN_MACHINES_FOR_T0 = keep

    for platform in ("metal", "cpu"):
        family = []
        for quant in sorted({r.quant for r in rows if r.platform == platform}):
            subset = [r for r in rows if r.platform == platform and r.quant == quant]
            family += [e for e in leave_one_out(subset, known).errors if e.kind == "tg"]
        ids = {e.row for e in family}
        table(f"{platform}: per quant family (eta, t0 fit on one family's rows)", family)
        table(f"{platform}: shipped, on the same rows", [e for e in shipped.errors if e.kind == "tg" and e.row in ids])


if __name__ == "__main__":
    main()
