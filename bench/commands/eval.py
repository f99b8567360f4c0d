"""`bench eval` on the command line: the command, its summary and its cost lines."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from bench.commands.cost_options import cost_options
from contract import documents
from contract.result import Outcome


def eval_lines(doc: Outcome, settings) -> list[str]:
    """The summary: accuracy with its interval, tokens and latency per task, and $ per 1,000 tasks."""
    from bench.evals.run import accuracy_text
    from dashboards.prices import load_prices
    from dashboards.profiles import load_profiles
    from dashboards.task_cost import eval_cost

    body = doc.eval
    if body is None:
        raise TypeError(f"a bench eval outcome was expected, not a {doc.kind} document")
    s = body.summary
    model = doc.model
    out = [f"{model.get('id')} {model.get('quant') or ''} via {body.backend} on {body.tasks_file.name}",
           f"  accuracy  {accuracy_text(s)}"]
    if body.what_it_measures:
        out.append(f"  note      {body.what_it_measures}")
    for v, what in ((s and s.input_tokens, "input tokens"), (s and s.output_tokens, "output tokens")):
        out.append(f"  {what:<13} " + (f"{v.mean:.1f} per task (median {v.median:.0f}, max {v.max:.0f})"
                                        if v else "n/a (not reported)"))
    for v, what in ((s and s.ttft_s, "first token"), (s and s.e2e_s, "whole answer")):
        out.append(f"  {what:<13} " + (f"median {v.median:.3f} s, p90 {v.p90:.3f} s" if v else "n/a"))
    if s and s.errors:
        out.append(f"  errors    {s.errors} task(s) failed and are scored wrong")
    try:
        c = eval_cost(doc, settings, load_profiles(), load_prices())
    except Exception as exc:  # a price file or profile problem must not lose a measured eval
        c = {"usd_per_1k_tasks": None, "why": str(exc)}
    if c["usd_per_1k_tasks"] is None:
        out.append(f"  cost      n/a ({c['why']})")
    else:
        out.append(f"  cost      ${c['usd_per_1k_tasks']:.4g} per 1,000 tasks: {c['basis_text']}")
        out += [f"            {n}" for n in c.get("notes", [])]
    return out


@click.command("eval")
@click.argument("tasks", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--backend", default="llamacpp", show_default=True,
              help="llamacpp (in-process), openai (any OpenAI-compatible server or hosted API at --base-url), "
                   "llamacpp-server (llama-cpp-python's server on 127.0.0.1) or vllm (`vllm serve` on 127.0.0.1).")
@click.option("--model", default="llama-3.1-8b", show_default=True,
              help="Catalog id (synthetic weights), a model file, or with --backend openai the served model name.")
@click.option("--quant", default="Q4_K_M", show_default=True, help="Quant type for a catalog model.")
@click.option("--base-url", default=None, help="--backend openai: the server, e.g. https://api.openai.com.")
@click.option("--api-key", default=None, help="--backend openai: API key [default: $OPENAI_API_KEY]; never written.")
@click.option("--endpoint", type=click.Choice(["completions", "chat"]), default=None,
              help="HTTP backends [default: chat when any task has messages, else completions].")
@click.option("--provider", default=None, help="Which API price row, where several providers list the model.")
@click.option("--ctx-size", type=int, default=None, help="Context size [default: room for the longest answer].")
@click.option("--threads", type=int, default=None, help="CPU threads (default: physical cores).")
@click.option("--gpu-layers", type=int, default=-1, show_default=True, help="Layers to offload to the GPU (-1 all).")
@click.option("--request-timeout", type=float, default=300.0, show_default=True, help="HTTP: seconds per task.")
@click.option("--results-dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--label", default=None, help="Name for this machine in results (default: hostname).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome document as JSON.")
@cost_options()
@click.pass_context
def eval_command(ctx, tasks, backend, model, quant, base_url, api_key, endpoint, provider, ctx_size, threads,
                 gpu_layers, request_timeout, results_dir, label, as_json, **cost):
    """Score your own tasks (JSON Lines) through a backend: accuracy, tokens, latency, $ per 1,000 tasks."""
    from bench.commands.cost_options import cost_settings
    from bench.evals.run import EvalConfig, execute
    from bench.ui import RichUI
    from contract.errors import BenchError

    settings, _ = cost_settings(cost)
    for name, value in (("--threads", threads), ("--ctx-size", ctx_size), ("--request-timeout", request_timeout)):
        if value is not None and value <= 0:
            raise BenchError(f"{name} must be positive, got {value}", f"for example {name} 4")
    if backend != "openai" and base_url:
        raise BenchError(f"--base-url is for --backend openai, not {backend}", "drop --base-url or use --backend openai")
    config = EvalConfig(tasks=tasks, backend=backend, model=model, quant=quant, base_url=base_url,
                        api_key=api_key or os.environ.get("OPENAI_API_KEY") or None, endpoint=endpoint,
                        provider=provider, request_timeout_s=request_timeout, results_dir=results_dir, label=label,
                        engine_options={"n_threads": threads, "n_gpu_layers": gpu_layers, "n_ctx": ctx_size,
                                        "verbose": bool(ctx.obj and ctx.obj.get("debug"))})
    ui = RichUI(quiet=as_json)
    outcome = execute(config, ui)
    if as_json:
        click.echo(json.dumps(outcome.doc, indent=2))
    else:
        for line in eval_lines(documents.outcome(outcome.doc, outcome.path), settings):
            ui.console.print(line, highlight=False, markup=False, soft_wrap=True)
        for err in outcome.doc["errors"]:
            ui.console.print(f"error: {err}", highlight=False, markup=False)
        ui.console.print(f"result: {outcome.path}", highlight=False)
    if outcome.warning:
        click.echo(f"warning: {outcome.warning}", err=True)
    sys.exit(outcome.exit_code)
