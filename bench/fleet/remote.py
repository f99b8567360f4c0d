"""What runs on a fleet node, inside its Ray worker: probe this machine, plan, and run one
`bench run` per model x quant in a process of its own, as `bench run` does locally.

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

# Set by Ray and meant for Ray's own workers: a `bench run` must choose its threads as it does at a shell.
_WORKER_ONLY_ENV = ("OMP_NUM_THREADS",)


class NodeRunner:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._stopping = False

    def describe(self, args: list[str]) -> dict[str, Any]:
        """This node's hardware and environment, and what `bench run ARGS` would do here
        (bench/commands/node_plan.py: backend, each combination and why it would be skipped)."""
        import socket

        import hardware
        from bench import environment

        info = hardware.probe().to_dict()
        proc = subprocess.run([sys.executable, "-m", "bench.commands.node_plan", *args], capture_output=True,
                              text=True, env=_bench_env(None), timeout=600)
        plan, error = None, None
        if proc.returncode == 0:
            plan = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            error = lines[-1] if lines else f"the node plan exited with code {proc.returncode}"
        return {"hostname": socket.gethostname(), "hardware": info, "environment": environment.capture(),
                "plan": plan, "error": error}

    def run(self, args: list[str], api_key: str | None = None) -> dict[str, Any]:
        """One `bench run ARGS` here, its results in a scratch directory; returns the documents
        it wrote, its exit code and its last error line. Never raises for a failed run."""
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="rightsize-fleet-") as scratch:
            argv = [sys.executable, "-m", "bench.commands.main", "run", *args, "--results-dir", scratch]
            with self._lock:
                if self._stopping:
                    return {"docs": [], "exit_code": 130, "error": "stopped before it started", "seconds": 0.0}
                self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                              env=_bench_env(api_key), start_new_session=True,
                                              preexec_fn=_as_at_a_shell(_node_niceness()))
            out, err = self._proc.communicate()
            code = self._proc.returncode
            with self._lock:
                self._proc = None
            docs = []
            for f in sorted(Path(scratch).glob("*.json")):
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
