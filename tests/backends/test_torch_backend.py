"""The torch backend for real on CPU: transformers models from synthetic checkpoints."""

import pytest

from bench.errors import BackendError
from bench.harness import timed_generate
from models.synthetic_hf import materialize_hf
from tests.backends.engines import require, tiny_spec

PROMPT = list(range(300, 340))


@pytest.fixture(scope="module")
def torch():
    require("transformers", "torch")
    return require("torch", "torch")


@pytest.fixture(scope="module")
def checkpoint(torch, tmp_path_factory):
    return materialize_hf(tiny_spec(), "fp32", cache_dir=tmp_path_factory.mktemp("hf"))


def load(checkpoint, **options):
    from bench.backends.torch import TorchBackend

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
    from bench.backends.torch import synchronizer

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
    with pytest.raises(BackendError, match="exceed the context of 128"):
        list(backend.generate(list(range(300, 400)), 40))
    with pytest.raises(BackendError, match="not 'fp64'"):
        load(checkpoint, dtype="fp64")
    with pytest.raises(BackendError, match="no config.json"):
        load(tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="no CUDA device"):
            load(checkpoint, device="cuda")


@pytest.mark.slow
def test_compiled_static_decode_gives_the_same_tokens(torch, checkpoint):
    eager, _ = load(checkpoint)
    compiled, model = load(checkpoint, static_cache=True, compile=True)
    assert model.engine_info["compile"] is True
    assert timed_generate(compiled, PROMPT, 6).token_ids == timed_generate(eager, PROMPT, 6).token_ids


def test_bench_run_with_the_torch_backend_writes_a_complete_result(torch, checkpoint, tmp_path):
    from bench.run import RunConfig, execute
    from scenarios.definitions import parse_scenarios

    config = RunConfig(model=str(checkpoint), quant="fp32", backend="torch",
                       scenarios=parse_scenarios("pp32,tg8,single-stream", repetitions=2, requests=2,
                                                 min_duration_s=0, input_tokens=16, output_tokens=6),
                       backend_options={"n_ctx": 128}, results_dir=tmp_path, idle_seconds=0)
    result = execute(config).result
    assert result["status"] == "completed", result["errors"]
    assert result["backend"]["name"] == "torch" and result["backend"]["engine"] == "torch"
    pp, tg, ss = result["scenarios"]
    assert len(pp["samples"]["pp_tps"]) == 2 and all(v > 0 for v in pp["samples"]["pp_tps"])
    assert tg["measured_output_tokens"] == 2 * 8
    assert ss["samples"]["output_tokens"] == [6, 6] and ss["samples"]["input_tokens"] == [16, 16]
    assert len(ss["samples"]["inter_token_gap_s"]) == 2 * 5
    assert pp["engine_cross_check"] is None    # torch has no timing of its own to compare with
