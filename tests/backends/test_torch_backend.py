"""The torch backend for real on CPU: transformers models from synthetic checkpoints."""

import json

import pytest

from contract.errors import BackendError
from engines.clock import timed_generate
from models.synthetic_hf import materialize_hf
from tests.backends.engine_helpers import require, tiny_spec

pytestmark = pytest.mark.engine   # real PyTorch engine

PROMPT = list(range(300, 340))


@pytest.fixture(scope="module")
def torch():
    require("transformers", "torch")
    return require("torch", "torch")


@pytest.fixture(scope="module")
def checkpoint(torch, tmp_path_factory):
    return materialize_hf(tiny_spec(), "fp32", cache_dir=tmp_path_factory.mktemp("hf"))


def load(checkpoint, **options):
    from engines.torch.engine import TorchBackend

    backend = TorchBackend()
    model = backend.load(checkpoint, {"n_ctx": 128, **options})
    return backend, model


def reference(backend, torch, prompt, n):
    """transformers' own greedy generate, forced to n tokens."""
    out = backend._model.generate(torch.tensor([prompt]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, len(prompt):].tolist()


def test_greedy_tokens_match_transformers_generate(torch, checkpoint):
    backend, model = load(checkpoint)
    assert (model.device, model.vocab_size, model.bos_token_id, model.n_ctx) == ("cpu", 1024, 1, 128)
    info = model.engine_info
    assert info["dtype"] == "fp32" and info["model_params"] == tiny_spec().architecture.param_count()
    assert info["model_bytes"] == 4 * info["model_params"]
    gen = timed_generate(backend, PROMPT, 12)
    assert gen.output_tokens == 12
    assert gen.token_ids == reference(backend, torch, PROMPT, 12)
    # each generate starts from a clean context: the same prompt gives the same tokens
    assert timed_generate(backend, PROMPT, 12).token_ids == gen.token_ids
    assert backend.engine_counters() is None
    assert backend.engine_memory()["device_peak_allocated_bytes"] is None   # CPU: torch cannot tell
    backend.unload()


def test_static_cache_gives_the_same_tokens_and_reports_its_size(torch, checkpoint):
    dynamic, _ = load(checkpoint)
    expected = timed_generate(dynamic, PROMPT, 10).token_ids
    static, model = load(checkpoint, static_cache=True)
    assert model.engine_info["static_cache"] is True
    assert timed_generate(static, PROMPT, 10).token_ids == expected
    assert timed_generate(static, PROMPT[:7], 3).token_ids == timed_generate(dynamic, PROMPT[:7], 3).token_ids
    a = tiny_spec().architecture
    assert static.engine_memory()["static_kv_cache_bytes"] == 2 * a.n_layers * a.n_kv_heads * a.head_dim * 128 * 4


@pytest.mark.parametrize("dtype,size", [("bf16", 2), ("fp16", 2)])
def test_dtype_casts_the_weights(torch, checkpoint, dtype, size):
    backend, model = load(checkpoint, dtype=dtype)
    assert model.engine_info["dtype"] == dtype
    assert model.engine_info["model_bytes"] == size * model.engine_info["model_params"]
    assert timed_generate(backend, PROMPT, 4).output_tokens == 4


def test_checkpoint_dtype_is_the_default(torch, tmp_path):
    path = materialize_hf(tiny_spec(), "bf16", cache_dir=tmp_path)
    _, model = load(path)
    assert model.engine_info["dtype"] == "bf16"


def test_gpu_devices_are_synchronised_before_every_token(torch, checkpoint):
    """The harness stamps a token when generate() yields it; on a GPU the kernels that made it may
    still be running then unless the device is synchronised first. CUDA and MPS are absent here:
    the model stays on the CPU and a recorder stands in for the device's synchronize()."""
    from engines.torch.engine import synchronizer

    assert synchronizer(torch, "cuda") is torch.cuda.synchronize
    assert synchronizer(torch, "mps") is torch.mps.synchronize
    assert synchronizer(torch, "cpu") is None
    backend, _ = load(checkpoint)
    events = []
    backend._synchronize = lambda: events.append("sync")
    for _tok in backend.generate(PROMPT, 5):
        events.append("yield")
    assert events == ["sync", "yield"] * 5


def test_context_overflow_and_bad_inputs_are_backend_errors(torch, checkpoint, tmp_path):
    backend, _ = load(checkpoint)
    with pytest.raises(BackendError, match=r"exceed the context of 128"):
        list(backend.generate(list(range(300, 400)), 40))
    with pytest.raises(BackendError, match=r"not 'fp64'"):
        load(checkpoint, dtype="fp64")
    with pytest.raises(BackendError, match=r"no config.json"):
        load(tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match=r"no CUDA device"):
            load(checkpoint, device="cuda")


@pytest.mark.slow
def test_compiled_static_decode_gives_the_same_tokens(torch, checkpoint):
    eager, _ = load(checkpoint)
    compiled, model = load(checkpoint, static_cache=True, compile=True)
    assert model.engine_info["compile"] is True
    assert timed_generate(compiled, PROMPT, 6).token_ids == timed_generate(eager, PROMPT, 6).token_ids


def test_bench_run_with_the_torch_backend_writes_a_complete_result(torch, checkpoint, tmp_path):
    from bench.measurement import RunMeasurement
    from bench.run import engine_for, execute
    from scenarios.kinds import parse_scenarios
    from scenarios.request import RunRequest

    config = RunRequest(model=str(checkpoint), quant="fp32", backend="torch",
                        scenarios=parse_scenarios("pp32,tg8,single-stream", repetitions=2, requests=2,
                                                  min_duration_s=0, input_tokens=16, output_tokens=6),
                        backend_options={"n_ctx": 128}, results_dir=tmp_path, idle_seconds=0)
    result = execute(config, backend=engine_for(config), measurement=RunMeasurement).result
    assert result["status"] == "completed", result["errors"]
    assert result["backend"]["name"] == "torch" and result["backend"]["engine"] == "torch"
    pp, tg, ss = result["scenarios"]
    assert len(pp["samples"]["pp_tps"]) == 2 and all(v > 0 for v in pp["samples"]["pp_tps"])
    assert tg["measured_output_tokens"] == 2 * 8
    assert ss["samples"]["output_tokens"] == [6, 6] and ss["samples"]["input_tokens"] == [16, 16]
    assert len(ss["samples"]["inter_token_gap_s"]) == 2 * 5
    assert pp["engine_cross_check"] is None    # torch has no timing of its own to compare with


def sharpen(torch, backend):
    """Random weights at init scale attend almost uniformly and repeat one token, so wrong
    positions or a leaking padding mask would hardly change the output: scaled-up attention
    and residual weights make every token depend on where and what the context is."""
    with torch.no_grad():
        for layer in backend._model.model.layers:
            for w in (layer.self_attn.q_proj, layer.self_attn.k_proj):
                w.weight.mul_(12)
            for w in (layer.self_attn.o_proj, layer.mlp.down_proj):
                w.weight.mul_(5)


def test_batch_session_gives_each_request_the_tokens_it_gets_alone(torch, checkpoint):
    backend, _ = load(checkpoint)
    sharpen(torch, backend)
    prompts = {i: list(range(400 + 7 * i, 412 + 9 * i)) for i in range(5)}     # 12 to 48 tokens
    lengths = {i: 3 + 2 * i for i in range(5)}
    session = backend.batch_session(5, 64)
    for i in range(3):
        session.submit(i, prompts[i], lengths[i])
    got: dict[int, list[int]] = {}
    steps = 0
    while session.active:
        for index, tok in session.step():
            got.setdefault(index, []).append(tok)
        steps += 1
        if steps == 3:                      # arrivals while others decode, at other lengths
            session.submit(3, prompts[3], lengths[3])
            session.submit(4, prompts[4], lengths[4])
        if steps == 4:                      # padding is there and masked: each row sees its own tokens only
            mask = session._mask
            assert mask.sum(dim=1).tolist() == [r.length for r in session._rows] and not mask.all()
    session.close()
    assert {i: len(t) for i, t in got.items()} == lengths
    assert steps < sum(lengths.values())    # decoded together, not one after another
    alone = {i: timed_generate(backend, prompts[i], lengths[i]).token_ids for i in range(5)}
    assert len({tuple(t) for t in alone.values()}) == 5 and len(set(alone[4])) > 1   # the check can tell
    assert got == alone                     # left padding and splicing change nothing a row computes


def test_batch_session_refuses_sliding_window_models_and_overlong_requests(torch, tmp_path):
    from tests.backends.engine_helpers import tiny_spec as spec

    backend, _ = load(checkpoint_of(spec("gemma2"), tmp_path))
    with pytest.raises(BackendError, match=r"attend to the full context"):
        backend.batch_session(2, 64)
    llama, _ = load(checkpoint_of(spec(), tmp_path))
    session = llama.batch_session(2, 64)
    with pytest.raises(BackendError, match=r"exceed the 64 tokens per sequence"):
        session.submit(0, list(range(300, 360)), 8)
    with pytest.raises(BackendError, match=r"raise --ctx-size"):
        llama.batch_session(2, 512)


def checkpoint_of(spec, cache_dir):
    return materialize_hf(spec, "fp32", cache_dir=cache_dir)


def test_a_concurrency_sweep_runs_batched_through_the_torch_backend(torch, checkpoint, tmp_path):
    import json

    from bench.measurement import RunMeasurement
    from bench.run import engine_for, execute
    from scenarios.kinds import parse_scenarios
    from scenarios.request import RunRequest

    workloads = tmp_path / "w.json"
    workloads.write_text(json.dumps({"small": {"input": {"mean": 40, "stddev": 10}, "output": {"mean": 24, "stddev": 4}}}))
    config = RunRequest(model=str(checkpoint), quant="fp32", backend="torch",
                        scenarios=parse_scenarios("small", workloads=workloads, concurrency="1,4", requests=8,
                                                  slo="ttft=1000s,tpot=1000s", min_duration_s=0),
                        backend_options={"n_ctx": 128}, results_dir=tmp_path, idle_seconds=0)
    result = execute(config, backend=engine_for(config), measurement=RunMeasurement).result
    assert result["status"] == "completed", result["errors"]
    one, four = result["scenarios"]
    assert (one["kind"], one["params"]["concurrency"], four["params"]["concurrency"]) == ("concurrency", 1, 4)
    for level in (one, four):
        s = level["summary"]
        assert level["measured_requests"] == 8 and s["errors"]["count"] == 0
        assert s["token_accounting"]["shorter_than_asked"] == 0
    assert four["summary"]["mean_in_flight"] > 2.5
    assert four["summary"]["output_tps"] > one["summary"]["output_tps"]   # batching pays even on two CPU cores


def test_engine_options_reach_the_engine_in_the_run_process(torch, checkpoint, tmp_path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "bench", "run", "--backend", "torch", "--model", str(checkpoint), "--quant",
            "fp32", "--scenario", "tg4", "--repetitions", "1", "--min-duration", "0", "--idle-seconds", "0",
            "--engine-option", "static_cache=true", "--engine-option", "device=cpu", "--results-dir", str(tmp_path),
            "--json"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    backend = json.loads(r.stdout)["backend"]
    assert backend["static_cache"] is True and backend["device"] == "cpu"
