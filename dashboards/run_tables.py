"""Tables for the terminal: the summary of one run and the list of many results.

Missing figures print as "n/a" with the reason, never as 0.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from contract.enums import LEVEL_KINDS, ScenarioKind, Verdict
from contract.result import Entry, LoadLevelEntry, PrefixCache, RunResult, SloSearchEntry, Stats, StreamEntry

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


def depth_notes(result: RunResult) -> list[str]:
    """What a pp/tg@d<D> figure ran on top of, and the KV bytes its roof counts for that depth."""
    out = []
    for sc in result.scenarios:
        if not isinstance(sc, StreamEntry) or not sc.params.depth:
            continue
        line = f"{sc.name}: {sc.params.depth:,} tokens in the cache before each pass, put there untimed"
        roof = sc.roofline
        if roof and roof.kv_bytes_read_per_token is not None and roof.mean_context_tokens is not None:
            line += (f"; the roof counts {roof.kv_bytes_read_per_token / 1e6:,.1f} MB of KV read per token "
                     f"(mean context {roof.mean_context_tokens:,.0f}) beside "
                     f"{(roof.bytes_per_token - roof.kv_bytes_read_per_token) / 1e6:,.1f} MB of weights")
        out.append(line)
    return out


def workaround_notes(result: RunResult) -> list[str]:
    """What the engine ran differently from its default here, and why (see llamacpp_health)."""
    return [f"workaround: {w.line} ({w.caveat})" for w in result.workarounds]


def _title(result: RunResult) -> str:
    model = result.model
    return (f"{model.id or '?'} {model.quant or ''} · {result.config.backend} · "
            f"{result.label} · {result.status}")


def _verdict_lines(rows: list[dict], name: str) -> list[str]:
    """Why each INVALID row is so, one line each under the table: a reason can be a paragraph,
    and in a column it would stretch its row over dozens of lines."""
    return [f"{r[name]} {r['verdict']}: " + "; ".join(r["reasons"]) for r in rows if r["reasons"]]


def _table(title: str | None, columns, last: bool = False) -> Table:
    """Cells that do not wrap, so that the layout decides where a line breaks
    (dashboards/widths.py); the last layout folds them on a console too narrow for it."""
    table = Table(title=title)
    for col, justify in columns:
        table.add_column(col, justify=justify, no_wrap=not last, overflow="fold")
    return table


def run_summary_table(result: RunResult) -> RenderableType | None:
    """pp/tg/single-stream rows; None when the run had only load scenarios. Widest layout first:
    one line per header and cell; headers on two lines; each mean over its spread."""
    from dashboards.widths import FirstThatFits

    rows = scenario_rows(result)
    if not rows and any(sc.kind in LOAD_KINDS for sc in result.scenarios):
        return None
    notes = (["~ energy estimated from TDP x CPU utilisation (no energy counter here)"]
             if any(r["energy_method"] == "estimated" for r in rows) else [])
    notes += ["of BW roof: decode rate / (measured bandwidth / bytes read per token)",
              *depth_notes(result), *_verdict_lines(rows, "scenario"), *workaround_notes(result)]
    layouts = []
    for two_line_headers, stacked in ((False, False), (True, False), (True, True)):
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("scenario", "left"), ("tokens/s", "right"),
            ("ttft\np50 ms" if two_line_headers else "ttft p50 ms", "right"),
            ("tpot\np50 ms" if two_line_headers else "tpot p50 ms", "right"), ("J/token", "right"),
            ("of BW\nroof" if two_line_headers else "of BW roof", "right"), ("validity", "left"))
        table = _table(_title(result), columns, last=stacked)
        for row in rows:
            # "~" marks an estimate (TDP model) rather than a counter or integrated power reading
            j = row["j_per_token"] if row["j_per_token"] == NA or row["energy_method"] != "estimated" \
                else "~" + row["j_per_token"]
            tps = row["tokens_per_s"].replace(" ± ", "\n± ") if stacked else row["tokens_per_s"]
            table.add_row(row["scenario"], tps, row["ttft_ms"], row["tpot_ms"], j, row["bandwidth_efficiency"],
                          row["verdict"])
        layouts.append(table)
    return FirstThatFits(*layouts, notes=notes)


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
            "send_lag_p99_ms": None if s.send_lag_s is None else _p(s.send_lag_s, "p99", digits=1),  # trace replays
            "goodput": _fmt(s.goodput),
            "errors": NA if errors is None else str(errors),
            "slo": NA if s.slo is None else ("met" if s.slo.met else "missed"),
            "cache_hit": _hit_rate(s.prefix_cache), "cache_why": _why_no_hit_rate(s.prefix_cache),
            "verdict": sc.validity.verdict.value, "reasons": sc.validity.reasons, "note": sc.note,
        })
    return rows


def _hit_rate(pc: PrefixCache | None) -> str:
    """The prefix-cache hit rate as a percentage, "n/a" where the engine said nothing."""
    return NA if pc is None or pc.hit_rate is None else f"{pc.hit_rate:.0%}"


def _why_no_hit_rate(pc: PrefixCache | None) -> str | None:
    if pc is not None and pc.hit_rate is not None:
        return None
    return pc.why_none if pc is not None and pc.why_none else "not recorded (a result from before hit rates were)"


def _p50_over_p99(pair: str) -> str:
    """"845/1,021" on two lines, "845/" over "1,021" ("n/a" is one figure, not two)."""
    both = None if pair == NA else re.fullmatch(r"(n/a|[^/]+)/(n/a|[^/]+)", pair)
    return f"{both[1]}/\n{both[2]}" if both else pair


def load_summary_table(result: RunResult) -> RenderableType | None:
    """One row per load level. Widest layout first: one table; throughput and latency as two
    tables; then with each p50 over its p99."""
    from dashboards.widths import FirstThatFits

    rows = load_rows(result)
    if not rows:
        return None
    levels = [r for r in rows if "summary" not in r]
    notes = [f"{r['level']}: {r['summary']}" for r in rows if "summary" in r]
    notes += [f"{r['level']}: {r['note']}" for r in levels if r["note"]]
    notes += [f"cache hit {NA}: {why}" for why in dict.fromkeys(r["cache_why"] for r in levels if r["cache_why"])]
    notes += [*_verdict_lines(levels, "level"), *workaround_notes(result)]
    if not levels:                                            # only an SLO search's answer
        return Text("\n".join(notes))
    title = _title(result) + " · under load"
    level: tuple[str, str, JustifyMethod] = ("level", "level", "left")
    throughput: tuple[tuple[str, str, JustifyMethod], ...] = (
        ("output\ntok/s", "output_tps", "right"), ("req/s", "requests_per_s", "right"),
        ("goodput\nreq/s", "goodput", "right"), ("cache\nhit", "cache_hit", "right"), ("errors", "errors", "right"),
        ("SLO", "slo", "left"), ("validity", "verdict", "left"))
    latency: tuple[tuple[str, str, JustifyMethod], ...] = (
        ("ttft ms\np50/p99", "ttft_ms", "right"), ("tpot ms\np50/p99", "tpot_ms", "right"),
        ("e2e s\np99", "e2e_p99_s", "right"), ("queue\nms p99", "queue_p99_ms", "right"))
    if any(r["send_lag_p99_ms"] is not None for r in levels):     # a replay's schedule, kept or not
        latency += (("send lag\nms p99", "send_lag_p99_ms", "right"),)

    def table(title_: str, cols, stacked: bool = False) -> Table:
        t = _table(title_, [(c, j) for c, _, j in cols], last=stacked)
        for r in levels:
            t.add_row(*(_p50_over_p99(r[key]) if stacked and key in ("ttft_ms", "tpot_ms") else r[key] or NA
                        for _, key, _ in cols))
        return t

    one = (level, *throughput[:2], *latency, *throughput[2:])     # the columns in the order of one table
    return FirstThatFits(
        table(title, one),
        Group(table(title, (level, *throughput)), table("latency under load", (level, *latency))),
        Group(table(title, (level, *throughput), stacked=True),
              table("latency under load", (level, *latency), stacked=True)),
        notes=notes)


def turn_rows(result: RunResult) -> list[dict]:
    """One row per turn depth of each chat-session level: how TTFT and the cache hits change as the
    conversation grows."""
    rows = []
    for sc in result.scenarios:
        if not isinstance(sc, LoadLevelEntry) or sc.kind != ScenarioKind.CHAT_SESSION:
            continue
        why = getattr(sc.params, "cache_note", None) or "the engine reports no cached tokens"
        for t in sc.summary.by_turn or []:
            rate = t.prefix_cache.hit_rate if t.prefix_cache else None
            rows.append({"level": sc.name, "turn": str(t.turn), "requests": str(t.requests),
                         "context": _p(t.context_tokens, "median", 1.0),
                         "ttft_ms": f"{_p(t.ttft_s, 'median')}/{_p(t.ttft_s, 'p99')}",
                         "cache_hit": NA if rate is None else f"{rate:.0%}",
                         "cache_why": why if rate is None else None})
    return rows


def chat_session_table(result: RunResult) -> RenderableType | None:
    """TTFT and cache hit rate per turn depth of the chat-session levels; None when there are none."""
    from dashboards.widths import FirstThatFits

    rows = turn_rows(result)
    if not rows:
        return None
    cols: tuple[tuple[str, str, JustifyMethod], ...] = (
        ("level", "level", "left"), ("turn", "turn", "right"), ("requests", "requests", "right"),
        ("context tok\np50", "context", "right"), ("ttft ms\np50/p99", "ttft_ms", "right"),
        ("cache\nhit", "cache_hit", "right"))

    def table(stacked: bool) -> Table:
        t = _table("conversations by turn", [(c, j) for c, _, j in cols], last=stacked)
        for r in rows:
            t.add_row(*(_p50_over_p99(r[key]) if stacked and key == "ttft_ms" else r[key] for _, key, _ in cols))
        return t

    notes = sorted({f"{r['level']} cache hit {NA}: {r['cache_why']}" for r in rows if r["cache_why"]})
    return FirstThatFits(table(False), table(True), notes=notes)


def _headline(sc: Entry) -> Stats | None:
    if isinstance(sc, StreamEntry):
        return sc.summary.pp_tps if sc.kind == ScenarioKind.PP else sc.summary.tg_tps if sc.kind == ScenarioKind.TG else None
    return None


def result_list_rows(results: list[tuple[Path, RunResult]]) -> list[dict]:
    rows = []
    for path, doc in results:
        headline: dict[str, float] = {}
        cached: dict[str, list[int]] = {}       # profile -> [cached, input] tokens where its engine said
        for sc in doc.scenarios:
            pc = sc.summary.prefix_cache if isinstance(sc, LoadLevelEntry) else None
            if isinstance(sc, LoadLevelEntry) and pc is not None and pc.hit_rate is not None and pc.input_tokens:
                both = cached.setdefault(f"{sc.params.scenario} max", [0, 0])
                both[0] += pc.cached_input_tokens or 0
                both[1] += pc.input_tokens
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
            # a profile's prefix-cache hit rate over all its levels (cached / input tokens)
            "cache_hit": {k: c / n for k, (c, n) in cached.items()},
            "why_no_figures": None if headline else _why_no_figures(doc),
        })
    return rows


def _why_no_figures(doc: RunResult) -> str:
    errors = doc.errors
    if not doc.scenarios:
        return f"{doc.status} before measuring" + (f": {errors[0]}" if errors else "")
    return "no valid pp, tg or load figure" + (f" ({errors[0]})" if errors else "")


def result_list_table(rows: list[dict]) -> RenderableType:
    """One row per result, numbered. Widest layout first: every field on one line with the file's
    name; then the files' names listed under the table; then model over quant, backend over label,
    status over validity, date over time. Why a result has no figure is a line under it."""
    from dashboards.widths import FirstThatFits

    why = [f"#{i} tokens/s {NA}: {r['why_no_figures']}" for i, r in enumerate(rows, 1) if not r["tokens_per_s"]]
    files = [f"#{i} {Path(r['file']).name}" for i, r in enumerate(rows, 1)]     # a whole path would fold at 80

    def table(sep: str, stacked: bool, with_file: bool) -> Table:
        heads = (["model\nquant", "backend\nlabel", "status\nvalidity"] if stacked
                 else ["label", "model", "quant", "backend", "status", "validity"])
        t = _table(f"{len(rows)} result(s)", [(c, "left") for c in ("#", "started", *heads, "tokens/s")]
                   + ([("file", "left")] if with_file else []), last=stacked)
        for i, r in enumerate(rows, 1):
            hit = r.get("cache_hit", {})
            tps = sep.join(f"{k} {v:,.1f}" + (f" ({hit[k]:.0%} cached)" if k in hit else "")
                           for k, v in r["tokens_per_s"].items()) or f"{NA} (#{i} below)"
            started = str(r["started_at"]).replace("T", "\n", 1) if stacked else str(r["started_at"])
            fields = ([f"{r['model']}\n{r['quant']}", f"{r['backend']}\n{r['label']}", f"{r['status']}\n{r['verdict']}"]
                      if stacked else [str(r[k]) for k in ("label", "model", "quant", "backend", "status", "verdict")])
            t.add_row(str(i), started, *fields, tps, *([Path(r["file"]).name] if with_file else []))
        return t

    return FirstThatFits(table(", ", False, True), (table("\n", False, False), files), (table("\n", True, False), files),
                         notes=why)
