"""The `bench size` document: a demand, and the boxes each candidate needs for it, priced.

It is a document of its own kind ("size"), not a run result: nothing in it was measured by the
command that wrote it; each candidate names the run it rests on (MEASURED) or says PROJECTED. The
`bench size --json` output and the file `bench size -o FILE` writes are this model's dump.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from contract.result import SLO, Number, Section


class SizeDemand(Section):
    workload: str
    requests_per_day: Number
    input_tokens: Number                       # mean per request, the workload profile's
    output_tokens: Number
    shape: list[Number]                        # each hour's share of the day's requests (24, sum 1)
    peak_rps: Number
    tokens_per_month: Number
    slo: SLO | None                            # None: each run's own SLO (PROJECTED: the default)
    n_plus_one: bool
    min_accuracy: Number | None = None
    max_kld: Number | None = None


class SizeApiBill(Section):
    provider: str
    model: str
    usd_per_month: Number
    like_for_like: bool | None = None          # serves the candidate's own model


class SizeApiEval(Section):
    """An API that a bench eval scored through the API itself, with its bill for the demand."""
    provider: str | None
    model: str
    accuracy: Number
    accuracy_wilson95: list[Number] | None = None
    tasks_file: str
    usd_per_month: Number | None               # None: no row of it in the price table (`why`)
    why: str | None = None


class SizeCandidate(Section):
    """One box x model x quant sized for the demand; each *_range is the 95% band's (low, high)."""
    run_id: str                                # the measured run, or "projected:<hardware id>"
    label: str
    hardware: str
    model: str
    quant: str | None
    backend: str
    level: str                                 # the load level (or projected concurrency) that is the capacity
    projected: bool
    capacity_rps: Number
    capacity_rps_95: list[Number]
    boxes: int
    boxes_range: list[int]
    utilisation: Number
    utilisation_range: list[Number]
    usd_per_month: Number
    usd_per_month_range: list[Number]
    usd_per_m_tokens: Number
    usd_per_m_tokens_range: list[Number]
    machine_hour: dict[str, Number]            # fixed, idle_power, busy_extra: $ an hour
    basis: str
    apis_what: str
    apis: list[SizeApiBill]
    cheapest_api: SizeApiBill | None
    owning_wins_above_requests_per_day: Number | None
    quality: dict[str, Any] = Field(default_factory=dict)    # accuracy (bench eval), kld (bench quality) found
    notes: list[str] = Field(default_factory=list)


class SizeResult(Section):
    schema_version: Literal[3]
    kind: Literal["size"]
    created_at: str
    demand: SizeDemand
    candidates: list[SizeCandidate]
    api_evals: list[SizeApiEval] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)      # each result or projection left out, and why
