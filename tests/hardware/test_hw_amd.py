"""The AMD provider through a fake amdsmi with amdsmi's own shapes (tests/hardware/fake_amdsmi.py):
what it probes, how it measures energy and power, and what it says when it cannot."""

import os
import time

import pytest

from contract.result import PcieLink
from hardware import amd
from hardware.session import MeasurementSession
from hardware.sources import open_sources
from tests.hardware import fake_amdsmi, fake_nvml
from tests.hardware.probed import machine


def test_probe_reads_mi300x_figures(amdsmi):
    fake = amdsmi()
    driver, gpus = amd.probe_amd()
    assert driver.available and driver.reason is None
    assert (driver.driver_version, driver.runtime, driver.runtime_version) == ("6.8.5", "ROCm", "6.3.1")
    g = gpus[0]
    assert (g.vendor, g.index, g.device) == ("amd", 0, "gpu0")
    assert (g.name, g.uuid, g.arch) == ("AMD Instinct MI300X", "7eff74a0-0000-1000-808f-7e20764e2714", "gfx942")
    assert g.memory_bytes == 206141652992
    assert g.power_limit_w == 750.0                      # uW -> W
    assert (g.memory_bus_width_bits, g.max_memory_clock_mhz) == (8192, 1300)
    # the datasheet figure from the machine table, not bus x clock (which gives half of it on HBM3)
    assert g.spec_bandwidth_gbps == 5300
    assert g.spec_source is not None and g.spec_source.startswith("hardware/specs.json machine mi300x: ")
    assert g.pcie_link == PcieLink(gen=5, width=16, max_gen=5, max_width=16)
    assert g.mig_mode is None and g.energy_counter is True and g.unknown == {}
    assert fake.init_count == 0                          # the probe shut amdsmi down again


def test_an_older_amdsmi_and_a_gpu_missing_from_the_table(amdsmi):
    amdsmi([fake_amdsmi.MI250X], rocm=None)              # amdsmi 6.0: no ROCm version call, no bus width
    driver, gpus = amd.probe_amd(first=1)
    g = gpus[0]
    assert driver.runtime_version is None and g.device == "gpu1" and g.arch == "gfx90a"
    assert g.memory_bus_width_bits is None and g.max_memory_clock_mhz == 1600
    assert g.spec_bandwidth_gbps is None and g.spec_source is None
    assert g.unknown["spec_bandwidth_gbps"] == "AMD Instinct MI250X/MI250 is not in hardware/specs.json machines"


def test_a_vm_guest_has_no_counter_and_no_cap_and_says_why(amdsmi):
    fake = amdsmi()
    fake.devices[0].unsupported |= {"amdsmi_get_energy_count", "amdsmi_get_power_cap_info", "amdsmi_get_pcie_info"}
    g = amd.probe_amd()[1][0]
    assert g.energy_counter is False and g.power_limit_w is None and g.pcie_link is None
    not_supported = "amdsmi: AMDSMI_STATUS_NOT_SUPPORTED - Feature not supported"
    assert g.unknown == {"energy_counter": not_supported, "power_limit_w": not_supported, "pcie_link": not_supported}


def test_missing_library_and_driver_are_reported_not_raised(amdsmi):
    driver, gpus = amd.probe_amd()                       # the autouse fixture: amdsmi not importable
    assert not driver.available and gpus == [] and driver.reason is not None
    assert driver.reason.startswith("amdsmi is not installed") and driver.runtime == "ROCm"
    amdsmi(init_error=fake_amdsmi.AMDSMI_STATUS_DRIVER_NOT_LOADED)
    driver, gpus = amd.probe_amd()
    assert not driver.available and gpus == []
    assert driver.reason == ("amdsmi unavailable: AMDSMI_STATUS_DRIVER_NOT_LOADED - Driver not loaded "
                             "(no amdgpu driver or GPU)")
    amdsmi([])
    driver, gpus = amd.probe_amd()
    assert (driver.available, driver.reason, gpus) == (False, "amdsmi found no GPUs", [])


def _session(info, tmp_path, **kw):
    # CPU side absent (no RAPL dir, no TDP, no core count to guess from) so only the GPUs are measured.
    info.cpu.spec_tdp_w = info.cpu.cores = None
    return MeasurementSession(info, sources=open_sources(info, powercap=tmp_path / "none"), **kw)


