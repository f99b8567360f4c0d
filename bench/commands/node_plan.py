"""What a RunRequest would do on this machine, measuring nothing:
`python -m bench.commands.node_plan [REQUEST_FILE]` (the request as JSON, from stdin without a
file), which prints a RunPlan (scenarios/request.py) as JSON. `bench fleet` asks each node this
before it sends work (bench/fleet/remote.py).

The backend and why, where the fit check's figures come from, and each model x quant with the
reason it would be skipped. A request that is not one, or names an unknown model, is one line on
stderr and exit code 2, as `bench run` gives.
"""

from __future__ import annotations

import click

from bench.commands.main import one_line_errors


@click.command()
@click.option("--debug", is_flag=True, help="Full tracebacks.")
@click.argument("request_file", type=click.File("r", encoding="utf-8"), default="-")
@click.pass_context
def node_plan(ctx, debug: bool, request_file) -> None:
    """Print what the RunRequest in REQUEST_FILE (default: stdin) would run here."""
    from bench.commands.run import plan_here
    from scenarios.request import RunRequest

    ctx.ensure_object(dict)["debug"] = debug
    request = RunRequest.from_json(request_file.read(), f"the run request {request_file.name}")
    click.echo(plan_here(request).model_dump_json())


def main() -> None:
    one_line_errors(node_plan)


if __name__ == "__main__":
    main()
