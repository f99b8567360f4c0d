"""The default backend for the detected hardware (NVML and Apple absent here: described by data)."""

import importlib.util

import pytest

from engines import choose
from hardware.cpu import probe_cpu
from hardware.info import AppleInfo, GpuInfo, HardwareInfo, NvidiaInfo


def _gpu():
    return GpuInfo(index=0, name="NVIDIA H100 80GB HBM3", uuid=None, memory_bytes=80 * 2**30,
                   compute_capability="9.0", power_limit_w=700, memory_bus_width_bits=5120,
                   max_memory_clock_mhz=2619, spec_bandwidth_gbps=3352.0, pcie_link=None, mig_mode=False,
                   energy_counter=True)


def _machine(gpu=False, apple=False):
    nvidia = NvidiaInfo(True, None, gpus=[_gpu()]) if gpu else NvidiaInfo(False, "no driver")
    chip = AppleInfo("Apple M2 Max", 8, 4, 38, 96 * 2**30, 400.0, "table") if apple else None
    return HardwareInfo(cpu=probe_cpu(), nvidia=nvidia, apple=chip)


@pytest.fixture
def installed(monkeypatch):
    present: set[str] = set()
    monkeypatch.setattr(choose, "_installed", lambda m: m in present)
    monkeypatch.setattr(choose, "_llamacpp_offloads", lambda: "llama_cpp-gpu" in present)
    return present


def test_cpu_machine_uses_llamacpp(installed):
    assert choose.default_backend(_machine())[0] == "llamacpp"


def test_cuda_prefers_vllm_then_offloading_llamacpp_then_torch(installed):
    m = _machine(gpu=True)
    installed.update({"vllm", "torch", "llama_cpp-gpu"})
    name, why = choose.default_backend(m)
    assert name == "vllm" and "H100" in why
    installed.discard("vllm")
    assert choose.default_backend(m)[0] == "llamacpp"
    installed.discard("llama_cpp-gpu")
    assert choose.default_backend(m)[0] == "torch"
    installed.discard("torch")
    name, why = choose.default_backend(m)
    assert name == "llamacpp" and "CPU" in why


def test_apple_prefers_mlx(installed):
    m = _machine(apple=True)
    installed.add("mlx_lm")
    assert choose.default_backend(m) == ("mlx", "measuring Apple M2 Max with mlx-lm (backend mlx): mlx-lm is installed")
    installed.clear()
    assert choose.default_backend(m)[0] == "llamacpp"


def test_real_lookup_on_this_machine():
    # the real helpers, unpatched: llama.cpp is installed here and this build cannot offload
    assert choose._installed("llama_cpp") == (importlib.util.find_spec("llama_cpp") is not None)
    assert choose.default_backend(_machine())[0] == "llamacpp"
