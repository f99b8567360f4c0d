"""`bench size`: how many boxes a demand needs, what they cost a month, and what the API would
have billed for the same requests."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bench.commands.cost_options import cost_options


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--workload", required=True,
              help="The workload profile the demand is made of, as bench run measured it (e.g. ticket-triage).")
@click.option("--workloads", type=click.Path(path_type=Path), default=None,
              help="TOML or JSON file with your own workload profiles.")
@click.option("--requests-per-day", type=float, default=None, help="The demand: requests a day.")
@click.option("--trace", "trace_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The demand from a trace (Mooncake JSONL, Azure's CSV, or JSONL of timestamp, input_tokens, "
                   "output_tokens): its requests a day, mean lengths and day's shape by hour.")
@click.option("--tokens-per-month", type=float, default=None,
              help="The demand: tokens a month (input and output), as requests of the workload's mean lengths.")
@click.option("--shape", default="flat", show_default=True,
              help="How the day's requests spread over its hours: flat, office-hours (80% in 09:00-18:00), or 24 "
                   "comma-separated hourly weights. With --trace, the trace's own.")
@click.option("--slo", default=None,
              help="Latency bound a box's capacity must meet: default (p99 ttft 2 s, tpot 100 ms), interactive, or "
                   "ttft=..,tpot=... [default: the SLO each run was measured against]")
@click.option("--n-plus-one", is_flag=True, help="One spare box beyond what the peak hour needs.")
@click.option("--hardware", "hardware_ids", default=None,
              help="Comma-separated hardware ids (bench project --list) to size PROJECTED beside the measured boxes.")
@click.option("--model", "model_ids", default=None,
              help="Projected boxes: comma-separated catalog models. [default: the measured results' catalog models, "
                   "else llama-3.1-8b]")
@click.option("--quant", "quants", default=None,
              help="Projected boxes: comma-separated GGUF quants. [default: the measured results', else Q4_K_M]")
@click.option("--min-accuracy", type=click.FloatRange(0, 1), default=None,
              help="Leave out a model x quant whose bench eval accuracy (an outcome beside the results) is below this "
                   "fraction, e.g. 0.95.")
@click.option("--max-kld", type=click.FloatRange(0), default=None,
              help="Leave out a quant whose bench quality KL divergence from its reference is above this.")
@click.option("--json", "as_json", is_flag=True, help="Print the size document (contract/size.py) as JSON.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the size document to this file.")
@cost_options()
def size_command(paths, workload, workloads, requests_per_day, trace_file, tokens_per_month, shape, slo, n_plus_one, hardware_ids,
                 model_ids, quants, min_accuracy, max_kld, as_json, output, **cost):
    """How many boxes a demand needs and what they cost a month, from measured results (default: ./results)."""
    from rich.console import Console

    from bench.commands.cost_options import cost_settings
    from contract.build import utc_now
    from contract.errors import BenchError
    from contract.size import SizeApiEval, SizeCandidate, SizeDemand, SizeResult
    from dashboards.prices import load_prices
    from dashboards.profiles import load_profiles
    from dashboards.rows import build_row
    from dashboards.size_view import (
        QualityFloor,
        api_points,
        demand_for,
        measured_lengths,
        results_docs,
        size_candidate,
        size_rows,
        size_table,
    )
    from dashboards.sizing import day_shape, demand_of_trace
    from scenarios.slo import parse_slo
    from scenarios.traces import read_trace
    from scenarios.workloads import BUILTIN
    from scenarios.workloads import load_profiles as load_workloads

    if cost["utilisation"] is not None:
        raise BenchError("bench size works out the utilisation from the demand",
                         "leave out --utilisation; give the demand with --requests-per-day and --shape")
    settings, _ = cost_settings(cost)
    profiles = {**BUILTIN, **(load_workloads(workloads) if workloads else {})}
    key = workload.strip().lower()
    target = parse_slo(slo) if slo else None
    given = list(paths) or [Path("results")]
    docs, outcomes, warnings = (results_docs(given) if paths or Path("results").is_dir() or not hardware_ids
                                else ([], [], []))
    # a profile's lengths; else a workload the results measured by another kind (chat-session, trace): theirs
    lengths = ((profiles[key].input.mean, profiles[key].output.mean) if key in profiles
               else measured_lengths([d for _, d in docs], key))
    if lengths is None:
        raise BenchError(f"unknown workload {workload!r}",
                         f"use one of {', '.join(profiles)}, a load scenario the results measured (chat-session, trace), "
                         "or pass --workloads FILE")
    try:
        hours = day_shape(shape.strip().lower())
    except ValueError as exc:
        raise BenchError(str(exc), "pass --shape flat, office-hours or 24 weights") from None
    if trace_file is not None:
        if requests_per_day is not None or tokens_per_month is not None:
            raise BenchError("give the demand once", "pass --trace, --requests-per-day or --tokens-per-month")
        traced = read_trace(trace_file)
        try:
            demand = demand_of_trace([r.at_s for r in traced], [r.input_tokens for r in traced],
                                     [r.output_tokens for r in traced])
        except ValueError as exc:
            raise BenchError(f"trace {trace_file}: {exc}", "pass a trace whose requests span some time") from None
        hours = demand.shape
        for name, traced_mean, measured in (("input", demand.input_tokens, lengths[0]),
                                            ("output", demand.output_tokens, lengths[1])):
            if abs(traced_mean - measured) > 0.25 * measured:
                click.echo(f"warning: the trace's mean {name} ({traced_mean:.0f} tokens) is not the {key} workload's "
                           f"({measured:.0f}) the capacity was measured with: measure a profile of the trace's lengths "
                           "(--workloads) for boxes that hold", err=True)
    else:
        demand = demand_for(lengths, requests_per_day, tokens_per_month, hours)
    prices, cost_profiles = load_prices(), load_profiles()
    candidates, skipped = [], []
    for path, doc in docs:
        row = build_row(doc, path, cost_profiles, {}, prices, settings)
        found = size_candidate(doc, row, demand, key, target, prices, n_plus_one, cost_profiles, settings)
        if isinstance(found, str):
            skipped.append(f"{path.name}: {found}")
        else:
            candidates.append(found)
    if hardware_ids:
        candidates += _projected(hardware_ids, model_ids, quants, docs, demand, target, settings, prices, cost_profiles,
                                 n_plus_one, skipped)
    floor, kept = QualityFloor(min_accuracy, max_kld), []
    for c in candidates:
        quality = floor.check(c.model, c.quant, outcomes)
        if isinstance(quality, str):
            skipped.append(f"{c.label} {c.model} {c.quant}: {quality}")
        else:
            c.quality = quality
            kept.append(c)
    candidates = kept
    rows = size_rows(candidates)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    document = SizeResult(schema_version=3, kind="size", created_at=utc_now(), demand=SizeDemand(
        workload=key, requests_per_day=demand.requests_per_day, input_tokens=demand.input_tokens,
        output_tokens=demand.output_tokens, shape=list(hours), peak_rps=demand.peak_rps,
        tokens_per_month=demand.tokens_per_month, slo=None if target is None else target.model_dump(),
        n_plus_one=n_plus_one, min_accuracy=min_accuracy, max_kld=max_kld),
        candidates=[SizeCandidate.model_validate(r) for r in rows],
        api_evals=[SizeApiEval.model_validate(a) for a in api_points(outcomes, prices, demand)], skipped=skipped)
    text = json.dumps(document.model_dump(mode="json"), indent=2)
    if output is not None:
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise BenchError(f"cannot write {output}: {exc.strerror or exc}", "pass -o with a file you can write") \
                from None
    if as_json:
        click.echo(text)
        return
    console = Console()
    console.print(f"demand: {demand.requests_per_day:,.0f} {key} requests a day ({demand.input_tokens:.4g} tokens in, "
                  f"{demand.output_tokens:.4g} out), peak {demand.peak_rps:.3g} requests/s "
                  f"({'by hour, from ' + trace_file.name if trace_file else shape}); "
                  f"SLO {target.name if target else 'as each run measured it' + (', default for PROJECTED' if hardware_ids else '')}"
                  f"{'; N+1' if n_plus_one else ''}", highlight=False)
    if rows:
        for s in skipped:
            click.echo(f"skipped {s}", err=True)
        console.print(size_table(rows))
        for r in rows:
            console.print(f"{r['label']} {r['model']} {r['quant'] or ''}: capacity from {r['level']}; "
                          f"{r['basis']}; {r['apis_what']}, cheapest "
                          + ("n/a" if r["cheapest_api"] is None else
                             f"{r['cheapest_api']['provider']} {r['cheapest_api']['model']}"), highlight=False)
    if not rows:
        raise BenchError("no result can be sized for this demand" + (f" ({skipped[0]})" if skipped else ""),
                         f"measure the workload under load (bench run --scenario {key} --search concurrency)"
                         + (", or relax --min-accuracy / --max-kld" if min_accuracy is not None or max_kld is not None
                            else ""))


PROJECTED_LEVELS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def _projected(hardware_ids, model_ids, quants, docs, demand, slo, settings, prices, profiles, n_plus_one, skipped):
    """bench project's entries for the hardware asked, sized for the demand (dashboards/size_view.py)."""
    from bench.commands.project import DEFAULT_MODEL, DEFAULT_QUANT, _split, projection_rows
    from dashboards.size_view import size_projected
    from hardware.machines import machines, resolve
    from hardware.projection import fit
    from hardware.reference import reference_rows
    from hardware.validation import validate
    from models.catalog import CATALOG, get_model
    from models.formats import get_format
    from scenarios.slo import PRESETS

    measured = [(d.model.id, d.model.quant) for _, d in docs if d.model.id in CATALOG and d.model.quant]
    models = [get_model(m).id for m in dict.fromkeys(_split(model_ids) or [m for m, _ in measured] or [DEFAULT_MODEL])]
    quant_list = [get_format("llamacpp", q).quant
                  for q in dict.fromkeys(_split(quants) or [q for _, q in measured] or [DEFAULT_QUANT])]
    targets = [resolve(h) for h in dict.fromkeys(_split(hardware_ids))]
    known = {**machines(), **{m.id: m for m in targets}}
    ref = list(reference_rows())
    output = max(1, round(demand.output_tokens))
    context = round(demand.input_tokens) + output
    entries = projection_rows(targets, models, quant_list, context, PROJECTED_LEVELS, output, fit(ref, known),
                              validate(ref, known), None, settings, profiles, {}, prices)
    out = []
    for entry in entries:
        found = size_projected(entry, demand, slo or PRESETS["default"], prices, n_plus_one)
        if isinstance(found, str):
            skipped.append(f"PROJECTED {entry['hardware']} {entry['model']} {entry['quant']}: {found}")
        else:
            out.append(found)
    return out
