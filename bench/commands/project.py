"""`bench project`: projected llama.cpp throughput, memory fit and cost on hardware not run here.

Every figure is PROJECTED (never measured) and carries the band its platform class's validation
earned on held-out rows (hardware/validation.py), or says it is unvalidated; the validation table
is printed with it, and a class whose errors are wider than the targets says so. `--from` results,
and for `--hardware here` this machine's results in ./results, calibrate the machine they ran on
(hardware/calibration.py). Nothing here writes a result file: a projection cannot enter the
measured tables (`bench results`, `bench dashboard` read result files only).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bench.commands.cost_options import cost_options
from contract.errors import BenchError

if TYPE_CHECKING:
    from rich.console import JustifyMethod  # rich is imported only where a table is printed

PROJECTED = "PROJECTED"
DEFAULT_RESULTS = Path("results")       # where `bench run` writes: `--hardware here` calibrates on it
DEFAULT_MODEL, DEFAULT_QUANT = "llama-3.1-8b", "Q4_K_M"


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _positive_ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in _split(text)]
    except ValueError:
        raise BenchError(f"{name} {text!r} is not a comma-separated list of whole numbers", f"for example {name} 1,8,32") \
            from None
    if not values or any(v <= 0 for v in values):
        raise BenchError(f"{name} must be positive whole numbers, got {text!r}", f"for example {name} 1,8,32")
    return list(dict.fromkeys(values))


@dataclass
class Calibration:
    """The user's own results: one machine per hardware fingerprint, and its measured rows."""
    machines: dict            # machine id -> Machine (measured machines)
    rows: list                # ReferenceRow, measured=True
    skipped: list[str]

    def rows_of(self, machine) -> list:
        """The rows measured on `machine`: its own, or, for this machine, those with its fingerprint."""
        return [r for r in self.rows if r.machine == machine.id
                or (machine.fingerprint is not None and r.fingerprint == machine.fingerprint)]


def load_calibration(paths: list[Path], required: bool = True) -> Calibration:
    from dataclasses import replace

    from contract.storage import load_documents
    from hardware.machines import MachineError
    from hardware.reference import ReferenceError, rows_from_result

    loaded, warnings = load_documents(paths)
    cal = Calibration({}, [], list(warnings))
    by_fingerprint: dict[str, str] = {}
    for path, doc in loaded:
        try:
            machine, rows, skipped = rows_from_result(doc, path)
        except (ReferenceError, MachineError) as exc:     # e.g. a partial offload: no one memory bounds it
            cal.skipped.append(str(exc))
            continue
        # results of one machine (one fingerprint) calibrate one machine, named after the first of them
        same = by_fingerprint.get(machine.fingerprint or machine.id)
        if same is None:
            by_fingerprint[machine.fingerprint or machine.id] = machine.id
            cal.machines[machine.id] = machine
        cal.rows += [replace(r, machine=same or machine.id) for r in rows]
        cal.skipped += skipped
    if required and not cal.rows:
        raise BenchError("no measured result to calibrate on" + (f": {cal.skipped[0]}" if cal.skipped else ""),
                         "pass a result of bench run (llama.cpp, a catalog model, valid pp/tg scenarios)")
    return cal


def _figure(value: float | None, stats, why: str | None, kind: str) -> dict:
    """A projected figure with its band: {"value", "band", "low", "high", "validated", "note"}."""
    from dashboards.candidates import band_range

    band = stats.band if stats else None
    low, high = band_range(value, band)
    note = why if value is None else (
        None if band is not None else (stats.unvalidated if stats else f"no held-out projection for this class's {kind}"))
    return {"value": value, "band": band, "low": low, "high": high, "validated": band is not None, "note": note,
            "misses_target": bool(stats and stats.misses)}


