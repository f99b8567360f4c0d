import json

import pytest

import hardware
from hardware import bandwidth
from hardware.roofline import bandwidth_efficiency, bytes_per_token, decode_ceiling

MiB = 1024**2


def test_measures_then_serves_from_cache(monkeypatch, tmp_path):
    info = hardware.probe()
    first = bandwidth.measured_bandwidth(info, budget_s=0.2, array_bytes=16 * MiB)["cpu"]
    assert first.gbps > 0.5 and not first.cached and first.kernels.keys() == {"read", "copy", "add"}
    path = bandwidth.cache_path(info)
    assert path.parent == tmp_path / "cache" and info.fingerprint() in path.name
    assert json.loads(path.read_text())["devices"]["cpu"]["gbps"] == first.gbps

    monkeypatch.setattr(bandwidth, "measure_cpu", lambda *a, **k: pytest.fail("re-measured"))
    again = bandwidth.measured_bandwidth(info)["cpu"]
    assert again.cached and again.gbps == first.gbps


def test_gpu_without_torch_is_none_with_reason(nvml, monkeypatch):
    import importlib.util
    nvml()
    info = hardware.probe()
    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "torch" else real_find(n, *a))
    out = bandwidth.measured_bandwidth(info, budget_s=0.1, array_bytes=8 * MiB)
    assert out["gpu0"].gbps is None and "torch" in out["gpu0"].reason
    assert "gpu0" not in json.loads(bandwidth.cache_path(info).read_text())["devices"]


def test_roofline_matches_research_anchor():
    # Llama-3.1-8B BF16 (16.06 GB) on H100 SXM (3,350 GB/s): ceiling ~209 tok/s.
    assert decode_ceiling(16.06e9, 3350) == pytest.approx(208.6, abs=0.1)
    assert decode_ceiling(16.06e9, None) is None
    b = bytes_per_token(4_920_000_000, kv_bytes_per_token=131072, context_tokens=4096)
    assert b == 4_920_000_000 + 131072 * 4096
    r = bandwidth_efficiency(100.0, 5e9, spec_gbps=1000, measured_gbps=800)
    assert r.ceiling_tps_spec == 200 and r.ceiling_tps_measured == 160
    assert r.efficiency_spec == 0.5 and r.efficiency_measured == 0.625
    assert bandwidth_efficiency(100.0, 5e9, measured_gbps=800).efficiency_spec is None
