"""The `bench` command line. Engines are imported only inside the commands that need them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from contract.errors import BenchError
from dashboards.options import cost_options

# --quant when not given, for engines that do not run GGUF files
DEFAULT_QUANT = {"torch": "bf16", "vllm": "bf16", "mlx": "4bit"}
# How the parent tells each run's process why it chose the backend it did.
BACKEND_REASON_ENV = "RIGHTSIZE_BACKEND_REASON"


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
              help="Catalog id (built synthetically), a path to a .gguf file, or with --backend openai "
                   "the name the server serves. Several, comma-separated, make a sweep.")
@click.option("--quant", default="Q4_K_M", show_default=True,
              help="GGUF quant type (synthetic models); several, comma-separated, make a sweep.")
@click.option("--backend", default=None,
              help="Inference engine: llamacpp, vllm, mlx, torch (in-process), openai (any OpenAI-compatible "
                   "server at --base-url) or llamacpp-server (llama-cpp-python's server, started on 127.0.0.1 "
                   "for the run). [default: chosen for the detected hardware, and said why]")
@click.option("--serve", is_flag=True,
              help="--backend vllm: start `vllm serve` on 127.0.0.1 for the run and benchmark it over HTTP "
                   "(stopped afterwards, also on failure or Ctrl-C).")
@click.option("--scenario", "scenario_spec", default=None,
              help="Comma-separated scenarios: pp<N>, tg<N>, single-stream, or a workload profile under "
                   "load: chat, rag, ticket-triage, ticket-draft, summarise, code. "
                   "[default: pp512,tg128,single-stream; chat for HTTP backends]")
@click.option("--concurrency", default=None,
              help="Workload profiles: closed-loop users per level, e.g. 1,2,4; stops once latency is far "
                   "past the SLO. [default: 1,2,4,8,16,32,64]")
@click.option("--rate", default=None, help="Workload profiles: open-loop Poisson arrivals, requests/s per level, e.g. 0.5,1,2.")
@click.option("--search", type=click.Choice(["concurrency", "rate"]), default=None,
              help="Find the highest concurrency or rate that meets the SLO (starts at the first --concurrency/--rate).")
@click.option("--slo", default=None,
              help="default (p99 ttft 2 s, tpot 100 ms), interactive (500 ms, 30 ms), or ttft=..,tpot=.. "
                   "such as ttft=1s,tpot=50ms. [default: default]")
@click.option("--max-in-flight", type=int, default=None,
              help="Poisson levels: requests in flight at most; later arrivals wait in the client, "
                   "recorded as queue wait. [default: 64]")
@click.option("--workloads", type=click.Path(path_type=Path), default=None,
              help="TOML or JSON file with your own workload profiles.")
@click.option("--repetitions", type=int, default=None, help="Minimum measured repetitions for pp/tg. [default: 3]")
@click.option("--requests", type=int, default=None,
              help="Minimum requests for single-stream [default: 3], or measured requests per load level "
                   "[default: 4 per user, or 10 s of arrivals; at least 8].")
@click.option("--input-tokens", type=int, default=None, help="Prompt length for single-stream. [default: 128]")
@click.option("--output-tokens", type=int, default=None, help="Output length for single-stream. [default: 32]")
@click.option("--min-duration", type=float, default=None,
              help="Keep measuring until this many seconds AND the minimum count are reached "
                   "(at most 100 passes, 1000 requests per load level). 0 gives exact counts. [default: 3]")
@click.option("--threads", type=int, default=None, help="CPU threads (default: physical cores).")
@click.option("--gpu-layers", type=int, default=-1, show_default=True,
              help="Layers to offload to the GPU (-1 all; ignored by a CPU-only build).")
@click.option("--ctx-size", type=int, default=None, help="Context size (default: what the scenarios need).")
@click.option("--flash-attn/--no-flash-attn", default=None,
              help="Flash attention on or off. [default: llama.cpp's auto, as llama-bench: on where the device "
                   "supports it]")
@click.option("--batch-size", type=int, default=2048, show_default=True, help="Logical batch size (n_batch).")
@click.option("--ubatch-size", type=int, default=512, show_default=True, help="Physical micro-batch size (n_ubatch).")
@click.option("--engine-option", "engine_option", multiple=True, metavar="KEY=VALUE",
              help="A setting of this engine only, repeatable: torch static_cache, compile, device, "
                   "attn_implementation; vllm gpu_memory_utilization, kv_cache_memory_bytes, tensor_parallel_size, "
                   "max_num_seqs, enforce_eager, quantization; mlx device, prefill_step_size; llamacpp amx, "
                   "repack (auto|on|off: llama.cpp's AMX and CPU_REPACK kernels; auto keeps those that pass "
                   "the engine health probe here).")
@click.option("--base-url", default=None, help="--backend openai: the server, e.g. http://127.0.0.1:8080.")
@click.option("--api-key", default=None,
              help="--backend openai: API key [default: $OPENAI_API_KEY]. Never written to results or logs.")
@click.option("--endpoint", type=click.Choice(["completions", "chat"]), default="completions", show_default=True,
              help="HTTP backends: /v1/completions or /v1/chat/completions.")
@click.option("--request-timeout", type=float, default=None,
              help="HTTP backends: seconds a request may take; a longer one counts as an error. "
                   "[default: 60 s plus 1 s per output token it asks for]")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--label", default=None, help="Name for this machine in results (default: hostname).")
@click.option("--idle-seconds", type=float, default=3.0, show_default=True,
              help="Idle power baseline before the engine loads (0 skips it).")
@click.option("--json", "as_json", is_flag=True, help="Print the result document as JSON (a list for a sweep).")
@click.option("--in-process", is_flag=True, hidden=True,
              help="Measure in this process (what each run's child process is started with).")
@click.option("--plan", "plan_only", is_flag=True, hidden=True,
              help="Print what would run here as JSON (backend, each model x quant and why it would be skipped); "
                   "measure nothing (what `bench fleet` asks each node).")
@click.option("--run-config", type=click.Path(path_type=Path), default=None, hidden=True,
              help="A run's child process: the job its parent validated (bench/isolation.py); other options are ignored.")
@cost_options(breakeven=True)
@click.pass_context
def run(ctx, **options):
    """Benchmark a model on this machine and write a result file."""
    from bench.stop_signals import Stopped, exit_code_of, name_of, stop_on_signals
    from bench.streams import tolerant_stdio

    # SIGTERM and SIGHUP are a Ctrl-C here; a closed terminal or pipe costs the drawing, not the run
    with tolerant_stdio(), stop_on_signals():
        try:
            _run(ctx, **options)
        except Stopped as stop:      # outside a measurement: before one started, or after its result was written
            click.echo(f"stopped by {name_of(stop.signum)}", err=True)
            sys.exit(exit_code_of(stop.signum))


def _run(ctx, model, quant, backend, serve, scenario_spec, concurrency, rate, search, slo, max_in_flight, workloads,
         repetitions, requests, input_tokens, output_tokens, min_duration, threads, gpu_layers, ctx_size,
         flash_attn, batch_size, ubatch_size, engine_option, base_url, api_key, endpoint, request_timeout, results_dir,
         label, idle_seconds, as_json, in_process, plan_only, run_config, **cost):
    from dashboards.options import cost_settings

    if run_config is not None:
        _run_job(ctx, run_config)     # exits
    pricing, breakeven = cost_settings(cost)     # a bad cost option is one line, before anything runs

    from bench.backends import backend_class, model_format
    from bench.engine_options import parse_engine_options
    from bench.run import RunConfig
    from scenarios.kinds import parse_scenarios

    if serve:
        # vLLM behind its own HTTP server: the vllm-serve backend (a run's child gets both names)
        if backend not in ("vllm", "vllm-serve"):
            raise BenchError(f"--serve is for --backend vllm, not {backend or 'the default backend'}",
                             "add --backend vllm, or drop --serve")
        backend = "vllm-serve"
    reason = os.environ.get(BACKEND_REASON_ENV) if in_process else None   # the parent chose the backend
    if backend is None:
        import hardware
        from bench.backends.choose import default_backend

        backend, reason = default_backend(hardware.probe())
        # said by the run itself once it starts, so that bad input still gives exactly one line
        os.environ[BACKEND_REASON_ENV] = reason    # "measuring <device> with <engine> (backend <name>): <why>"
    elif not in_process:
        os.environ.pop(BACKEND_REASON_ENV, None)   # --backend given: an earlier call's reason is stale
    engine = backend_class(backend)
    caps = engine.capabilities
    if ctx.get_parameter_source("quant") == click.core.ParameterSource.DEFAULT:
        quant = DEFAULT_QUANT.get(model_format(backend), quant)
    if caps.local_model:
        for name, value in (("--base-url", base_url), ("--api-key", api_key)):
            if value is not None:
                raise BenchError(f"{name} is for --backend openai, not {backend}", f"drop {name} or use --backend openai")
    else:
        if not base_url:
            raise BenchError(f"--backend {backend} needs --base-url", "for example --base-url http://127.0.0.1:8080")
        if "@" in base_url.split("//", 1)[-1].split("/", 1)[0]:
            raise BenchError("--base-url must not hold credentials", "pass the key with --api-key or OPENAI_API_KEY")
        if ctx.get_parameter_source("model") == click.core.ParameterSource.DEFAULT:
            raise BenchError(f"--backend {backend} needs --model", "the model name the server serves")
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    if request_timeout is not None and request_timeout <= 0:
        raise BenchError(f"--request-timeout must be positive, got {request_timeout}", "for example --request-timeout 60")

    if idle_seconds < 0:
        raise BenchError(f"--idle-seconds must not be negative, got {idle_seconds}", "for example --idle-seconds 3")
    for name, value in (("--threads", threads), ("--ctx-size", ctx_size), ("--batch-size", batch_size),
                        ("--ubatch-size", ubatch_size)):
        if value is not None and value <= 0:
            raise BenchError(f"{name} must be positive, got {value}", f"for example {name} 4")
    scenarios = parse_scenarios(scenario_spec, repetitions=repetitions, requests=requests,
                                input_tokens=input_tokens, output_tokens=output_tokens,
                                min_duration_s=min_duration, concurrency=concurrency, rate=rate, search=search,
                                slo=slo, max_in_flight=max_in_flight, workloads=workloads,
                                default=None if caps.microbenchmarks else ("chat",))
    options = {"n_threads": threads, "n_gpu_layers": gpu_layers, "n_ctx": ctx_size,
               "flash_attn": flash_attn, "n_batch": batch_size, "n_ubatch": ubatch_size,
               "verbose": ctx.obj["debug"]}
    options.update(parse_engine_options(engine_option, backend, engine.engine_options))
    if caps.http:
        options.update({"endpoint": endpoint, "request_timeout_s": request_timeout})
    if not caps.local_model:
        options = {"base_url": base_url, "endpoint": endpoint, "request_timeout_s": request_timeout}
    config = RunConfig(model=model, quant=quant, backend=backend, scenarios=scenarios,
                       backend_options=options, results_dir=results_dir, label=label,
                       idle_seconds=idle_seconds, api_key=api_key,
                       backend_reason=reason)
    if not in_process:
        from bench.sweep import combinations
        from bench.storage import ensure_writable

        combos = combinations(model, quant)
        if caps.local_model:
            _check_names(combos, backend)
        if plan_only:
            where = _check_fits(combos, config, caps, ctx.params)
            click.echo(json.dumps({"backend": backend, "backend_reason": config.backend_reason, "fit_source": where,
                                   "combinations": [vars(c) for c in combos]}))
            return
        ensure_writable(results_dir)
        sys.exit(_run_each_in_a_child(ctx, combos, config, caps, {"as_json": as_json, "cost": cost}))
    _measure(ctx, config, pricing, breakeven, as_json)


def _run_job(ctx, job_file: Path) -> None:
    """A run's child process: measure the job the parent validated; nothing is parsed again."""
    from bench.backends import backend_class
    from bench.isolation import API_KEY_ENV, clean_up_if_orphaned, read_job
    from bench.run import RunConfig
    from dashboards.options import cost_settings

    try:
        job = read_job(job_file)
        config = RunConfig.from_dict(job["config"])
        if not backend_class(config.backend).capabilities.local_model:
            config.api_key = os.environ.get(API_KEY_ENV) or None     # never in the job file
        pricing, breakeven = cost_settings(job["cost"])
        _measure(ctx, config, pricing, breakeven, job["as_json"])
    finally:
        clean_up_if_orphaned()


