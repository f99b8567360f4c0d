"""One process per measured run: an engine that crashes or runs out of memory takes down
its own process, not the sweep, and its memory is returned before the next run starts.

The parent validates the command line once and hands each child a job file: the RunRequest of
one model x quant (scenarios/request.py), how to print it included. The child (`python -m
bench.commands.job JOB`) measures and writes its result as usual and reports the result's path
through a file. A child that dies without doing so gets a `failed` result written by the parent.
"""

from __future__ import annotations

import fcntl
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

from bench import environment
from bench.stop_signals import name_of, signal_of
from contract import storage
from contract.build import died_run, utc_now
from contract.documents import dump
from contract.enums import Status
from engines.child_process import die_with_parent
from scenarios.request import RunRequest

OUTCOME_ENV = "RIGHTSIZE_OUTCOME_FILE"
PARENT_ENV = "RIGHTSIZE_PARENT_PID"
# Never passed on a command line (other users can read it in `ps`): the child reads it here.
API_KEY_ENV = "OPENAI_API_KEY"


@dataclass
class ChildOutcome:
    exit_code: int
    path: Path | None
    status: str
    output: str           # what the child printed on stdout (its table, or its JSON)
    if_it_dies: str = ""  # the child's own explanation, written before its engine loaded
    journal: Path | None = None   # where it journaled what it measured (bench/journal.py)


def child_argv(job_file: Path, debug: bool) -> list[str]:
    """A child's command line (bench/commands/job.py): its job file, nothing to parse again."""
    return [sys.executable, "-m", "bench.commands.job", *(["--debug"] if debug else []), str(job_file)]


def write_job(request: RunRequest, job_fd: int) -> None:
    """The job file's content: the request, exactly as the child reads it back (read_job)."""
    os.write(job_fd, request.model_dump_json().encode("utf-8"))


def read_job(job_file: Path) -> RunRequest:
    """The child's job; the file is removed once read (the parent removes it too, if the child never starts)."""
    text = Path(job_file).read_text(encoding="utf-8")
    Path(job_file).unlink(missing_ok=True)
    return RunRequest.from_json(text, f"the job file {job_file}")


# How long a stopped child has to write what it measured before it is killed and its result is
# rebuilt from its journal: stopping its engine or server takes seconds, writing a result less.
STOP_DEADLINE_S = 30.0


def run_child(job: RunRequest, debug: bool, api_key: str | None) -> ChildOutcome:
    """Run one job (one model x quant's request, --json and the cost options in it) in a child
    process; `api_key` goes in its environment, never in the job. Its job and outcome files are
    hidden files in the results directory, removed on every way out this process has; one a
    SIGKILL left behind is never in /tmp."""
    job_fd, job_file = tempfile.mkstemp(prefix=".rightsize-job-", suffix=".json", dir=job.results_dir)
    write_job(job, job_fd)
    outcome_fd, outcome_file = tempfile.mkstemp(prefix=".rightsize-outcome-", dir=job.results_dir)
    try:
        # held while we live: what a SIGKILL of us and our child left, `bench results` removes (leftovers)
        for fd in (job_fd, outcome_fd):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _run_child(child_argv(Path(job_file), debug), api_key, Path(outcome_file))
    finally:
        os.close(job_fd)
        os.close(outcome_fd)
        Path(job_file).unlink(missing_ok=True)
        Path(outcome_file).unlink(missing_ok=True)


def leftovers(results_dir: Path) -> list[Path]:
    """Job and outcome files in `results_dir` of a parent that is gone (one killed with its child)."""
    from bench.journal import nobody_holds

    return [p for pattern in (".rightsize-job-*", ".rightsize-outcome-*")
            for p in Path(results_dir).glob(pattern) if nobody_holds(p)]


def _run_child(argv: list[str], api_key: str | None, outcome_file: Path) -> ChildOutcome:
    """Run `bench <argv>` in a child process. A Ctrl-C, SIGTERM or SIGHUP (stop_signals.Stopped)
    is passed on once, and the child given STOP_DEADLINE_S to write its result."""
    env = {**os.environ, OUTCOME_ENV: str(outcome_file), PARENT_ENV: str(os.getpid())}
    if api_key:
        env[API_KEY_ENV] = api_key
    if sys.stdout.isatty():
        # the child's stdout is a pipe: keep the table's colours and the terminal's width
        env.setdefault("FORCE_COLOR", "1")
        env.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
    # A terminal gets the child's progress bars live; anything else (a pipe, a test runner that
    # swapped sys.stderr) gets its stderr copied line by line as it comes.
    stderr = None if sys.stderr.isatty() else subprocess.PIPE
    # Its own session: a Ctrl-C at the terminal, or its closing, reaches only us, and we forward one.
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                            stderr=stderr, text=True, start_new_session=True,
                            # if we are killed, the child is told as by a closed terminal: it writes
                            # what it measured, stops its servers and exits
                            preexec_fn=die_with_parent(signal.SIGHUP))
    out: list[str] = []
    pumps = [threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)]  # type: ignore[union-attr]
    if stderr is not None:
        pumps.append(threading.Thread(target=_copy_lines, args=(proc.stderr, sys.stderr), daemon=True))
    for t in pumps:
        t.start()
    stopped_by = None
    try:
        proc.wait()
    except KeyboardInterrupt as stop:
        stopped_by = signal_of(stop)
        proc.send_signal(stopped_by)
        try:
            proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()              # its journal holds what it measured
            proc.wait()
    for t in pumps:
        t.join(timeout=STOP_DEADLINE_S)     # a server the child started may hold its pipes a while longer
    outcome = read_outcome(proc.returncode, outcome_file, "".join(out))
    if stopped_by is not None:
        outcome.status = outcome.status if outcome.path is not None else "interrupted"
        raise ChildInterrupted(outcome, stopped_by)
    return outcome


