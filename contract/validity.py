"""Validity verdicts: VALID, or INVALID with the reasons a reader needs to judge the figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from contract.enums import Status, Verdict
from contract.result import Validity

if TYPE_CHECKING:
    from contract.result import Entry


# Failed and interrupted runs are written too, never dropped.
COMPLETED, FAILED, INTERRUPTED = Status.COMPLETED, Status.FAILED, Status.INTERRUPTED

# Validity thresholds: fewer samples than this, or a coefficient of variation above this, is flagged.
MIN_SAMPLES = 3
MAX_CV = 0.10


def scenario_validity(status: str, n_samples: int, cv: float | None, errors: int = 0) -> Validity:
    """VALID / INVALID with the reasons a reader needs to judge the figures."""
    reasons = []
    if status != COMPLETED:
        reasons.append(f"scenario {status}")
    if n_samples < MIN_SAMPLES:
        reasons.append(f"too few samples ({n_samples} < {MIN_SAMPLES})")
    if cv is not None and cv > MAX_CV:
        reasons.append(f"high variance (cv {cv:.1%} > {MAX_CV:.0%})")
    if errors:
        reasons.append(f"{errors} errors")
    return Validity(verdict=Verdict.INVALID if reasons else Verdict.VALID, reasons=reasons)


def run_validity(status: str, scenarios: Sequence[Mapping[str, Any] | Entry],
                 extra_reasons: tuple[str, ...] | list[str] = ()) -> Validity:
    """The run's verdict: INVALID where it did not complete or any entry (typed, or as its JSON) is."""
    reasons = list(extra_reasons)
    if status != COMPLETED:
        reasons.append(f"run {status}")
    for sc in scenarios:
        name, theirs = ((sc["name"], sc.get("validity", {}).get("reasons", [])) if isinstance(sc, Mapping)
                        else (sc.name, sc.validity.reasons))
        reasons += [f"{name}: {r}" for r in theirs]
    return Validity(verdict=Verdict.INVALID if reasons else Verdict.VALID, reasons=reasons)


# The figure of each kind of entry that says a measurement was made (a load level's is e2e_s too).
_HEADLINE = {"pp": "pp_tps", "tg": "tg_tps"}


def measured_anything(scenarios: list[dict[str, Any]]) -> bool:
    """Whether any entry holds a measurement: a pass or a request that succeeded. A run whose
    every request failed ran to its end, and measured nothing."""
    return any((sc.get("summary") or {}).get(_HEADLINE.get(sc.get("kind", ""), "e2e_s"))
               for sc in scenarios if sc.get("kind") != "slo-search")
