import sys

import pytest

from tests.hardware import fake_nvml


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

