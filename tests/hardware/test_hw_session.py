import json
import time

import pytest

import hardware
from contract.result import DeviceEnergy, EnergyWindow
from hardware import energy
from hardware.energy import integrate, joules_per_token, tokens_per_joule
from hardware.estimate import TdpEstimateSource
from hardware.sources import open_sources


def reading(window: EnergyWindow, device: str) -> DeviceEnergy:
    """The window's reading for `device`, which the test expects it to have."""
    found = window.device(device)
    assert found is not None, f"no {device} reading in the window"
    return found


def burn(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_real_cpu_session_with_tdp_is_estimated_and_idle_kept_apart(tmp_path):
    info = hardware.probe()
    s = hardware.MeasurementSession(info, interval_s=0.05, cpu_tdp_w=100.0,
                                    sources=open_sources(info, cpu_tdp_w=100.0, powercap=tmp_path))
    idle = s.measure_idle(seconds=0.3)
    s.start()
    w = s.begin_window()
    burn(0.5)
    r = s.end_window(w)
    rep = s.stop()
    cpu = reading(r, "cpu")
    assert cpu.method == "estimated" and cpu.reason is not None and "TDP given by the user" in cpu.reason
    # One busy thread of N CPUs: at least 100 W x 1/N x part of the window, at most 100 W.
    assert info.cpu.threads is not None and cpu.joules is not None
    assert 100 * r.seconds / info.cpu.threads * 0.5 < cpu.joules <= 100 * r.seconds * 1.05
    # The idle baseline is its own window, not part of the active one.
    assert rep.idle is idle and idle.seconds == pytest.approx(0.3, abs=0.1) and reading(idle, "cpu").joules is not None
    phases = {x["phase"] for x in rep.timeline}
    assert phases == {"idle", "active"}
    assert rep.memory.peak_rss_bytes is not None and rep.memory.peak_rss_bytes > 10 * 1024**2
    assert rep.memory.self_max_rss_bytes is not None
    assert rep.memory.self_max_rss_bytes >= rep.timeline[0]["rss_bytes"] * 0.5
    assert rep.sampler is not None and 0 < rep.sampler["thread_cpu_seconds"] < rep.sampler["wall_seconds"]
    assert rep.throttle["cpu"]["reasons"] is None and rep.throttle["cpu"]["reason_unknown"]
    doc = json.loads(json.dumps(rep.monitoring().model_dump(mode="json")))
    assert doc["idle"]["watts"]["cpu"] is not None


def test_unknown_cpu_model_is_estimated_per_core_and_says_so(tmp_path):
    info = hardware.probe()
    info.cpu.spec_tdp_w, info.cpu.cores = None, 4
    with hardware.MeasurementSession(info, interval_s=0.05,
                                     sources=open_sources(info, powercap=tmp_path)) as s:
        s.start()
        w = s.begin_window()
        sum(i * i for i in range(2_000_000))          # keep a core busy
        r = s.end_window(w)
    cpu = reading(r, "cpu")
    assert cpu.method == "estimated" and cpu.reason is not None and "5 W per core x 4 cores" in cpu.reason
    # at most the 20 W assumed for 4 cores, and more than nothing while a core was busy
    assert cpu.average_watts is not None and 0 < cpu.average_watts <= 20.0 * 1.05   # CPU-time accounting ticks can overshoot the wall window slightly


def test_unknown_tdp_gives_none_with_reason_never_zero(tmp_path):
    info = hardware.probe()
    info.cpu.spec_tdp_w = info.cpu.cores = None
    with hardware.MeasurementSession(info, interval_s=0.05,
                                     sources=open_sources(info, powercap=tmp_path)) as s:
        s.start()
        r = s.end_window(s.begin_window())
    cpu = reading(r, "cpu")
    assert cpu.joules is None and cpu.method is None and cpu.reason is not None and "RIGHTSIZE_CPU_TDP_W" in cpu.reason
    assert r.joules is None and joules_per_token(100, r) is None and tokens_per_joule(100, r) is None
    assert set(r.missing) == {"cpu", "dram"} and r.covers == []


def test_per_token_helpers():
    r = energy.window(10.0, [energy.reading("gpu0", 500.0, 10.0, "counter"),
                             energy.reading("cpu", 100.0, 10.0, "estimated")])
    assert r.joules == 600.0 and r.method == "estimated"      # weakest part decides
    assert joules_per_token(1200, r) == 0.5 and tokens_per_joule(1200, r) == 2.0
    assert joules_per_token(0, r) is None
    assert reading(r, "gpu0").average_watts == 50.0


def test_integrate():
    flat = [(0.0, 100.0), (1.0, 100.0), (2.0, 100.0)]
    assert integrate(flat, 0.5, 1.5) == pytest.approx(100.0)
    ramp = [(0.0, 0.0), (1.0, 100.0)]
    assert integrate(ramp, 0.0, 1.0) == pytest.approx(50.0)
    assert integrate([(5.0, 40.0)], 0.0, 0.25) == pytest.approx(10.0)   # nearest sample held
    assert integrate([(0.0, None)], 0.0, 1.0) is None


def test_an_estimate_over_a_window_shorter_than_two_clock_ticks_is_none_not_zero(tmp_path):
    """CPU time comes in clock ticks: no tick in a window of a few ms says nothing about the power."""
    info = hardware.probe()
    sources = open_sources(info, cpu_tdp_w=100.0, powercap=tmp_path)
    (estimate,) = [src for src in sources.sources if src.method == "estimated"]
    assert isinstance(estimate, TdpEstimateSource)
    estimate._busy = lambda: 42.0                  # no CPU time passes, whatever else the machine does
    with hardware.MeasurementSession(info, interval_s=0.05, sources=sources) as s:
        short = reading(s.end_window(s.begin_window()), "cpu")
        w = s.begin_window()
        time.sleep(0.1)
        long = reading(s.end_window(w), "cpu")
    assert short.joules is None and short.reason is not None and "CPU-time resolution" in short.reason
    assert long.joules == 0.0 and long.method == "estimated"     # ten ticks and none busy: a real 0
