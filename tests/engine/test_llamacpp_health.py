"""The llama.cpp health probe against a real crash: a child that dies by SIGSEGV, on whatever CPU
this is. tests/engine/crashing_probe.py runs the real probe and then faults when CPU_REPACK is
kept, standing in for llama.cpp's AMX kernels on the Xeons where they crash."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from bench.commands.main import main
from contract.errors import BackendError
from engines.llamacpp import health as llamacpp_health
from engines.llamacpp import kernels as llamacpp_kernels
from engines.llamacpp.engine import default_threads
from engines.llamacpp.health import CRASHED, OK, ProbeConfig, candidates, choose_kernels, run_probe
from tests.waiting import measured, wait_for

pytestmark = pytest.mark.engine   # real llama.cpp probes and bench runs

CRASHING = [sys.executable, str(Path(__file__).with_name("crashing_probe.py"))]
NEVER = [sys.executable, "-c", "import sys; sys.exit('a cached verdict must not run the probe again')"]
# the settings `bench run --model tiny` uses by default, so its probes hit the verdicts seeded here
RUN_DEFAULTS = {"n_threads": default_threads()}
FAST = ["--min-duration", "0", "--idle-seconds", "0", "--repetitions", "3"]


@pytest.fixture
def health_cache(tmp_path, monkeypatch):
    """A cache of this test's own for the verdicts it seeds; the session's bandwidth figure is
    copied in, so runs do not measure it again."""
    cache = tmp_path / "cache"
    cache.mkdir()
    for f in Path(os.environ["RIGHTSIZE_CACHE"]).glob("bandwidth-*.json"):
        shutil.copy(f, cache / f.name)
    monkeypatch.setenv("RIGHTSIZE_CACHE", str(cache))
    return cache


def test_this_build_lists_its_kernels_and_can_leave_them_out(tiny_gguf):
    available = llamacpp_kernels.available()
    assert REPACK_OR_SKIP(available)
    config = ProbeConfig((), "Q4_K_M", 2, -1, None, 2048, 512)
    verdict = run_probe(config, tiny_gguf)
    assert verdict.outcome == OK, verdict
    assert verdict.report is not None
    # the child loaded every weight into plain CPU memory: no repacked buffer at all
    assert verdict.report["kernels"]["extra_buffer_types"] == []
    assert "CPU_REPACK" not in verdict.report["kernels"]["model_buffers_mib"]
    with_repack = run_probe(ProbeConfig(("CPU_REPACK",), "Q4_K_M", 2, -1, None, 2048, 512), tiny_gguf)
    assert with_repack.report is not None
    assert with_repack.report["kernels"]["model_buffers_mib"]["CPU_REPACK"] > 0
    assert with_repack.report["decoded"] == 4 and with_repack.report["batched"] == 6


def REPACK_OR_SKIP(available):
    if "CPU_REPACK" not in available:
        pytest.skip(f"this llama.cpp build has no CPU_REPACK kernels here (extra buffer types: {available})")
    return True


def test_a_probe_that_dies_by_a_signal_is_a_crash(tiny_gguf):
    verdict = run_probe(ProbeConfig(("CPU_REPACK",), "Q4_K_M", 2, -1, None, 2048, 512), tiny_gguf, CRASHING)
    assert verdict.outcome == CRASHED and verdict.broken
    assert verdict.signal == "SIGSEGV" and verdict.exit_code == -signal.SIGSEGV
    assert verdict.why() == "probe died with SIGSEGV"
    # the same child without the crashing kernels passes: the verdict is about the configuration
    assert run_probe(ProbeConfig((), "Q4_K_M", 2, -1, None, 2048, 512), tiny_gguf, CRASHING).ok


def test_a_crash_falls_back_to_kernels_that_work_and_the_verdict_is_cached(health_cache, tmp_path, monkeypatch):
    REPACK_OR_SKIP(llamacpp_kernels.available())
    calls = tmp_path / "calls"
    monkeypatch.setenv("CALLS_FILE", str(calls))
    choice = choose_kernels("Q4_K_M", RUN_DEFAULTS, CRASHING)
    assert choice.kept == [] and "CPU_REPACK" in choice.available
    w = choice.workaround
    assert w is not None
    # (on a CPU with AMX the probe tries AMX + CPU_REPACK, then CPU_REPACK, then neither)
    assert w["line"].startswith("llama.cpp's ") and "CPU_REPACK kernels crash on this CPU" in w["line"]
    assert "died with SIGSEGV" in w["line"]
    assert w["line"].endswith(": measuring without extra buffer types (as llama-bench --repack 0)")
    assert [e["outcome"] for e in w["evidence"]][-2:] == ["crashed", "ok"]
    assert w["evidence"][0]["signal"] == "SIGSEGV" and w["kernels_used"] == []
    assert "--engine-option repack=on" in w["override"]
    probes = len(calls.read_text().splitlines())
    assert probes == len(w["evidence"])
    # a second run on this machine and build reads the verdicts instead of probing
    again = choose_kernels("Q4_K_M", RUN_DEFAULTS, NEVER)
    assert again.kept == [] and all(v.cached for v in again.verdicts)
    assert len(calls.read_text().splitlines()) == probes
    # other settings are another configuration: probed afresh
    other = choose_kernels("Q4_K_M", {**RUN_DEFAULTS, "n_ubatch": 256}, CRASHING)
    assert other.kept == [] and not any(v.cached for v in other.verdicts)


def test_candidates_try_without_amx_first_then_without_any():
    both = ["AMX", "CPU_REPACK"]
    auto = {"amx": "auto", "repack": "auto"}
    assert candidates(both, auto) == [both, ["CPU_REPACK"], []]
    assert candidates(["CPU_REPACK"], auto) == [["CPU_REPACK"], []]
    assert candidates([], auto) == [[]]
    assert candidates(both, {"amx": "off", "repack": "auto"}) == [["CPU_REPACK"], []]
    assert candidates(both, {"amx": "auto", "repack": "on"}) == [both, ["CPU_REPACK"]]
    assert candidates(both, {"amx": "on", "repack": "off"}) == [["AMX"]]
    with pytest.raises(BackendError, match="has no AMX kernels"):
        candidates(["CPU_REPACK"], {"amx": "on", "repack": "auto"})


def test_amx_crash_message_names_the_upstream_issue():
    crashed = llamacpp_health.Verdict(CRASHED, {}, -11, "SIGSEGV")
    assert llamacpp_health._crash_phrase(["AMX"], [crashed]) == (
        "llama.cpp's AMX kernels crash on this CPU (probe died with SIGSEGV; upstream llama.cpp #20824 "
        "(https://github.com/ggml-org/llama.cpp/issues/20824))")


def test_every_configuration_crashing_is_one_line_before_measuring(health_cache, tmp_path):
    always = tmp_path / "always_crash.py"
    always.write_text("import ctypes; ctypes.string_at(0)\n")
    with pytest.raises(BackendError, match="crashes on this machine in every kernel configuration"):
        choose_kernels("Q4_K_M", RUN_DEFAULTS, [sys.executable, str(always)])


def seed_crash(health_cache):
    """Verdicts from a real crash, for the configurations `bench run --model tiny` will ask about."""
    choice = choose_kernels("Q4_K_M", RUN_DEFAULTS, CRASHING)
    assert choice.workaround, "the seeded crash did not take"
    return choice


def test_bench_run_falls_back_says_so_and_records_the_evidence(health_cache, tmp_path):
    REPACK_OR_SKIP(llamacpp_kernels.available())
    seed_crash(health_cache)
    out = tmp_path / "r"
    r = CliRunner().invoke(main, ["run", "--model", "tiny", "--scenario", "pp64,tg16", *FAST, "--results-dir", str(out)])
    assert r.exit_code == 0, r.output
    err, out_text = " ".join(r.stderr.split()), " ".join(r.stdout.split())     # the terminal's line wrapping
    assert "CPU_REPACK kernels crash on this CPU" in err and "died with SIGSEGV" in err
    doc = json.loads(next(out.glob("*.json")).read_text())
    (w,) = doc["workarounds"]
    assert w["kernels_used"] == [] and w["evidence"][0]["signal"] == "SIGSEGV"
    kernels = doc["backend"]["kernels"]
    assert kernels["extra_buffer_types"] == [] and "CPU_REPACK" not in kernels["model_buffers_mib"]
    assert doc["engine_health"]["kept"] == []
    assert doc["status"] == "completed"
    # the summary under the table and the HTML report say it too
    assert "workaround: llama.cpp's" in out_text and "CPU_REPACK kernels crash" in out_text
    html = next(out.glob("*.html")).read_text()
    assert "CPU_REPACK kernels crash on this CPU" in html and "not what a default llama.cpp build gives" in html


def test_forcing_kernels_the_probe_saw_crash_warns_and_a_death_says_what_to_drop(health_cache, tmp_path):
    REPACK_OR_SKIP(llamacpp_kernels.available())
    seed_crash(health_cache)
    out = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--model", "tiny", "--engine-option", "repack=on",
         "--engine-option", "amx=off",      # the one configuration the seeded verdicts call broken
         "--scenario", "single-stream", "--requests", "100000", "--output-tokens", "4", *FAST, "--results-dir", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    lines: list[str] = []
    stderr = proc.stderr
    assert stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(stderr), daemon=True)
    reader.start()
    parent = psutil.Process(proc.pid)

    def run_process() -> psutil.Process | None:
        kids = [c for c in parent.children() if "bench.commands.job" in c.cmdline()]
        return kids[0] if kids else None

    child = wait_for(run_process, 120, "the run's process started", proc)
    # past the probe and the load: measuring (a request in its journal)
    wait_for(lambda: measured(out) >= 1, 120, "the run measured a request", proc)
    os.kill(child.pid, signal.SIGSEGV)    # dies as the crashing kernels would make it
    proc.wait(timeout=120)
    reader.join(timeout=30)
    err = "".join(lines)
    assert proc.returncode == 1, err
    err = " ".join(err.split())           # the terminal's line wrapping
    assert "crashed the health probe on this machine" in err          # the warning, before measuring
    assert ("was killed by signal 11 (SIGSEGV): the health probe saw llama.cpp with CPU_REPACK crash here "
            "(probe died with SIGSEGV): drop --engine-option repack=on") in err
    doc = json.loads(next(out.glob("*.json")).read_text())
    assert doc["status"] == "failed" and "drop --engine-option repack=on" in doc["errors"][0]
    assert "Traceback" not in err


def test_bench_hardware_shows_the_verdict_and_why(health_cache):
    r = CliRunner().invoke(main, ["hardware", "--json"])
    assert r.exit_code == 0, r.output
    (llama,) = json.loads(r.stdout)["engine_health"]
    probes = llama["kernels"]["probes"]
    if probes[0]["outcome"] == "ok":
        assert llama["status"] == "ok" and "probe passed" in llama["why"]
    else:       # a Xeon whose AMX kernels crash (llama.cpp #20824): the kernels that passed are kept
        assert llama["status"] == "workaround" and "AMX kernels crash on this CPU" in llama["why"]
        assert probes[0]["outcome"] in ("crashed", "hung") and probes[-1]["outcome"] == "ok"
    assert llama["build"]["llama_cpp_python"]
    if "CPU_REPACK" not in llamacpp_kernels.available():
        return
    (health_cache / "engine-health.json").unlink()     # forget the pass, then see a crash
    seed_crash(health_cache)
    r = CliRunner().invoke(main, ["hardware"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert "workaround" in r.stdout and "CPU_REPACK kernels crash on this CPU" in r.stdout


def test_a_llamacpp_server_loads_with_the_kernels_this_process_keeps_to(tiny_gguf):
    """The test suite's servers (and a run's) get the kernels chosen here, not llama.cpp's default."""
    from engines.llamacpp.server import LlamaCppServer

    REPACK_OR_SKIP(llamacpp_kernels.available())
    before = llamacpp_kernels.in_use()
    llamacpp_kernels.use_only([])
    server = LlamaCppServer(tiny_gguf, {"n_ctx": 256, "n_threads": 1, "verbose": True})
    try:
        server.start()
        log = server.log()
    finally:
        server.stop()
        llamacpp_kernels.use_only(before)
    assert "CPU_Mapped model buffer size" in log and "CPU_REPACK model buffer size" not in log
    assert "Flash Attention enabled" in log                          # llama.cpp's auto, on the CPU
