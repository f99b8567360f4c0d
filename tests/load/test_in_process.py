"""Load levels in-process: llama.cpp's multi-sequence batch API on the tiny synthetic model."""

import json

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from engines.llamacpp.engine import LlamaCppBackend
from scenarios.prompts import random_prompt

pytestmark = pytest.mark.engine   # real llama.cpp batches


@pytest.fixture(scope="module")
def backend(tiny_gguf):
    b = LlamaCppBackend()
    b.load(tiny_gguf, {"n_ctx": 256, "n_threads": 2})
    yield b
    b.unload()


def test_batched_sequences_generate_exactly_what_one_sequence_does(backend):
    prompts = {i: random_prompt(10 + 7 * i, 32000, seed=i, avoid={1}) for i in range(5)}
    want = {i: list(backend.generate(p, 6 + i)) for i, p in prompts.items()}
    session = backend.batch_session(3, 64)
    got: dict[int, list[int]] = {i: [] for i in prompts}
    try:
        for i in range(3):
            session.submit(i, prompts[i], 6 + i)
        with pytest.raises(RuntimeError):
            session.submit(9, prompts[0], 4)                # three slots, three sequences
        waiting = [3, 4]
        steps = 0
        while session.active or waiting:
            for index, tok in session.step():
                got[index].append(tok)
            steps += 1
            while waiting and session.active < 3:            # admitted mid-flight into freed slots
                i = waiting.pop(0)
                session.submit(i, prompts[i], 6 + i)
            assert steps < 100
    finally:
        session.close()
    assert got == want
    # decodes of several sequences share steps: far fewer steps than tokens
    assert steps < sum(len(v) for v in want.values()) * 0.6


def run_cli(tmp_path, *args):
    r = CliRunner().invoke(main, ["run", "--model", "tiny", "--min-duration", "0", "--idle-seconds", "0",
                                  "--results-dir", str(tmp_path / "r"), *args], catch_exceptions=False)
    files = sorted((tmp_path / "r").glob("*.json"))
    return r, json.loads(files[0].read_text())


def test_concurrency_sweep_in_process(tmp_path, workloads):
    r, doc = run_cli(tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat", "--concurrency", "1,4",
                     "--requests", "8", "--slo", "ttft=1000s,tpot=1000s")     # never stops early
    assert r.exit_code == 0, r.output
    assert doc["status"] == "completed" and doc["validity"]["verdict"] == "VALID"
    c1, c4 = doc["scenarios"]
    assert [c1["name"], c4["name"]] == ["tiny-chat@c1", "tiny-chat@c4"]
    assert c4["params"]["concurrency"] == 4 and c4["params"]["warmup_requests"] == 4
    for sc in (c1, c4):
        s = sc["summary"]
        assert sc["measured_requests"] == 8 and s["errors"]["count"] == 0
        assert s["token_accounting"]["output_sources"] == {"engine": 8}
        assert s["token_accounting"]["shorter_than_asked"] == 0          # exact lengths, EOS ignored
        assert s["output_tps"] == pytest.approx(sc["measured_output_tokens"] / sc["measured_window_s"])
        e = sc["energy"]                                                   # one energy window per level
        assert e["joules"] > 0 and e["joules_per_output_token"] == pytest.approx(e["joules"] / sc["measured_output_tokens"])
        # llama.cpp's batch session prefills every prompt in full, and says so: a hit rate of 0, not n/a
        assert s["prefix_cache"]["hit_rate"] == 0 and s["prefix_cache"]["requests_reported"] == 8
        # closed loop: nothing queues; what wait there is is the client's own step, short beside a
        # request (the median; a busy machine can preempt the driver once in a while)
        assert s["queue_wait_s"]["median"] < 0.05 and s["queue_wait_s"]["max"] < s["e2e_s"]["median"]
    # four users kept busy: about four in flight over the window
    assert c1["summary"]["mean_in_flight"] == pytest.approx(1, abs=0.2)
    assert c4["summary"]["mean_in_flight"] > 2.5
    listed = CliRunner().invoke(main, ["results", str(tmp_path / "r"), "--json"])
    assert json.loads(listed.stdout)[0]["tokens_per_s"]["tiny-chat max"] == pytest.approx(
        max(c1["summary"]["output_tps"], c4["summary"]["output_tps"]))


def test_sweep_stops_once_latency_is_far_past_the_slo(tmp_path, workloads):
    r, doc = run_cli(tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat", "--concurrency", "1,2,4",
                     "--requests", "3", "--slo", "ttft=0.01ms,tpot=0.001ms")
    assert r.exit_code == 0, r.output
    (only,) = doc["scenarios"]
    assert only["summary"]["slo"]["far_past"] and not only["summary"]["slo"]["met"]
    assert only["note"].endswith("not run: 2, 4")
    assert only["summary"]["goodput"] == 0.0 and only["validity"]["verdict"] == "VALID"


def test_poisson_levels_and_an_slo_search(tmp_path, workloads):
    # a lenient SLO: however busy the machine, the sweep must not stop early here
    r, doc = run_cli(tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat", "--rate", "20,40",
                     "--requests", "6", "--slo", "ttft=1000s,tpot=1000s")
    assert r.exit_code == 0, r.output
    assert [s["name"] for s in doc["scenarios"]] == ["tiny-chat@r20", "tiny-chat@r40"]
    assert all(s["kind"] == "poisson" and s["summary"]["errors"]["count"] == 0 for s in doc["scenarios"])
    assert doc["scenarios"][1]["params"]["rate_per_s"] == 40.0

    r, doc = run_cli(tmp_path / "s", "--workloads", str(workloads), "--scenario", "tiny-chat", "--search",
                     "concurrency", "--requests", "3", "--slo", "ttft=0.01ms")
    assert r.exit_code == 0, r.output
    level, answer = doc["scenarios"]
    assert level["params"]["searched"] and level["name"] == "tiny-chat@c1"
    assert answer["kind"] == "slo-search" and answer["summary"]["best"] is None
    assert answer["summary"]["levels_tried"] == [1] and answer["validity"]["verdict"] == "VALID"
    assert "none of 1 tried" in r.output


def test_a_kv_cache_larger_than_free_memory_is_refused_not_allocated(backend):
    from contract.errors import BackendError
    from engines.llamacpp.batch import _check_ram

    _check_ram(backend._llm._model.model, 4096)                    # 4 MiB for the tiny model: fine
    with pytest.raises(BackendError) as err:
        _check_ram(backend._llm._model.model, 10**12)               # 1 PiB
    assert "GiB" in str(err.value) and "--concurrency" in str(err.value)
