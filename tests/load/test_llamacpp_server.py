"""The HTTP backend against a real llama-cpp-python server (tiny synthetic model, 127.0.0.1), and the
launcher that starts one for a run and always stops it."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from click.testing import CliRunner

from bench.backends.llamacpp_server import LlamaCppServer
from bench.cli import main
from bench.errors import BackendError


def test_openai_backend_against_llama_cpp_python_server(llama_server, tmp_path, workloads):
    r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", llama_server.base_url + "/v1",
                                  "--model", llama_server.model_path.stem, "--workloads", str(workloads),
                                  "--scenario", "tiny-chat", "--concurrency", "1,2", "--requests", "3", "--slo", "ttft=1000s",
                                  "--min-duration", "0", "--idle-seconds", "0", "--results-dir", str(tmp_path / "r")],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    assert doc["status"] == "completed" and doc["validity"]["verdict"] == "VALID"
    # this server takes no token ids and sends no usage: text prompts, counts from finish_reason
    assert doc["backend"]["prompt"] == "text" and doc["backend"]["usage_in_stream"] is False
    assert doc["backend"]["base_url"] == llama_server.base_url
    for level in doc["scenarios"]:
        s = level["summary"]
        assert s["errors"]["count"] == 0 and s["ttft_s"]["n"] == 3
        # min_tokens kept it from stopping early: every stream ran to max_tokens
        assert s["token_accounting"]["output_sources"] == {"finish_reason=length": 3}
        assert s["output_tps"] > 0 and s["tpot_s"]["median"] > 0
        assert all(t < e for t, e in zip(level["samples"]["ttft_s"], level["samples"]["e2e_s"]))


def test_launcher_stops_the_server_and_reports_a_failed_start(tiny_gguf, tmp_path):
    server = LlamaCppServer(tiny_gguf, {"n_ctx": 256, "n_threads": 1})
    server.start()
    proc = psutil.Process(server.process.pid)
    assert proc.is_running()
    server.stop()
    assert not _alive(proc.pid)
    server.stop()                                                   # twice is harmless

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(1024))
    broken = LlamaCppServer(bad, {"n_ctx": 256})
    with pytest.raises(BackendError) as err:
        broken.start(timeout_s=60)
    assert "exited" in str(err.value) and broken.process is None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmdline(p: psutil.Process) -> str:
    """'' for a process that is gone or not yet reaped (the health probe's child, for one)."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def _bench_with_server(tmp_path, workloads):
    """A long `bench run --backend llamacpp-server`; returns it once its server answers requests."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", "--backend", "llamacpp-server", "--model", "tiny",
                             "--workloads", str(workloads), "--scenario", "tiny-chat", "--concurrency", "2",
                             "--requests", "100000", "--idle-seconds", "0", "--results-dir", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            # bench measures in a child process of its own, which starts the server
            servers = [c for c in psutil.Process(proc.pid).children(recursive=True) if "llama_cpp.server" in _cmdline(c)]
            # listening and serving both users of the level (the backend's probe requests come one at a time)
            if servers and len(servers[0].net_connections(kind="tcp")) > 2:
                return proc, servers[0]
            time.sleep(0.2)
        raise AssertionError("the server never served")
    except BaseException:
        proc.kill()          # its child stops the server: nothing outlives a failed test
        raise


def test_ctrl_c_stops_the_launched_server_and_keeps_the_result(tmp_path, workloads):
    proc, server = _bench_with_server(tmp_path, workloads)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not _alive(server.pid)
    doc = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    assert doc["status"] == "interrupted" and doc["backend"]["server_pid"] == server.pid
    (level,) = doc["scenarios"]
    assert level["status"] == "interrupted" and level["summary"]["errors"]["count"] == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_server_dies_with_a_killed_bench(tmp_path, workloads):
    proc, server = _bench_with_server(tmp_path, workloads)
    proc.kill()                                                     # no `finally` runs
    proc.wait(10)
    deadline = time.monotonic() + 15
    while _alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server.pid)
