"""Repeated runs of one machine x model x quant x backend become one overview row.

A group shows, per figure, the median over its VALID runs, the spread (min-max) and the count;
its INVALID runs are counted and listed but kept out of the median, as the charts keep INVALID
points off the Pareto front. A group with no VALID run at all shows the median of its INVALID
runs, marked INVALID, as a single INVALID run is shown today. Each raw run keeps its own figures
so the page can list them under the group.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable

# The overview's figures: key -> (value of a row or None, why it is None). The reasons are the
# ones the rows already carry, so an n/a says the same thing it said per run.
FIGURES = {
    "decode_tps": (lambda r: r["decode_tps"], lambda r: r["missing"].get("decode_tps")),
    "output_tps": (lambda r: r["throughput"] and r["throughput"]["output_tps"], lambda r: r["missing"].get("throughput")),
    "tpot_p50_ms": (lambda r: _tpot_ms(r), lambda r: r["missing"].get("throughput") or "no request scenario"),
    "j_per_token": (lambda r: r["j_per_token"], lambda r: r["missing"].get("j_per_token")),
    "peak_rss_bytes": (lambda r: r["peak_rss_bytes"], lambda r: r["missing"].get("peak_rss_bytes")),
    "bw_eff_measured": (lambda r: r["bw_eff_measured"], lambda r: r["missing"].get("bw_eff")),
    "usd_per_m_output": (lambda r: r["cost"] and r["cost"]["usd_per_m_output"], lambda r: r["cost_na"]),
    "usd_per_m_input": (lambda r: r["cost"] and r["cost"]["usd_per_m_input"], lambda r: r["cost_na"]),
    "usd_per_m_blended": (lambda r: r["cost"] and r["cost"]["usd_per_m_blended"], lambda r: r["cost_na"]),
    "electricity_usd_per_m": (lambda r: r["electricity"]["usd_per_m"], lambda r: r["electricity"]["why"]),
    "usd_per_1k_tasks": (lambda r: r["cost"] and r["cost"]["usd_per_1k_tasks"], lambda r: r["cost_na"]),
    "usd_per_hour": (lambda r: r["cost"] and r["cost"]["usd_per_hour"], lambda r: r["cost_na"]),
}


def _tpot_ms(row: dict) -> float | None:
    src = row["throughput"]
    point = next((p for p in row["latency_points"] if src and p["scenario"] == src["scenario"]), None)
    return point["tpot_p50_ms"] if point else None


def group_key(row: dict) -> tuple:
    """Machine (label and hardware, as the hardware filter names it) x model x quant x backend."""
    return row["machine"], row["model"], row["quant"], row["backend"]


def _values(row: dict) -> dict[str, float | None]:
    return {key: value(row) for key, (value, _) in FIGURES.items()}


def _figure(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _representative(rows: list[dict], values: list[dict]) -> int:
    """The run whose cost-driving output tok/s (else decode tok/s) is the median one (the lower
    middle for an even count): the run the charts and cost details show for the group."""
    for key in ("output_tps", "decode_tps"):
        ranked = sorted((v[key], i) for i, v in enumerate(values) if v[key] is not None)
        if ranked:
            return ranked[(len(ranked) - 1) // 2][1]
    return 0


def group_rows(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(groups, representative rows): one group per key in first-seen order, and for each the
    full row of its median run, named for the group, for the charts and cost details."""
    by_key: dict[tuple, list[dict]] = {}
    for row in rows:
        by_key.setdefault(group_key(row), []).append(row)
    groups, reps = [], []
    for members in by_key.values():
        members.sort(key=lambda r: r["started_at"] or "")
        values = [_values(r) for r in members]
        valid = [i for i, r in enumerate(members) if r["verdict"] == "VALID"]
        counted = valid or list(range(len(members)))       # no VALID run: its INVALID ones, marked so
        pick = _representative([members[i] for i in counted], [values[i] for i in counted])
        rep = members[counted[pick]]
        figures = {key: _figure([v for v in (values[i][key] for i in counted) if v is not None]) for key in FIGURES}
        why = {key: FIGURES[key][1](rep) for key, fig in figures.items() if fig is None}
        n = len(members)
        name = f"{rep['label']} · {rep['model']} {rep['quant']} · {rep['backend']}"
        reps.append(dict(rep, name=name + (f" · median of {len(counted)} runs" if len(counted) > 1 else "")))
        groups.append({
            "machine": rep["machine"], "label": rep["label"], "hardware": rep["hardware"], "model": rep["model"],
            "quant": rep["quant"], "backend": rep["backend"], "model_source": rep["model_source"],
            "device": rep["device"], "workarounds": sorted({w for r in members for w in r["workarounds"]}),
            "n": n, "n_invalid": n - len(valid), "median_of": "VALID" if valid else "INVALID",
            "figures": figures, "why": why, "rep": len(reps) - 1,
            # what the figures rest on, said beside them as on a single run's row
            "scenarios": {"decode": rep["decode_scenario"], "throughput": rep["throughput"] and rep["throughput"]["scenario"]},
            "energy_method": rep["energy_method"], "tariff_assumed": rep["electricity"]["tariff_assumed"] and
            rep["electricity"]["usd_per_kwh"],
            "cost_valid": bool(rep["cost"] and rep["cost"]["throughput"]["valid"]),
            "basis": rep["cost"] and {"usd_per_hour": rep["cost"]["usd_per_hour"], "basis": rep["cost"]["basis"],
                                      "title": rep["cost"]["profile_title"]},
            "reasons": sorted({reason for r in members for reason in r["reasons"]}),
            "runs": [{"run_id": r["run_id"], "file": r["file"], "report": r.get("report"),
                      "started_at": r["started_at"], "verdict": r["verdict"],
                      "status": r["status"], "reasons": r["reasons"], "values": v} for r, v in zip(members, values, strict=True)],
        })
    _unique_names(reps)
    return groups, reps


def disambiguate(rows: list[dict], suffix: Callable[[dict], str]) -> None:
    """Rows whose display names collide get `suffix(row)` appended to tell them apart."""
    counts = Counter(r["name"] for r in rows)
    for r in rows:
        if counts[r["name"]] > 1:
            r["name"] += f" · {suffix(r)}"


def _unique_names(reps: list[dict]) -> None:
    """Two machines may share a label: their hardware tells the chart entries apart."""
    disambiguate(reps, lambda r: r["hardware"])
