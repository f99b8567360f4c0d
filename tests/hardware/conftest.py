import sys

import pytest

from tests.hardware import fake_amdsmi, fake_nvml


@pytest.fixture
def nvml(monkeypatch):
    """Install a fake pynvml with one H100; tests may append devices before probing."""
    def install(specs=(fake_nvml.H100,), init_error=None):
        mod = fake_nvml.make(list(specs), init_error)
        monkeypatch.setitem(sys.modules, "pynvml", mod)
        return mod
    return install


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No test reads the user's cache or TDP override."""
    monkeypatch.setenv("RIGHTSIZE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RIGHTSIZE_CPU_TDP_W", raising=False)


@pytest.fixture(autouse=True)
def no_amdsmi(monkeypatch):
    """amdsmi is absent unless a test installs the fake: an AMD GPU on the machine running the tests
    must not change what they probe."""
    monkeypatch.setitem(sys.modules, "amdsmi", None)


@pytest.fixture
def amdsmi(monkeypatch):
    """Install a fake amdsmi with one MI300X; tests may pass other GPUs."""
    def install(specs=(fake_amdsmi.MI300X,), init_error=None, rocm="6.3.1"):
        mod = fake_amdsmi.make(list(specs), init_error, rocm)
        monkeypatch.setitem(sys.modules, "amdsmi", mod)
        return mod
    return install
