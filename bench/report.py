"""Tables for the terminal: the summary of one run and the list of many results.

Missing figures print as "n/a" with the reason, never as 0.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

NA = "n/a"


def _fmt(value: float | None, digits: int = 2, scale: float = 1.0) -> str:
    return NA if value is None else f"{value * scale:,.{digits}f}"


def _mean_sd(summary: dict | None, digits: int = 2, scale: float = 1.0) -> str:
    if not summary:
        return NA
    sd = summary.get("stddev")
    return _fmt(summary["mean"], digits, scale) + (f" ± {sd * scale:,.{digits}f}" if sd is not None else "")


def scenario_rows(result: dict) -> list[dict]:
    """One flat row per scenario: the figures a reader looks at first."""
    rows = []
    for sc in result.get("scenarios", []):
        s = sc.get("summary", {})
        row = {"scenario": sc["name"], "status": sc["status"], "verdict": sc["validity"]["verdict"],
               "reasons": sc["validity"]["reasons"]}
        if sc["kind"] in ("pp", "tg"):
            key = f"{sc['kind']}_tps"
            row["tokens_per_s"] = _mean_sd(s.get(key))
            row["ttft_ms"] = row["tpot_ms"] = NA
        else:
            row["tokens_per_s"] = _fmt(s.get("output_tps"))
            row["ttft_ms"] = _fmt((s.get("ttft_s") or {}).get("median"), 1, 1e3)
            row["tpot_ms"] = _fmt((s.get("tpot_s") or {}).get("median"), 1, 1e3)
        energy = sc.get("energy") or {}
        # pp generates one token per pass: its energy is per prompt token
        row["j_per_token"] = _fmt(energy.get("joules_per_output_token", energy.get("joules_per_prompt_token")), 3)
        roof = sc.get("roofline") or {}
        row["bandwidth_efficiency"] = _fmt(roof.get("efficiency_measured"), 0, 100) + "%" \
            if roof.get("efficiency_measured") is not None else NA
        row["energy_method"] = energy.get("method") or NA
        rows.append(row)
    return rows


def run_summary_table(result: dict) -> Table:
    model = result.get("model", {})
    title = (f"{model.get('id', '?')} {model.get('quant', '')} · {result['config'].get('backend')} · "
             f"{result.get('label')} · {result['status']}")
    table = Table(title=title)
    for col, justify in (("scenario", "left"), ("tokens/s", "right"), ("ttft p50 ms", "right"),
                         ("tpot p50 ms", "right"), ("J/token", "right"), ("of BW roof", "right"),
                         ("validity", "left")):
        table.add_column(col, justify=justify)
    for row in scenario_rows(result):
        validity = row["verdict"] + (": " + "; ".join(row["reasons"]) if row["reasons"] else "")
        # "~" marks an estimate (TDP model) rather than a counter or integrated power reading
        j = row["j_per_token"] if row["j_per_token"] == NA or row["energy_method"] != "estimated" \
            else "~" + row["j_per_token"]
        table.add_row(row["scenario"], row["tokens_per_s"], row["ttft_ms"], row["tpot_ms"], j,
                      row["bandwidth_efficiency"], validity)
    if any(r["energy_method"] == "estimated" for r in scenario_rows(result)):
        table.caption = "~ energy estimated from TDP x CPU utilisation (no energy counter here)\n"
    table.caption = (table.caption or "") + "of BW roof: decode rate / (measured bandwidth / bytes read per token)"
    return table


def result_list_rows(results: list[tuple[Path, dict]]) -> list[dict]:
    rows = []
    for path, doc in results:
        model = doc.get("model") or {}
        headline = {}
        for sc in doc.get("scenarios", []):
            s = sc.get("summary") or {}
            key = {"pp": "pp_tps", "tg": "tg_tps"}.get(sc["kind"])
            if key and s.get(key):
                headline[sc["name"]] = s[key]["mean"]
        rows.append({
            "file": str(path),
            "run_id": doc.get("run_id"),
            "started_at": doc.get("started_at"),
            "label": doc.get("label"),
            "model": model.get("id"),
            "quant": model.get("quant"),
            "backend": (doc.get("config") or {}).get("backend"),
            "status": doc.get("status"),
            "verdict": (doc.get("validity") or {}).get("verdict"),
            "tokens_per_s": headline,
        })
    return rows


def result_list_table(rows: list[dict]) -> Table:
    table = Table(title=f"{len(rows)} result(s)")
    for col in ("started", "label", "model", "quant", "backend", "status", "validity", "tokens/s", "file"):
        table.add_column(col, overflow="fold")
    for r in rows:
        tps = ", ".join(f"{k} {v:,.1f}" for k, v in r["tokens_per_s"].items()) or NA
        table.add_row(str(r["started_at"]), str(r["label"]), str(r["model"]), str(r["quant"]),
                      str(r["backend"]), str(r["status"]), str(r["verdict"]), tps, Path(r["file"]).name)
    return table
