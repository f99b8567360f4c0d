"""Tables for the terminal: the summary of one run and the list of many results.

Missing figures print as "n/a" with the reason, never as 0.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

NA = "n/a"
# Entries of load scenarios: one per level, plus an SLO search's answer.
LOAD_KINDS = ("concurrency", "poisson", "slo-search")


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
        if sc["kind"] in LOAD_KINDS:
            continue
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
        eff = roof.get("efficiency_measured")
        row["bandwidth_efficiency"] = NA if eff is None else _fmt(eff, 0 if eff >= 0.1 else 2, 100) + "%"
        row["energy_method"] = energy.get("method") or NA
        rows.append(row)
    return rows


def workaround_notes(result: dict) -> list[str]:
    """What the engine ran differently from its default here, and why (see llamacpp_health)."""
    return [f"workaround: {w['line']} ({w['caveat']})" for w in result.get("workarounds") or []]


def _title(result: dict) -> str:
    model = result.get("model", {})
    return (f"{model.get('id', '?')} {model.get('quant') or ''} · {result['config'].get('backend')} · "
            f"{result.get('label')} · {result['status']}")


def run_summary_table(result: dict) -> Table | None:
    """pp/tg/single-stream rows; None when the run had only load scenarios."""
    rows = scenario_rows(result)
    if not rows and any(sc["kind"] in LOAD_KINDS for sc in result.get("scenarios", [])):
        return None
    table = Table(title=_title(result))
    for col, justify in (("scenario", "left"), ("tokens/s", "right"), ("ttft p50 ms", "right"),
                         ("tpot p50 ms", "right"), ("J/token", "right"), ("of BW roof", "right"),
                         ("validity", "left")):
        table.add_column(col, justify=justify, no_wrap=col == "scenario")
    for row in rows:
        validity = row["verdict"] + (": " + "; ".join(row["reasons"]) if row["reasons"] else "")
        # "~" marks an estimate (TDP model) rather than a counter or integrated power reading
        j = row["j_per_token"] if row["j_per_token"] == NA or row["energy_method"] != "estimated" \
            else "~" + row["j_per_token"]
        table.add_row(row["scenario"], row["tokens_per_s"], row["ttft_ms"], row["tpot_ms"], j,
                      row["bandwidth_efficiency"], validity)
    if any(r["energy_method"] == "estimated" for r in scenario_rows(result)):
        table.caption = "~ energy estimated from TDP x CPU utilisation (no energy counter here)\n"
    table.caption = (table.caption or "") + "of BW roof: decode rate / (measured bandwidth / bytes read per token)"
    table.caption = "\n".join([table.caption, *workaround_notes(result)])
    return table


def _p(summary: dict | None, key: str, scale: float = 1e3, digits: int = 0) -> str:
    return _fmt((summary or {}).get(key), digits, scale)


def load_rows(result: dict) -> list[dict]:
    """One row per load level: a throughput-latency curve, and the answer of an SLO search."""
    rows = []
    for sc in result.get("scenarios", []):
        if sc["kind"] not in LOAD_KINDS:
            continue
        s = sc.get("summary") or {}
        if sc["kind"] == "slo-search":
            slo = sc["params"]["slo"]
            best = s.get("best_level") or f"none of {len(s.get('levels_tried', []))} tried"
            rows.append({"level": sc["name"], "summary": f"highest level meeting p99 ttft <= {slo['ttft_s'] * 1e3:g} ms "
                                                           f"and tpot <= {slo['tpot_s'] * 1e3:g} ms: {best}"
                                                           + (f", goodput {s['goodput']:.2f} req/s" if s.get("goodput") else "")})
            continue
        slo = s.get("slo") or {}
        errors = (s.get("errors") or {}).get("count")
        rows.append({
            "level": sc["name"], "output_tps": _fmt(s.get("output_tps"), 1), "requests_per_s": _fmt(s.get("requests_per_s")),
            "ttft_ms": f"{_p(s.get('ttft_s'), 'median')}/{_p(s.get('ttft_s'), 'p99')}",
            "tpot_ms": f"{_p(s.get('tpot_s'), 'median', digits=1)}/{_p(s.get('tpot_s'), 'p99', digits=1)}",
            "e2e_p99_s": _p(s.get("e2e_s"), "p99", 1.0, 2),
            "queue_p99_ms": _p(s.get("queue_wait_s"), "p99", digits=1),
            "goodput": _fmt(s.get("goodput")),
            "errors": NA if errors is None else str(errors),
            "slo": NA if not slo else ("met" if slo.get("met") else "missed"),
            "verdict": sc["validity"]["verdict"], "reasons": sc["validity"]["reasons"], "note": sc.get("note"),
        })
    return rows


def load_summary_table(result: dict) -> Table | None:
    rows = load_rows(result)
    if not rows:
        return None
    table = Table(title=_title(result) + " · under load")
    cols = (("level", "left"), ("output\ntok/s", "right"), ("req/s", "right"), ("ttft ms\np50/p99", "right"),
            ("tpot ms\np50/p99", "right"), ("e2e s\np99", "right"), ("queue\nms p99", "right"),
            ("goodput\nreq/s", "right"), ("errors", "right"), ("SLO", "left"), ("validity", "left"))
    for col, justify in cols:
        table.add_column(col, justify=justify, no_wrap=col == "level")
    table.caption = "\n".join([f"{r['level']}: {r['summary']}" for r in rows if "summary" in r]
                              + workaround_notes(result)) or None
    for r in rows:
        if "summary" in r:
            continue
        validity = r["verdict"] + (": " + "; ".join(r["reasons"]) if r["reasons"] else "")
        table.add_row(r["level"], r["output_tps"], r["requests_per_s"], r["ttft_ms"], r["tpot_ms"], r["e2e_p99_s"],
                      r["queue_p99_ms"], r["goodput"], r["errors"], r["slo"], validity)
        if r["note"]:
            table.add_row("", f"[dim]{r['note']}[/dim]", *[""] * (len(cols) - 2))
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
            elif (sc["kind"] in ("concurrency", "poisson") and s.get("output_tps")
                  and (sc.get("validity") or {}).get("verdict") == "VALID"):
                # Under load: the highest aggregate output rate of a valid level, per profile.
                best = f"{sc['params']['scenario']} max"
                headline[best] = max(headline.get(best, 0.0), s["output_tps"])
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
            "why_no_figures": None if headline else _why_no_figures(doc),
        })
    return rows


def _why_no_figures(doc: dict) -> str:
    errors = doc.get("errors") or []
    if not doc.get("scenarios"):
        return f"{doc.get('status')} before measuring" + (f": {errors[0]}" if errors else "")
    return "no valid pp, tg or load figure" + (f" ({errors[0]})" if errors else "")


def result_list_table(rows: list[dict]) -> Table:
    table = Table(title=f"{len(rows)} result(s)")
    for col in ("started", "label", "model", "quant", "backend", "status", "validity", "tokens/s", "file"):
        table.add_column(col, overflow="fold")
    for r in rows:
        tps = ", ".join(f"{k} {v:,.1f}" for k, v in r["tokens_per_s"].items()) or f"{NA}: {r['why_no_figures']}"
        table.add_row(str(r["started_at"]), str(r["label"]), str(r["model"]), str(r["quant"]),
                      str(r["backend"]), str(r["status"]), str(r["verdict"]), tps, Path(r["file"]).name)
    return table
