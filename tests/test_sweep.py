"""`bench run` over several models x quants: fit check, one process per run, failures contained."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from click.testing import CliRunner

from bench.commands.main import main
from bench.commands.node_plan import node_plan

pytestmark = pytest.mark.engine   # real bench runs, one child each

FAST = ["--scenario", "tg8", "--repetitions", "3", "--min-duration", "0", "--idle-seconds", "0"]


def test_sweep_runs_each_combination_and_skips_what_cannot_fit(tmp_path):
    # (never let a 14B model fit here: the test would build and run it)
    r = CliRunner().invoke(main, ["run", "--model", "tiny,qwen2.5-14b", "--quant", "F16", *FAST,
                                  "--results-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    docs = json.loads(r.stdout)
    assert [(d["model"]["id"], d["model"]["quant"], d["status"]) for d in docs] == [("tiny", "F16", "completed")]
    assert len(list(tmp_path.glob("*.json"))) == 1
    # 14.7 B parameters at F16 need ~29 GiB: more than this machine (or CI's, the same kind) has
    assert "skipped qwen2.5-14b F16: does not fit" in r.stderr
    assert "GiB" in r.stderr


def test_unknown_quant_in_a_sweep_fails_before_anything_runs(tmp_path):
    r = CliRunner().invoke(main, ["run", "--model", "tiny", "--quant", "Q4_K_M,Q9", *FAST,
                                  "--results-dir", str(tmp_path)])
    assert r.exit_code == 2 and "Q9" in r.stderr
    assert not list(tmp_path.glob("*.json"))


def test_a_crashed_engine_process_is_recorded_and_the_sweep_goes_on(tmp_path):
    """SIGKILL the first run's process (as the OOM killer would): a failed result, then the next run."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--model", "tiny", "--quant", "Q4_K_M,Q8_0",
         "--scenario", "single-stream", "--requests", "100000", "--output-tokens", "4", "--min-duration", "0",
         "--idle-seconds", "0", "--results-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 120
    child = None
    while time.time() < deadline and child is None:
        kids = [c for c in parent.children() if "bench.commands.job" in c.cmdline()]
        child = kids[0] if kids else None
        time.sleep(0.2)
    assert child is not None, "no child process for the first run"
    time.sleep(3.0)                       # let it load and measure for a while
    os.kill(child.pid, signal.SIGKILL)
    # the second combination would run for minutes: interrupt it once it has started
    second = None
    while time.time() < deadline and second is None:
        kids = [c for c in parent.children() if c.pid != child.pid and "bench.commands.job" in c.cmdline()]
        second = kids[0] if kids else None
        time.sleep(0.2)
    assert second is not None, "the sweep stopped after the crash"
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    docs = {d["model"]["quant"]: d for d in (json.loads(p.read_text()) for p in tmp_path.glob("*.json"))}
    assert docs["Q4_K_M"]["status"] == "failed"
    assert "killed by signal 9" in docs["Q4_K_M"]["errors"][0]
    assert docs["Q8_0"]["status"] == "interrupted"
    assert "Traceback" not in err


def test_two_quants_give_two_results(tmp_path):
    r = CliRunner().invoke(main, ["run", "--model", "tiny", "--quant", "Q4_K_M,Q8_0", *FAST,
                                  "--results-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    quants = sorted(json.loads(p.read_text())["model"]["quant"] for p in tmp_path.glob("*.json"))
    assert quants == ["Q4_K_M", "Q8_0"]
    assert "sweep: 2 combinations" in r.stdout


def test_plan_says_what_would_run_here_and_measures_nothing(tmp_path):
    """The node plan (bench/commands/node_plan.py, what `bench fleet` asks each node): the backend, each combination and why
    it would be skipped; nothing built, measured or written."""
    results = tmp_path / "never-made"
    r = CliRunner().invoke(node_plan, ["--model", "tiny,qwen2.5-14b", "--quant", "F16", *FAST,
                                       "--results-dir", str(results)])
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["backend"] == "llamacpp" and "llamacpp" in plan["backend_reason"] and plan["fit_source"]
    assert [(c["model"], c["quant"], c["skip_reason"] is None) for c in plan["combinations"]] == [
        ("tiny", "F16", True), ("qwen2.5-14b", "F16", False)]
    assert "GiB" in plan["combinations"][1]["skip_reason"]
    assert not results.exists()
