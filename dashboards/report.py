"""The one-machine report `bench run` writes beside its result: <stem>.html, plain HTML tables.

No plotly and no script: it opens anywhere, costs a few kB, and cannot fail a run for want of
a package. Cost uses the basis rows.build_row chooses for the detected hardware (a GPU, Apple or
CPU preset, else the machine's vCPUs and RAM at cloud rates), the same as `bench run` prints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from contract import documents
from contract.result import RunResult
from dashboards.page import document, esc
from dashboards.prices import load_prices
from dashboards.profiles import load_profiles
from dashboards.rows import CostSettings, build_row
from dashboards.terminal import cache_sentences


def _num(v: float | None, fmt: str, why: str | None = None, suffix: str = "") -> str:
    if v is None:
        return f'<td class="na">n/a<span class="why">{esc(why)}</span></td>' if why else '<td class="na">n/a</td>'
    return f'<td class="num">{esc(format(v, fmt))}{esc(suffix)}</td>'


def _table(head: list[str] | None, rows: list[str]) -> str:
    thead = "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead>" if head else ""
    return f"<div class=\"scroll\"><table>{thead}<tbody>{''.join(rows)}</tbody></table></div>"


def _scenarios(result: RunResult) -> str:
    from dashboards.run_tables import scenario_rows

    if not result.scenarios:
        return f"<p>Nothing was measured: the run {esc(result.status)} before any scenario ran.</p>"
    rows = []
    for r in scenario_rows(result):
        j = r["j_per_token"] if r["j_per_token"] == "n/a" else f"{r['j_per_token']} ({r['energy_method']})"
        verdict = r["verdict"] + (": " + "; ".join(r["reasons"]) if r["reasons"] else "")
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in (
            r["scenario"], r["tokens_per_s"], r["ttft_ms"], r["tpot_ms"], j, verdict)) + "</tr>")
    return _table(["scenario", "tokens/s", "TTFT p50 ms", "TPOT p50 ms", "J/token", "validity"], rows)


def _load_levels(result: RunResult) -> str:
    """One row per load level (concurrency or rate) and the answer of an SLO search, if any."""
    from dashboards.run_tables import load_rows

    rows = []
    levels = load_rows(result)
    lag = any(r.get("send_lag_p99_ms") is not None for r in levels)      # a trace replay's schedule
    for r in levels:
        if "summary" in r:                 # an SLO search's answer: one sentence
            rows.append(f'<tr><td>{esc(r["level"])}</td><td colspan="{7 + lag}">{esc(r["summary"])}</td></tr>')
            continue
        verdict = r["verdict"] + (": " + "; ".join(r["reasons"]) if r["reasons"] else "")
        cells = (r["level"], r["output_tps"], r["ttft_ms"], r["tpot_ms"],
                 r["cache_hit"] if r["cache_why"] is None else f"n/a ({r['cache_why']})", r["errors"], r["slo"],
                 *([r["send_lag_p99_ms"] or "n/a"] if lag else []), verdict)
        rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    if not rows:
        return ""
    return "<h2>Under load</h2>" + _table(["level", "output tok/s", "TTFT ms p50/p99", "TPOT ms p50/p99", "prefix-cache hit",
                                           "errors", "SLO", *(["send lag ms p99"] if lag else []), "validity"], rows)


def _turns(result: RunResult) -> str:
    """A chat-session's TTFT and cache hits per turn depth, as `bench run` prints them."""
    from dashboards.run_tables import turn_rows

    rows = ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in (
        r["level"], r["turn"], r["requests"], r["context"], r["ttft_ms"],
        r["cache_hit"] if r["cache_why"] is None else f"n/a ({r['cache_why']})")) + "</tr>"
        for r in turn_rows(result)]
    if not rows:
        return ""
    return "<h2>Conversations by turn</h2>" + _table(["level", "turn", "requests", "context tokens p50",
                                                      "TTFT ms p50/p99", "prefix-cache hit"], rows)


