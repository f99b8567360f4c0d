"""One device vocabulary for every backend: a run on a GPU is measured against that GPU's memory.

Before it, llama.cpp said "gpu" and torch and vLLM "cuda", and the run compared with "gpu": a torch
or vLLM run on CUDA got the CPU's bandwidth as its ceiling (an efficiency above 100 %)."""

import pytest

from bench.measurement import decode_roofline, device_bandwidths
from contract.device import Device
from contract.result import StreamEntry
from engines.llamacpp.engine import LlamaCppBackend, offload_device
from hardware.bandwidth import BandwidthMeasurement
from scenarios.runner import decode_rate
from tests.test_default_backend import _machine

BANDWIDTH = {"cpu": BandwidthMeasurement("cpu", 21.6, "numpy"), "gpu0": BandwidthMeasurement("gpu0", 3000.0, "torch")}


@pytest.mark.parametrize("engine_name", ["cuda", "CUDA0"])     # torch and vLLM; llama.cpp's ggml device
def test_cuda_runs_are_bounded_by_the_gpu(engine_name):
    spec, measured = device_bandwidths(_machine(gpu=True), BANDWIDTH, Device.parse(engine_name))
    assert (spec, measured) == (3352.0, 3000.0)


def test_rocm_runs_are_bounded_by_the_amd_gpu_and_cuda_ones_are_not():
    assert device_bandwidths(_machine(amd=True), BANDWIDTH, Device.parse("ROCm0")) == (5300.0, 3000.0)
    assert device_bandwidths(_machine(amd=True), BANDWIDTH, Device.CUDA) == (None, None)   # no NVIDIA GPU here


def test_cpu_runs_on_a_gpu_machine_are_bounded_by_the_cpu():
    machine = _machine(gpu=True)
    assert device_bandwidths(machine, BANDWIDTH, Device.CPU) == (machine.cpu.spec_bandwidth_gbps, 21.6)


def test_apple_gpu_runs_read_the_chip_s_unified_memory():
    for device in (Device.parse("Metal"), Device.parse("MTL0"), Device.parse("mps")):
        assert device_bandwidths(_machine(apple=True), BANDWIDTH, device) == (400.0, 21.6)


def test_where_this_machine_cannot_say_there_is_no_ceiling():
    for device in (Device.SERVER, Device.MIXED, Device.parse("Vulkan0"), Device.parse("ROCm0")):
        assert device_bandwidths(_machine(gpu=True), BANDWIDTH, device) == (None, None)
    assert device_bandwidths(_machine(), BANDWIDTH, Device.CUDA) == (None, None)   # no NVML GPU seen


def test_a_fast_cuda_decode_is_within_the_gpu_roofline():
    """150 tok/s of an 8B bf16 model: above any CPU's ceiling (21.6 GB/s / 16 GB), under the H100's."""
    tg_tps = {"n": 3, "mean": 150.0, "median": 150.0, "p90": 150.0, "p99": 150.0, "min": 150.0, "max": 150.0}
    scenario = StreamEntry.model_validate({
        "name": "tg128", "kind": "tg", "status": "completed", "validity": {"verdict": "VALID"},
        "summary": {"tg_tps": tg_tps},
        "params": {"name": "tg128", "kind": "tg", "input_tokens": 0, "output_tokens": 128, "repetitions": 3}})
    model = {"weight_bytes_per_token": 16_060_000_000, "kv_bytes_per_token": 131072}
    roof = decode_roofline(decode_rate(scenario), model, *device_bandwidths(_machine(gpu=True), BANDWIDTH, Device.parse("cuda")))
    assert roof is not None
    assert roof.efficiency_measured == pytest.approx(150 / (3000e9 / roof.bytes_per_token))
    assert roof.efficiency_measured is not None and roof.efficiency_measured < 1


def test_unknown_engine_device_names_are_refused():
    with pytest.raises(ValueError):
        Device.parse("CANN0")
    assert str(Device.CUDA) == "cuda"


@pytest.mark.engine   # loads llama.cpp
def test_llama_cpp_reports_a_device_not_a_string(tiny_gguf):
    b = LlamaCppBackend()
    loaded = b.load(tiny_gguf, {"n_ctx": 256, "n_threads": 2})
    b.unload()
    assert loaded.device is Device.CPU
    assert offload_device(10, 32) is Device.MIXED          # a partial offload has no single memory
