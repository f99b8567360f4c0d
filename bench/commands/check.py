"""`bench check RESULT...`: the physics checks (dashboards/physics.py) on result files; non-zero on a failure."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def check_command(paths):
    """Physics checks on result files: decode under the bandwidth ceiling, watts between idle
    and the power limit, device memory consistent with the engine's own figure."""
    from contract.errors import BenchError
    from contract.result import RunResult
    from contract.storage import load_documents
    from dashboards.physics import FAIL, check_result

    results, warnings = load_documents(list(paths))
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    if not results:
        raise BenchError("no result files to check", "pass result .json files or a results directory")
    failed = False
    for path, doc in results:
        assert isinstance(doc, RunResult), "load_documents keeps bench run results only by default"
        click.echo(f"{path.name} ({doc.status})")
        for c in check_result(doc):
            failed |= c.status == FAIL
            click.echo(f"  {c.status:4}  {c.name}: {c.detail}")
    if failed:
        raise click.exceptions.Exit(1)