def _measure(ctx, config, pricing, breakeven: bool, as_json: bool) -> None:
    """Run `config` in this process, print its tables (or its JSON) and exit with its code."""
    from bench.run import execute
    from bench.ui import RichUI

    ui = RichUI(quiet=as_json)
    outcome = execute(config, ui)
    from bench.isolation import report_outcome
    from dashboards.report import write_run_report

    doc = outcome.document
    report_outcome(outcome.path, doc.status.value)
    report = write_run_report(outcome.path, settings=pricing)
    if as_json:
        click.echo(json.dumps(outcome.result, indent=2))
    else:
        from bench.report import load_summary_table, run_summary_table
        for table in (run_summary_table(doc), load_summary_table(doc)):
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


def _check_names(combos, backend) -> None:
    """Unknown model ids and quant types are the user's to fix: one line, before anything runs."""
    from bench.backends import model_format
    from models.catalog import get_model
    from models.formats import get_format
    from models.resolve import HUB_PREFIX, looks_like_path

    for c in combos:
        if not c.model.startswith(HUB_PREFIX) and not looks_like_path(c.model):
            get_model(c.model)
            get_format(model_format(backend), c.quant)


def _run_each_in_a_child(ctx, combos, config, caps, display: dict) -> int:
    """Each model x quant in its own process, after a fit check; returns the exit code. Each child
    gets `config` for its combination and `display` (--json, the cost options) as a job file."""
    import dataclasses

    from rich.console import Console
    from rich.table import Table

    from bench.isolation import ChildInterrupted, ChildOutcome, record_unwritten, run_child
    from bench.stop_signals import exit_code_of, name_of
    from bench.run import NOTHING_MEASURED
    from bench.sweep import exit_code, summary_rows

    p = {**ctx.params, "backend": config.backend}
    as_json = display["as_json"]
    console = Console(stderr=True)
    where = _check_fits(combos, config, caps, p)
    for c in combos:
        if c.skip_reason:
            console.print(f"skipped {c.model} {c.quant}: does not fit ({where}): {c.skip_reason}", highlight=False)
    outcomes: list[ChildOutcome | None] = []
    docs, stopped_by = [], None
    for c in combos:
        if c.skip_reason or stopped_by is not None:
            outcomes.append(None)
            continue
        try:
            job = {"config": dataclasses.replace(config, model=c.model, quant=c.quant).to_dict(), **display}
            o = run_child(job, bool(ctx.obj.get("debug")), config.api_key)
        except ChildInterrupted as stop:
            o, stopped_by = stop.outcome, stop.signum
        if o.path is None and o.exit_code == 2 and stopped_by is None:
            sys.exit(2)          # the child printed a one-line error: nothing was measured
        if o.path is None:
            o.path, o.status, line = record_unwritten(o, p["results_dir"], c.model, c.quant, p["backend"], p["label"],
                                                      stopped_by)
            console.print(f"{c.model} {c.quant}: {line}" if stopped_by is not None else
                          f"[red]error:[/red] {c.model} {c.quant}: {line}", highlight=False)
        elif stopped_by is not None:
            console.print(f"{c.model} {c.quant}: stopped by {name_of(stopped_by)}; what it measured is in {o.path}",
                          highlight=False)
        outcomes.append(o)
        if as_json:
            docs.append(json.loads(o.output) if o.output.strip() else json.loads(o.path.read_text()))
        else:
            click.echo(o.output, nl=False)
    rows = summary_rows(combos, [o or _Skipped() for o in outcomes])
    if as_json:
        click.echo(json.dumps(docs[0] if len(combos) == 1 and docs else docs, indent=2))
    elif len(combos) > 1:
        table = Table(title=f"sweep: {len(combos)} combinations")
        for col in ("model", "quant", "status", "result / reason"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["model"], r["quant"], r["status"], r["detail"])
        Console().print(table)
    if stopped_by is not None:
        return exit_code_of(stopped_by)
    return exit_code([r["status"] for r in rows], any(o is not None and o.exit_code == NOTHING_MEASURED for o in outcomes))