def test_counter_window_short_window_peaks_and_violations(amdsmi, tmp_path):
    fake = amdsmi()
    fake.devices[0].procs = [(os.getpid(), 17 * 1024**3), (999999, 5 * 1024**3)]
    fake.devices[0].violations = {"active_ppt_pwr", "active_hbm_thrm"}
    info = machine()
    s = _session(info, tmp_path, interval_s=0.05)
    s.start()
    w = s.begin_window()
    time.sleep(0.3)
    r = s.end_window(w).device("gpu0")
    assert r is not None and r.method == "counter" and r.reason.startswith("amdsmi_get_energy_count")
    # 300 W; the counter's 1 ms steps and its 15.3 uJ resolution bound the error
    assert r.joules == pytest.approx(300 * r.seconds, abs=300 * 0.002 + 0.01)
    short = s.begin_window()
    r2 = s.end_window(short).device("gpu0")              # below the 1 ms refresh: power samples instead
    assert r2 is not None and r2.method == "integrated" and r2.joules == pytest.approx(300 * r2.seconds, rel=0.01)
    rep = s.stop()
    assert rep.memory.peak_device_memory["gpu0"] == {"process_bytes": 17 * 1024**3, "device_used_bytes": 2 * 1024**3}
    assert rep.throttle["gpu0"]["reasons"] == ["hbm_thermal", "power_cap"]
    tick = rep.timeline[-1]["gpus"][0]
    assert (tick["device"], tick["util_pct"], tick["gfx_clock_mhz"], tick["temp_c"]) == ("gpu0", 97, 2100, 64)
    assert fake.init_count == 0                          # the session released amdsmi


def test_mi200_power_is_its_average_and_an_old_counter_name_still_counts(amdsmi, tmp_path):
    fake = amdsmi([fake_amdsmi.MI250X])
    info = machine()
    s = _session(info, tmp_path, interval_s=0.05)
    s.start()
    w = s.begin_window()
    time.sleep(0.2)
    reading = s.end_window(w)
    rep = s.stop()
    r = reading.device("gpu0")
    assert r is not None and r.method == "counter" and r.joules == pytest.approx(90 * r.seconds, abs=0.5)
    assert {x["power_w"]["gpu0"] for x in rep.timeline} == {90}
    assert rep.throttle["gpu0"] == {"reasons": None, "reason_unknown": amd.NO_VIOLATIONS}
    assert fake.init_count == 0


def test_without_a_counter_energy_is_integrated_from_socket_power(amdsmi, tmp_path):
    fake = amdsmi()
    fake.devices[0].unsupported.add("amdsmi_get_energy_count")
    info = machine()
    s = _session(info, tmp_path, interval_s=0.05)
    s.start()
    w = s.begin_window()
    time.sleep(0.3)
    reading = s.end_window(w)
    s.stop()
    r = reading.device("gpu0")
    assert r is not None and r.method == "integrated" and r.joules == pytest.approx(300 * r.seconds, rel=0.01)


def _watts(reading, device):
    r = reading.device(device)
    assert r is not None and r.joules is not None
    return r.joules / r.seconds


def test_nvidia_and_amd_gpus_are_numbered_across_vendors_and_each_measures_its_own(nvml, amdsmi, tmp_path):
    nvml([fake_nvml.H100])
    amdsmi([fake_amdsmi.MI300X, fake_amdsmi.MI250X])
    info = machine()
    assert [(g.vendor, g.index, g.device) for g in info.gpus] == [("nvidia", 0, "gpu0"), ("amd", 0, "gpu1"),
                                                                    ("amd", 1, "gpu2")]
    assert set(info.gpu_drivers) == {"nvidia", "amd"}
    s = _session(info, tmp_path, interval_s=0.05)
    s.start()
    w = s.begin_window()
    time.sleep(0.3)
    reading = s.end_window(w)
    s.sample_now()
    rep = s.stop()
    watts = {d: _watts(reading, d) for d in ("gpu0", "gpu1", "gpu2")}
    assert watts == {"gpu0": pytest.approx(300, rel=0.35), "gpu1": pytest.approx(300, rel=0.05),
                     "gpu2": pytest.approx(90, rel=0.05)}
    assert [g["device"] for g in rep.timeline[-1]["gpus"]] == ["gpu0", "gpu1", "gpu2"]
    assert set(rep.memory.peak_device_memory) == {"gpu0", "gpu1", "gpu2"}


def test_this_machine_with_an_mi300x_projects_as_the_rocm_row(amdsmi):
    from hardware.machines import machine_from_hardware

    amdsmi()
    m = machine_from_hardware(machine(), {}, None, "this machine")          # llama.cpp's device not given
    assert (m.platform, m.name, m.bandwidth_gbps, m.bandwidth_basis) == ("rocm", "AMD Instinct MI300X", 5300, "spec")
    assert m.dense_tflops == 1307 and m.tdp_w == 750.0 and m.memory_gib == pytest.approx(191.98, abs=0.01)
    assert machine_from_hardware(machine(), {"cpu": {"gbps": 20.0}}, "cpu", "this machine").platform == "cpu"
