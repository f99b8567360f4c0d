"""`bench run`: measure a model on this machine and write a result file.

The parent checks the command line once (parse_run) into a RunRequest (scenarios/request.py), then
runs each model x quant's request in a process of its own (bench/commands/job.py, through
bench/isolation.py), after a fit check (plan_here); a sweep gets a summary table. `bench fleet`
parses the same options once, on its driver, into the request each node gets for its own backend
(bench/commands/fleet.py), and asks each node what that request would do there
(bench/commands/node_plan.py).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from bench.commands.cost_options import cost_options
from contract.errors import BenchError

# --quant when not given, for engines that do not run GGUF files

# The options of `bench run` (node_plan takes the same, to answer for the same command line).
_OPTIONS = [
    click.option("--model", default="llama-3.1-8b", show_default=True,
                  help="Catalog id (built synthetically), a path to a .gguf file, or with --backend openai "
                       "the name the server serves. Several, comma-separated, make a sweep."),
    click.option("--quant", default="Q4_K_M", show_default=True,
                  help="GGUF quant type (synthetic models); several, comma-separated, make a sweep."),
    click.option("--backend", default=None,
                  help="Inference engine: llamacpp, vllm, mlx, torch (in-process), openai (any OpenAI-compatible "
                       "server at --base-url) or llamacpp-server (llama-cpp-python's server, started on 127.0.0.1 "
                       "for the run). [default: chosen for the detected hardware, and said why]"),
    click.option("--serve", is_flag=True,
                  help="--backend vllm: start `vllm serve` on 127.0.0.1 for the run and benchmark it over HTTP "
                       "(stopped afterwards, also on failure or Ctrl-C)."),
    click.option("--scenario", "scenario_spec", default=None,
                  help="Comma-separated scenarios: pp<N>, tg<N>, single-stream, or a workload profile under "
                       "load: chat, rag, ticket-triage, ticket-draft, summarise, code, fixed-1k1k, fixed-1k8k, fixed-8k1k, "
                       "rag-shared, agent; chat-session[:PROFILE] (users holding multi-turn conversations: --concurrency "
                       "users, --turns, --think-time, --requests conversations); trace (a replay of --trace FILE). "
                       "[default: pp512,tg128,single-stream; chat for HTTP backends]"),
    click.option("--concurrency", default=None,
                  help="Workload profiles: closed-loop users per level, e.g. 1,2,4; stops once latency is far "
                       "past the SLO. [default: 1,2,4,8,16,32,64]"),
    click.option("--turns", type=int, default=None,
                  help="chat-session: turns per conversation. [default: 4]"),
    click.option("--think-time", type=float, default=None,
                  help="chat-session: a user's mean think time before each turn, seconds (exponential, seeded; "
                       "0: none). [default: 1]"),
    click.option("--rate", default=None, help="Workload profiles: open-loop Poisson arrivals, requests/s per level, e.g. 0.5,1,2."),
    click.option("--search", type=click.Choice(["concurrency", "rate"]), default=None,
                  help="Find the highest concurrency or rate that meets the SLO (starts at the first --concurrency/--rate)."),
    click.option("--slo", default=None,
                  help="default (p99 ttft 2 s, tpot 100 ms), interactive (500 ms, 30 ms), or ttft=..,tpot=.. "
                       "such as ttft=1s,tpot=50ms. [default: default]"),
    click.option("--max-in-flight", type=int, default=None,
                  help="Poisson levels: requests in flight at most; later arrivals wait in the client, "
                       "recorded as queue wait. [default: 64]"),
    click.option("--workloads", type=click.Path(path_type=Path), default=None,
                  help="TOML or JSON file with your own workload profiles."),
    click.option("--trace", type=click.Path(path_type=Path), default=None,
                  help="--scenario trace: the trace to replay, Mooncake JSONL (its hash_ids become shared prompt "
                       "blocks), Azure's CSV or JSONL of timestamp, input_tokens, output_tokens."),
    click.option("--time-scale", type=float, default=None,
                  help="--scenario trace: replay this many times as fast as recorded, e.g. 2. [default: 1]"),
    click.option("--duration", type=float, default=None,
                  help="--scenario trace: replay only the first this many seconds of the (scaled) schedule. "
                       "[default: all of it]"),
    click.option("--max-send-lag", type=float, default=None, metavar="MS",
                  help="--scenario trace: a request sent this many ms after its scheduled time is late; more than "
                       "1% late makes the replay INVALID. [default: 10]"),
    click.option("--repetitions", type=int, default=None, help="Minimum measured repetitions for pp/tg. [default: 3]"),
    click.option("--requests", type=int, default=None,
                  help="Minimum requests for single-stream [default: 3], or measured requests per load level "
                       "[default: 4 per user, or 10 s of arrivals; at least 8]."),
    click.option("--input-tokens", type=int, default=None, help="Prompt length for single-stream. [default: 128]"),
    click.option("--output-tokens", type=int, default=None, help="Output length for single-stream. [default: 32]"),
    click.option("--min-duration", type=float, default=None,
                  help="Keep measuring until this many seconds AND the minimum count are reached "
                       "(at most 100 passes, 1000 requests per load level). 0 gives exact counts. [default: 3]"),
    click.option("--threads", type=int, default=None, help="CPU threads (default: physical cores)."),
    click.option("--gpu-layers", type=int, default=-1, show_default=True,
                  help="Layers to offload to the GPU (-1 all; ignored by a CPU-only build)."),
    click.option("--ctx-size", type=int, default=None, help="Context size (default: what the scenarios need)."),
    click.option("--flash-attn/--no-flash-attn", default=None,
                  help="Flash attention on or off. [default: llama.cpp's auto, as llama-bench: on where the device "
                       "supports it]"),
    click.option("--batch-size", type=int, default=2048, show_default=True, help="Logical batch size (n_batch)."),
    click.option("--ubatch-size", type=int, default=512, show_default=True, help="Physical micro-batch size (n_ubatch)."),
    click.option("--engine-option", "engine_option", multiple=True, metavar="KEY=VALUE",
                  help="A setting of this engine only, repeatable: torch static_cache, compile, device, "
                       "attn_implementation; vllm gpu_memory_utilization, kv_cache_memory_bytes, tensor_parallel_size, "
                       "max_num_seqs, enforce_eager, quantization; mlx device, prefill_step_size; llamacpp amx, "
                       "repack (auto|on|off: llama.cpp's AMX and CPU_REPACK kernels; auto keeps those that pass "
                       "the engine health probe here)."),
    click.option("--base-url", default=None, help="--backend openai: the server, e.g. http://127.0.0.1:8080."),
    click.option("--api-key", default=None,
                  help="--backend openai: API key [default: $OPENAI_API_KEY]. Never written to results or logs."),
    click.option("--endpoint", type=click.Choice(["completions", "chat"]), default="completions", show_default=True,
                  help="HTTP backends: /v1/completions or /v1/chat/completions."),
    click.option("--request-timeout", type=float, default=None,
                  help="HTTP backends: seconds a request may take; a longer one counts as an error. "
                       "[default: 60 s plus 1 s per output token it asks for]"),
    click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True),
    click.option("--label", default=None, help="Name for this machine in results (default: hostname)."),
    click.option("--idle-seconds", type=float, default=3.0, show_default=True,
                  help="Idle power baseline before the engine loads (0 skips it)."),
    click.option("--json", "as_json", is_flag=True, help="Print the result document as JSON (a list for a sweep).")
]


def run_options(command):
    """Decorate a click command with `bench run`'s options and the cost options."""
    for option in reversed([*_OPTIONS, cost_options(breakeven=True)]):
        command = option(command)
    return command


