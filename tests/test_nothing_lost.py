"""Nothing measured is lost: SIGTERM, a closed terminal, a killed engine process, both processes
killed, two runs at once into one directory. Real signals to a real `bench run` on the tiny model
through llama.cpp; each test waits on the run's journal (bench/journal.py) for measured passes,
takes what it holds at that moment, sends the signal, and finds every one of those passes in the
result."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from bench.commands.main import main
from contract.build import run_id
from contract.result import SCHEMA_VERSION
from contract.storage import write_result

pytestmark = pytest.mark.engine   # real bench runs, signalled and killed

# single-stream with this many requests runs for many minutes: the signal always lands mid-run
ENDLESS = ["--model", "tiny", "--scenario", "single-stream", "--requests", "100000", "--output-tokens", "4",
           "--min-duration", "0", "--idle-seconds", "0"]
DEADLINE_S = 300.0


def _start(results_dir: Path, *extra: str, **popen) -> subprocess.Popen:
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "bench", "run", *ENDLESS, "--results-dir", str(results_dir),
                             *extra], text=True, **popen)


def _journaled(results_dir: Path) -> list[float]:
    """The e2e_s samples the run's journal holds now, in order (a line being written is skipped)."""
    out: list[float] = []
    for path in results_dir.glob("*.journal.jsonl"):
        for line in path.read_text().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if "pass" in obj:
                out.extend(obj["add"].get("e2e_s", []))
    return out


def _wait_for_passes(results_dir: Path, proc: subprocess.Popen, n: int = 3, drain=None) -> list[float]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        kept = _journaled(results_dir)
        if len(kept) >= n:
            return kept
        assert proc.poll() is None, f"bench exited ({proc.returncode}) before measuring {n} passes"
        if drain:
            drain()
        time.sleep(0.1)
    raise AssertionError(f"no {n} measured passes journaled within {DEADLINE_S:g} s")


