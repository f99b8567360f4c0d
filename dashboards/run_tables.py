"""Tables for the terminal: the summary of one run and the list of many results.

Missing figures print as "n/a" with the reason, never as 0.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import JustifyMethod
from rich.table import Table

from contract.enums import LEVEL_KINDS, ScenarioKind, Verdict
from contract.result import LoadLevelEntry, RunResult, SloSearchEntry, Stats, StreamEntry

NA = "n/a"
# Entries of load scenarios: one per level, plus an SLO search's answer.
LOAD_KINDS = (*LEVEL_KINDS, ScenarioKind.SLO_SEARCH)



def _fmt(value: float | None, digits: int = 2, scale: float = 1.0) -> str:
    return NA if value is None else f"{value * scale:,.{digits}f}"


def _mean_sd(stats: Stats | None, digits: int = 2, scale: float = 1.0) -> str:
    if stats is None:
        return NA
    sd = stats.stddev
    return _fmt(stats.mean, digits, scale) + (f" ± {sd * scale:,.{digits}f}" if sd is not None else "")


def _median(stats: Stats | None) -> float | None:
    return stats.median if stats else None


def scenario_rows(result: RunResult) -> list[dict]:
    """One flat row per scenario: the figures a reader looks at first."""
    rows = []
    for sc in result.scenarios:
        if not isinstance(sc, StreamEntry):
            continue
        s = sc.summary
        row = {"scenario": sc.name, "status": sc.status.value, "verdict": sc.validity.verdict.value,
               "reasons": sc.validity.reasons}
        if sc.kind in (ScenarioKind.PP, ScenarioKind.TG):
            row["tokens_per_s"] = _mean_sd(s.pp_tps if sc.kind == ScenarioKind.PP else s.tg_tps)
            row["ttft_ms"] = row["tpot_ms"] = NA
        else:
            row["tokens_per_s"] = _fmt(s.output_tps)
            row["ttft_ms"] = _fmt(_median(s.ttft_s), 1, 1e3)
            row["tpot_ms"] = _fmt(_median(s.tpot_s), 1, 1e3)
        energy = sc.energy
        # pp generates one token per pass: its energy is per prompt token
        per_token = None if energy is None else (
            energy.joules_per_prompt_token if sc.kind == ScenarioKind.PP else energy.joules_per_output_token)
        row["j_per_token"] = _fmt(per_token, 3)
        eff = sc.roofline.efficiency_measured if sc.roofline else None
        row["bandwidth_efficiency"] = NA if eff is None else _fmt(eff, 0 if eff >= 0.1 else 2, 100) + "%"
        row["energy_method"] = (energy.method if energy else None) or NA
        rows.append(row)
    return rows


def workaround_notes(result: RunResult) -> list[str]:
    """What the engine ran differently from its default here, and why (see llamacpp_health)."""
    return [f"workaround: {w.line} ({w.caveat})" for w in result.workarounds]


def _title(result: RunResult) -> str:
    model = result.model
    return (f"{model.id or '?'} {model.quant or ''} · {result.config.backend} · "
            f"{result.label} · {result.status}")


def run_summary_table(result: RunResult) -> Table | None:
    """pp/tg/single-stream rows; None when the run had only load scenarios."""
    rows = scenario_rows(result)
    if not rows and any(sc.kind in LOAD_KINDS for sc in result.scenarios):
        return None
    table = Table(title=_title(result))
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("scenario", "left"), ("tokens/s", "right"), ("ttft p50 ms", "right"),
        ("tpot p50 ms", "right"), ("J/token", "right"), ("of BW roof", "right"),
        ("validity", "left"))
    for col, justify in columns:
        table.add_column(col, justify=justify, no_wrap=col == "scenario")
    for row in rows:
        validity = row["verdict"] + (": " + "; ".join(row["reasons"]) if row["reasons"] else "")
        # "~" marks an estimate (TDP model) rather than a counter or integrated power reading
        j = row["j_per_token"] if row["j_per_token"] == NA or row["energy_method"] != "estimated" \
            else "~" + row["j_per_token"]
        table.add_row(row["scenario"], row["tokens_per_s"], row["ttft_ms"], row["tpot_ms"], j,
                      row["bandwidth_efficiency"], validity)
    caption = ("~ energy estimated from TDP x CPU utilisation (no energy counter here)\n"
               if any(r["energy_method"] == "estimated" for r in scenario_rows(result)) else "")
    caption += "of BW roof: decode rate / (measured bandwidth / bytes read per token)"
    table.caption = "\n".join([caption, *workaround_notes(result)])
    return table


def _p(stats: Stats | None, key: str, scale: float = 1e3, digits: int = 0) -> str:
    return _fmt(getattr(stats, key) if stats else None, digits, scale)


def load_rows(result: RunResult) -> list[dict]:
    """One row per load level: a throughput-latency curve, and the answer of an SLO search."""
    rows: list[dict] = []
    for sc in result.scenarios:
        if isinstance(sc, SloSearchEntry):
            slo, found = sc.params.slo, sc.summary
            best = found.best_level or f"none of {len(found.levels_tried)} tried"
            rows.append({"level": sc.name, "summary": f"highest level meeting p99 ttft <= {slo.ttft_s * 1e3:g} ms "
                                                      f"and tpot <= {slo.tpot_s * 1e3:g} ms: {best}"
                                                      + (f", goodput {found.goodput:.2f} req/s" if found.goodput else "")})
            continue
        if not isinstance(sc, LoadLevelEntry):
            continue
        s = sc.summary
        errors = s.errors.count if s.errors else None
        rows.append({
            "level": sc.name, "output_tps": _fmt(s.output_tps, 1), "requests_per_s": _fmt(s.requests_per_s),
            "ttft_ms": f"{_p(s.ttft_s, 'median')}/{_p(s.ttft_s, 'p99')}",
            "tpot_ms": f"{_p(s.tpot_s, 'median', digits=1)}/{_p(s.tpot_s, 'p99', digits=1)}",
            "e2e_p99_s": _p(s.e2e_s, "p99", 1.0, 2),
            "queue_p99_ms": _p(s.queue_wait_s, "p99", digits=1),
            "goodput": _fmt(s.goodput),
            "errors": NA if errors is None else str(errors),
            "slo": NA if s.slo is None else ("met" if s.slo.met else "missed"),
            "verdict": sc.validity.verdict.value, "reasons": sc.validity.reasons, "note": sc.note,
        })
    return rows


def load_summary_table(result: RunResult) -> Table | None:
    rows = load_rows(result)
    if not rows:
        return None
    table = Table(title=_title(result) + " · under load")
    cols: tuple[tuple[str, JustifyMethod], ...] = (
        ("level", "left"), ("output\ntok/s", "right"), ("req/s", "right"), ("ttft ms\np50/p99", "right"),
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


def _headline(sc: StreamEntry | LoadLevelEntry | SloSearchEntry) -> Stats | None:
    if isinstance(sc, StreamEntry):
        return sc.summary.pp_tps if sc.kind == ScenarioKind.PP else sc.summary.tg_tps if sc.kind == ScenarioKind.TG else None
    return None


def result_list_rows(results: list[tuple[Path, RunResult]]) -> list[dict]:
    rows = []
    for path, doc in results:
        headline: dict[str, float] = {}
        for sc in doc.scenarios:
            stats = _headline(sc)
            if stats is not None:
                headline[sc.name] = stats.mean
            elif (isinstance(sc, LoadLevelEntry) and sc.summary.output_tps
                  and sc.validity.verdict == Verdict.VALID):
                # Under load: the highest aggregate output rate of a valid level, per profile.
                best = f"{sc.params.scenario} max"
                headline[best] = max(headline.get(best, 0.0), sc.summary.output_tps)
        rows.append({
            "file": str(path),
            "run_id": doc.run_id,
            "started_at": doc.started_at,
            "label": doc.label,
            "model": doc.model.id,
            "quant": doc.model.quant,
            "backend": doc.config.backend,
            "status": doc.status.value,
            "verdict": doc.validity.verdict.value,
            "tokens_per_s": headline,
            "why_no_figures": None if headline else _why_no_figures(doc),
        })
    return rows


def _why_no_figures(doc: RunResult) -> str:
    errors = doc.errors
    if not doc.scenarios:
        return f"{doc.status} before measuring" + (f": {errors[0]}" if errors else "")
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
