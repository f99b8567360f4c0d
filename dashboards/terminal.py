"""A run's cost in the terminal: the lines `bench run` prints below its tables, and the
break-even table of `bench run --breakeven` and `bench results --breakeven`.

The figures are rows.build_row's, the same the dashboard and the HTML report show, so the
terminal never does arithmetic of its own. Printing a cost never fails a run: any problem is
one "cost: n/a (reason)" line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from contract.result import RunResult

# (file, result) pairs: bench run's results, typed
Loaded = Sequence[tuple[Path | None, RunResult]]


def _usd(v: float) -> str:
    return f"${v:,.2f}" if v >= 1 else f"${v:.3g}"


def _tokens(v: float) -> str:
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def cost_rows(loaded: Loaded, settings) -> list[dict]:
    """rows.build_row for each result, with the price table and presets loaded once."""
    from dashboards.prices import load_prices
    from dashboards.profiles import load_profiles
    from dashboards.rows import build_row

    profiles, prices = load_profiles(), load_prices()
    rows = []
    for path, doc in loaded:
        try:
            rows.append(build_row(doc, path, profiles, {}, prices, settings))
        except Exception as exc:  # a result whose figures do not price gets its n/a line; the others are still priced
            rows.append({"cost": None, "cost_na": f"this result could not be priced ({type(exc).__name__}: {exc})",
                         "run_id": doc.run_id})
    return rows


def cost_lines(row: dict) -> list[str]:
    """The cost block as lines of text; one n/a line with the reason when there is none."""
    c = row["cost"]
    if c is None:
        return [f"cost: n/a ({row['cost_na']})"]
    t = c["throughput"]
    flag = "" if t["valid"] else f"; INVALID: {'; '.join(t['invalid_reasons'])}"
    out = [
        "What a million tokens costs here (USD; blended = 3 input : 1 output)",
        f"  output   {_usd(c['usd_per_m_output']):>9} per 1M  at {t['output_tps']:,.3g} output tok/s "
        f"({t['scenario']}, the best request scenario of the run{flag})",
        f"  input    {_usd(c['usd_per_m_input']):>9} per 1M  at {t['input_tps']:,.3g} input tok/s (the same requests, "
        f"{t['input_tokens']:.0f} in / {t['output_tokens']:.0f} out; an input token costs 1/{c['ratio']:g} of an output "
        f"token)",
        f"  blended  {_usd(c['usd_per_m_blended']):>9} per 1M  (3 x input + output) / 4, at those rates",
        f"  basis    {c['basis_text']}",
        f"           {c['profile_title']}: {c['profile_how']}",
        f"           source (observed {c['profile_observed'] or 'undated'}): {c['profile_source']}",
    ]
    cmp_ = c["compare"]
    if cmp_:
        out.append(f"  APIs     {cmp_['what']} ({cmp_['count']} rows)")
        for word, a in (("cheapest", cmp_["cheapest"]), ("closest ", cmp_["closest"])):
            out.append(f"           {word}: {a['provider']} {a['model']}, {_usd(a['blended'])} blended "
                       f"(observed {a['observed'] or 'undated'})")
    out += [f"  {'cache' if i == 0 else '':<8} {line}" for i, line in enumerate(cache_sentences(c))]
    out += [f"  note     {n}" for n in c["notes"]]
    return out


def cache_sentences(c: dict) -> list[str]:
    """The prefix cache's share of the input, and what it is worth (API cached prices; prefill saved here)."""
    pc = c.get("prefix_cache")
    if not pc:
        return []
    apis = c["apis"] or []
    cached_priced = sum(a["cached_priced_as"] == "cached input" for a in apis)
    lines = [f"{pc['share']:.0%} of input tokens came from the prefix cache ({pc['scenario']}; the rates above "
             "were measured with it)"]
    if pc["share"] and apis:
        lines.append(f"APIs' $ per 1,000 requests price that share at their cached-input price "
                     f"({cached_priced} of {len(apis)} rows list one; the others at their input price)")
    if pc["usd_saved_per_1k_tasks"] is not None:
        lines.append(f"here it saved {pc['prefill_s_saved_per_1k_tasks']:,.3g} s of prefill per 1,000 requests, "
                     f"{_usd(pc['usd_saved_per_1k_tasks'])} at this basis (estimated: "
                     f"{pc['cached_tokens_per_task']:.0f} cached tokens per request / {pc['prefill_tps']:,.4g} tok/s "
                     f"prefill of {pc['prefill_scenario']})")
    else:
        lines.append(f"prefill saved here: n/a ({pc['why']})")
    return lines


NEEDS = "never (N%): one machine, held all month, would have to be busy N% of its hours; it tops out at 100%"


def breakeven_table(row: dict) -> Table | None:
    """Per API row: the monthly volume above which this machine, held all month, costs less.
    Where none does, the row says never, with the utilisation it would take; why, once, under it."""
    c = row["cost"]
    if c is None:
        return None
    table = Table(title=f"Break-even against each API: {row['model']} {row['quant']} on {row['label']}, held all "
                        f"month (730 h), 3 input : 1 output", caption_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("API", "left"), ("blended\n$/1M", "right"), ("observed", "left"),
        ("break-even\nutilisation", "right"), ("break-even\ntokens/month", "right"))
    for col, justify in columns:
        # a figure never wraps (rich would cut it at 80 columns); an API's name wraps at its spaces
        table.add_column(col, justify=justify, no_wrap=col != "API", overflow="fold")
    same_class = c["compare"]["cheapest"]["model_class"] if c["compare"] else None
    why: list[str] = []
    for a in sorted(c["apis"], key=lambda a: (not a["like_for_like"], a["model_class"] != same_class, a["blended"])):
        name = f"{a['provider']} · {a['model']}" + (" (same model)" if a["like_for_like"] else "")
        if a["never"]:
            needs = a.get("breakeven_needs_utilisation")
            line = NEEDS if needs else f"never: {a['never']}"
            why += [line] if line not in why else []
            table.add_row(name, _usd(a["blended"]), a["observed"] or "undated",
                          f"never ({needs:.0%})" if needs else "never", "never")
        else:
            table.add_row(name, _usd(a["blended"]), a["observed"] or "undated",
                          f"{a['breakeven_utilisation']:.1%}", _tokens(a["breakeven_tokens_per_month"]))
    table.caption = Text("\n".join(why)) if why else None     # Text: no markup in a reason
    return table


def print_cost(console: Console, loaded: Loaded, settings, breakeven: bool = False) -> None:
    """Print each result's cost lines (and its break-even table); never raises."""
    try:
        rows = cost_rows(loaded, settings)
    except Exception as exc:  # a price file or profile problem must not turn a measured run into a failure
        console.print(f"cost: n/a ({exc})", highlight=False, markup=False, soft_wrap=True)
        return
    for path, row in zip((p for p, _ in loaded), rows, strict=True):
        if len(loaded) > 1:
            console.print(f"\n{path.name if path else row['run_id']}:", highlight=False, markup=False)
        for line in cost_lines(row):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        table = breakeven_table(row) if breakeven else None
        if table is not None:
            console.print(table)


def with_costs(rows: list[dict], loaded: Loaded, settings) -> list[dict]:
    """`bench results --breakeven --json`: each listed row with its cost block (or why there is none)."""
    return [{**r, "cost": c["cost"], "cost_na": c["cost_na"]} for r, c in zip(rows, cost_rows(loaded, settings), strict=True)]
