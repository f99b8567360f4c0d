"""The `bench` command line: one group, each command a module of bench/commands/.

A command's module is imported only when that command runs, so `bench --help` imports click and
nothing of the suite (an engine import can take seconds; the result contract's pydantic models
a tenth of one).
"""

from __future__ import annotations

import importlib
import sys

import click

from contract.errors import BenchError

# command -> (module:attribute, its short help for `bench --help`, cut to the terminal's width as
# click cuts it). tests/test_cli_help.py checks each against the command's own docstring.
COMMANDS = {
    "run": ("bench.commands.run:run",
           'Benchmark a model on this machine and write a result file.'),
    "results": ("bench.commands.results:results",
               'List result files (default: ./results).'),
    "check": ("bench.commands.check:check_command",
             "Physics checks on result files: decode under the bandwidth ceiling, watts between idle and the power limit, device memory consistent with the engine's own figure."),
    "hardware": ("bench.commands.hardware:hardware_command",
                'Show detected hardware, how energy, power, memory, bandwidth and throttling will be measured on this machine (counter, integrated, estimated or unavailable), and whether the installed llama.cpp survives this CPU (its health probe, cached per machine and build).'),
    "engines": ("bench.commands.engines:engines_command",
               'Install an inference engine built for this machine.'),
    "models": ("bench.commands.models:models_command",
              'List catalog models x quantization x backend: size on disk, weight bytes read per generated token and KV-cache bytes per token.'),
    "plan": ("bench.commands.models:plan_command",
            'Which catalog models x quants fit in memory for a context and concurrency, and how much memory is left for the KV cache.'),
    "project": ("bench.commands.project:project_command",
               'PROJECTED (not measured) llama.cpp throughput, memory fit and cost on hardware you do not have, from published measurements and your own results; validated by leaving one machine out.'),
    "size": ("bench.commands.size:size_command",
            'How many boxes a demand needs and what they cost a month, from measured results (default: ./results).'),
    "prices": ("bench.commands.dashboard:prices_command",
              'API prices per 1M tokens (dated, sourced), or the hardware cost profiles.'),
    "dashboard": ("bench.commands.dashboard:dashboard_command",
                 'Build a static comparison site from result files and directories (works offline).'),
    "quality": ("bench.commands.quality:quality_command",
               'What each quantization loses against its reference: KL divergence, top-1 agreement, perplexity.'),
    "eval": ("bench.commands.eval:eval_command",
            'Score your own tasks (JSON Lines) through a backend: accuracy, tokens, latency, $ per 1,000 tasks.'),
    "cascade": ("bench.commands.cascade:cascade_command",
                'Accuracy and $ per 1,000 tasks of a cascade: two bench eval outcomes of one task file, the small model\'s and an API\'s.'),
    "fleet": ("bench.commands.fleet:fleet_command",
             "One `bench run` on each node of a Ray cluster (pip install 'rightsize[fleet]')."),
}


def load_command(name: str) -> click.Command:
    module, attribute = COMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module), attribute)


def one_line_errors(command: click.Command, args: list[str] | None = None) -> None:
    """Run a click command standalone; a BenchError is one line on stderr and its exit code
    (the traceback with --debug), as in the `bench` group."""
    try:
        command.main(args=args, standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except BenchError as exc:
        if "--debug" in (sys.argv[1:] if args is None else args):
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


def _cut(text: str, limit: int) -> str:
    """Whole words that fit in `limit` columns, then "...", as click cuts a command's short help."""
    if len(text) <= limit:
        return text
    kept = ""
    for word in text.split():
        if len(kept) + len(word) + 1 + 3 > limit:
            break
        kept = f"{kept} {word}" if kept else word
    return kept + "..."


class _Group(click.Group):
    """Commands loaded when they run; a BenchError is one line on stderr and a non-zero exit
    (--debug shows the traceback)."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, cmd_name):
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx, formatter):
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        with formatter.section("Commands"):
            formatter.write_dl([(name, _cut(COMMANDS[name][1], limit)) for name in names])

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


if __name__ == "__main__":
    main()
