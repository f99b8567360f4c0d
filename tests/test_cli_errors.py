"""Bad input: one clear line on stderr, a non-zero exit, no traceback."""

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.waiting import measured, wait_for

pytestmark = pytest.mark.engine   # each test is a bench process of its own; one a real run, Ctrl-C'd


def bench(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0]


def test_missing_model_file(tmp_path):
    p = bench("run", "--model", str(tmp_path / "nope.gguf"), "--results-dir", str(tmp_path / "r"))
    assert_one_line_error(p, "nope.gguf")
    assert not list((tmp_path / "r").glob("*.json"))  # nothing measured, nothing written


def test_truncated_model_file(tmp_path, tiny_gguf):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size // 2])
    assert_one_line_error(bench("run", "--model", str(cut), "--results-dir", str(tmp_path)), "cut.gguf", "truncated")


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(os.urandom(4096))
    assert_one_line_error(bench("run", "--model", str(bad), "--results-dir", str(tmp_path)), "bad.gguf")


def test_unknown_quant(tmp_path):
    assert_one_line_error(bench("run", "--model", "tiny", "--quant", "Q4_K_X", "--results-dir", str(tmp_path)),
                          "Q4_K_X", "Q4_K_M")


def test_unknown_model(tmp_path):
    assert_one_line_error(bench("run", "--model", "llama-9", "--results-dir", str(tmp_path)), "llama-9", "tiny")


@pytest.mark.parametrize("args,needle", [
    (["--scenario", "pp0"], "pp0"),
    (["--scenario", "tg128", "--repetitions", "0"], "repetitions"),
    (["--scenario", "warp9"], "warp9"),
    (["--scenario", "single-stream", "--output-tokens", "-3"], "output tokens"),
    (["--threads", "0"], "--threads"),
    (["--scenario", "pp512", "--ctx-size", "64"], "--ctx-size"),
])
def test_bad_scenario_parameters(tmp_path, args, needle):
    assert_one_line_error(bench("run", "--model", "tiny", *args, "--results-dir", str(tmp_path)), needle)


@pytest.mark.parametrize("backend", [["--backend", "llamacpp"], []])
def test_serve_is_only_for_vllm(tmp_path, backend):
    p = bench("run", "--model", "tiny", *backend, "--serve", "--results-dir", str(tmp_path / "r"))
    assert_one_line_error(p, "--serve", "--backend vllm")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("option, needles", [
    ("nope=1", ["has no engine option 'nope'", "valid: attn_implementation, compile, device, static_cache"]),
    ("static_cache=maybe", ["static_cache='maybe'", "not a valid bool"]),
    ("static_cache", ["not KEY=VALUE"]),
])
def test_bad_engine_options(tmp_path, option, needles):
    p = bench("run", "--model", "tiny", "--backend", "torch", "--engine-option", option, "--results-dir", str(tmp_path / "r"))
    assert_one_line_error(p, *needles)
    assert not (tmp_path / "r").exists()


def test_unwritable_results_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(bench("run", "--model", "tiny", "--results-dir", str(blocker / "sub")),
                          "not writable", "--results-dir")


def test_debug_shows_the_traceback(tmp_path):
    p = bench("--debug", "run", "--model", "llama-9", "--results-dir", str(tmp_path))
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_ctrl_c_keeps_what_was_measured(tmp_path, tiny_gguf):
    """SIGINT in the middle of a run: the result is written with status `interrupted`."""
    out = tmp_path / "r"
    with open(tmp_path / "stderr.txt", "w") as err:       # a file: never a full pipe while we wait
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench", "run", "--model", "tiny", "--scenario", "tg8,single-stream",
             "--repetitions", "3", "--min-duration", "0", "--requests", "100000", "--output-tokens", "4",
             "--results-dir", str(out)],
            stdout=subprocess.DEVNULL, stderr=err, text=True)
        # the interrupt lands inside single-stream (which would run for minutes) once it has
        # measured a request: entry 1 of the run's journal
        wait_for(lambda: measured(out, entry=1) >= 1, 120, "single-stream measured a request", proc)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    doc = json.loads(next(out.glob("*.json")).read_text())
    assert doc["status"] == "interrupted" and doc["validity"]["verdict"] == "INVALID"
    # what finished before the interrupt is kept whole, and what it interrupted up to it
    tg, single = doc["scenarios"]
    assert tg["status"] == "completed" and len(tg["samples"]["tg_tps"]) == 3
    assert single["status"] == "interrupted" and len(single["samples"]["e2e_s"]) >= 1
