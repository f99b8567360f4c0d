"""The one constructor of a run's result document, for a run that starts and for an engine
process that died without writing its own (bench/run.py and bench/isolation.py both use it)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from contract.enums import Status
from contract.result import SCHEMA_VERSION, RunResult
from contract.validity import run_validity


def utc_now() -> str:
    """Now, in UTC, to the second: how every document stamps a time ('2026-11-28T01:45:05+00:00')."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_id(started_at: str, label: str, *parts: str | None, unique: bool = False) -> str:
    """'2026-11-28T01:45:05+00:00', 'vm', 'tiny', 'Q4_K_M', 'llamacpp' ->
    '2026-11-28T014505Z-vm-tiny-Q4_K_M-llamacpp': the file name, safe on every filesystem.
    `unique` adds a random tail ('...-llamacpp-3f9a0c'), kept within the length: two runs
    started in the same second, with the same label, model and backend, never share an id."""
    stamp = started_at.replace("+00:00", "Z").replace(":", "")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(p for p in (stamp, label, *parts) if p))
    if not unique:
        return name[:160]
    tail = secrets.token_hex(3)
    return f"{name[:160 - len(tail) - 1]}-{tail}"


def run_document(*, run_id: str, label: str, started_at: str | None, config: dict[str, Any],
                 environment: dict[str, Any], model: dict[str, Any], status: Status = Status.RUNNING,
                 finished_at: str | None = None, backend: dict[str, Any] | None = None,
                 engine_health: dict[str, Any] | None = None, workarounds: list[dict[str, Any]] | None = None,
                 errors: list[str] | None = None) -> RunResult:
    """A run's document before anything is measured (its validity that of a run with no entries);
    the run fills in the rest of its sections as it measures."""
    return RunResult.model_validate({
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "label": label,
        "started_at": started_at,
        "finished_at": finished_at,
        "config": config,
        "environment": environment,
        "hardware": None,
        "bandwidth": None,
        "model": model,
        "backend": backend,
        "engine_health": engine_health,
        "workarounds": workarounds or [],
        "scenarios": [],
        "errors": list(errors or []),
        "validity": run_validity(status, []),
    })


def died_run(*, finished_at: str, label: str, model: str, quant: str, backend: str,
             environment: dict[str, Any], error: str, status: Status = Status.FAILED) -> RunResult:
    """The result of an engine process that died before writing its own: status failed (or
    interrupted, when the user's Ctrl-C stopped it first), nothing measured, `error` saying how it ended."""
    return run_document(run_id=run_id(finished_at, label, model, quant, backend, "died", unique=True), label=label,
                        started_at=None, finished_at=finished_at, status=status,
                        config={"model": model, "quant": quant, "backend": backend}, environment=environment,
                        model={"id": model, "quant": quant}, backend={"name": backend}, errors=[error])