def projection_rows(machines_, models, quants, context, levels, output_tokens, fits, validation, memory, pricing,
                    profiles, chosen, prices, calibrations=None) -> list[dict]:
    """One entry per machine x model x quant: its figures, bands, fit verdicts and costs. A machine
    with a calibration (hardware/calibration.py) is scaled to its own measurements."""
    from dashboards.candidates import band_range, price_projection
    from hardware.calibration import CIBand
    from hardware.projection import project
    from hardware.validation import Compounded, stream_band
    from models.catalog import get_model
    from models.fit import check_fit

    out = []
    for m in machines_:
        available, where = (memory, "--memory") if memory else m.available_bytes()
        cal = (calibrations or {}).get(m.id)
        for model in models:
            spec = get_model(model)
            for quant in quants:
                p = project(m, fits, model, quant, context, levels, output_tokens, cal.scale if cal else (1.0, 1.0))
                tg_stats, pp_stats = validation.band(m.platform, "tg"), validation.band(m.platform, "pp")
                calibration = None
                if cal is not None:
                    own = cal.measured(model, quant)
                    if cal.tg_ratio:
                        tg_stats = (CIBand.of(own.tg128, own.tg_ci95) if own and own.tg128
                                    else validation.calibrated_band(m.platform, "tg"))
                    if cal.pp_ratio:
                        pp_stats = (CIBand.of(own.pp512, own.pp_ci95) if own and own.pp512
                                    else validation.calibrated_band(m.platform, "pp"))
                    calibration = {"tg_ratio": cal.tg_ratio, "pp_ratio": cal.pp_ratio, "from": cal.sources(),
                                   "measured_here": own is not None,
                                   "band_basis": "the run's 95% CI" if own else
                                   "calibrated reference machines carried to their other models and quants"}
                entry: dict[str, Any] = {
                    "label": PROJECTED, "hardware": m.id, "hardware_name": m.name, "platform": m.platform,
                    "bandwidth_gbps": m.bandwidth_gbps, "bandwidth_basis": m.bandwidth_basis,
                    "compute": m.compute()[0], "compute_unit": m.compute()[1], "machine_note": m.note,
                    "model": model, "quant": quant, "context": context, "output_tokens": output_tokens,
                    "memory_bytes": available, "memory_source": where, "calibration": calibration,
                    "era": p.fit.era if p.fit else None,
                    "pp512": _figure(p.pp512, pp_stats, p.missing.get("pp"), "pp"),
                    "tg128": _figure(p.tg128, tg_stats, p.missing.get("tg"), "tg"),
                    "tg": _figure(p.tg, tg_stats, p.missing.get("tg"), "tg"),
                    "levels": [],
                }
                batched_stats = validation.band(m.platform, "batched")
                for lvl in p.levels:
                    verdict = (check_fit(spec, quant, context, lvl.concurrency, available, "llamacpp")
                               if available else None)
                    fits_here = verdict.fits if verdict else None
                    # a batched figure's error: the batch-1 band plus what batching adds
                    agg_stats = tg_stats if lvl.concurrency == 1 else Compounded(tg_stats, batched_stats)
                    level: dict[str, Any] = {"concurrency": lvl.concurrency, "fits": fits_here,
                                             "fit_reason": verdict.reason if verdict else f"memory unknown ({where})",
                                             "bound": lvl.bound, "note": lvl.why,
                                             "aggregate_tps": _figure(lvl.aggregate_tps, agg_stats, lvl.why, "batched"),
                                             "request_output_tps": lvl.output_tps, "request_input_tps": lvl.input_tps,
                                             "cost": None, "cost_na": None}
                    if fits_here is False:
                        level["cost_na"] = "does not fit in memory"
                    elif lvl.output_tps and lvl.input_tps is not None:     # a request stream has both
                        prompt = max(context - output_tokens, 0)
                        cost, why = price_projection(m, model, lvl.output_tps, lvl.input_tps, prompt, output_tokens,
                                                     f"{lvl.concurrency} x ({prompt} in / {output_tokens} out)",
                                                     profiles, chosen, prices, pricing, [lvl.why] if lvl.why else [])
                        if cost:
                            band = stream_band(level["aggregate_tps"]["band"], entry["pp512"]["band"],
                                               lvl.prefill_counted)
                            cost["usd_band"] = band
                            cost["usd_low"], cost["usd_high"] = band_range(cost["usd_per_m_blended"], band, inverse=True)
                        level["cost"], level["cost_na"] = cost, why
                    else:
                        level["cost_na"] = lvl.why or "no projected throughput"
                    entry["levels"].append(level)
                out.append(entry)
    return out


