"""What `bench run ARGS` would do on this machine, as JSON, measuring nothing:
`python -m bench.commands.node_plan ARGS` (what `bench fleet` asks each node before it sends work).

The backend and why, where the fit check's figures come from, and each model x quant with the
reason it would be skipped. Bad input is one line on stderr and exit code 2, as `bench run` gives.
"""

from __future__ import annotations

import json

import click

from bench.commands.main import one_line_errors
from bench.commands.run import check_fits_here, parse_run, run_options


@click.command()
@click.option("--debug", is_flag=True, help="Full tracebacks.")
@run_options
@click.pass_context
def node_plan(ctx, debug: bool, **options) -> None:
    """Print what `bench run` with these options would run here."""
    ctx.ensure_object(dict)["debug"] = debug
    parsed = parse_run(ctx, **options)
    where = check_fits_here(parsed, ctx.params)
    click.echo(json.dumps({"backend": parsed.config.backend, "backend_reason": parsed.config.backend_reason,
                           "fit_source": where, "combinations": [vars(c) for c in parsed.combos]}))


def main() -> None:
    one_line_errors(node_plan)


if __name__ == "__main__":
    main()
