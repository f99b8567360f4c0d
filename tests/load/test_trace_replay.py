"""`bench run --scenario trace` end to end: in process on llama.cpp, over HTTP against the local fake
streaming server (tests/load/sse_server.py) and against a real llama-cpp-python server, whose own log
shows the prefix sharing the trace describes."""

import json
import re
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from scenarios.trace_prompts import BLOCK_TOKENS
from tests.load.conftest import reasons_but_held_back
from tests.load.sse_server import FakeServer, count_text

pytestmark = pytest.mark.engine   # real engines and servers

SAMPLE = Path(__file__).parents[2] / "examples" / "traces" / "sample-mooncake.jsonl"
# A machine whose two cores are shared (CI, this VM) can hold a process off the CPU for tens of
# milliseconds; tests that expect a VALID replay allow that much lag. The INVALID test is far past it.
LOADED_MACHINE_LAG_MS = "250"


def write_trace(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_cli(tmp_path, *args):
    r = CliRunner().invoke(main, ["run", "--idle-seconds", "0", "--results-dir", str(tmp_path / "r"), *args],
                           catch_exceptions=False)
    files = sorted((tmp_path / "r").glob("*.json"))
    return r, (json.loads(files[0].read_text()) if files else None)


def http(url, *args):
    return ["--backend", "openai", "--base-url", url, "--model", "fake", "--scenario", "trace", *args]


def test_sample_trace_replays_in_process_on_llama_cpp(tmp_path):
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    kept = [r for r in rows if r["timestamp"] - rows[0]["timestamp"] < 200]       # --duration 0.2
    r, doc = run_cli(tmp_path, "--model", "tiny", "--scenario", "trace", "--trace", str(SAMPLE), "--duration", "0.2",
                     "--max-send-lag", LOADED_MACHINE_LAG_MS)
    assert r.exit_code == 0, r.output
    assert doc["status"] == "completed" and doc["validity"]["verdict"] == "VALID", doc["validity"]
    (sc,) = doc["scenarios"]
    s = sc["samples"]
    assert (sc["kind"], sc["name"], sc["params"]["mode"]) == ("trace", "trace@x1", "trace")
    assert sc["measured_requests"] == sc["params"]["request_count"] == len(kept) >= 3
    # the trace's own lengths, request by request, in schedule order
    assert s["input_tokens"] == [r["input_length"] for r in kept]
    assert s["output_tokens"] == [r["output_length"] for r in kept]
    # send lag: counted from when the engine could take a request, so within its queue wait
    assert len(s["send_lag_s"]) == len(kept) and sc["summary"]["send_lag_s"]["n"] == len(kept)
    assert all(0 <= lag <= q for lag, q in zip(s["send_lag_s"], s["queue_wait_s"], strict=True))
    assert "requests" not in doc["config"]["scenarios"][0]                    # the trace is named, not copied
    assert "trace@x1" in r.output and "send lag" in r.output
    listed = CliRunner().invoke(main, ["results", str(tmp_path / "r"), "--json"])
    assert json.loads(listed.stdout)[0]["tokens_per_s"]["trace max"] == pytest.approx(sc["summary"]["output_tps"])
    html = next((tmp_path / "r").glob("*.html")).read_text()
    assert "trace@x1" in html and "send lag ms p99" in html


def test_replay_over_http_sends_each_block_as_the_same_token_ids_on_the_scaled_schedule(tmp_path):
    # 8 requests 200 ms apart, replayed 4 times as fast: two prefixes (hash ids 0 and 1), each
    # request with a block of its own
    rows = [{"timestamp": 200 * i, "input_length": 600 + i, "output_length": 4, "hash_ids": [i % 2, 10 + i]}
            for i in range(8)]
    trace = write_trace(tmp_path / "t.jsonl", rows)
    server = FakeServer(interval_s=0.001)
    with server as url:
        r, doc = run_cli(tmp_path, *http(url, "--trace", str(trace), "--time-scale", "4",
                                         "--max-send-lag", LOADED_MACHINE_LAG_MS))
    assert r.exit_code == 0, r.output
    (sc,) = doc["scenarios"]
    assert not reasons_but_held_back(sc["validity"]), sc["validity"]
    assert sc["name"] == "trace@x4" and sc["params"]["scheduled_s"] == pytest.approx(0.35)
    assert 0.35 <= sc["measured_window_s"] < 1.4               # about the scaled 0.35 s, not the recorded 1.4 s
    assert sc["measured_requests"] == 8 and sc["samples"]["input_tokens"] == [600 + i for i in range(8)]
    sent = {len(q["body"]["prompt"]): q["body"]["prompt"] for q in server.requests[-8:]}
    prompts = [sent[600 + i] for i in range(8)]
    # same hash id, same 512 token ids; another id, other ids
    assert all(p[:BLOCK_TOKENS] == prompts[i % 2][:BLOCK_TOKENS] for i, p in enumerate(prompts))
    assert prompts[0][:BLOCK_TOKENS] != prompts[1][:BLOCK_TOKENS]
    assert len({tuple(p[BLOCK_TOKENS:]) for p in prompts}) == 8
    assert max(sc["samples"]["send_lag_s"]) < float(LOADED_MACHINE_LAG_MS) / 1e3


def test_shared_blocks_stay_shared_as_text(tmp_path):
    """A server that takes no token ids gets text fitted to each count: the same block is the same words."""
    rows = [{"timestamp": 50 * i, "input_length": 620 + i, "output_length": 4, "hash_ids": [i % 2, 10 + i]}
            for i in range(6)]
    trace = write_trace(tmp_path / "t.jsonl", rows)
    server = FakeServer(token_ids=False, usage=False, tokenize="vllm", interval_s=0.001)
    with server as url:
        r, doc = run_cli(tmp_path, *http(url, "--trace", str(trace), "--max-send-lag", LOADED_MACHINE_LAG_MS))
    assert r.exit_code == 0, r.output
    (sc,) = doc["scenarios"]
    assert sc["samples"]["input_tokens"] == [620 + i for i in range(6)]        # fitted exactly
    texts = [q["body"]["prompt"] for q in server.requests if isinstance(q["body"].get("prompt"), str)][-6:]
    by_count = {count_text(t): t.split() for t in texts}                        # which request, its count says
    assert sorted(by_count) == [620 + i for i in range(6)]
    words = [w for _, w in sorted(by_count.items())]                            # in the trace's order
    assert all(len(w) >= BLOCK_TOKENS for w in words)
    assert all(w[:BLOCK_TOKENS] == words[i % 2][:BLOCK_TOKENS] for i, w in enumerate(words))
    assert words[0][:BLOCK_TOKENS] != words[1][:BLOCK_TOKENS]


def test_replay_the_client_cannot_keep_up_with_is_invalid(tmp_path):
    # 300 requests in 30 ms: more than one client process sends (the fake server shares its process)
    rows = [{"timestamp": i / 10, "input_length": 16, "output_length": 2} for i in range(300)]
    trace = write_trace(tmp_path / "t.jsonl", rows)
    with FakeServer() as url:
        r, doc = run_cli(tmp_path, *http(url, "--trace", str(trace), "--max-send-lag", "10"))
    assert r.exit_code == 0, r.output
    (sc,) = doc["scenarios"]
    assert sc["validity"]["verdict"] == "INVALID" and doc["validity"]["verdict"] == "INVALID"
    (reason,) = [x for x in sc["validity"]["reasons"] if x.startswith("send lag: ")]
    assert "sent more than 10 ms after their scheduled time" in reason
    lag = sc["summary"]["send_lag_s"]
    assert lag["n"] == sc["measured_requests"] == 300 and lag["max"] > 0.010
    assert "INVALID" in r.output and "send lag" in r.output


# -- a real server's prefix cache sees the trace's sharing -------------------------------------------
@pytest.fixture(scope="module")
def long_context_server(tiny_gguf):
    from engines.llamacpp.server import LlamaCppServer

    server = LlamaCppServer(tiny_gguf, {"n_ctx": 2048, "n_threads": 2, "verbose": True})
    server.start()
    yield server
    server.stop()


def completions(log: str) -> list[tuple[int, int]]:
    """(prompt tokens, of them kept from the previous prompt) of each completion, in the order the
    server ran them, by its own verbose log (tests/load/test_llamacpp_server.py reads it so too)."""
    out, kept = [], 0
    for line in log.splitlines():
        if m := re.search(r"Llama\.generate: (\d+) prefix-match hit", line):
            kept = int(m.group(1))
        elif m := re.search(r"prompt eval time =.*/\s*(\d+) tokens", line):
            out.append((kept + int(m.group(1)), kept))
            kept = 0
    return out


def test_llama_cpp_python_server_reuses_exactly_the_shared_blocks(long_context_server, tmp_path):
    # prefixes P (hash id 0) and Q (1); the last request has no hash_ids: a prompt of its own
    firsts = [0, 0, 1, 1, 0, None]
    rows = [{"timestamp": 150 * i, "input_length": 600 + 7 * i, "output_length": 4,
             **({"hash_ids": [h, 10 + i]} if h is not None else {})} for i, h in enumerate(firsts)]
    trace = write_trace(tmp_path / "t.jsonl", rows)
    server = long_context_server
    r, doc = run_cli(tmp_path, "--backend", "openai", "--base-url", server.base_url + "/v1",
                     "--model", server.model_path.stem, "--scenario", "trace", "--trace", str(trace),
                     "--max-send-lag", LOADED_MACHINE_LAG_MS)
    assert r.exit_code == 0, r.output
    (sc,) = doc["scenarios"]
    assert sc["samples"]["input_tokens"] == [600 + 7 * i for i in range(6)] and sc["summary"]["errors"]["count"] == 0
    # this server runs one request at a time and keeps the last prompt: each request reuses what it
    # shares with the one it ran before. Which request each is, its length says.
    ran = completions(server.log())[-6:]
    first_of = {600 + 7 * i: h for i, h in enumerate(firsts)}
    assert sorted(n for n, _ in ran) == sorted(first_of)
    for (before, _), (now, kept) in pairwise(ran):
        if first_of[now] is not None and first_of[now] == first_of[before]:
            assert kept >= BLOCK_TOKENS, (before, now, kept)       # the block (and BOS), maybe a letter more
        else:
            assert kept < 16, (before, now, kept)                  # BOS and a chance letter or two
