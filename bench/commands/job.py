"""A run's child process: `python -m bench.commands.job [--debug] JOB_FILE`.

It measures the one model x quant its parent (`bench run`, bench/commands/run.py) checked and
wrote as a job file (bench/isolation.py): a RunRequest (scenarios/request.py), read as the parent
wrote it; nothing on the command line is parsed again. A fleet node runs its work the same way
(bench/fleet/remote.py). It writes the result as usual, prints its tables (or its JSON) and exits
with the run's code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from bench.commands.main import one_line_errors


@click.command()
@click.option("--debug", is_flag=True, help="Full tracebacks and engine logs.")
@click.argument("job_file", type=click.Path(path_type=Path))
@click.pass_context
def job(ctx, debug: bool, job_file: Path) -> None:
    """Measure the job in JOB_FILE in this process."""
    from bench.commands.cost_options import cost_settings
    from bench.isolation import API_KEY_ENV, clean_up_if_orphaned, read_job
    from bench.stop_signals import Stopped, exit_code_of, name_of, stop_on_signals
    from bench.streams import tolerant_stdio
    from engines import backend_class

    ctx.ensure_object(dict)["debug"] = debug
    with tolerant_stdio(), stop_on_signals():
        try:
            request = read_job(job_file)
            api_key = None
            if not backend_class(request.backend).capabilities.local_model:
                api_key = os.environ.get(API_KEY_ENV) or None     # never in the job file
            pricing, breakeven = cost_settings(request.output.cost)
            _measure(ctx, request, api_key, pricing, breakeven, request.output.as_json)
        except Stopped as stop:      # before the measurement started, or after its result was written
            click.echo(f"stopped by {name_of(stop.signum)}", err=True)
            sys.exit(exit_code_of(stop.signum))
        finally:
            clean_up_if_orphaned()


def _measure(ctx, config, api_key, pricing, breakeven: bool, as_json: bool) -> None:
    """Run the request `config` in this process, print its tables (or its JSON) and exit with its code."""
    from bench.measurement import RunMeasurement
    from bench.run import engine_for, execute
    from bench.ui import RichUI

    ui = RichUI(quiet=as_json)
    backend = engine_for(config, api_key)       # a missing engine is reported before any build
    outcome = execute(config, ui, backend=backend, measurement=RunMeasurement)
    from bench.isolation import report_outcome
    from dashboards.report import write_run_report

    doc = outcome.document
    report_outcome(outcome.path, doc.status.value)
    report = write_run_report(outcome.path, settings=pricing)
    if as_json:
        click.echo(json.dumps(outcome.result, indent=2))
    else:
        from dashboards.run_tables import chat_session_table, load_summary_table, run_summary_table
        for table in (run_summary_table(doc), load_summary_table(doc), chat_session_table(doc)):
            if table is not None:
                ui.console.print(table)
        from dashboards.terminal import print_cost
        print_cost(ui.console, [(outcome.path, doc)], pricing, breakeven)
        for err in doc.errors:
            ui.console.print(f"[red]error:[/red] {err}", highlight=False)
        ui.console.print(f"result: {outcome.path}", highlight=False)
        if report:
            ui.console.print(f"report: {report}", highlight=False)
    if outcome.warning:
        click.echo(f"warning: {outcome.warning}", err=True)
    if ctx.obj["debug"] and doc.traceback:
        click.echo(doc.traceback, err=True)
    sys.exit(outcome.exit_code)


def main() -> None:
    one_line_errors(job)


if __name__ == "__main__":
    main()
