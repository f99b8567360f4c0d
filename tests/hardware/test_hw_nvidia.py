import time

import pytest

from contract.result import PcieLink
from hardware import nvidia
from hardware.session import MeasurementSession
from hardware.sources import open_sources
from tests.hardware import fake_nvml
from tests.hardware.probed import machine


def test_probe_reads_h100_figures(nvml):
    fake = nvml()
    driver, gpus = nvidia.probe_nvidia()
    assert driver.available and driver.driver_version == "550.54.15"
    assert (driver.runtime, driver.runtime_version) == ("CUDA", "12.4")
    g = gpus[0]
    assert (g.vendor, g.index, g.device) == ("nvidia", 0, "gpu0")
    assert g.name == "NVIDIA H100 80GB HBM3"
    assert g.memory_bytes == 85520809984
    assert g.arch == "9.0"                               # the compute capability
    assert g.power_limit_w == 700.0                      # mW -> W
    assert g.spec_bandwidth_gbps == pytest.approx(3352.3, abs=0.1)   # 5120 bit x 2619 MHz x 2
    assert g.spec_source == "NVML bus width 5120 bit x max memory clock 2619 MHz x 2"
    assert g.pcie_link == PcieLink(gen=5, width=16, max_gen=5, max_width=16)
    assert g.mig_mode is False and g.energy_counter is True
    assert fake.init_count == 0                          # probe shut NVML down again


def test_gpus_are_named_from_the_first_number_given(nvml):
    nvml([fake_nvml.H100, fake_nvml.P100])
    _, gpus = nvidia.probe_nvidia(first=2)
    assert [(g.index, g.device) for g in gpus] == [(0, "gpu2"), (1, "gpu3")]


def test_pre_volta_has_no_counter_and_unsupported_fields_get_reasons(nvml):
    nvml([fake_nvml.P100])
    g = nvidia.probe_nvidia()[1][0]
    assert g.energy_counter is False
    assert g.mig_mode is None and "Not Supported" in g.unknown["mig_mode"]
    assert g.spec_bandwidth_gbps == pytest.approx(732.2, abs=0.1)     # P100 datasheet: 732 GB/s


def test_missing_library_and_driver_are_reported_not_raised(nvml, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "pynvml", None)       # import pynvml -> ImportError
    driver, gpus = nvidia.probe_nvidia()
    assert not driver.available and gpus == [] and driver.reason is not None
    assert "nvidia-ml-py is not installed" in driver.reason
    nvml(init_error=fake_nvml.real.NVML_ERROR_LIBRARY_NOT_FOUND)
    driver, gpus = nvidia.probe_nvidia()
    assert not driver.available and driver.reason is not None and "NVML Shared Library Not Found" in driver.reason


def test_throttle_names_keep_only_real_throttling():
    assert nvidia.throttle_names(0x1 | 0x4 | 0x20) == ["sw_power_cap", "sw_thermal"]   # 0x1 = idle


def _session(info, **kw):
    # CPU side absent (no RAPL dir, no TDP, no core count to guess from) so only the GPU is measured.
    info.cpu.spec_tdp_w = info.cpu.cores = None
    return MeasurementSession(info, sources=open_sources(info, powercap=kw.pop("powercap")), **kw)


def test_counter_window_short_window_and_peaks(nvml, tmp_path):
    import os
    fake = nvml()
    fake.devices[0].procs = [(os.getpid(), 17 * 1024**3), (999999, 5 * 1024**3)]
    fake.devices[0].throttle_mask = 0x4 | 0x40
    info = machine()
    s = _session(info, interval_s=0.05, powercap=tmp_path / "none")
    s.start()
    w = s.begin_window()
    time.sleep(0.6)
    r = s.end_window(w).device("gpu0")
    assert r.method == "counter"
    # 300 W for the window; the counter's 100 ms steps bound the error.
    assert r.joules == pytest.approx(300 * r.seconds, abs=300 * 0.1 + 1)
    short = s.begin_window()
    r2 = s.end_window(short).device("gpu0")           # far below the 100 ms update period
    assert r2.method == "integrated" and r2.joules == pytest.approx(300 * r2.seconds, rel=0.01)
    rep = s.stop()
    peak = rep.memory.peak_device_memory["gpu0"]
    assert peak["process_bytes"] == 17 * 1024**3      # only our own pid counts
    assert peak["device_used_bytes"] == 2 * 1024**3
    assert rep.throttle["gpu0"]["reasons"] == ["hw_thermal", "sw_power_cap"]
    assert rep.timeline[-1]["gpus"][0]["sm_clock_mhz"] == 1755
    assert fake.init_count == 0


def test_pre_volta_window_is_integrated_from_power_samples(nvml, tmp_path):
    nvml([fake_nvml.P100])
    info = machine()
    s = _session(info, interval_s=0.05, powercap=tmp_path / "none")
    s.start()
    w = s.begin_window()
    time.sleep(0.3)
    reading = s.end_window(w)
    s.stop()
    r = reading.device("gpu0")
    assert r.method == "integrated" and r.joules == pytest.approx(36 * r.seconds, rel=0.01)
    assert reading.device("cpu").joules is None and "RIGHTSIZE_CPU_TDP_W" in reading.device("cpu").reason
    assert reading.joules == r.joules and reading.covers == ["gpu0"]