@dataclass
class ParsedRun:
    request: Any         # scenarios.request.RunRequest: the sweep's, before each child gets its own combination
    combos: list         # bench.sweep.Combination: each model x quant, with why it is skipped once fits are checked
    caps: Any            # engines.base.Capabilities of the chosen engine
    api_key: str | None  # HTTP backends: never in the request; each child gets it in its environment


@click.command()
@run_options
@click.pass_context
def run(ctx, **options):
    """Benchmark a model on this machine and write a result file."""
    from bench.stop_signals import Stopped, exit_code_of, name_of, stop_on_signals
    from bench.streams import tolerant_stdio
    from contract.storage import ensure_writable

    # SIGTERM and SIGHUP are a Ctrl-C here; a closed terminal or pipe costs the drawing, not the run
    with tolerant_stdio(), stop_on_signals():
        try:
            parsed = parse_run(ctx, **options)
            ensure_writable(options["results_dir"])
            sys.exit(_run_each_in_a_child(ctx, parsed))
        except Stopped as stop:      # before a child started, or after its result was written
            click.echo(f"stopped by {name_of(stop.signum)}", err=True)
            sys.exit(exit_code_of(stop.signum))


def parse_run(ctx, model, quant, backend, serve, scenario_spec, concurrency, rate, search, slo, max_in_flight,
              workloads, trace, time_scale, duration, max_send_lag, repetitions, requests, input_tokens, output_tokens,
              min_duration, threads, gpu_layers, ctx_size, flash_attn, batch_size, ubatch_size, engine_option, base_url, api_key, endpoint,
              request_timeout, results_dir, label, idle_seconds, as_json, turns=None, think_time=None,
              chosen: tuple[str, str] | None = None,
              **cost) -> ParsedRun:
    """Check the whole command line once, before anything runs: the request each child gets, each
    model x quant, and the engine's capabilities. Bad input raises BenchError (one line).
    `chosen`: the (backend, why) of the machine that will run it, where that is not this one (a
    fleet node's, bench/commands/fleet.py); without --backend, this machine's is chosen."""
    from bench.commands.cost_options import cost_settings

    cost_settings(cost)     # a bad cost option is one line, before anything runs

    from engines import backend_class, model_format
    from engines.base import HTTPEngine, TokenEngine, speaks
    from engines.options import parse_engine_options
    from scenarios.kinds import parse_scenarios
    from scenarios.request import Output, RunRequest

    if serve:
        # vLLM behind its own HTTP server: the vllm-serve backend (a run's child gets both names)
        if backend not in ("vllm", "vllm-serve"):
            raise BenchError(f"--serve is for --backend vllm, not {backend or 'the default backend'}",
                             "add --backend vllm, or drop --serve")
        backend = "vllm-serve"
    reason = None
    if backend is None and chosen is not None:
        backend, reason = chosen
    if backend is None:
        import hardware
        from engines.choose import default_backend

        # said by the run's child once it starts, so that bad input still gives exactly one line
        backend, reason = default_backend(hardware.probe())  # "measuring <device> with <engine> (backend <name>): <why>"
    engine = backend_class(backend)
    caps = engine.capabilities
    if ctx.get_parameter_source("quant") == click.core.ParameterSource.DEFAULT:
        from models.formats import FORMATS

        fmt = FORMATS.get(model_format(backend))      # a server's model has no format here
        quant = fmt.default_quant if fmt else quant
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
                                slo=slo, max_in_flight=max_in_flight, workloads=workloads, turns=turns,
                                think_time=think_time, trace=trace,
                                time_scale=time_scale, duration_s=duration,
                                max_send_lag_s=None if max_send_lag is None else max_send_lag / 1e3,
                                default=None if speaks(engine, TokenEngine) else ("chat",))
    options = {"n_threads": threads, "n_gpu_layers": gpu_layers, "n_ctx": ctx_size,
               "flash_attn": flash_attn, "n_batch": batch_size, "n_ubatch": ubatch_size,
               "verbose": ctx.obj["debug"]}
    options.update(parse_engine_options(engine_option, backend, engine.engine_options))
    if speaks(engine, HTTPEngine):
        options.update({"endpoint": endpoint, "request_timeout_s": request_timeout})
    if not caps.local_model:
        options = {"base_url": base_url, "endpoint": endpoint, "request_timeout_s": request_timeout}
    request = RunRequest(model=model, quant=quant, backend=backend, scenarios=scenarios, backend_options=options,
                         results_dir=results_dir, label=label, idle_seconds=idle_seconds, backend_reason=reason,
                         output=Output(as_json=as_json, cost=cost))
    from bench.sweep import combinations

    combos = combinations(model, quant)
    if caps.local_model:
        _check_names(combos, backend)
    return ParsedRun(request, combos, caps, api_key)