def _result(results_dir: Path) -> dict:
    files = list(results_dir.glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def _check_kept(results_dir: Path, before: list[float], status: str) -> dict:
    doc = _result(results_dir)
    assert doc["status"] == status, doc["errors"]
    samples = doc["scenarios"][0]["samples"]["e2e_s"]
    assert samples[:len(before)] == before, "a pass measured before the signal is missing from the result"
    # nothing left behind: no journal, no job or outcome file, no temp file of a write
    assert sorted(p.name for p in results_dir.iterdir() if not p.name.endswith((".json", ".html"))) == []
    return doc


def test_sigterm_is_a_ctrl_c_and_keeps_every_pass(tmp_path):
    proc = _start(tmp_path)
    before = _wait_for_passes(tmp_path, proc)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "stopped by SIGTERM" in err
    _check_kept(tmp_path, before, "interrupted")


def test_a_closed_terminal_is_a_sighup_and_keeps_every_pass(tmp_path):
    """bench on a terminal of its own (a pty, as ssh or tmux gives it), which then closes: the
    kernel hangs it up, the run stops, and every write to the gone terminal fails with EIO."""
    master, slave = pty.openpty()

    def own_terminal() -> None:           # after setsid: the pty becomes the session's terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = _start(tmp_path, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                  preexec_fn=own_terminal)
    os.close(slave)

    def drain() -> None:                  # read what is drawn, or the run would block on a full terminal
        while select.select([master], [], [], 0)[0]:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:
                return

    before = _wait_for_passes(tmp_path, proc, drain=drain)
    os.close(master)                      # the terminal goes away
    proc.wait(timeout=DEADLINE_S)
    assert proc.returncode == 129
    _check_kept(tmp_path, before, "interrupted")


def test_a_killed_engine_process_keeps_every_pass_it_measured(tmp_path):
    """SIGKILL of the run's process (as the out-of-memory killer does): its parent rebuilds the
    result from the journal, with every pass measured before the kill."""
    proc = _start(tmp_path)
    before = _wait_for_passes(tmp_path, proc)
    child = next(c for c in psutil.Process(proc.pid).children() if "bench.commands.job" in c.cmdline())
    child.kill()
    child.wait(timeout=60)
    kept = _journaled(tmp_path)           # what it had measured when it died: all it will ever have
    _out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 1, err
    assert "killed by signal 9" in err and "kept from its journal" in err and "Traceback" not in err
    doc = _check_kept(tmp_path, before, "failed")
    assert doc["scenarios"][0]["samples"]["e2e_s"] == kept
    assert doc["scenarios"][0]["status"] == "interrupted"
    assert "killed by signal 9" in doc["errors"][-1]


def test_a_killed_parent_leaves_the_run_to_save_itself(tmp_path):
    """SIGKILL of bench itself: its run's process is told as by a closed terminal, and saves."""
    proc = _start(tmp_path)
    before = _wait_for_passes(tmp_path, proc)
    child = next(c for c in psutil.Process(proc.pid).children() if "bench.commands.job" in c.cmdline())
    proc.kill()
    proc.communicate(timeout=60)
    child.wait(timeout=DEADLINE_S)
    doc = _check_kept(tmp_path, before, "interrupted")
    assert doc["scenarios"][0]["status"] == "interrupted"


def test_bench_results_rebuilds_a_run_whose_processes_all_died(tmp_path):
    """bench and its run's process both killed, with nobody to rebuild the result: `bench results`
    does, and removes what bench left. (The run's process is stopped first, so that bench's death
    cannot make it save its result itself before it is killed.)"""
    proc = _start(tmp_path)
    _wait_for_passes(tmp_path, proc)
    child = next(c for c in psutil.Process(proc.pid).children() if "bench.commands.job" in c.cmdline())
    child.suspend()
    kept = _journaled(tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    child.kill()
    child.wait(timeout=60)
    assert list(tmp_path.glob(".rightsize-outcome-*")), "bench, killed, left its outcome file"
    r = CliRunner().invoke(main, ["results", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert "warning: rebuilt" in r.stderr and f"{len(kept)} measured passes and requests kept" in r.stderr
    rows = json.loads(r.stdout)
    assert [row["status"] for row in rows] == ["failed"]
    doc = _check_kept(tmp_path, kept, "failed")
    assert doc["scenarios"][0]["samples"]["e2e_s"] == kept


# -- two runs at once ------------------------------------------------------------------------

def _collide(barrier, results_dir: str, queue) -> None:
    """One of two runs: both wait at the barrier, then name and write their result in the same instant."""
    barrier.wait(timeout=60)
    name = run_id("2026-12-07T05:00:00+00:00", "box", "tiny", "Q4_K_M", "llamacpp", unique=True)
    doc = {"schema_version": SCHEMA_VERSION, "run_id": name, "pid": os.getpid()}
    queue.put((str(write_result(doc, Path(results_dir), name)),
               str(write_result(doc, Path(results_dir), "the-same-name"))))   # even a name they share


def test_two_runs_started_together_into_one_directory_keep_two_results(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_collide, args=(barrier, str(tmp_path), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    written = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    paths = [Path(p) for pair in written for p in pair]
    assert len(set(paths)) == 4 and sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    pids = {json.loads(p.read_text())["pid"] for p in paths if p.name.startswith("the-same-name")}
    assert len(pids) == 2


def test_results_are_created_with_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        assert (write_result({"x": 1}, tmp_path, "open").stat().st_mode & 0o777) == 0o644
        os.umask(0o077)
        assert (write_result({"x": 1}, tmp_path, "private").stat().st_mode & 0o777) == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize("broken", ["pipe", "closed"])
def test_output_whose_reader_is_gone_costs_nothing(broken):
    """A write to a pipe nobody reads, or a closed file: dropped, and every later one too."""
    from bench.streams import Tolerant

    r, w = os.pipe()
    stream = os.fdopen(w, "w")
    if broken == "pipe":
        os.close(r)
    else:
        stream.close()
        os.close(r)
    t = Tolerant(stream)
    assert t.write("progress\n") == len("progress\n")
    t.flush()
    assert t.broken and t.write("more\n") == len("more\n")


# -- exit codes scripts can trust ----------------------------------------------------------------

def test_a_run_in_which_every_request_failed_exits_non_zero(tmp_path):
    """It ran to its end and measured nothing: exit 3 (README, Exit codes), not 0."""
    from tests.load.sse_server import ERROR_500, OK, FakeServer

    probe = [300, 301, 302, 303]         # the backend's probe of the request form it may use
    with FakeServer(lambda n, body: OK if body.get("prompt") == probe else ERROR_500) as url:
        r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", url, "--model", "fake",
                                      "--scenario", "single-stream", "--requests", "3", "--min-duration", "0",
                                      "--idle-seconds", "0", "--results-dir", str(tmp_path)])
    doc = _result(tmp_path)
    assert doc["status"] == "completed" and doc["scenarios"][0]["summary"]["errors"]["measured"] == 3, r.output
    assert r.exit_code == 3, r.output


def test_the_default_request_timeout_is_scaled_to_the_request():
    from engines.base import request_deadline_s

    assert request_deadline_s(None, 32) < 300 < request_deadline_s(None, 1024)
    assert request_deadline_s(None, 64) < request_deadline_s(None, 128)
    assert request_deadline_s(20.0, 1024) == 20.0          # --request-timeout, where given, is the bound


def test_a_killed_load_run_keeps_every_request_that_ended(tmp_path):
    """The same over HTTP under load: each request that ended is journaled whole (its trace),
    and the level is rebuilt from them."""
    from engines.clock import RequestTrace
    from tests.load.sse_server import FakeServer

    with FakeServer(interval_s=0.005) as url:
        proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--backend", "openai", "--base-url", url,
                                 "--model", "fake", "--scenario", "chat", "--concurrency", "2", "--requests", "100000",
                                 "--min-duration", "0", "--idle-seconds", "0", "--results-dir", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def ended() -> list[dict]:
            lines = [json.loads(line) for p in tmp_path.glob("*.journal.jsonl")
                     for line in p.read_text().splitlines()[:-1]]      # the last may be half written
            return [o["trace"] for o in lines if "request" in o and o["trace"]["measured"]]

        deadline = time.monotonic() + DEADLINE_S
        while len(ended()) < 5:
            assert proc.poll() is None and time.monotonic() < deadline, "no 5 measured requests journaled"
            time.sleep(0.1)
        child = next(c for c in psutil.Process(proc.pid).children() if "bench.commands.job" in c.cmdline())
        child.kill()
        child.wait(timeout=60)
        kept = [t for p in tmp_path.glob("*.journal.jsonl") for line in p.read_text().splitlines()
                if "request" in (o := json.loads(line)) and (t := o["trace"])["measured"]]
        _out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 1 and "kept from its journal" in err, err
    doc = _result(tmp_path)
    level = doc["scenarios"][0]
    assert doc["status"] == "failed" and level["status"] == "interrupted" and level["name"] == "chat@c2"
    assert level["measured_requests"] == len(kept) >= 5
    assert level["samples"]["e2e_s"] == [RequestTrace(**t).e2e_s for t in kept]
