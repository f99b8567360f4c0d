"""The default backend for the detected hardware (NVML and Apple absent here: described by data)."""

import importlib.util

import pytest

from contract.result import AppleInfo, GpuDriver, GpuInfo, HardwareInfo
from engines import choose
from hardware.cpu import probe_cpu


def _gpu(vendor="nvidia", name="NVIDIA H100 80GB HBM3", index=0, spec=3352.0):
    return GpuInfo(vendor=vendor, index=index, device=f"gpu{index}", name=name, uuid=None, memory_bytes=80 * 2**30,
                   arch="9.0", power_limit_w=700, memory_bus_width_bits=5120, max_memory_clock_mhz=2619,
                   spec_bandwidth_gbps=spec, pcie_link=None, mig_mode=False, energy_counter=True)


def _machine(gpu=False, apple=False, amd=False):
    gpus = [_gpu()] if gpu else [_gpu("amd", "AMD Instinct MI300X", i, 5300.0) for i in range(2)] if amd else []
    drivers = {"nvidia": GpuDriver(available=gpu, reason=None if gpu else "no driver", runtime="CUDA"),
               "amd": GpuDriver(available=amd, reason=None if amd else "no driver", runtime="ROCm")}
    chip = AppleInfo(chip="Apple M2 Max", p_cores=8, e_cores=4, gpu_cores=38, unified_memory_bytes=96 * 2**30,
                     spec_bandwidth_gbps=400.0, spec_source="table") if apple else None
    return HardwareInfo.of(cpu=probe_cpu(), gpus=gpus, gpu_drivers=drivers, apple=chip)


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
    assert name == "llamacpp" and "CPU" in why and "has no CUDA" in why


def test_amd_gpus_take_the_same_order_and_say_rocm(installed):
    m = _machine(amd=True)
    installed.add("vllm")
    name, why = choose.default_backend(m)
    assert name == "vllm" and "AMD Instinct MI300X (2 AMD GPUs here)" in why
    installed.clear()
    name, why = choose.default_backend(m)
    assert name == "llamacpp" and "has no ROCm" in why and "CUDA" not in why


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
