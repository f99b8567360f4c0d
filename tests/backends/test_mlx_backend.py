"""The mlx-lm backend for real on the CPU (mlx[cpu]): tiny shapes, mlx's own quantizer."""

import json

import pytest

from contract.errors import BackendError, ModelError
from engines.clock import timed_generate
from tests.backends.engine_helpers import require, tiny_spec

pytestmark = pytest.mark.engine   # real MLX engine

PROMPT = list(range(300, 332))


@pytest.fixture(scope="module")
def mx():
    require("mlx_lm", "mlx")
    return require("mlx.core", "mlx")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("mlx")


@pytest.fixture(scope="module")
def bf16(mx, cache):
    from models.synthetic_mlx import materialize_mlx

    return materialize_mlx(tiny_spec(), "bf16", cache_dir=cache)


def load(path, **options):
    from engines.mlx.engine import MLXBackend

    backend = MLXBackend()
    return backend, backend.load(path, {"n_ctx": 128, **options})


@pytest.mark.parametrize("quant,bits", [("8bit", 8), ("4bit", 4), ("3bit", 3)])
def test_quantized_builds_use_mlx_quantizer_at_the_asked_bits(mx, cache, bf16, quant, bits):
    from models.hf_config import read_model_dir
    from models.synthetic_mlx import materialize_mlx

    path = materialize_mlx(tiny_spec(), quant, cache_dir=cache)
    config = json.loads((path / "config.json").read_text())
    assert config["quantization"] == {"group_size": 64, "bits": bits, "mode": "affine"}
    weights = mx.load(str(path / "model.safetensors"))
    q = "model.layers.0.mlp.down_proj"
    # packed uint32 words: bits per weight, plus one bf16 scale and bias per 64 weights
    a = tiny_spec().architecture
    assert weights[f"{q}.weight"].dtype == mx.uint32
    assert weights[f"{q}.weight"].size * 32 == a.hidden * a.ffn * bits
    assert weights[f"{q}.scales"].size == a.hidden * a.ffn // 64
    d = read_model_dir(path)
    assert (d.format, d.quant, d.architecture) == ("mlx", quant, a)
    assert materialize_mlx(tiny_spec(), quant, cache_dir=cache) == path      # cached


def test_unknown_quant_is_a_model_error(mx, cache):
    from models.synthetic_mlx import materialize_mlx

    with pytest.raises(ModelError, match=r"valid: bf16, 8bit, 6bit, 4bit, 3bit"):
        materialize_mlx(tiny_spec(), "5bit", cache_dir=cache)


def reference(model, mx, prompt, n):
    """Greedy decoding with no KV cache at all: the whole sequence through the model each step."""
    seq = list(prompt)
    for _ in range(n):
        seq.append(int(model(mx.array([seq]))[0, -1].argmax().item()))
    return seq[len(prompt):]


def test_generate_is_greedy_exact_and_matches_a_cacheless_reference(mx, bf16):
    backend, model = load(bf16)
    a = tiny_spec().architecture
    assert (model.device, model.vocab_size, model.bos_token_id) == ("cpu", a.vocab, 1)
    assert model.engine_info["quantization"] is None
    assert model.engine_info["model_bytes"] == 2 * a.param_count()
    gen = timed_generate(backend, PROMPT, 12)
    assert gen.output_tokens == 12
    assert gen.token_ids == reference(backend._model, mx, PROMPT, 12)
    assert timed_generate(backend, PROMPT, 12).token_ids == gen.token_ids
    mem = backend.engine_memory()
    assert mem["mlx_peak_memory_bytes"] >= model.engine_info["model_bytes"]


def test_quantized_model_runs_and_is_smaller(mx, cache, bf16):
    from models.synthetic_mlx import materialize_mlx

    full = load(bf16)[1].engine_info["model_bytes"]
    backend, model = load(materialize_mlx(tiny_spec(), "4bit", cache_dir=cache))
    assert model.engine_info["quantization"] == {"bits": 4, "group_size": 64, "mode": "affine"}
    assert model.engine_info["model_bytes"] < 0.45 * full
    assert timed_generate(backend, PROMPT, 6).output_tokens == 6


def test_batch_session_gives_each_request_its_own_exact_tokens(mx, bf16):
    backend, _ = load(bf16)
    prompts = {i: list(range(400 + 3 * i, 424 + 3 * i)) for i in range(5)}
    lengths = {i: 3 + i for i in range(5)}
    session = backend.batch_session(3, 64)
    for i in range(3):
        session.submit(i, prompts[i], lengths[i])
    got: dict[int, list[int]] = {}
    steps = 0
    while session.active:
        for index, tok in session.step():
            got.setdefault(index, []).append(tok)
        steps += 1
        if steps == 3:                      # arrivals while others decode
            session.submit(3, prompts[3], lengths[3])
            session.submit(4, prompts[4], lengths[4])
    session.close()
    assert {i: len(t) for i, t in got.items()} == lengths
    assert steps < sum(lengths.values())
    assert got[0] == timed_generate(backend, prompts[0], lengths[0]).token_ids


def test_context_overflow_and_a_bad_directory_are_backend_errors(mx, bf16, tmp_path):
    backend, _ = load(bf16)
    with pytest.raises(BackendError, match=r"exceed the context of 128"):
        list(backend.generate(list(range(300, 400)), 40))
    with pytest.raises(BackendError, match=r"no config.json"):
        load(tmp_path)


def test_bench_run_with_the_mlx_backend_writes_a_complete_result(mx, cache, tmp_path):
    from bench.measurement import RunMeasurement
    from bench.run import engine_for, execute
    from models.synthetic_mlx import materialize_mlx
    from scenarios.kinds import parse_scenarios
    from scenarios.request import RunRequest

    path = materialize_mlx(tiny_spec(), "4bit", cache_dir=cache)
    config = RunRequest(model=str(path), quant="4bit", backend="mlx",
                        scenarios=parse_scenarios("pp32,tg6,single-stream", repetitions=2, requests=2,
                                                  min_duration_s=0, input_tokens=16, output_tokens=5),
                        backend_options={"n_ctx": 128}, results_dir=tmp_path, idle_seconds=0)
    result = execute(config, backend=engine_for(config), measurement=RunMeasurement).result
    assert result["status"] == "completed", result["errors"]
    assert result["backend"]["name"] == "mlx" and result["model"]["quant"] == "4bit"
    pp, tg, ss = result["scenarios"]
    assert len(pp["samples"]["pp_tps"]) == 2 and tg["measured_output_tokens"] == 12
    assert ss["samples"]["output_tokens"] == [5, 5] and len(ss["samples"]["inter_token_gap_s"]) == 8


def test_mlx_backend_gets_the_mlx_conversion(mx, cache):
    from models.hf_config import read_model_dir
    from models.synthetic_engines import materialize_for

    path, options = materialize_for("mlx", tiny_spec(), "6bit", cache_dir=cache)
    assert options == {} and read_model_dir(path).quant == "6bit"