def _num(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" if v >= 10 else f"{v:.3g}"


def _cell(fig: dict) -> str:
    if fig["value"] is None:
        return "n/a"
    return _num(fig["value"]) + (f" ±{fig['band']:.0%}" if fig["band"] is not None else " (unvalidated)")


def _usd(v: float | None) -> str:
    return "n/a" if v is None else (f"${v:,.2f}" if v >= 1 else f"${v:.3g}")


def _print(console, doc: dict, breakeven: bool) -> None:
    from rich.table import Table

    console.print(f"[bold]{PROJECTED}[/bold], not measured: {doc['note']}", highlight=False)
    for p, f in doc["fits"].items():
        console.print(f"  {p}: {_fit_line(f)}", highlight=False)
    ctx = doc['inputs']['context']
    table = Table(title=f"{PROJECTED} llama.cpp figures (± = the band validation earned: p90 of the held-out error; "
                        f"calibrated rows: their run's CI or the calibrated class's band), context {ctx} tokens, "
                        f"requests of {doc['inputs']['prompt_tokens']} in / {doc['inputs']['output_tokens']} out",
                  title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("hardware", "left"), ("model", "left"), ("pp512 tok/s", "right"), ("tg128 tok/s", "right"),
        ("users", "right"), (f"aggregate tok/s @{ctx}", "right"), ("fits", "left"), ("$/1M blended", "right"),
        ("break-even", "right"))
    for col, justify in columns:
        table.add_column(col, justify=justify, overflow="fold")
    against = {}
    for e in doc["projections"]:
        for i, lvl in enumerate(e["levels"]):
            c = lvl["cost"]
            cost = "n/a" if not c else _usd(c["usd_per_m_blended"]) + (
                "" if c.get("usd_low") is None else f" (>= {_usd(c['usd_low'])}: no upper bound)"
                if c.get("usd_high") is None else f" ({_usd(c['usd_low'])}-{_usd(c['usd_high'])})")
            be = "n/a"
            if c and c["compare"]:
                a = c["compare"]["cheapest"]
                against[e["model"]] = f"{a['provider']} {a['model']}, {_usd(a['blended'])} blended ({c['compare']['what']})"
                row = next(x for x in c["apis"] if x["provider"] == a["provider"] and x["model"] == a["model"])
                be = (f"never ({row['never'].split(' utilisation')[0].replace('would need ', '')})"
                      if row["never"] and "utilisation" in row["never"] else "never" if row["never"]
                      else f"{_tokens(row['breakeven_tokens_per_month'])}/month")
            fit = "n/a" if lvl["fits"] is None else "yes" if lvl["fits"] else "NO"
            first = i == 0
            hw = e["hardware"] + (" (calibrated)" if e["calibration"] else "")
            table.add_row(hw if first else "", f"{e['model']} {e['quant']}" if first else "",
                          _cell(e["pp512"]) if first else "", _cell(e["tg128"]) if first else "", str(lvl["concurrency"]),
                          _cell(lvl["aggregate_tps"]) if lvl["fits"] is not False else "does not fit", fit, cost, be)
    console.print(table)
    for model, api in against.items():
        console.print(f"  break-even: tokens per month (3 in : 1 out, machine held all month) above which {model} "
                      f"here costs less than the cheapest API row: {api}", highlight=False, soft_wrap=True)
    notes = {f"{e['hardware']}: {n}" for e in doc["projections"] for n in
             [e["pp512"]["note"], e["tg"]["note"], e["machine_note"]] + [lv["note"] for lv in e["levels"]] if n}
    notes |= {f"{e['hardware']}: calibrated on {', '.join(e['calibration']['from'])}: every figure x "
              f"{_ratio(e['calibration']['tg_ratio'])} (decode), x {_ratio(e['calibration']['pp_ratio'])} (prefill)"
              for e in doc["projections"] if e["calibration"]}
    notes |= {f"{e['hardware']}: cost n/a: {lv['cost_na']}" for e in doc["projections"] for lv in e["levels"]
              if lv["cost_na"] and lv["fits"] is not False}
    for n in sorted(notes):
        console.print(f"  note  {n}", highlight=False, soft_wrap=True)
    _print_validation(console, doc["validation"])
    if doc.get("calibration"):
        _print_calibration(console, doc["calibration"])
    for w in doc["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False, soft_wrap=True)
    if breakeven:
        from dashboards.terminal import breakeven_table

        for e in doc["projections"]:
            for lvl in e["levels"]:
                if lvl["cost"]:
                    t = breakeven_table({"cost": lvl["cost"], "model": e["model"], "quant": e["quant"],
                                         "label": f"{PROJECTED} {e['hardware']} at {lvl['concurrency']} user(s)"})
                    console.print(t)


def _ratio(v: float | None) -> str:
    return "1 (nothing measured to calibrate it)" if v is None else f"{v:.3g}"


def _tokens(v: float) -> str:
    from dashboards.terminal import _tokens as fmt

    return fmt(v)


def _fit_line(f: dict) -> str:
    parts = []
    if f["eta_bw"] is not None:
        fams = ", ".join(f"{k} {v:.2f}" for k, v in f["eta_family"].items()) or f"{f['eta_bw']:.2f}"
        per_core = f", a thread reads {f['per_core_gbps']:g} GB/s" if f.get("per_core_gbps") else ""
        if f.get("thread_s_per_gb"):
            per_core += ", and computes " + ", ".join(f"{k} {v * 1e3:.0f}" for k, v in f["thread_s_per_gb"].items()) \
                        + " ms per GB"
        parts.append(f"decode s/token = bytes / (eta x bandwidth) + {f['t0_s'] * 1e3:.2f} ms, eta by quant family "
                     f"{fams}{per_core} ({f['tg_machines']} machines, builds of {f['era']})")
    if f["eta_fl"] is not None:
        unit = {"FLOP/s": "of dense FLOP/s"}.get(f["compute_unit"], f"FLOP/s per {f['compute_unit'][:-1]}")
        val = f"{f['eta_fl']:.2f}" if f["compute_unit"] == "FLOP/s" else f"{f['eta_fl'] / 1e9:.0f} G"
        parts.append(f"prefill {val} {unit} ({f['pp_machines']} machines)")
    else:
        parts.append("prefill not fit (no rows with a compute figure)")
    if f["beta"] is not None:
        parts.append(f"batching keeps B^-{f['beta']:.3f} ({f['beta_from']})")
    return "; ".join(parts)


def _print_validation(console, v: dict) -> None:
    from rich.table import Table

    table = Table(title="Validation: rows held out by machine, source, quant and model (fit without them, project "
                        "them); band = p90 of the worst way; coverage = held-out rows inside the band the other "
                        "groups earned", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("class", "left"), ("figure", "left"), ("machines", "right"), ("rows", "right"),
        ("median |error|", "right"), ("band (p90)", "right"), ("coverage", "right"), ("target", "left"),
        ("verdict", "left"))
    for col, justify in columns:
        table.add_column(col, justify=justify, overflow="fold")
    for s in v["classes"]:
        target = " / ".join(x for x in (f"median <= {s['target_median']:.0%}" if s["target_median"] is not None else "",
                                        f"p90 <= {s['target_p90']:.0%}" if s["target_p90"] is not None else "",
                                        f"coverage >= {v['min_coverage']:.0%}") if x)
        verdict = ("unvalidated: " + s["unvalidated"] if s["unvalidated"] else
                   "[red]misses: " + "; ".join(s["misses"]) + "[/red]" if s["misses"] else "meets the target")
        table.add_row(s["platform"], s["kind"], str(s["machines"]), str(s["rows"]), f"{s['median']:.1%}",
                      f"{s['p90']:.1%} ({s['worst']})", "n/a" if s["coverage"] is None else f"{s['coverage']:.0%}",
                      target, verdict)
    console.print(table)


def _print_calibration(console, cal: dict) -> None:
    where = f" (found in {', '.join(cal['auto'])})" if cal["auto"] else ""
    console.print(f"Calibrated on your own results{where}: each pulls the projection of the machine it ran on to "
                  f"its measurement, and carries the ratio to that machine's other models and quants:",
                  highlight=False, soft_wrap=True)
    for m in cal["measured"]:
        for kind in ("tg", "pp512"):
            if m[kind]["measured"] is None:
                continue
            ref, ci = m[kind]["reference_only"], m[kind]["ci95"]
            console.print(f"  {m['machine']} ({m['model']} {m['quant']}, bandwidth {m['bandwidth_basis']}): {kind} "
                          f"measured {_num(m[kind]['measured'])} tok/s"
                          + (f" (95% CI {_num(ci[0])}-{_num(ci[1])})" if ci else "")
                          + f"; projected from its specs and the published reference set alone {_num(ref)}"
                          + (f" ({ref / m[kind]['measured'] - 1:+.0%})" if ref else ""),
                          highlight=False, soft_wrap=True)
    for d in cal["moved"]:
        if d["change"]:
            console.print(f"  {d['hardware']} {d['model']} {d['quant']} {d['figure']}: {_num(d['reference_only'])} -> "
                          f"{_num(d['calibrated'])} ({d['change']:+.1%})", highlight=False)
    still = sorted({d["hardware"] for d in cal["moved"]} - {d["hardware"] for d in cal["moved"] if d["change"]})
    if still:
        console.print(f"  unchanged: {', '.join(still)} (a result calibrates only the machine it was measured on)",
                      highlight=False, soft_wrap=True)
    if not cal["calibrated"]:
        console.print("  no result of a projected machine: nothing was calibrated", highlight=False)
    for s in cal["skipped"]:
        console.print(f"  skipped: {s}", highlight=False, soft_wrap=True)


def _moved(before: list[dict], after: list[dict]) -> list[dict]:
    out = []
    for b, a in zip(before, after, strict=True):
        pairs = [("tg128", b["tg128"], a["tg128"]), ("tg", b["tg"], a["tg"]), ("pp512", b["pp512"], a["pp512"])]
        pairs += [(f"aggregate @{lb['concurrency']}", lb["aggregate_tps"], la["aggregate_tps"])
                  for lb, la in zip(b["levels"], a["levels"], strict=True)]
        for name, fb, fa in pairs:
            if fb["value"] and fa["value"]:
                out.append({"hardware": b["hardware"], "model": b["model"], "quant": b["quant"], "figure": name,
                            "reference_only": fb["value"], "calibrated": fa["value"],
                            "change": fa["value"] / fb["value"] - 1})
    return out


# a cited document: research notes or a data file, maybe dated, and where in it (a table, a row)
_CITED = re.compile(r"(?:[\w.-]+/)?(?P<doc>[\w.-]+?)(?:-(?P<date>\d{4}-\d{2}(?:-\d{2})?))?(?P<ext>\.md|\.json)"
                    r"(?:\s+(?:table\s+)?(?P<where>(?:[A-Z]\d+(?:/[A-Z]\d+)?|cpus|machine [\w-]+)"
                    r"(?:\s+rows?\s+[A-Z]\d+(?:-[A-Z]\d+)?)?))?")


def short_source(source: str) -> str:
    """The document a row is restated from, its date and where in it ("reference data 2026-12 C1"):
    a source can run to a paragraph, which `bench project --list --json` keeps whole."""
    found = _CITED.search(source)
    if found is None:
        return re.split(r" \(|; ", source, maxsplit=1)[0]
    # research notes (.md) by their title's words, which can wrap; a data file by its name
    doc = found["doc"] + found["ext"] if found["ext"] == ".json" else found["doc"].replace("-", " ")
    return " ".join(part for part in (doc, found["date"], found["where"]) if part)


def _list_machines(as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dashboards.widths import FirstThatFits
    from hardware.machines import machines

    rows = list(machines().values())
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in rows], indent=2))
        return
    title = "Hardware rows (hardware/specs.json machines); * = candidate (the default --hardware)"
    notes = ["source: the document each row's figures are restated from, its date and table; "
             "bench project --list --json gives each source in full"]

    def figures(m) -> dict[str, str]:
        c, unit = m.compute()
        return {"platform": m.platform, "GB/s": f"{m.bandwidth_gbps:g}",
                "compute": "n/a" if c is None else f"{c / 1e12:,.0f} TFLOPS" if unit == "FLOP/s" else f"{c} {unit}",
                "memory": "n/a" if m.memory_gib is None else f"{m.memory_gib:g} GiB",
                "TDP W": "n/a" if m.tdp_w is None else f"{m.tdp_w:g}"}

    def table(wrap: int | None) -> Table:
        """One line per row (wrap None), or the name and the source wrapped at `wrap` columns."""
        t = Table(title=title)
        for col in ("id", "name", "platform", "GB/s", "compute", "memory", "TDP W", "source"):
            wraps = wrap is not None and col in ("name", "source")
            t.add_column(col, justify="right" if col in ("GB/s", "TDP W") else "left", no_wrap=not wraps,
                         max_width=(wrap if col == "name" else 14) if wraps else None, overflow="fold")
        for m in rows:
            t.add_row(("* " if m.candidate else "  ") + m.id, m.name, *figures(m).values(), short_source(m.source))
        return t

    def stacked() -> Table:
        """The name under the id, the bandwidth under the memory, the TDP under the compute."""
        t = Table(title=title)
        ids = max(len(m.id) for m in rows) + 2
        t.add_column("machine", max_width=ids, overflow="fold")
        t.add_column("platform", no_wrap=True)
        t.add_column("memory\nbandwidth", no_wrap=True)
        t.add_column("compute\npower", no_wrap=True)
        t.add_column("source", max_width=14, overflow="fold")
        for m in rows:
            f = figures(m)
            # Text, not markup: a name may hold brackets
            machine = Text(("* " if m.candidate else "  ") + m.id + "\n") + Text(m.name, style="dim")
            t.add_row(machine, m.platform,
                      f"{f['memory']}\n{f['GB/s']} GB/s", f"{f['compute']}\n" + ("TDP n/a" if m.tdp_w is None
                                                                               else f"TDP {f['TDP W']} W"),
                      short_source(m.source))
        return t

    Console().print(FirstThatFits(table(None), table(24), stacked(), notes=notes))