def _check_names(combos, backend) -> None:
    """Unknown model ids and quant types are the user's to fix: one line, before anything runs."""
    from engines import model_format
    from models.catalog import get_model
    from models.formats import get_format
    from models.resolve import HUB_PREFIX, looks_like_path

    for c in combos:
        if not c.model.startswith(HUB_PREFIX) and not looks_like_path(c.model):
            get_model(c.model)
            get_format(model_format(backend), c.quant)


def _run_each_in_a_child(ctx, parsed: ParsedRun) -> int:
    """Each model x quant in its own process, after a fit check; returns the exit code. Each child
    gets the request of its combination as a job file."""
    from rich.console import Console
    from rich.table import Table

    from bench.isolation import ChildInterrupted, ChildOutcome, record_unwritten, run_child
    from bench.run import NOTHING_MEASURED
    from bench.stop_signals import exit_code_of, name_of
    from bench.sweep import exit_code, summary_rows

    combos, request = parsed.combos, parsed.request
    as_json = request.output.as_json
    console = Console(stderr=True)
    where = check_fits_here(request, combos)
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
            job = request.model_copy(update={"model": c.model, "quant": c.quant})
            o = run_child(job, bool(ctx.obj.get("debug")), parsed.api_key)
        except ChildInterrupted as stop:
            o, stopped_by = stop.outcome, stop.signum
        if o.path is None and o.exit_code == 2 and stopped_by is None:
            sys.exit(2)          # the child printed a one-line error: nothing was measured
        if o.path is None:
            o.path, o.status, line = record_unwritten(o, request.results_dir, c.model, c.quant, request.backend,
                                                      request.label, stopped_by)
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