def _check_fits(combos, config, caps, params: dict) -> str | None:
    """Mark the combinations that cannot fit here (sweep.check_fits); None where no check applies."""
    if not caps.local_model:
        return None
    from bench.sweep import check_fits

    return check_fits(combos, config.scenarios, params["ctx_size"], config.backend, params["flash_attn"],
                      params["ubatch_size"])


class _Skipped:
    status, path, exit_code = "skipped", None, None


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@cost_options(breakeven=True)
def results(paths, as_json, **cost):
    """List result files (default: ./results)."""
    from rich.console import Console

    from bench.outcomes import outcome_lines
    from bench.report import result_list_rows, result_list_table
    from bench.storage import load_documents
    from contract.result import Outcome, RunResult
    from dashboards.options import cost_settings
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


def _register_subcommands() -> None:
    from hardware.cli import hardware_command
    main.add_command(hardware_command)
    from dashboards.cli import register as register_dashboards
    register_dashboards(main)          # bench prices, bench dashboard
    from models.cli import models_command, plan_command
    main.add_command(models_command)
    main.add_command(plan_command)
    from bench.physics import check_command
    main.add_command(check_command)
    from hardware.project_cli import project_command
    main.add_command(project_command)
    from bench.quality.cli import quality_command
    main.add_command(quality_command)
    from bench.evals.cli import eval_command
    main.add_command(eval_command)
    from bench.fleet.cli import fleet_command
    main.add_command(fleet_command)
    from bench.engines_cli import engines_command
    main.add_command(engines_command)


_register_subcommands()

if __name__ == "__main__":
    main()
