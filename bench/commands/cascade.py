"""`bench cascade`: a small model first, an API where its answer fails the task's own check."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bench.commands.cost_options import cost_options


@click.command()
@click.argument("small", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("api", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--prices", "prices_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Your own dated API prices (bench prices --update format), used with the built-in table.")
@click.option("--api-model", default=None,
              help="The API's model in the price table, where the second outcome's server stood in for it "
                   "[default: the model it served].")
@click.option("--api-provider", default=None, help="Its provider, where several list the model.")
@click.option("--requests-per-day", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Also the small-model boxes this demand needs (tasks one at a time, at the measured seconds each).")
@click.option("--shape", default="flat", show_default=True,
              help="With --requests-per-day: flat, office-hours, or 24 hourly weights (as bench size).")
@click.option("--n-plus-one", is_flag=True, help="With --requests-per-day: one spare box.")
@click.option("--json", "as_json", is_flag=True, help="Print the three arms as JSON.")
@cost_options()
def cascade_command(small, api, prices_file, api_model, api_provider, requests_per_day, shape, n_plus_one, as_json,
                    **cost):
    """Accuracy and $ per 1,000 tasks of a cascade: two bench eval outcomes of one task file, the small model's and an API's."""
    from rich.console import Console
    from rich.table import Table

    from bench.commands.cost_options import cost_settings
    from bench.evals.cascade import cascade, small_boxes
    from contract import documents
    from contract.errors import BenchError
    from contract.result import Outcome
    from dashboards.prices import load_prices
    from dashboards.profiles import load_profiles
    from dashboards.sizing import Demand, day_shape
    from dashboards.task_cost import at_api_price, eval_cost

    settings, _ = cost_settings(cost)
    docs = []
    for path in (small, api):
        doc = documents.read(path)
        if not isinstance(doc, Outcome):
            raise BenchError(f"{path} is a bench run result, not a bench eval outcome", "pass two files bench eval wrote")
        docs.append(doc)
    prices, profiles = load_prices(prices_file), load_profiles()
    if docs[0].eval is None or docs[1].eval is None:
        raise BenchError("the cascade reads two bench eval outcomes", "pass two files bench eval wrote")
    small_cost = eval_cost(docs[0], settings, profiles, prices)
    api_cost = at_api_price(docs[1].eval, prices, api_model, api_provider)     # a list price, wherever it was served
    row: dict | None = api_cost.get("api")
    arms = cascade(docs[0], docs[1], small_cost, api_cost, (row["input"], row["output"]) if row else None)
    if requests_per_day is not None:
        try:
            hours = day_shape(shape.strip().lower())
        except ValueError as exc:
            raise BenchError(str(exc), "pass --shape flat, office-hours or 24 weights") from None
        boxes = small_boxes(docs[0], Demand(requests_per_day, 0, 0, hours), n_plus_one)
        arms[0].boxes = arms[2].boxes = boxes
    if as_json:
        click.echo(json.dumps({"tasks_file": docs[0].eval.tasks_file.name if docs[0].eval else None,
                               "arms": [a.to_dict() for a in arms]}, indent=2))
        return
    table = Table(title=f"Cascade on {docs[0].eval.tasks_file.name if docs[0].eval else '?'}", title_justify="left")
    columns = ["answered by", "accuracy (Wilson 95%)", "$/1k tasks", "to the API"]
    if requests_per_day is not None:
        columns.append("boxes")
    for name in columns:
        table.add_column(name, justify="left" if name == "answered by" else "right")
    for arm in arms:
        d = arm.to_dict()
        lo, hi = d["wilson95"]
        cells = [arm.name, f"{arm.accuracy:.1%}\n[dim]{lo:.0%}-{hi:.0%}[/dim]",
                 "n/a" if arm.usd_per_1k_tasks is None else f"{arm.usd_per_1k_tasks:.4g}",
                 f"{arm.to_api}/{arm.n}" if "cascade" in arm.name else ""]
        if requests_per_day is not None:
            cells.append("API" if arm is arms[1] else "n/a" if arm.boxes is None
                         else f"{arm.boxes[1]}\n[dim]{arm.boxes[0]}-{arm.boxes[2]}[/dim]")
        table.add_row(*cells)
    console = Console()
    console.print(table)
    for arm in arms:
        if arm.why:
            console.print(f"{arm.name}: $/1k tasks n/a ({arm.why})", highlight=False)
