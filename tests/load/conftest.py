import json

import pytest

# Small profile for fast tests: the same distribution shape as chat, a tenth of the lengths.
TINY_PROFILE = {"tiny-chat": {"input": {"mean": 48, "stddev": 12}, "output": {"mean": 16, "stddev": 4},
                              "description": "small chat for tests"}}


@pytest.fixture
def workloads(tmp_path):
    path = tmp_path / "workloads.json"
    path.write_text(json.dumps(TINY_PROFILE))
    return path


@pytest.fixture(scope="module")
def llama_server(tiny_gguf):
    """A real llama-cpp-python server on 127.0.0.1 with the tiny synthetic model."""
    from bench.backends.llamacpp_server import LlamaCppServer

    server = LlamaCppServer(tiny_gguf, {"n_ctx": 512, "n_threads": 2})
    server.start()
    yield server
    server.stop()
