"""The dashboard's JSON data block: the contract between site.py, which writes it, and
static/dashboard.js and static/candidates.js, which draw from it.

Each object names every key it may hold (extra keys are refused), so a key renamed or added on one
side and not the other fails tests/dashboards/test_dash_page_data.py, which validates built pages
against static/page-data.schema.json (this module's JSON schema, kept in the repository for the
scripts' authors and checked to be current). The scripts refuse a block of another `version`. The
nested figures (a row's cost, a group's figures, …) are dicts here: rows.py and groups.py build them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

VERSION = 2        # bump with every change to a key; dashboard.js and candidates.js check it

Number = int | float


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageRow(_Block):
    """A run the page shows in full (each overview group's median run): dashboards/figures.py's
    figures, its electricity and cost (rows.py), and site.py's names."""
    run_id: str
    file: str | None
    label: str
    started_at: str | None
    status: str
    verdict: str
    reasons: list[str]
    model: str
    model_name: str | None
    model_source: str | None
    quant: str | None
    backend: str
    device: str | None
    hardware: str
    fingerprint: str | None
    machine_for_cost: dict[str, Any]
    model_params: int | None
    workarounds: list[Any]
    throughput: dict[str, Any] | None
    latency_points: list[dict[str, Any]]
    decode_tps: Number | None
    decode_scenario: str | None
    prefill_tps: Number | None
    prefill_scenario: str | None
    j_per_token: Number | None
    energy_method: str | None
    energy_covers: list[str]
    energy_scenario: str | None
    energy_valid: bool | None
    average_watts: Number | None
    idle_watts: Number | None
    idle_method: str | None
    peak_rss_bytes: int | None
    peak_device_bytes: int | None
    model_file_bytes: int | None
    kv_bytes_per_token: Number | None
    bw_scenario: str | None
    bw_eff_spec: Number | None
    bw_eff_measured: Number | None
    bw_spec_gbps: Number | None
    bw_measured_gbps: Number | None
    errors: list[str]
    missing: dict[str, str]
    electricity: dict[str, Any] | None
    cost: dict[str, Any] | None
    cost_na: str | None
    report: str | None
    machine: str
    name: str


class Group(_Block):
    """One overview row: the runs of one machine x model x quant x backend (groups.py)."""
    machine: str
    label: str
    hardware: str
    model: str
    quant: str | None
    backend: str
    model_source: str | None
    device: str | None
    workarounds: list[Any]
    n: int
    n_invalid: int
    median_of: str | None
    figures: dict[str, Any]
    why: dict[str, str]
    rep: int                                # its median run: an index into `rows`
    scenarios: dict[str, str | None]
    energy_method: str | None
    tariff_assumed: Number | bool | None
    cost_valid: bool
    basis: dict[str, Any] | None
    reasons: list[str]
    runs: list[dict[str, Any]]


class ApiRow(_Block):
    """One row of the API price table (prices.ApiPrice.to_dict)."""
    model: str
    provider: str
    input: Number
    output: Number
    cached_input: Number | None
    observed: str
    source: str
    serves: list[str]
    model_class: str | None
    note: str | None
    origin: str
    blended: Number
    age_days: int


class Quality(_Block):
    """bench eval and bench quality outcomes, and the quant ladders (dashboards/quality.py)."""
    evals: list[dict[str, Any]]
    klds: list[dict[str, Any]]
    ladder: list[dict[str, Any]]


class PageData(_Block):
    version: Literal[2]
    rows: list[PageRow]
    groups: list[Group]
    apis: list[ApiRow]
    max_age_days: int
    generated_at: str
    quality: Quality
    candidates: dict[str, Any] | None = None    # projected machines (dashboards/candidates.py), when asked for
    sizes: list[dict[str, Any]] | None = None   # bench size documents (dashboards/what_to_buy.py), when given


def json_schema() -> dict[str, Any]:
    return PageData.model_json_schema()
