"""The `bench run` options a fleet run passes to every node, and what makes a rerun resume.

The options are checked here, once, by `bench run`'s own parser, so a typo is one line on the
driver before any node is asked anything. Each node then runs `bench run OPTIONS --model M --quant Q`
per combination (click keeps the last of a repeated option)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from contract.enums import Status
from contract.errors import BenchError
from contract.result import RunResult

# Options the driver owns: where results go, how they are printed, and what names a node.
_REFUSED = {
    "label": "each node's results carry its own name (label it with `ray start --labels=rightsize-name=NAME`)",
    "results_dir": "results stream back to the driver; give --results-dir to `bench fleet run` itself",
    "as_json": "the driver prints each node's progress; read the result files instead",
}
# Not part of what was measured, so not part of the resume key.
_NOT_IN_KEY = {"model", "quant", "api_key", "idle_seconds"}


@dataclass
class RunOptions:
    """`bench run` options as the user gave them, checked by `bench run`'s parser."""
    args: list[str]
    key_params: dict[str, Any]      # the options that were given, by name: the config part of the resume key
    api_key: str | None

    @classmethod
    def parse(cls, args: list[str] | tuple[str, ...], run_command: click.Command) -> RunOptions:
        """`run_command`: `bench run` itself (the fleet CLI hands it down; nothing here imports the CLI)."""
        args = list(args)
        try:
            ctx = run_command.make_context("run", list(args), resilient_parsing=False)
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
                flag = "--" + {"as_json": "json", "plan_only": "plan"}.get(name, name).replace("_", "-")
                raise BenchError(f"{flag} is not a `bench fleet run` option: {why}", f"drop {flag}")
        api_key = given.get("api_key")
        if api_key is not None:
            args = _without_option(args, "--api-key")     # to the nodes in the environment, never on a command line
        key_params = {k: _plain(v) for k, v in sorted(given.items()) if k not in _NOT_IN_KEY}
        return cls(args=args, key_params=key_params, api_key=api_key)

    def for_combination(self, model: str, quant: str) -> list[str]:
        return [*self.args, "--model", model, "--quant", quant]

    def job_key(self, backend: str, model: str, quant: str) -> str:
        """Same options, backend, model and quant: the same job. With the node's hardware
        fingerprint it says whether a node has measured it already."""
        text = json.dumps({"options": self.key_params, "backend": backend, "model": model, "quant": quant},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _without_option(args: list[str], flag: str) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out


def already_measured(results: list[tuple[Path, Any]]) -> dict[tuple[str, str, str], Path]:
    """(node name, hardware fingerprint, job key) -> the completed fleet result that measured it."""
    done: dict[tuple[str, str, str], Path] = {}
    for path, doc in results:
        if not isinstance(doc, RunResult) or doc.fleet is None or doc.status != Status.COMPLETED:
            continue
        fingerprint = doc.hardware.fingerprint if doc.hardware is not None else None
        if fingerprint:
            done[(doc.fleet.name, fingerprint, doc.fleet.job_key)] = path
    return done