@click.command("project")
@click.option("--hardware", "hardware_ids", default=None,
              help="Comma-separated hardware ids (bench project --list), or `here` for this machine from its specs. "
                   "[default: every candidate]")
@click.option("--model", "model_ids", default=None, help=f"Comma-separated catalog ids. [default: {DEFAULT_MODEL}, "
                                                         "or the --from result's model]")
@click.option("--quant", "quants", default=None, help=f"Comma-separated GGUF quants. [default: {DEFAULT_QUANT}, or the "
                                                      "--from result's]")
@click.option("--concurrency", default="1", show_default=True, help="Comma-separated numbers of sequences decoding at once.")
@click.option("--context", type=int, default=4096, show_default=True,
              help="Tokens per sequence (prompt + output): the KV cache decode reads, and the fit check's context.")
@click.option("--output-tokens", type=int, default=256, show_default=True,
              help="Of --context, the tokens each request generates (the rest is its prompt): the request stream "
                   "that $/1M prices.")
@click.option("--from", "from_paths", multiple=True, type=click.Path(path_type=Path),
              help="Measured result(s) (files or directories, repeatable) that join the reference set: calibrate on "
                   "your own machines; says how far each answer moved.")
@click.option("--memory", default=None, help="Memory the engine may use on every machine, e.g. 384GB, for the fit check "
                                             "[default: each row's memory].")
