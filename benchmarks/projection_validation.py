"""How well `bench project` projects rows its fit never saw, and what each term of its model buys.

    python -m benchmarks.projection_validation [--markdown]

Over the shipped reference set (hardware/reference.json), the validation `bench project` runs
(hardware/validation.py): rows held out by machine, by source, by quant and by model, plus the
calibration check (a reference machine calibrated on one row, carried to its others). Per platform
class and figure: rows, median and p90 absolute error, and coverage (held-out rows inside the band
the other groups earned), against the targets. Then the same for the model without each of its
terms (quant-family efficiency, the CPU per-thread bandwidth), on the same rows.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import hardware.projection as projection
from hardware.machines import machines
from hardware.reference import reference_rows
from hardware.validation import MIN_COVERAGE, Validation, target, validate


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def table(title: str, v: Validation, markdown: bool) -> None:
    head = ["class", "figure", "held out by", "rows", "median", "p90", "coverage", "target", "verdict"]
    print(f"\n{'### ' if markdown else ''}{title}\n")
    if markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    else:
        print(f"  {head[0]:7} {head[1]:14} {head[2]:12} {head[3]:>5} {head[4]:>7} {head[5]:>7} {head[6]:>8}  verdict")
    for s in v.stats.values():
        tm, _ = target(s.platform, s.kind)
        for w in s.ways.values():
            ok = (tm is None or w.median <= tm) and (w.coverage is None or w.coverage >= MIN_COVERAGE)
            verdict = "meets" if ok else "MISSES"
            if w.way == s.worst:
                verdict += "; band " + ("n/a (" + s.unvalidated + ")" if s.unvalidated else _pct(s.band))
            cells = [s.platform, s.kind, w.way, str(w.rows), _pct(w.median), _pct(w.p90), _pct(w.coverage),
                     f"median <= {tm:.0%}, coverage >= {MIN_COVERAGE:.0%}" if tm is not None else "-", verdict]
            if markdown:
                print("| " + " | ".join(cells) + " |")
            else:
                print(f"  {cells[0]:7} {cells[1]:14} {cells[2]:12} {cells[3]:>5} {cells[4]:>7} {cells[5]:>7} "
                      f"{cells[6]:>8}  {verdict}")


@contextmanager
def without(**consts):
    """The model with some of its constants changed (and its memoised fits forgotten)."""
    keep = {k: getattr(projection, k) for k in consts}
    for k, v in consts.items():
        setattr(projection, k, v)
    projection._TG_FITS.clear()
    try:
        yield
    finally:
        for k, v in keep.items():
            setattr(projection, k, v)
        projection._TG_FITS.clear()


def main() -> None:
    markdown = "--markdown" in sys.argv
    rows, known = list(reference_rows()), machines()
    print(f"{len(rows)} reference rows, {len({r.machine for r in rows})} machines, "
          f"{len({r.source_key for r in rows})} sources, {len({r.quant for r in rows})} quants, "
          f"{len({r.model for r in rows})} models")
    table("shipped: bytes / (eta[quant family] x min(socket, threads x per-thread) BW) + t0[build era]",
          validate(rows, known), markdown)
    with without(MIN_MACHINES_FOR_FAMILY=10**9):
        table("without quant families (one eta per platform)", validate(rows, known), markdown)
    with without(PER_CORE_GRID_GBPS=()):
        table("without the CPU per-thread bandwidth (the socket's figure)", validate(rows, known), markdown)


if __name__ == "__main__":
    main()
