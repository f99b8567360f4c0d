"""Every reader survives the results of runs that did not complete: a died engine process (no
hardware section), a run interrupted before its engine loaded, one interrupted mid-scenario. Each
says what is missing instead of printing a traceback."""

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from bench.isolation import record_dead_child
from dashboards.report import write_run_report
from dashboards.site import build_rows
from tests.waiting import journal_lines, measured, wait_for

pytestmark = pytest.mark.engine   # real bench runs, Ctrl-C'd


def _interrupted_run(results_dir, stage: str, ready: Callable[[], bool], extra: list[str]):
    """A real `bench run`, Ctrl-C'd once its stderr shows `stage` and `ready()` holds."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--model", "tiny", "--min-duration", "0",
                             "--results-dir", str(results_dir), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # stderr is read as it comes, so that a full pipe never stalls the run we wait for
    assert proc.stderr is not None             # stderr=PIPE
    lines: list[str] = []
    reader = threading.Thread(target=lines.extend, args=(proc.stderr,), daemon=True)
    reader.start()
    wait_for(lambda: stage in "".join(lines), 120, f"{stage!r} on stderr", proc)
    wait_for(ready, 120, f"the run ready to be stopped after {stage!r}", proc)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    reader.join(timeout=30)
    assert proc.returncode == 130, "".join(lines)


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory):
    d = tmp_path_factory.mktemp("unfinished")
    record_dead_child(d, "tiny", "Q4_K_M", "llamacpp", "box", -signal.SIGSEGV,
                      "the health probe saw llama.cpp with AMX crash here")
    # before the engine loads (in the 30 s idle baseline, the hardware probed), and once single-stream has measured
    _interrupted_run(d, "idle baseline", lambda: any("hardware" in ln.get("set", {}) for ln in journal_lines(d)),
                     ["--idle-seconds", "30"])
    _interrupted_run(d, "loading", lambda: measured(d) >= 1, ["--idle-seconds", "0", "--scenario", "single-stream",
                                                               "--requests", "100000", "--output-tokens", "4"])
    docs = {p: json.loads(p.read_text()) for p in d.glob("*.json")}
    kinds = sorted((doc["status"], bool(doc["scenarios"]), doc["hardware"] is None) for doc in docs.values())
    assert kinds == [("failed", False, True), ("interrupted", False, False), ("interrupted", True, False)], kinds
    return d, docs


def test_bench_results_lists_them_and_says_why_there_are_no_figures(unfinished):
    d, _ = unfinished
    r = CliRunner().invoke(main, ["results", str(d), "--json"])
    assert r.exit_code == 0 and r.exception is None, r.output
    why = sorted(row["why_no_figures"] for row in json.loads(r.stdout))
    assert why[0].startswith("failed before measuring: the engine process was killed by signal 11")
    assert why[1] == "interrupted before measuring"
    assert why[2] == "no valid pp, tg or load figure"      # single-stream only: its figures are in the file
    table = CliRunner().invoke(main, ["results", str(d)], env={"COLUMNS": "400"})
    assert table.exit_code == 0 and "n/a: failed before measuring" in table.stdout


def test_bench_check_skips_what_was_not_measured(unfinished):
    d, _docs = unfinished
    r = CliRunner().invoke(main, ["check", str(d)])
    assert r.exit_code == 0 and r.exception is None, r.output
    assert r.stdout.count("skip  measurements: nothing was measured") == 2
    assert "killed by signal 11 (SIGSEGV)" in r.stdout


def test_bench_dashboard_shows_them_with_the_reason(unfinished, tmp_path):
    d, _ = unfinished
    rows, _, warnings = build_rows([d])
    assert len(rows) == 3 and not [w for w in warnings if "malformed" in w]
    died = next(r for r in rows if r["status"] == "failed")
    assert died["missing"]["decode_tps"].startswith("the run failed before measuring: the engine process was killed")
    assert died["cost_na"] == died["missing"]["throughput"]
    r = CliRunner().invoke(main, ["dashboard", str(d), "-o", str(tmp_path / "site")])
    assert r.exit_code == 0 and r.exception is None, r.output


def test_the_html_report_renders_each_of_them(unfinished):
    _, docs = unfinished
    problems: list[str] = []
    for path, doc in docs.items():
        html = write_run_report(path, warn=problems.append)
        assert html is not None, problems
        text = html.read_text()
        assert "None" not in text.replace("none", "")
        if not doc["scenarios"]:
            assert f"Nothing was measured: the run {doc['status']}" in text
    assert problems == []


def test_a_child_stopped_by_ctrl_c_before_its_result_is_interrupted_not_failed(tmp_path):
    """Ctrl-C that reaches a run's process before it can write its result (say, while Python still
    imports): the user stopped it, the engine did not crash."""
    path = record_dead_child(tmp_path, "tiny", "Q4_K_M", "llamacpp", "box", -signal.SIGINT, interrupted=True)
    doc = json.loads(path.read_text())
    assert doc["status"] == "interrupted" and doc["validity"]["verdict"] == "INVALID"
    assert doc["errors"] == ["stopped by Ctrl-C before it wrote a result (the engine process was killed by "
                             "signal 2 (SIGINT))"]
