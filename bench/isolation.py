"""One process per measured run: an engine that crashes or runs out of memory takes down
its own process, not the sweep, and its memory is returned before the next run starts.

The parent validates the command line once and hands each child a job file: the RunConfig of
one model x quant (RunConfig.to_dict) and how to print it. The child (`bench run --in-process
--run-config JOB`) measures and writes its result as usual and reports the result's path
through a file. A child that dies without doing so gets a `failed` result written by the parent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from bench import environment, storage
from bench.child_process import die_with_parent
from contract.build import died_run
from contract.enums import Status
from contract.documents import dump

OUTCOME_ENV = "RIGHTSIZE_OUTCOME_FILE"
# Never passed on a command line (other users can read it in `ps`): the child reads it here.
API_KEY_ENV = "OPENAI_API_KEY"


@dataclass
class ChildOutcome:
    exit_code: int
    path: Path | None
    status: str
    output: str           # what the child printed on stdout (its table, or its JSON)
    if_it_dies: str = ""  # the child's own explanation, written before its engine loaded


def child_argv(job_file: Path, debug: bool) -> list[str]:
    """The `bench run` command line of a child: its job file, nothing to parse again."""
    return (["--debug"] if debug else []) + ["run", "--in-process", "--run-config", str(job_file)]


def read_job(job_file: Path) -> dict:
    return json.loads(Path(job_file).read_text(encoding="utf-8"))


def run_child(job: dict, debug: bool, api_key: str | None) -> ChildOutcome:
    """Run one job (a RunConfig's dict, with --json and the cost options) in a child process."""
    fd, job_file = tempfile.mkstemp(prefix="rightsize-job-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(job, fh)
    try:
        return _run_child(child_argv(Path(job_file), debug), api_key)
    finally:
        Path(job_file).unlink(missing_ok=True)


def _run_child(argv: list[str], api_key: str | None) -> ChildOutcome:
    """Run `bench <argv>` in a child process; Ctrl-C is passed on once and waited for."""
    fd, outcome_file = tempfile.mkstemp(prefix="rightsize-outcome-")
    os.close(fd)
    env = {**os.environ, OUTCOME_ENV: outcome_file}
    if api_key:
        env[API_KEY_ENV] = api_key
    if sys.stdout.isatty():
        # the child's stdout is a pipe: keep the table's colours and the terminal's width
        env.setdefault("FORCE_COLOR", "1")
        env.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
    # A terminal gets the child's progress bars live; anything else (a pipe, a test runner that
    # swapped sys.stderr) gets its stderr copied line by line as it comes.
    stderr = None if sys.stderr.isatty() else subprocess.PIPE
    # Its own session: a Ctrl-C at the terminal reaches only us, and we forward exactly one.
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=stderr, text=True, start_new_session=True,
                            # if we are killed, the child gets a Ctrl-C: it still writes what it measured and stops its servers
                            preexec_fn=die_with_parent(signal.SIGINT))
    pump = None
    if stderr is not None:
        pump = threading.Thread(target=_copy_lines, args=(proc.stderr, sys.stderr), daemon=True)
        pump.start()
    assert proc.stdout is not None              # stdout=PIPE above
    try:
        out = proc.stdout.read()
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        out = proc.stdout.read()
        proc.wait()
        raise_after = True
    else:
        raise_after = False
    if pump is not None:
        pump.join()
    try:
        doc = json.loads(Path(outcome_file).read_text() or "null") or {}
    except (OSError, ValueError):
        doc = {}
    finally:
        Path(outcome_file).unlink(missing_ok=True)
    stage = doc.get("stage") or {}
    doc = doc if "path" in doc else None
    outcome = ChildOutcome(proc.returncode, Path(doc["path"]) if doc else None,
                           doc["status"] if doc else "died", out or "", stage.get("if_it_dies") or "")
    if raise_after:
        outcome.status = outcome.status if doc else "interrupted"
        raise ChildInterrupted(outcome)
    return outcome


def _copy_lines(src, dst) -> None:
    for line in src:
        dst.write(line)
        dst.flush()


class ChildInterrupted(KeyboardInterrupt):
    def __init__(self, outcome: ChildOutcome):
        super().__init__()
        self.outcome = outcome


def report_stage(stage: dict) -> None:
    """Called in the child before the engine loads: what the parent should say if it dies."""
    target = os.environ.get(OUTCOME_ENV)
    if target:
        Path(target).write_text(json.dumps({"stage": stage}))


def report_outcome(path: Path, status: str) -> None:
    """Called in the child: tell the parent where the result went."""
    target = os.environ.get(OUTCOME_ENV)
    if target:
        Path(target).write_text(json.dumps({"path": str(path), "status": status}))


def death(exit_code: int) -> str:
    """How a child ended without a result, in words: 'was killed by signal 11 (SIGSEGV)'."""
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = "unknown signal"
        return (f"was killed by signal {-exit_code} ({name}"
                f"{', likely out of memory' if -exit_code == signal.SIGKILL else ''})")
    return f"exited with code {exit_code} without writing a result"


def record_dead_child(results_dir: Path, model: str, quant: str, backend: str, label: str | None,
                      exit_code: int, explanation: str = "", interrupted: bool = False) -> Path:
    """A child that died without writing its result (crash, out-of-memory kill) still leaves one;
    `explanation` is what the child said, before loading its engine, to say if it died.
    `interrupted`: the user's Ctrl-C reached it before it could write one (during its engine's load)."""
    import datetime as dt
    import socket

    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    result = died_run(finished_at=now, label=label or socket.gethostname(), model=model, quant=quant,
                      backend=backend, environment=environment.capture(),
                      error=(f"stopped by Ctrl-C before it wrote a result (the engine process {death(exit_code)})"
                             if interrupted else
                             f"the engine process {death(exit_code)}" + (f": {explanation}" if explanation else "")),
                      status=Status.INTERRUPTED if interrupted else Status.FAILED)
    path, _ = storage.write_result_safely(dump(result), results_dir, result.run_id)
    return path