def _cost(row: dict) -> str:
    c = row["cost"]
    e = row["electricity"]
    elec = (f"{_money(e['usd_per_m'])} per 1M output tokens"
            + (" from an <b>estimated</b> energy figure" if e["method"] == "estimated" else "")
            + (f" at an assumed ${e['usd_per_kwh']}/kWh" if e["tariff_assumed"] else "")
            if e["usd_per_m"] is not None else f"n/a ({esc(e['why'])})")
    if c is None:
        return f"<p>Cost: n/a ({esc(row['cost_na'])}).</p><p>Electricity only: {elec}.</p>"
    t = c["throughput"]
    facts = [
        f"Basis: {esc(c['basis_text'])}. {esc(c['profile_title'])} ({esc(c['profile_how'])}); source: "
        f"{esc(c['profile_source'])}, observed {esc(c['profile_observed'] or 'undated')}.",
        f"Throughput {t['output_tps']:,.3g} output tok/s from {esc(t['scenario'])} "
        f"({t['input_tokens']:.0f} in / {t['output_tokens']:.0f} out per request), r = {c['ratio']:g}.",
        f"{_money(c['usd_per_m_output'])} per 1M output tokens, {_money(c['usd_per_m_input'])} per 1M input, "
        f"{_money(c['usd_per_m_blended'])} blended 3:1, {_money(c['usd_per_1k_tasks'])} per 1,000 such requests.",
        f"Electricity only: {elec}.",
    ] + [esc(line) for line in cache_sentences(c)] + [esc(n) for n in c["notes"]]
    rows = []
    for a in sorted(c["apis"], key=lambda a: (not a["like_for_like"], a["blended"])):
        never = f"never: {a['never']}" if a["never"] else None
        tr = '<tr class="same">' if a["like_for_like"] else "<tr>"
        rows.append(f"{tr}<td>{esc(a['provider'])} · {esc(a['model'])}</td>"
                    + _num(a["blended"], ",.4g") + _num(a["usd_per_1k_tasks"], ",.4g")
                    + _num(a["breakeven_utilisation"], ".1%", never)
                    + _num(a["breakeven_tokens_per_month"], ",.3g", "never") + "</tr>")
    return ("<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>"
            + _table(["API (same model first)", "blended $/1M", "API $ per 1k requests", "break-even utilisation",
                      "break-even tokens/month"], rows))


def _money(v: float) -> str:
    return esc(f"${v:,.2f}" if v >= 1 else f"${v:,.3g}")


def render_report(result: RunResult, path: Path, settings: CostSettings = CostSettings()) -> str:
    row = build_row(result, path, load_profiles(), {}, load_prices(), settings)
    # A server's model has a name and nothing else we know: no quant in the title then.
    quant = f" {row['quant']}" if row["quant"] else ""
    facts = [
        ("machine", f"{row['label']}: {row['hardware']}"),
        ("model", f"{row['model_name'] or row['model']} {row['quant'] or ''}"
                  + (f" ({row['model_source']})" if row["model_source"] else "")),
        ("backend", f"{row['backend']} on {row['device'] or 'n/a (it never loaded)'}"),
        ("run", f"{result.started_at or 'n/a'} to {result.finished_at or 'n/a'}, status {row['status']}"),
        *(("error", e) for e in row["errors"]),
        ("validity", (row["verdict"] or "?") + (": " + "; ".join(row["reasons"]) if row["reasons"] else "")),
        *(("workaround", w) for w in row["workarounds"]),
        ("energy per output token", "n/a (" + row["missing"]["j_per_token"] + ")" if row["j_per_token"] is None
         else f"{row['j_per_token']:.4g} J, {row['energy_method']}, over {row['energy_scenario']}"),
        ("peak memory", "n/a" if row["peak_rss_bytes"] is None else f"{row['peak_rss_bytes'] / 2**30:.2f} GiB RSS"
         + (f", {row['peak_device_bytes'] / 2**30:.2f} GiB GPU" if row["peak_device_bytes"] else "")),
        ("bandwidth efficiency", "n/a" if row["bw_eff_measured"] is None
         else f"{row['bw_eff_measured']:.0%} of measured {row['bw_measured_gbps']} GB/s ({row['bw_scenario']})"),
    ]
    body = (f"<h1>{esc(row['model'])}{esc(quant)} on {esc(row['label'])}</h1>"
            f"<p class=\"lede\">One-machine report for {esc(path.name)}. Compare machines with "
            f"<code>bench dashboard RESULTS... -o site/</code>.</p>"
            + _table(None, [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts])
            + "<h2>Scenarios</h2>" + _scenarios(result) + _load_levels(result) + _turns(result)
            + "<h2>What a million tokens costs here</h2>" + _cost(row))
    return document(f"rightsize: {row['model']}{quant} on {row['label']}", body)


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def write_run_report(result_path: Path, warn: Callable[[str], None] = _stderr_warning,
                     settings: CostSettings = CostSettings()) -> Path | None:
    """Write <result stem>.html beside the result, priced with `settings` (the run's cost options).
    Never raises: a failure is a warning and None."""
    result_path = Path(result_path)
    target = result_path.with_suffix(".html")
    try:
        result = documents.run_result(documents.read(result_path), result_path)   # the version checked, older upgraded
        target.write_text(render_report(result, result_path, settings), encoding="utf-8")
        return target
    except Exception as exc:  # a report must never turn a measured run into a failed one
        warn(f"could not write the HTML report {target}: {type(exc).__name__}: {exc}")
        return None