@click.option("--profile", "profile_choices", multiple=True, metavar="ID=NAME",
              help="Cost profile for one hardware id, e.g. m4-max-40c=mac-studio-m4-max (repeatable).")
@click.option("--profiles-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="JSON or CSV cost profiles to add or override.")
@click.option("--prices", "prices_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="JSON or CSV API price rows to add or override.")
@click.option("--list", "list_machines", is_flag=True, help="List the hardware rows and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@cost_options(breakeven=True)
def project_command(hardware_ids, model_ids, quants, concurrency, context, output_tokens, from_paths, memory,
                    profile_choices, profiles_file, prices_file, list_machines, as_json, **cost):
    """PROJECTED (not measured) llama.cpp throughput, memory fit and cost on hardware you do not have,
    from published measurements and your own results; validated by leaving one machine out."""
    if list_machines:
        _list_machines(as_json)
        return
    from bench.commands.cost_options import cost_settings
    from bench.commands.models import parse_memory
    from dashboards.prices import load_prices
    from dashboards.profiles import load_profiles
    from dashboards.rows import parse_profile_choices
    from hardware.calibration import calibrate
    from hardware.machines import candidates, machines, resolve
    from hardware.projection import fit
    from hardware.reference import reference_rows
    from hardware.validation import validate
    from models.catalog import get_model
    from models.formats import get_format

    pricing, breakeven = cost_settings(cost)
    if context <= 0 or not 0 < output_tokens <= context:
        raise BenchError(f"--context ({context}) must be positive and --output-tokens ({output_tokens}) in 1..context",
                         "for example --context 4096 --output-tokens 256")
    levels = _positive_ints(concurrency, "--concurrency")
    mem = parse_memory(memory) if memory else None
    ids = _split(hardware_ids)
    # `--hardware here` calibrates on this machine's own results in ./results when there are any
    auto_from = [] if from_paths or "here" not in [i.lower() for i in ids] or not DEFAULT_RESULTS.is_dir() \
        else [DEFAULT_RESULTS]
    cal = load_calibration(list(from_paths) or auto_from, required=not auto_from) if from_paths or auto_from else None
    measured = cal.rows if cal else []
    models = _split(model_ids) or list(dict.fromkeys(r.model for r in measured)) or [DEFAULT_MODEL]
    quant_list = _split(quants) or list(dict.fromkeys(r.quant for r in measured)) or [DEFAULT_QUANT]
    models = [get_model(m).id for m in dict.fromkeys(models)]
    quant_list = [get_format("llamacpp", q).quant for q in dict.fromkeys(quant_list)]
    targets = [resolve(h) for h in dict.fromkeys(ids)] if ids else candidates()
    if cal and not ids:
        targets = list(cal.machines.values()) + targets
    known = {**machines(), **(cal.machines if cal else {}), **{m.id: m for m in targets}}
    profiles = load_profiles(profiles_file)
    chosen = parse_profile_choices(list(profile_choices), profiles)
    prices = load_prices(prices_file)

    ref = list(reference_rows())
    fits, val = fit(ref, known), validate(ref, known)
    calibrations = {}
    for t in targets:
        own = cal.rows_of(t) if cal else []
        if own:
            calibrations[t.id] = calibrate(fits.get(t.platform), t, own)
    args = (targets, models, quant_list, context, levels, output_tokens, fits, val, mem, pricing, profiles, chosen,
            prices)
    rows_used = projection_rows(*args, calibrations)
    calibration = None
    if cal:
        ref_rows = projection_rows(*args) if calibrations else rows_used
        calibration = {"measured": [_measured_vs_reference(r, cal.machines[r.machine], fits) for r in cal.rows
                                    if r.machine in cal.machines],
                       "calibrated": {k: {"tg_ratio": c.tg_ratio, "pp_ratio": c.pp_ratio, "from": c.sources()}
                                      for k, c in calibrations.items()},
                       "moved": _moved(ref_rows, rows_used), "skipped": cal.skipped,
                       "auto": [str(p) for p in auto_from]}
    n_cal = sum(len(c.rows) for c in calibrations.values())
    eras = sorted({f"{p}: llama.cpp builds of {f.era}" for p, f in fits.items() if p in {t.platform for t in targets}})
    doc = {
        "label": PROJECTED, "kind": "projection",
        "note": (f"llama.cpp on hardware not run here, from {len(ref)} published reference rows"
                 + (f", calibrated on {n_cal} of your measured result(s) for the machine(s) they ran on"
                    if n_cal else "")
                 + ". Each figure carries the band its validation earned (the p90 error on held-out rows), "
                   "or says it is unvalidated; figures speak for " + "; ".join(eras) + "."),
        "inputs": {"hardware": [m.id for m in targets], "models": models, "quants": quant_list, "context": context,
                   "prompt_tokens": context - output_tokens, "output_tokens": output_tokens, "concurrency": levels,
                   "from": [str(p) for p in (list(from_paths) or auto_from)]},
        "fits": {p: f.to_dict() for p, f in fits.items()},
        "validation": val.to_dict(),
        "projections": rows_used,
        "calibration": calibration,
        "warnings": [f"{line}: figures of that class carry a band wider than the target" for line in val.misses()]
                    + [f"{m.platform}: {s.unvalidated}" for m in {t.platform: t for t in targets}.values()
                       for s in [val.band(m.platform, "tg")] if s and s.unvalidated],
    }
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=float))
    else:
        from rich.console import Console

        _print(Console(), doc, breakeven)


def _measured_vs_reference(row, machine, fits) -> dict:
    """This machine projected from its specs and the reference set alone, against what it measured."""
    from hardware.projection import compute_of, model_flops, predict_pp, row_tg

    f = fits.get(row.platform)
    tg = row_tg(f, row, machine) if f and row.tg128 is not None else None
    pp = predict_pp(f, compute_of(row, machine), model_flops(row.model, row.pp_tokens / 2)) if f else None
    return {"machine": machine.name, "model": row.model, "quant": row.quant, "bandwidth_gbps": machine.bandwidth_gbps,
            "bandwidth_basis": machine.bandwidth_basis, "source": row.source,
            "tg": {"measured": row.tg128, "ci95": row.tg_ci95, "reference_only": tg},
            "pp512": {"measured": row.pp512, "ci95": row.pp_ci95, "reference_only": pp, "prompt_tokens": row.pp_tokens}}
