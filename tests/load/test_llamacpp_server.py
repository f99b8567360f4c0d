"""The HTTP backend against a real llama-cpp-python server (tiny synthetic model, 127.0.0.1), and the
launcher that starts one for a run and always stops it."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
from click.testing import CliRunner

from bench.commands.main import main
from contract.errors import BackendError
from engines.llamacpp.server import LlamaCppServer
from tests.load.conftest import reasons_but_held_back
from tests.waiting import measured, wait_for

pytestmark = pytest.mark.engine   # real llama.cpp servers


def server_prompt_counts(log: str) -> list[int]:
    """Each completion's prompt length by the server's own (verbose) log, in the order it ran them:
    the tokens it kept from the previous prompt ("Llama.generate: N prefix-match hit") plus the
    ones it evaluated ("prompt eval time = ... / M tokens")."""
    counts, kept = [], 0
    for line in log.splitlines():
        if m := re.search(r"Llama\.generate: (\d+) prefix-match hit", line):
            kept = int(m.group(1))
        elif m := re.search(r"prompt eval time =.*/\s*(\d+) tokens", line):
            counts.append(kept + int(m.group(1)))
            kept = 0
    return counts


@pytest.fixture
def chat64(tmp_path):
    """tiny-chat with 64-token outputs: this server sends a stream's first tokens through a buffer of
    ten chunks, so the tiny model's first few can arrive at once; over 64 that is no held-back stream."""
    path = tmp_path / "chat64.json"
    path.write_text(json.dumps({"chat64": {"input": {"mean": 48, "stddev": 12}, "output": 64}}))
    return path


def run_against(server, tmp_path, *args):
    r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", server.base_url + "/v1",
                                  "--model", server.model_path.stem, "--min-duration", "0",
                                  "--idle-seconds", "0", "--results-dir", str(tmp_path / "r"), *args],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r, json.loads(next((tmp_path / "r").glob("*.json")).read_text())


def test_openai_backend_against_llama_cpp_python_server(llama_server, tmp_path, chat64):
    r, doc = run_against(llama_server, tmp_path, "--workloads", str(chat64), "--scenario", "chat64",
                         "--concurrency", "1,2", "--requests", "3", "--slo", "ttft=1000s")
    assert doc["status"] == "completed" and not reasons_but_held_back(doc["validity"]), doc["validity"]
    # this server takes no token ids and sends no usage: text prompts, made exact with its
    # /extras/tokenize; output counts from finish_reason
    assert doc["backend"]["prompt"] == "text" and doc["backend"]["usage_in_stream"] is False
    assert doc["backend"]["input_lengths"] == {"method": "counted", "usage_in_stream": False, "offset_tokens": 0,
                                               "counter": "tokenize /extras/tokenize (llama-cpp-python)"}
    assert doc["backend"]["base_url"] == llama_server.base_url
    ran = server_prompt_counts(llama_server.log())
    for level, done in zip(doc["scenarios"], (ran[-9:-5], ran[-5:]), strict=True):
        s = level["summary"]
        assert s["errors"]["count"] == 0 and s["ttft_s"]["n"] == 3
        # min_tokens kept it from stopping early: every stream ran to max_tokens
        assert s["token_accounting"]["output_sources"] == {"finish_reason=length": 3}
        assert s["output_tps"] > 0 and s["tpot_s"]["median"] > 0
        assert all(t < e for t, e in zip(level["samples"]["ttft_s"], level["samples"]["e2e_s"], strict=True))
        # the server's own prompt counts are what the workload asked for (its last three of the
        # level were the measured requests; it runs one at a time, in the order they came)
        asked = level["samples"]["input_asked_tokens"]
        assert sorted(done[-3:]) == sorted(asked) == sorted(level["samples"]["input_tokens"])
        assert s["token_accounting"]["input_sources"] == {"tokenize /extras/tokenize (llama-cpp-python)": 3}
    assert list((tmp_path / "r").glob("*.html")) and "report: " in r.output   # the HTML report of an HTTP result


def test_single_stream_over_http_against_llama_cpp_python_server(llama_server, tmp_path):
    _, doc = run_against(llama_server, tmp_path, "--scenario", "single-stream", "--requests", "3",
                         "--input-tokens", "64", "--output-tokens", "8")
    (sc,) = doc["scenarios"]
    s = sc["samples"]
    assert sc["kind"] == "single-stream" and sc["status"] == "completed"
    assert server_prompt_counts(llama_server.log())[-4:] == [32, 64, 64, 64]     # the warm-up, then three
    assert s["input_tokens"] == s["input_asked_tokens"] == [64] * 3 and s["output_tokens"] == [8] * 3
    assert len(s["ttft_s"]) == len(s["tpot_s"]) == 3 and all(t > 0 for t in s["ttft_s"] + s["tpot_s"])
    assert all(t < e for t, e in zip(s["ttft_s"], s["e2e_s"], strict=True)) and len(s["inter_token_gap_s"]) == 3 * 7
    assert not [r for r in sc["validity"]["reasons"] if "input" in r]


def test_local_gguf_tokenizer_counts_as_the_server_does(llama_server):
    import asyncio

    import httpx

    from engines.openai.prompts import ServerTokenizer, gguf_tokenizer, letters

    local = gguf_tokenizer(llama_server.model_path)
    assert local is not None
    remote = ServerTokenizer("/extras/tokenize", "llama-cpp-python", llama_server.model_path.stem)
    texts = [letters(list(range(300, 340)), 40), "Hello, world! 3.14 ünïcode", "a"]

    async def both():
        async with httpx.AsyncClient(base_url=llama_server.base_url) as client:
            return [(await local.count(client, t), await remote.count(client, t)) for t in texts]

    pairs = asyncio.run(both())
    assert all(a == b for a, b in pairs) and pairs[0][0] == 41           # BOS and one token per letter


def test_llamacpp_server_backend_sends_prompts_of_the_asked_length(tmp_path, chat64):
    p = subprocess.run([sys.executable, "-m", "bench", "run", "--backend", "llamacpp-server", "--model", "tiny",
                        "--workloads", str(chat64), "--scenario", "chat64,single-stream", "--concurrency", "1",
                        "--requests", "3", "--input-tokens", "48", "--output-tokens", "8", "--min-duration", "0",
                        "--idle-seconds", "0", "--results-dir", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    assert doc["backend"]["input_lengths"]["counter"] == "tokenize /extras/tokenize (llama-cpp-python)"
    for sc in doc["scenarios"]:
        assert sc["samples"]["input_tokens"] == sc["samples"]["input_asked_tokens"], sc["name"]
        assert not [r for r in sc["validity"]["reasons"] if r.startswith("input length")]
    assert doc["scenarios"][1]["samples"]["input_tokens"] == [48] * 3
    assert list((tmp_path / "r").glob("*.html"))


def test_launcher_stops_the_server_and_reports_a_failed_start(tiny_gguf, tmp_path):
    server = LlamaCppServer(tiny_gguf, {"n_ctx": 256, "n_threads": 1})
    server.start()
    assert server.process is not None
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
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--backend", "llamacpp-server", "--model", "tiny",
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
    # stopped mid-level: once a request of the level has ended (it is in the run's journal)
    wait_for(lambda: measured(tmp_path / "r") >= 1, 120, "a request of the level ended", proc)
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
