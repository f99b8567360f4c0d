import json

import pytest

# Small profile for fast tests: the same distribution shape as chat, a tenth of the lengths.
TINY_PROFILE = {"tiny-chat": {"input": {"mean": 48, "stddev": 12}, "output": {"mean": 16, "stddev": 4},
                              "description": "small chat for tests"}}


def reasons_but_held_back(validity: dict) -> list[str]:
    """A result's INVALID reasons other than held-back streams. On a machine whose cores are shared
    (a CI runner, this 2-core VM), a server or client starved of CPU lets tokens out in bursts,
    which a level rightly reports (scenarios/stream_checks.py); nothing else may go wrong."""
    return [r for r in validity["reasons"] if "streamed held back" not in r]


@pytest.fixture
def workloads(tmp_path):
    path = tmp_path / "workloads.json"
    path.write_text(json.dumps(TINY_PROFILE))
    return path


@pytest.fixture(scope="module")
def llama_server(tiny_gguf):
    """A real llama-cpp-python server on 127.0.0.1 with the tiny synthetic model; verbose, so that
    its log gives its own account of each request (tests/load/test_llamacpp_server.py)."""
    from engines.llamacpp.server import LlamaCppServer

    server = LlamaCppServer(tiny_gguf, {"n_ctx": 512, "n_threads": 2, "verbose": True})
    server.start()
    yield server
    server.stop()
