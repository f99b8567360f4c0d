import json
import os
from datetime import datetime, timedelta, timezone

import pytest

import hardware
from hardware import bandwidth
from hardware.roofline import bandwidth_efficiency, bytes_per_token, decode_ceiling

MiB = 1024**2


def _edit_cache(info, **fields):
    path = bandwidth.cache_path(info)
    doc = json.loads(path.read_text())
    doc["devices"]["cpu"].update(fields)
    path.write_text(json.dumps(doc))


def test_measures_the_read_roof_then_serves_it_from_cache(monkeypatch, tmp_path):
    info = hardware.probe()
    first = bandwidth.measured_bandwidth(info, budget_s=0.2, array_bytes=16 * MiB)["cpu"]
    threads = info.cpu.cores or os.cpu_count()
    # the roof is the read kernel at the engine's thread count; copy and add are context
    assert first.gbps is not None and first.gbps > 0.5 and not first.cached and first.kernels.keys() == {"read", "copy", "add"}
    assert first.gbps == first.kernels["read"] == first.read_gbps_by_threads[str(threads)]
    assert first.threads == threads and {"1", str(threads)} <= first.read_gbps_by_threads.keys()
    assert first.measured_because == "not measured on this machine yet" and first.age_s == 0
    assert first.logical_cpus == os.cpu_count() and first.under_load in (True, False)
    assert first.loadavg_before is not None and first.loadavg_before >= 0
    assert first.loadavg_after is not None and first.loadavg_after >= 0
    path = bandwidth.cache_path(info)
    assert path.parent == tmp_path / "cache" and info.fingerprint in path.name
    assert json.loads(path.read_text())["devices"]["cpu"]["gbps"] == first.gbps

    _edit_cache(info, under_load=False)          # a figure taken on a quiet machine, an hour ago
    _edit_cache(info, measured_at=(datetime.now(timezone.utc) - timedelta(hours=1)).isoformat())
    with monkeypatch.context() as m:
        m.setattr(bandwidth, "measure_cpu", lambda *a, **k: pytest.fail("re-measured"))
        again = bandwidth.measured_bandwidth(info)["cpu"]
    assert again.cached and again.gbps == first.gbps and again.age_s is not None and 3500 < again.age_s < 3700
    assert bandwidth.pending(info) == {}
    assert "read roof" in bandwidth.describe(again) and "1.0 h ago" in bandwidth.describe(again)


@pytest.mark.parametrize("edit, why", [
    ({"under_load": True, "loadavg_before": 3.5, "loadavg_after": 0.5}, "measured under load (load average 3.5"),
    ({"measured_at": (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()}, "8 days old"),
    ({"measured_at": None}, "no measuring time"),
])
def test_a_figure_that_cannot_be_trusted_is_measured_again(edit, why):
    info = hardware.probe()
    bandwidth.measured_bandwidth(info, budget_s=0.1, array_bytes=8 * MiB)
    _edit_cache(info, **{"under_load": False, **edit})
    assert why in bandwidth.pending(info)["cpu"]
    assert why in bandwidth.describe(bandwidth.cached_bandwidth(info)["cpu"])   # bench hardware says so
    fresh = bandwidth.measured_bandwidth(info, budget_s=0.1, array_bytes=8 * MiB)["cpu"]
    assert not fresh.cached and fresh.measured_because is not None and why in fresh.measured_because


def test_a_cache_from_the_copy_kernel_era_is_measured_again():
    info = hardware.probe()
    path = bandwidth.cache_path(info)
    path.parent.mkdir(parents=True)
    old = {"device": "cpu", "gbps": 42.0, "method": "numpy STREAM-like read/copy/add, best kernel, 2 threads",
           "reason": None, "kernels": {"read": 18.6, "copy": 42.0, "add": 21.6}, "array_bytes": 134217728,
           "threads": 2, "measured_at": datetime.now(timezone.utc).isoformat(), "cached": False}
    path.write_text(json.dumps({"version": 1, "fingerprint": info.fingerprint, "devices": {"cpu": old}}))
    assert bandwidth.cached_bandwidth(info) == {}
    assert bandwidth.pending(info) == {"cpu": "not measured on this machine yet"}
    fresh = bandwidth.measured_bandwidth(info, budget_s=0.1, array_bytes=8 * MiB)["cpu"]
    assert fresh.gbps == fresh.kernels["read"] and json.loads(path.read_text())["version"] == bandwidth.CACHE_VERSION


def test_load_besides_the_measurement_decides_under_load():
    # 2 threads busy for 5 s add 2 x (1 - e^(-5/60)) = 0.16 to the 1-minute load average
    assert bandwidth.load_verdict(0.2, 0.36, 5.0, 2, 2) == (0.2, False)
    assert bandwidth.load_verdict(0.2, 1.9, 5.0, 2, 2) == (1.74, True)       # others started meanwhile
    assert bandwidth.load_verdict(1.2, 0.3, 5.0, 2, 2) == (0.14, True)       # others ran before
    assert bandwidth.load_verdict(None, 0.3, 5.0, 2, 2) == (None, None)      # no load average: not known
    assert bandwidth.thread_counts(1) == [1] and bandwidth.thread_counts(2) == [1, 2]
    assert bandwidth.thread_counts(12) == [1, 2, 4, 8, 12]


def test_gpu_without_torch_is_none_with_reason(nvml, monkeypatch):
    import importlib.util
    nvml()
    info = hardware.probe()
    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "torch" else real_find(n, *a))
    out = bandwidth.measured_bandwidth(info, budget_s=0.1, array_bytes=8 * MiB)
    assert out["gpu0"].gbps is None and out["gpu0"].reason is not None and "torch" in out["gpu0"].reason
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
