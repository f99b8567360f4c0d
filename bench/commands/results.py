"""`bench results`: list result files, their costs and the quality and eval outcomes beside them.
A run whose processes all died left a journal: its result is rebuilt here, and said so."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bench.commands.cost_options import cost_options


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@cost_options(breakeven=True)
def results(paths, as_json, **cost):
    """List result files (default: ./results)."""
    from rich.console import Console

    from bench.commands.cost_options import cost_settings
    from bench.outcomes import outcome_lines
    from contract.result import Outcome, RunResult
    from contract.storage import load_documents
    from dashboards.run_tables import result_list_rows, result_list_table
    from dashboards.terminal import print_cost, with_costs

    pricing, breakeven = cost_settings(cost)
    paths = list(paths) or [Path("results")]
    _rebuild_orphans(paths)
    # one read of the directory: runs for the table, quality and eval outcomes for the lines below it
    every, warnings = load_documents(paths, kinds=None)
    loaded = [(f, doc) for f, doc in every if isinstance(doc, RunResult)]
    outcomes = [(f, doc) for f, doc in every if isinstance(doc, Outcome)]
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    rows = result_list_rows(loaded)
    if as_json:
        click.echo(json.dumps(with_costs(rows, loaded, pricing) if breakeven else rows, indent=2))
    else:
        Console().print(result_list_table(rows))
        if breakeven:
            print_cost(Console(), loaded, pricing, breakeven)
        for line in outcome_lines(outcomes):
            click.echo(line)


def _rebuild_orphans(paths: list[Path]) -> None:
    """A run whose processes all died (the parent too) left its journal and no result: write
    the result from the journal, as the parent would have, and say so; remove the parent's
    outcome file it left."""
    from bench.isolation import leftovers
    from bench.journal import orphaned_journals, rebuild
    from contract.enums import Status

    for d in (p for p in paths if p.is_dir()):
        for path in leftovers(d):
            path.unlink(missing_ok=True)
        for journal in orphaned_journals(d):
            done = rebuild(journal, Status.FAILED, "the run's processes ended without writing a result; "
                                                   "rebuilt from its journal by `bench results`")
            if done:
                click.echo(f"warning: rebuilt {done[0]} from the journal of a run that died: "
                           f"{done[1]} measured passes and requests kept", err=True)