def read_outcome(exit_code: int, outcome_file: Path, output: str) -> ChildOutcome:
    """What a child that has exited said through its outcome file (report_stage, report_outcome)."""
    try:
        doc = json.loads(outcome_file.read_text() or "null") or {}
    except (OSError, ValueError):
        doc = {}
    stage = doc.get("stage") or {}
    done = "path" in doc
    return ChildOutcome(exit_code, Path(doc["path"]) if done else None, doc["status"] if done else "died", output,
                        stage.get("if_it_dies") or "", Path(stage["journal"]) if stage.get("journal") else None)


def _copy_lines(src, dst) -> None:
    """Our stderr may be gone (streams.Tolerant drops the lines then); the child's is still read
    to the end, so that it never blocks on a full pipe."""
    for line in src:
        dst.write(line)
        dst.flush()


class ChildInterrupted(KeyboardInterrupt):
    def __init__(self, outcome: ChildOutcome, signum: int = signal.SIGINT):
        super().__init__()
        self.outcome = outcome
        self.signum = signum


def report_stage(stage: dict) -> None:
    """Called in the child as the run goes on: what the parent should say if it dies (before the
    engine loads) and where its journal is. Each call adds to what the earlier ones said."""
    target = os.environ.get(OUTCOME_ENV)
    if target:
        try:
            said = json.loads(Path(target).read_text() or "{}").get("stage", {})
        except (OSError, ValueError):
            said = {}
        Path(target).write_text(json.dumps({"stage": {**said, **stage}}))


def report_outcome(path: Path, status: str) -> None:
    """Called in the child: tell the parent where the result went."""
    target = os.environ.get(OUTCOME_ENV)
    if target:
        Path(target).write_text(json.dumps({"path": str(path), "status": status}))


def clean_up_if_orphaned() -> None:
    """Called in the child on its way out: a parent that was killed left the outcome file to us."""
    target, parent = os.environ.get(OUTCOME_ENV), os.environ.get(PARENT_ENV)
    if target and parent and str(os.getppid()) != parent:
        Path(target).unlink(missing_ok=True)


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


def record_unwritten(outcome: ChildOutcome, results_dir: Path, model: str, quant: str, backend: str,
                     label: str | None, stopped_by: int | None) -> tuple[Path, str, str]:
    """The result of a child that wrote none: rebuilt from its journal where it kept one (every
    pass it measured), else a result with nothing measured. `stopped_by`: the signal the user
    stopped it with, if any. Returns (path, status, the one line to say)."""
    from bench.journal import rebuild

    how = f"the engine process {death(outcome.exit_code)}"
    said = f"{how}: {outcome.if_it_dies}" if outcome.if_it_dies else how     # what the child said it would mean
    status = Status.INTERRUPTED if stopped_by is not None else Status.FAILED
    stop = f"stopped by {name_of(stopped_by)} before it wrote a result" if stopped_by is not None else ""
    rebuilt = rebuild(outcome.journal, status, f"{stop} ({how})" if stop else said) if outcome.journal else None
    if rebuilt is not None:
        path, kept = rebuilt
        return path, status, f"{stop or said}; {kept} measured passes and requests kept from its journal in {path}"
    path = record_dead_child(results_dir, model, quant, backend, label, outcome.exit_code, outcome.if_it_dies,
                             interrupted=stopped_by is not None, stopped_by=stopped_by)
    return path, status, f"{stop or said}; recorded in {path}"


def record_dead_child(results_dir: Path, model: str, quant: str, backend: str, label: str | None,
                      exit_code: int, explanation: str = "", interrupted: bool = False,
                      stopped_by: int | None = None) -> Path:
    """A child that died without writing its result (crash, out-of-memory kill) still leaves one;
    `explanation` is what the child said, before loading its engine, to say if it died.
    `interrupted`: the user's Ctrl-C reached it before it could write one (during its engine's load)."""
    import socket

    now = utc_now()
    result = died_run(finished_at=now, label=label or socket.gethostname(), model=model, quant=quant,
                      backend=backend, environment=environment.capture(),
                      error=(f"stopped by {name_of(stopped_by or signal.SIGINT)} before it wrote a result (the engine process {death(exit_code)})"
                             if interrupted else
                             f"the engine process {death(exit_code)}" + (f": {explanation}" if explanation else "")),
                      status=Status.INTERRUPTED if interrupted else Status.FAILED)
    path, _ = storage.write_result_safely(dump(result), results_dir, result.run_id)
    return path
