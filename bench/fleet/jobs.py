"""The run a fleet sends every node, and what makes a rerun resume.

`bench fleet run RUN_ARGS` checks RUN_ARGS once, on the driver, with `bench run`'s own parser
(bench/commands/fleet.py), so a typo is one line before any node is asked anything. What it
hands the fleet is a RunOptions: the RunRequest (scenarios/request.py) for a node's backend —
each node may choose its own for its hardware, and the quant, the default scenarios and the
engine options follow the backend — plus the options that make the resume key. Each node then
gets, per model x quant, that request with its own combination and label (bench/fleet/driver.py);
nothing on a node parses a command line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.enums import Status
from contract.result import RunResult
from scenarios.request import RunRequest

# Not part of what was measured, so not part of the resume key.
NOT_IN_KEY = {"model", "quant", "api_key", "idle_seconds"}


@dataclass
class RunOptions:
    """`bench run` options as the user gave them, checked once by `bench run`'s parser."""
    request_for: Callable[[tuple[str, str] | None], RunRequest]
    """(a node's default backend, why) -> the sweep's request there (bench/commands/run.py, parse_run);
    raises BenchError for options that backend refuses. With --backend given, the choice is not used."""
    key_params: dict[str, Any]      # the options that were given, by name: the config part of the resume key
    api_key: str | None             # --api-key as given: to the nodes in the environment, never in a request

    def job_key(self, backend: str, model: str, quant: str) -> str:
        """Same options, backend, model and quant: the same job. With the node's hardware
        fingerprint it says whether a node has measured it already."""
        text = json.dumps({"options": self.key_params, "backend": backend, "model": model, "quant": quant},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def key_params(given: dict[str, Any]) -> dict[str, Any]:
    """The resume key's options: those given (by name, as `bench run`'s parser gave their values).
    A file (--trace, --workloads) enters by its bytes as well as its name: a trace edited in place
    is a different job, not one already measured."""
    return {k: _plain(v) for k, v in sorted(given.items()) if k not in NOT_IN_KEY}


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        if value.is_file():
            return {"path": str(value), "sha256": hashlib.sha256(value.read_bytes()).hexdigest()}
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


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
