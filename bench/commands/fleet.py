"""`bench fleet run` and `bench fleet status`."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

_RUN_ARGS = {"ignore_unknown_options": True, "allow_extra_args": False}

# Options the driver owns: where results go, how they are printed, and what names a node.
_REFUSED = {
    "label": "each node's results carry its own name (label it with `ray start --labels=rightsize-name=NAME`)",
    "results_dir": "results stream back to the driver; give --results-dir to `bench fleet run` itself",
    "as_json": "the driver prints each node's progress; read the result files instead",
}


def _fleet_options(f):
    f = click.option("--address", default="auto", show_default=True,
                     help="The Ray cluster: auto (the one this machine belongs to), HOST:PORT, or ray://HOST:10001 "
                          "(Ray Client, e.g. a KubeRay head service).")(f)
    f = click.option("--nodes", default=None,
                     help="Comma-separated targets: node names (label rightsize-name, else hostname), node ids, "
                          "labels as key=value, or resources such as GPU or accelerator_type:H100. "
                          "[default: every alive node]")(f)
    f = click.option("--runtime-env", default=None,
                     help="A Ray runtime_env (JSON, or a JSON file) that brings the suite and its engines to the "
                          "workers, e.g. '{\"pip\": [\"rightsize[llamacpp]\"]}'. [default: the workers have it]")(f)
    return f


@click.group("fleet")
def fleet_command():
    """One `bench run` on each node of a Ray cluster (pip install 'rightsize[fleet]')."""


@fleet_command.command("run", context_settings=_RUN_ARGS)
@_fleet_options
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
              help="Where the driver writes every node's results as each run returns.")
@click.option("--force", is_flag=True, help="Run again what a node has already measured with these options.")
@click.option("--dry-run", is_flag=True, help="Show what would run where, and run nothing.")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED)
def fleet_run(address, nodes, runtime_env, results_dir, force, dry_run, run_args):
    """Run `bench run RUN_ARGS` on every target node; each probes its hardware and checks what fits.

    A rerun with the same options resumes: what a node (same name, same hardware) has already
    measured is skipped unless --force. Ctrl-C (or SIGTERM, SIGHUP) stops the remote runs and keeps
    what they measured."""
    from bench.fleet.driver import FleetRun, plan, start_runners
    from bench.stop_signals import exit_code_of, name_of, noted_stop_signals, signal_of
    from bench.streams import tolerant_stdio
    from bench.sweep import exit_code
    from contract.storage import ensure_writable

    options = parse_run_options(run_args)
    if not dry_run:
        ensure_writable(results_dir)
    targets = _connect(address, runtime_env, nodes)
    runners = start_runners(targets, hold_node=not dry_run)
    # A closed terminal (SIGHUP, then EIO on every write) costs the progress lines, not the runs.
    with tolerant_stdio():
        try:
            # Stop signals noted, then raised between Ray's waits: one raised inside ray.wait can be lost
            with noted_stop_signals() as stops:
                plans = plan(targets, runners, options, results_dir, force, stops)
                _print_schedule(plans)
                if dry_run:
                    return
                fleet = FleetRun(plans, runners, options, results_dir, _say, stops)
                fleet.execute()
            _print_outcome(plans)
            code = exit_code_of(fleet.stopped_by) if fleet.stopped_by else exit_code(fleet.statuses())
        except KeyboardInterrupt as stop:
            _say(f"stopped by {name_of(signal_of(stop))} before any run started")
            code = exit_code_of(signal_of(stop))
        finally:
            ray = sys.modules.get("ray")
            if ray is not None:
                ray.shutdown()
    sys.exit(code)


@fleet_command.command("status", context_settings=_RUN_ARGS)
@_fleet_options
@click.option("--json", "as_json", is_flag=True, help="Print the nodes and the schedule as JSON.")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED)
def fleet_status(address, nodes, runtime_env, as_json, run_args):
    """The cluster's nodes with their hardware, and what `bench fleet run RUN_ARGS` would schedule where."""
    from bench.fleet.cluster import cluster_nodes, ray_module
    from bench.fleet.driver import plan, start_runners
    from bench.stop_signals import noted_stop_signals

    options = parse_run_options(run_args)
    targets = _connect(address, runtime_env, nodes)
    every = cluster_nodes()
    try:
        with noted_stop_signals((signal.SIGINT,)) as stops:
            plans = plan(targets, start_runners(targets, hold_node=False), options, None, force=True, stops=stops)
    finally:
        ray_module().shutdown()
    if as_json:
        by_id = {p.node.node_id: p for p in plans}
        click.echo(json.dumps({
            "nodes": [{**n.identity(), "alive": n.alive, "resources": n.resources,
                       "hardware": (by_id[n.node_id].info or {}).get("hardware") if n.node_id in by_id else None,
                       "error": by_id[n.node_id].error if n.node_id in by_id else None} for n in every],
            "schedule": [{"node": j.node.name, "model": j.model, "quant": j.quant, "backend": j.backend,
                          "plan": j.state, "detail": j.detail} for p in plans for j in p.jobs],
        }, indent=2))
        return
    _print_nodes(every, plans)
    _print_schedule(plans)


