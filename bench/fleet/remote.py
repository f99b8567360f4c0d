"""What runs on a fleet node, inside its Ray worker: probe this machine, plan a RunRequest, and
run each model x quant's RunRequest in a process of its own, as `bench run` runs each of its
children (`python -m bench.commands.job`, bench/isolation.py): the same job file, the same
result rebuilt from the run's journal if that process dies. Nothing here parses a command line.

NodeRunner is a plain class; the driver makes it a threaded Ray actor pinned to the node, so
that `interrupt` can reach the run that `run` is waiting on."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engines.child_process import die_with_parent
from scenarios.request import RunRequest

# Set by Ray and meant for Ray's own workers: a run must choose its threads as it does at a shell.
_WORKER_ONLY_ENV = ("OMP_NUM_THREADS",)


class NodeRunner:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._stopping = False

    def describe(self) -> dict[str, Any]:
        """This node's hardware and environment, and the backend `bench run` would choose here
        without --backend: `choice`, (backend, why), or None with `error` saying why not."""
        import socket

        import hardware
        from bench import environment
        from engines.choose import default_backend

        info = hardware.probe()
        choice, error = None, None
        try:
            choice = list(default_backend(info))
        except Exception as exc:       # a broken engine install: said for this node, the others go on
            error = f"no backend could be chosen here: {type(exc).__name__}: {exc}"
        return {"hostname": socket.gethostname(), "hardware": info.to_dict(), "environment": environment.capture(),
                "choice": choice, "error": error}

    def plan(self, request_json: str) -> dict[str, Any]:
        """What the RunRequest would do here (bench/commands/node_plan.py): `plan`, a RunPlan as JSON,
        or None with `error`, the node's one line."""
        proc = subprocess.run([sys.executable, "-m", "bench.commands.node_plan"], input=request_json,
                              capture_output=True, text=True, env=_bench_env(None), timeout=600)
        if proc.returncode == 0:
            return {"plan": proc.stdout.strip().splitlines()[-1], "error": None}
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"plan": None, "error": lines[-1] if lines else f"the node plan exited with code {proc.returncode}"}

    def run(self, request_json: str, api_key: str | None = None) -> dict[str, Any]:
        """One model x quant's RunRequest here, its results in a scratch directory (this node's
        override of the request's results_dir); returns the documents it wrote, its exit code and
        its last error line. Never raises for a failed run."""
        from bench.isolation import OUTCOME_ENV, PARENT_ENV, child_argv, read_outcome, record_unwritten, write_job

        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="rightsize-fleet-") as scratch:
            request = RunRequest.from_json(request_json, "the fleet's run request").model_copy(
                update={"results_dir": Path(scratch)})
            job_fd, job_file = tempfile.mkstemp(prefix=".rightsize-job-", suffix=".json", dir=scratch)
            write_job(request, job_fd)
            os.close(job_fd)
            outcome_file = Path(scratch) / ".rightsize-outcome"
            outcome_file.touch()
            env = {**_bench_env(api_key), OUTCOME_ENV: str(outcome_file), PARENT_ENV: str(os.getpid())}
            with self._lock:
                if self._stopping:
                    return {"docs": [], "exit_code": 130, "error": "stopped before it started", "seconds": 0.0}
                self._proc = subprocess.Popen(child_argv(Path(job_file), debug=False), stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                                              preexec_fn=_as_at_a_shell(_node_niceness()))
            out, err = self._proc.communicate()
            code = self._proc.returncode
            with self._lock:
                self._proc = None
            outcome = read_outcome(code, outcome_file, out)
            if outcome.path is None and code != 2:
                # it died without writing its result: what it measured, from its journal, as `bench run` keeps it
                _, _, line = record_unwritten(outcome, Path(scratch), request.model, request.quant, request.backend,
                                              request.label, signal.SIGINT if self._stopping else None)
                err += f"\nerror: {request.model} {request.quant}: {line}\n"
            docs = []
            for f in sorted(Path(scratch).glob("*.json")):
                if f.name.startswith("."):
                    continue
                try:
                    docs.append(json.loads(f.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    continue
        errors = [ln.strip() for ln in err.splitlines() if ln.startswith("error:")]
        return {"docs": docs, "exit_code": code, "error": errors[-1] if errors and code else None,
                "seconds": time.monotonic() - started, "stdout": out}

    def interrupt(self) -> bool:
        """Ctrl-C for the run in progress, as at a terminal: it stops, writes what it measured
        (status interrupted) and returns through `run`. True if a run was there to stop."""
        with self._lock:
            self._stopping = True
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        return True


def _bench_env(api_key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _WORKER_ONLY_ENV}
    if api_key:
        env["OPENAI_API_KEY"] = api_key
    return env


def _node_niceness() -> int:
    """The priority the node's own Ray daemon runs at: the machine's, before Ray lowered its workers'."""
    try:
        return os.getpriority(os.PRIO_PROCESS, int(os.environ["RAY_RAYLET_PID"]))
    except (KeyError, ValueError, OSError):
        return 0


def _as_at_a_shell(niceness: int) -> Callable[[], None]:
    """A preexec_fn that gives `bench run` what it would have at a shell on the node:
    - the node's priority: Ray starts its workers at niceness 15 (worker_niceness), and a
      measurement at that priority loses the CPU to anything else running there. Raising it
      back needs root or CAP_SYS_NICE; without, the run goes on and its result says its niceness;
    - Ctrl-C: a Ray worker ignores or blocks SIGINT, and both survive exec;
    - a Ctrl-C if this worker dies."""
    def arm() -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        die_with_parent(signal.SIGINT)()
    return arm