def check_fits_here(request, combos: list) -> str | None:
    """Mark the combinations of `request` (a RunRequest) that cannot fit here (sweep.check_fits);
    None where no check applies."""
    from engines import backend_class

    if not backend_class(request.backend).capabilities.local_model:
        return None
    from bench.sweep import check_fits

    options = request.backend_options
    return check_fits(combos, list(request.scenarios), options.get("n_ctx"), request.backend,
                      options.get("flash_attn"), options.get("n_ubatch"))


def plan_here(request):
    """What `request` (a RunRequest) would do on this machine, measuring nothing: a RunPlan, each of
    its model x quant with why it would be skipped (bench/commands/node_plan.py, for bench fleet)."""
    from bench.sweep import combinations
    from engines import backend_class
    from scenarios.request import PlannedCombination, RunPlan

    combos = combinations(request.model, request.quant)
    if backend_class(request.backend).capabilities.local_model:
        _check_names(combos, request.backend)
    where = check_fits_here(request, combos)
    return RunPlan(backend=request.backend, backend_reason=request.backend_reason, fit_source=where,
                   combinations=[PlannedCombination(model=c.model, quant=c.quant, skip_reason=c.skip_reason)
                                 for c in combos])



class _Skipped:
    status, path, exit_code = "skipped", None, None