def parse_run_options(run_args):
    """RUN_ARGS checked once, here on the driver, by `bench run`'s own parser (bench/commands/run.py,
    parse_run): a bench.fleet.jobs.RunOptions, whose request_for gives the RunRequest for a node's
    backend. Bad options are one line before any node is asked anything."""
    from bench.commands.run import parse_run, run
    from bench.fleet.jobs import RunOptions, key_params
    from contract.errors import BenchError

    try:
        ctx = run.make_context("run", list(run_args), resilient_parsing=False, obj={"debug": False})
    except click.exceptions.Exit:
        raise BenchError("`bench fleet run` takes `bench run` options, not --help here",
                         "see `bench run --help` for them") from None
    except click.UsageError as exc:
        raise BenchError(f"bad bench run option: {exc.format_message()}",
                         "see `bench run --help`; fleet options (--address, --nodes, ...) come first") from None
    given = {name: value for name, value in ctx.params.items()
             if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
    for name, why in _REFUSED.items():
        if name in given:
            flag = "--" + {"as_json": "json"}.get(name, name).replace("_", "-")
            raise BenchError(f"{flag} is not a `bench fleet run` option: {why}", f"drop {flag}")
    fixed = ctx.params["backend"] is not None or ctx.params["serve"]   # else each node chooses its own
    made: dict = {}

    def request_for(choice):
        key = None if fixed else choice
        if key not in made:
            if not fixed and choice is None:
                raise BenchError("the node could not choose a backend for its hardware", "give --backend")
            made[key] = parse_run(ctx, **ctx.params, chosen=choice).request
        return made[key]

    if fixed:
        request_for(None)      # the same request for every node: its problems are one line here, now
    return RunOptions(request_for=request_for, key_params=key_params(given), api_key=given.get("api_key"))


def _connect(address, runtime_env, nodes):
    from bench.fleet.cluster import cluster_nodes, connect, select
    from bench.fleet.cluster import runtime_env as parse_runtime_env

    connect(address, parse_runtime_env(runtime_env))
    return select(cluster_nodes(), nodes)


def _say(line: str) -> None:
    """A progress line: on stderr, so that the tables on stdout stay clean."""
    click.echo(line, err=True)


def _hardware_line(doc: dict | None) -> tuple[str, str]:
    """(CPU, GPUs) of a node's probe (its hardware section, as the node sent it), in words."""
    if not doc:
        return "n/a (not probed)", "n/a (not probed)"
    from contract.result import HardwareInfo

    hw = HardwareInfo.model_validate(doc)
    cpu, ram = hw.cpu, hw.cpu.ram_bytes
    cpu_text = (f"{cpu.model or 'unknown CPU'}, {cpu.cores or '?'}C/{cpu.threads or '?'}T, "
                + (f"{ram / 2**30:.0f} GiB" if ram else "RAM n/a"))
    if hw.gpus:
        gpu_text = ", ".join(f"{g.name} {g.memory_bytes / 2**30:.0f} GiB" if g.memory_bytes else g.name
                             for g in hw.gpus)
    elif hw.apple:
        gpu_text = f"{hw.apple.chip} ({hw.apple.gpu_cores or '?'} GPU cores, unified memory)"
    else:
        gpu_text = "none"        # why (no driver, no library) is in --json: hardware.gpu_drivers.<vendor>.reason
    return cpu_text, gpu_text


def _print_nodes(every, plans) -> None:
    from rich.console import Console
    from rich.table import Table

    by_id = {p.node.node_id: p for p in plans}
    table = Table(title=f"Ray nodes: {sum(n.alive for n in every)} alive of {len(every)}")
    for col in ("node", "id", "address", "state", "CPU", "GPUs", "labels"):
        table.add_column(col, overflow="fold")
    for n in every:
        p = by_id.get(n.node_id)
        cpu, gpus = _hardware_line(p.info.get("hardware") if p and p.info else None)
        state = "dead" if not n.alive else ("not targeted" if p is None else (f"error: {p.error}" if p.error else "alive"))
        table.add_row(n.name, n.short_id, n.ip, state, cpu, gpus,
                      ", ".join(f"{k}={v}" for k, v in n.labels.items()) or "-")
    Console().print(table)


def _print_schedule(plans) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="schedule")
    for col in ("node", "model", "quant", "backend", "plan"):
        table.add_column(col, overflow="fold")
    words = {"run": "run", "skipped": "skip: ", "measured": "already measured: "}
    for p in plans:
        if p.error:
            table.add_row(p.node.name, "-", "-", "-", f"cannot run: {p.error}")
        for j in p.jobs:
            table.add_row(j.node.name, j.model, j.quant, j.backend,
                          words[j.state] + (j.detail if j.state != "run" else ""))
    Console().print(table)


def _print_outcome(plans) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="fleet run")
    for col in ("node", "model", "quant", "status", "result / reason"):
        table.add_column(col, overflow="fold")
    for p in plans:
        if p.error:
            table.add_row(p.node.name, "-", "-", "failed", p.error)
        for j in p.jobs:
            status = {"measured": "already measured", "skipped": "skipped"}.get(j.state, j.status or j.state)
            table.add_row(j.node.name, j.model, j.quant, status, j.detail)
    Console().print(table)
