"""`bench run` over several models x quants: fit check, one process per run, failures contained."""

import json
import os
import signal
import subprocess
import sys
import threading

import psutil
import pytest
from click.testing import CliRunner

from bench.commands.main import main
from bench.commands.node_plan import node_plan
from tests.waiting import measured, wait_for

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
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # stderr is read as it comes, so that a full pipe never stalls the run we wait for
    assert proc.stderr is not None             # stderr=PIPE
    lines: list[str] = []
    reader = threading.Thread(target=lines.extend, args=(proc.stderr,), daemon=True)
    reader.start()
    parent = psutil.Process(proc.pid)

    def run_process(other_than: int | None = None) -> psutil.Process | None:
        kids = [c for c in parent.children() if c.pid != other_than and "bench.commands.job" in c.cmdline()]
        return kids[0] if kids else None

    child = wait_for(run_process, 120, "the first run's process started", proc)
    # kill it once it is measuring (a pass in its journal), as the OOM killer would
    wait_for(lambda: measured(tmp_path, quant="Q4_K_M") >= 1, 120, "the first run measured a request", proc)
    os.kill(child.pid, signal.SIGKILL)
    # the second combination would run for minutes: interrupt it once it is measuring too
    wait_for(lambda: run_process(other_than=child.pid), 120, "the sweep started its second run", proc)
    wait_for(lambda: measured(tmp_path, quant="Q8_0") >= 1, 120, "the second run measured a request", proc)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    reader.join(timeout=30)
    err = "".join(lines)
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
    from bench.commands.run import parse_run, run
    from scenarios.request import RunPlan

    results = tmp_path / "never-made"
    ctx = run.make_context("run", ["--model", "tiny,qwen2.5-14b", "--quant", "F16", *FAST, "--results-dir",
                                   str(results)], obj={"debug": False})
    request = parse_run(ctx, **ctx.params).request
    r = CliRunner().invoke(node_plan, [], input=request.model_dump_json())
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert RunPlan.model_validate(plan).backend == "llamacpp"
    assert plan["backend"] == "llamacpp" and "llamacpp" in plan["backend_reason"] and plan["fit_source"]
    assert [(c["model"], c["quant"], c["skip_reason"] is None) for c in plan["combinations"]] == [
        ("tiny", "F16", True), ("qwen2.5-14b", "F16", False)]
    assert "GiB" in plan["combinations"][1]["skip_reason"]
    assert not results.exists()
