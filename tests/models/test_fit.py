"""The fit check: weights + KV cache + overhead against memory, and the overhead against llama.cpp."""

import ctypes
import dataclasses
import re

import pytest

from bench.run import RunUI
from contract.errors import ModelError
from models.catalog import ModelSpec, get_model
from models.fit import GiB, MiB, check_fit, llamacpp_compute_buffer
from models.resolve import resolve_model
from models.synthetic import materialize


@pytest.fixture()
def llama_log():
    """llama.cpp's log lines while the fixture is active (llama-cpp-python's own logger restored after)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from llama_cpp import _logger

    lines = []

    @llama_cpp.llama_log_callback
    def collect(level, text, user_data):
        lines.append(text.decode(errors="replace"))

    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    try:
        yield lines
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


_TINY = get_model("tiny").architecture
SHAPES = {
    "logits-bound": _TINY,  # 32k vocabulary x 512 tokens of logits dominate
    "attention-bound": dataclasses.replace(_TINY, hidden=1024, n_heads=16, n_kv_heads=4, head_dim=64, ffn=4096,
                                           vocab=2000, max_context=8192),
    "two-masks": dataclasses.replace(get_model("gemma-2-9b").architecture, n_layers=2, hidden=256, n_heads=8,
                                     n_kv_heads=4, head_dim=128, ffn=512, vocab=1000, sliding_window=64),
}


@pytest.mark.parametrize("shape, n_ctx, flash_attn", [
    ("logits-bound", 512, False), ("attention-bound", 8192, False), ("attention-bound", 8192, True),
    ("two-masks", 8192, False),
])
@pytest.mark.engine   # loads llama.cpp
def test_compute_buffer_estimate_brackets_what_llama_cpp_reserves(shape, n_ctx, flash_attn, llama_log, model_cache):
    import llama_cpp

    spec = ModelSpec(id=f"fit-{shape}", name=shape, architecture=SHAPES[shape], license="n/a")
    path = materialize(spec, "Q8_0", cache_dir=model_cache)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=2048, n_ubatch=512, n_threads=2,
                          flash_attn=flash_attn, verbose=False)
    llm.close()
    log = "".join(llama_log)
    found = re.search(r"compute buffer size =\s+([\d.]+) MiB", log)
    assert found is not None, log
    real = float(found.group(1)) * MiB
    estimate = llamacpp_compute_buffer(spec.architecture, n_ctx, flash_attn)
    assert 0.9 * real <= estimate <= 1.35 * real, (real / MiB, estimate / MiB)
    # the KV cache is as the fit counts it: every layer at full context (sliding-window ones too)
    kv = sum(float(x) for x in re.findall(r"KV buffer size =\s+([\d.]+) MiB", log)) * MiB
    assert kv == spec.architecture.kv_bytes_per_token() * n_ctx


def test_a_14b_at_f16_does_not_fit_in_24_gib_but_q4_k_m_does():
    spec = get_model("qwen2.5-14b")
    big = check_fit(spec, "F16", 8192, 1, 24 * GiB)
    assert not big.fits and big.weights_bytes > 24 * GiB
    assert big.reason.startswith("needs ") and "but 24.0 GiB is available" in big.reason
    small = check_fit(spec, "Q4_K_M", 8192, 1, 24 * GiB)
    assert small.fits and small.reason.startswith("fits: ")
    assert small.need_bytes == small.weights_bytes + small.kv_bytes + small.overhead_bytes
    assert small.kv_bytes == 8192 * spec.architecture.kv_bytes_per_token()
    assert small.kv_room_bytes == 24 * GiB - small.weights_bytes - small.overhead_bytes
    assert small.max_kv_tokens == small.kv_room_bytes // spec.architecture.kv_bytes_per_token()


def test_concurrency_multiplies_the_kv_cache():
    spec = get_model("llama-3.1-8b")
    one = check_fit(spec, "Q4_K_M", 8192, 1, 24 * GiB, flash_attn=True)
    eight = check_fit(spec, "Q4_K_M", 8192, 8, 24 * GiB, flash_attn=True)
    assert eight.kv_bytes == 8 * one.kv_bytes == 8 * GiB  # 128 KiB x 65,536 tokens
    assert eight.fits and eight.weights_bytes == one.weights_bytes


def test_context_beyond_the_model_maximum_does_not_fit():
    v = check_fit(get_model("gemma-2-9b"), "Q4_K_M", 16384, 1, 80 * GiB)
    assert not v.fits and v.reason == "context 16384 exceeds the model's maximum of 8192 tokens"


def test_vllm_keeps_a_tenth_of_the_gpu_back():
    spec = get_model("llama-3.1-8b")
    v = check_fit(spec, "bf16", 4096, 1, 80 * GiB, backend="vllm")
    assert v.overhead_bytes > 8 * GiB and v.fits


def test_a_resolved_file_counts_its_real_size(tiny_gguf):
    resolved = resolve_model(str(tiny_gguf), "Q4_K_M", None, RunUI())
    v = check_fit(resolved, None, 512, 2, 1 * GiB)
    assert v.weights_bytes == tiny_gguf.stat().st_size
    assert v.kv_bytes == 2 * 512 * get_model("tiny").architecture.kv_bytes_per_token()


@pytest.mark.parametrize("args, fragment", [
    ((512, 0, GiB), "concurrency \\(0\\) must be positive"),
    ((0, 1, GiB), "context \\(0\\)"),
    ((512, 1, 0), "available memory must be positive"),
])
def test_bad_fit_arguments_are_one_line_errors(args, fragment):
    with pytest.raises(ModelError, match=fragment):
        check_fit(get_model("tiny"), "Q4_K_M", *args)


def test_available_memory_prefers_gpus_then_unified_memory_then_ram():
    import hardware
    from contract.result import AppleInfo, GpuInfo
    from models.fit import available_memory

    here = hardware.probe()
    # GPUs and Apple Silicon are not on this machine: their records are built by hand
    gpu = GpuInfo(vendor="nvidia", index=0, device="gpu0", name="H100", uuid=None, memory_bytes=80 * GiB,
                  power_limit_w=700.0, spec_bandwidth_gbps=None, energy_counter=True)
    two_gpus = here.model_copy(update={"gpus": [gpu, gpu.model_copy(update={"index": 1, "device": "gpu1"})]})
    assert available_memory(two_gpus) == (160 * GiB, "2 NVIDIA GPU(s), 160.0 GiB in all")
    amd = gpu.model_copy(update={"vendor": "amd", "name": "AMD Instinct MI300X", "memory_bytes": 192 * GiB})
    assert available_memory(here.model_copy(update={"gpus": [amd]})) == (192 * GiB, "1 AMD GPU(s), 192.0 GiB in all")
    mac = here.model_copy(update={"gpus": [], "apple": AppleInfo(
        chip="Apple M2 Max", p_cores=8, e_cores=4, gpu_cores=38, unified_memory_bytes=64 * GiB,
        spec_bandwidth_gbps=400.0, spec_source="spec")})
    assert available_memory(mac)[0] == 48 * GiB
    cpu_only = here.model_copy(update={"gpus": [], "apple": None})
    assert available_memory(cpu_only)[0] == here.cpu.ram_bytes


@pytest.mark.parametrize("kv_unified", [False, True])
@pytest.mark.engine   # loads llama.cpp
def test_concurrent_sequences_attend_over_their_own_stream_unless_unified(kv_unified, llama_log, model_cache):
    import llama_cpp

    from models.fit import _LLAMACPP_BASE, runtime_overhead
    from models.formats import get_format

    spec = ModelSpec(id="fit-attention-bound", name="attention-bound", architecture=SHAPES["attention-bound"],
                     license="n/a")
    path = materialize(spec, "Q8_0", cache_dir=model_cache)
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), llama_cpp.llama_model_default_params())
    params = llama_cpp.llama_context_default_params()  # as engines/llamacpp/batch.py sets them
    params.n_ctx, params.n_batch, params.n_ubatch, params.n_seq_max = 4 * 2048, 2048, 512, 4
    params.kv_unified = kv_unified
    params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    ctx = llama_cpp.llama_init_from_model(model, params)
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    log = "".join(llama_log)
    found = re.search(r"compute buffer size =\s+([\d.]+) MiB", log)
    assert found is not None, log
    real = float(found.group(1)) * MiB
    estimate = runtime_overhead(spec.architecture, get_format("llamacpp", "Q8_0"), 2048, 4, GiB,
                                kv_unified=kv_unified) - _LLAMACPP_BASE
    assert 0.9 * real <= estimate <= 1.35 * real, (real / MiB, estimate / MiB)


def test_every_engine_format_has_an_overhead_rule():
    from models.fit import OVERHEAD_RULES
    from models.formats import BACKENDS

    assert set(OVERHEAD_RULES) == set(BACKENDS)
