"""The `bench` command line. Engines are imported only inside the commands that need them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bench.errors import BenchError


class _Group(click.Group):
    """Turns BenchError into one line on stderr and a non-zero exit; --debug shows the traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BenchError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show full tracebacks and engine logs.")
@click.version_option(package_name="rightsize")
@click.pass_context
def main(ctx, debug):
    """rightsize: benchmark LLM inference hardware (throughput, latency, power, memory, cost)."""
    ctx.ensure_object(dict)["debug"] = debug


@main.command()
@click.option("--model", default="llama-3.1-8b", show_default=True,
              help="Catalog id (built synthetically) or a path to a .gguf file.")
@click.option("--quant", default="Q4_K_M", show_default=True, help="GGUF quant type (synthetic models).")
@click.option("--backend", default="llamacpp", show_default=True, help="Inference engine.")
@click.option("--scenario", "scenario_spec", default=None,
              help="Comma-separated scenarios: pp<N>, tg<N>, single-stream. [default: pp512,tg128,single-stream]")
@click.option("--repetitions", type=int, default=None, help="Minimum measured repetitions for pp/tg. [default: 3]")
@click.option("--requests", type=int, default=None, help="Minimum requests for single-stream. [default: 3]")
@click.option("--input-tokens", type=int, default=None, help="Prompt length for single-stream. [default: 128]")
@click.option("--output-tokens", type=int, default=None, help="Output length for single-stream. [default: 32]")
@click.option("--min-duration", type=float, default=None,
              help="Keep measuring until this many seconds AND the minimum count are reached "
                   "(at most 100 passes). 0 gives exact counts. [default: 3]")
@click.option("--threads", type=int, default=None, help="CPU threads (default: physical cores).")
@click.option("--gpu-layers", type=int, default=-1, show_default=True,
              help="Layers to offload to the GPU (-1 all; ignored by a CPU-only build).")
@click.option("--ctx-size", type=int, default=None, help="Context size (default: what the scenarios need).")
@click.option("--flash-attn/--no-flash-attn", default=False, show_default=True, help="Flash attention.")
@click.option("--batch-size", type=int, default=2048, show_default=True, help="Logical batch size (n_batch).")
@click.option("--ubatch-size", type=int, default=512, show_default=True, help="Physical micro-batch size (n_ubatch).")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--label", default=None, help="Name for this machine in results (default: hostname).")
@click.option("--idle-seconds", type=float, default=3.0, show_default=True,
              help="Idle power baseline before the engine loads (0 skips it).")
@click.option("--json", "as_json", is_flag=True, help="Print the result document as JSON.")
@click.pass_context
def run(ctx, model, quant, backend, scenario_spec, repetitions, requests, input_tokens, output_tokens,
        min_duration, threads, gpu_layers, ctx_size, flash_attn, batch_size, ubatch_size, results_dir,
        label, idle_seconds, as_json):
    """Benchmark a model on this machine and write a result file."""
    from bench.run import RunConfig, execute
    from bench.ui import RichUI
    from scenarios.definitions import parse_scenarios

    if idle_seconds < 0:
        raise BenchError(f"--idle-seconds must not be negative, got {idle_seconds}", "for example --idle-seconds 3")
    for name, value in (("--threads", threads), ("--ctx-size", ctx_size), ("--batch-size", batch_size),
                        ("--ubatch-size", ubatch_size)):
        if value is not None and value <= 0:
            raise BenchError(f"{name} must be positive, got {value}", f"for example {name} 4")
    scenarios = parse_scenarios(scenario_spec, repetitions=repetitions, requests=requests,
                                input_tokens=input_tokens, output_tokens=output_tokens,
                                min_duration_s=min_duration)
    options = {"n_threads": threads, "n_gpu_layers": gpu_layers, "n_ctx": ctx_size,
               "flash_attn": flash_attn, "n_batch": batch_size, "n_ubatch": ubatch_size,
               "verbose": ctx.obj["debug"]}
    config = RunConfig(model=model, quant=quant, backend=backend, scenarios=scenarios,
                       backend_options=options, results_dir=results_dir, label=label,
                       idle_seconds=idle_seconds)
    ui = RichUI(quiet=as_json)
    outcome = execute(config, ui)
    if as_json:
        click.echo(json.dumps(outcome.result, indent=2))
    else:
        from bench.report import run_summary_table
        ui.console.print(run_summary_table(outcome.result))
        for err in outcome.result["errors"]:
            ui.console.print(f"[red]error:[/red] {err}", highlight=False)
        ui.console.print(f"result: {outcome.path}", highlight=False)
    if outcome.warning:
        click.echo(f"warning: {outcome.warning}", err=True)
    if ctx.obj["debug"] and outcome.result.get("traceback"):
        click.echo(outcome.result["traceback"], err=True)
    sys.exit(outcome.exit_code)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def results(paths, as_json):
    """List result files (default: ./results)."""
    from rich.console import Console

    from bench.report import result_list_rows, result_list_table
    from bench.storage import load_results

    loaded, warnings = load_results(list(paths) or [Path("results")])
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    rows = result_list_rows(loaded)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        Console().print(result_list_table(rows))


def _register_subcommands() -> None:
    from hardware.cli import hardware_command
    main.add_command(hardware_command)
    from dashboards.cli import register as register_dashboards
    register_dashboards(main)          # bench prices, bench dashboard
    from models.cli import models_command, plan_command
    main.add_command(models_command)
    main.add_command(plan_command)


_register_subcommands()

if __name__ == "__main__":
    main()
