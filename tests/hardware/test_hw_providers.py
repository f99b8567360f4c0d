"""The provider table: the choices it makes on the fake machines, and a provider that only
this test knows about, registered by one line, measured by the session like the others."""

import json
import sys
import time
import types

import pytest

from contract.result import AppleInfo, HardwareInfo
from hardware import apple, sources, throttle
from hardware.cpu import probe_cpu
from hardware.provider import Choice, Method, Provision, Settings, ThrottleSource
from hardware.session import MeasurementSession
from tests.hardware import fake_amdsmi, fake_nvml
from tests.hardware.probed import machine
from tests.hardware.test_hw_apple import FinishedProc
from tests.hardware.test_hw_rapl import zone

NVML_COUNTER = "nvmlDeviceGetTotalEnergyConsumption (mJ counter)"
NVML_SAMPLES = ("no energy counter (pre-Volta or vGPU): nvmlDeviceGetPowerUsage samples x time; "
                "on Ampere+ each sample is a 1 s average")
APPLE = ("cpu", "gpu", "ane", "dram")


def _choices(info, **kw):
    found, release = sources.choose(info, **kw)
    release()
    return [(c.devices, c.method, c.reason) for c in found]


def _cpu(tdp=None, cores=None):
    cpu = probe_cpu()
    cpu.spec_tdp_w, cpu.sockets, cpu.cores = tdp, 1, cores
    return cpu


@pytest.fixture
def package_only(tmp_path):
    """A RAPL package zone with no dram subzone (AMD EPYC, most desktops)."""
    root = tmp_path / "powercap"
    zone(root, "intel-rapl:0", "package-0", 1_000_000)
    return root


def test_gpus_come_first_then_the_cpu(nvml, tmp_path, package_only):
    fake = nvml([fake_nvml.H100, fake_nvml.P100])
    info = machine(_cpu())
    assert _choices(info, powercap=package_only) == [
        (("gpu0",), "counter", NVML_COUNTER),
        (("gpu1",), "integrated", NVML_SAMPLES),
        (("cpu",), "counter", "RAPL cpu: package-0"),
        (("dram",), None, "RAPL has no dram domain on this CPU"),
    ]
    assert fake.init_count == 0                       # release() shut NVML down
    no_rapl = f"no RAPL zones under {tmp_path / 'none'} (not Linux, a VM, or the powercap driver not loaded)"
    info.cpu.spec_tdp_w = 200.0
    assert _choices(info, powercap=tmp_path / "none")[2:] == [
        (("cpu",), "estimated", f"{no_rapl}; TDP 200 W x 1 socket(s) from hardware/specs.json; "
                                "energy = TDP x CPU utilisation (idle power and DRAM not modelled)"),
        (("dram",), None, "no RAPL dram domain; DRAM power is not modelled"),
    ]


def test_gpus_without_nvml_are_unavailable_with_the_reason(nvml, tmp_path):
    nvml()
    info = machine(_cpu())
    nvml(init_error=fake_nvml.real.NVML_ERROR_DRIVER_NOT_LOADED)
    no_rapl = f"no RAPL zones under {tmp_path} (not Linux, a VM, or the powercap driver not loaded)"
    assert _choices(info, powercap=tmp_path) == [
        (("gpu0",), None, "NVML unavailable: Driver Not Loaded (no NVIDIA driver or GPU)"),
        (("cpu",), None, f"{no_rapl}; CPU TDP unknown (model not in hardware/specs.json, core count unknown); "
                         "set RIGHTSIZE_CPU_TDP_W=<watts> to get an estimate"),
        (("dram",), None, "no RAPL dram domain; DRAM power is not modelled"),
    ]


def test_amd_gpus_come_after_nvidia_ones_and_without_amdsmi_say_why(nvml, amdsmi, tmp_path, package_only):
    nvml([fake_nvml.H100])
    amdsmi([fake_amdsmi.MI300X])
    info = machine(_cpu())
    assert _choices(info, powercap=package_only)[:2] == [
        (("gpu0",), "counter", NVML_COUNTER),
        (("gpu1",), "counter", "amdsmi_get_energy_count (counter x resolution, uJ)"),
    ]
    amdsmi(init_error=fake_amdsmi.AMDSMI_STATUS_NO_PERM)
    assert _choices(info, powercap=package_only)[1] == (
        ("gpu1",), None, "amdsmi unavailable: AMDSMI_STATUS_NO_PERM - Permission Denied (no amdgpu driver or GPU)")
    unknown = [p.throttle_unknown for p in sources.provisions(info, powercap=package_only) if p.throttle_unknown]
    assert unknown == [{"gpu1": "amdsmi gave no violation status (MI300 and newer report one)"}]


def _apple_info():
    return HardwareInfo.of(cpu=_cpu(), apple=AppleInfo(chip="Apple M2 Max", p_cores=8, e_cores=4, gpu_cores=38,
                                                       unified_memory_bytes=64 * 1024**3, spec_bandwidth_gbps=400,
                                                       spec_source="test"))


def test_apple_prefers_ioreport_then_powermetrics_and_has_no_estimate(monkeypatch, package_only):
    zeus = types.ModuleType("zeus_apple_silicon")
    zeus.AppleEnergyMonitor = object  # type: ignore[attr-defined]  # only constructed when opened
    monkeypatch.setitem(sys.modules, "zeus_apple_silicon", zeus)
    # RAPL zones present, yet the Apple chip's CPU is Apple's provider's
    assert _choices(_apple_info(), powercap=package_only) == [
        (APPLE, "counter", "IOReport energy counters via zeus-apple-silicon")]
    unknown = {p.throttle_unknown.get("apple") for p in sources.provisions(_apple_info(), powercap=package_only)}
    assert unknown == {None, "thermal pressure needs powermetrics (sudo)"}
    monkeypatch.setitem(sys.modules, "zeus_apple_silicon", None)      # not installed
    monkeypatch.setattr(apple, "sudo_powermetrics_ok", lambda: True)
    assert _choices(_apple_info(), powercap=package_only) == [
        (("cpu", "gpu", "ane"), "integrated", "powermetrics CPU/GPU/ANE power x time (passwordless sudo)")]
    assert all(not p.throttle_unknown for p in sources.provisions(_apple_info(), powercap=package_only))
    monkeypatch.setattr(apple, "sudo_powermetrics_ok", lambda: False)
    assert _choices(_apple_info(), powercap=package_only) == [
        (APPLE, None, "zeus-apple-silicon is not installed (pip install zeus-apple-silicon); `sudo -n powermetrics` "
                      "is not allowed; Apple publishes no TDP for its chips, so there is no estimate")]


def test_powermetrics_declares_the_thermal_pressure_it_saw_and_ioreport_does_not():
    pm = apple.PowermetricsSource(0.5, popen=FinishedProc)
    pm._reader.join(timeout=5)
    assert isinstance(pm, ThrottleSource)
    assert pm.throttle() == {"apple": {"reasons": ["thermal pressure Moderate"]}}
    ioreport = apple.IOReportSource(types.SimpleNamespace(AppleEnergyMonitor=object))
    assert not isinstance(ioreport, ThrottleSource)


# --- a provider only this test knows ---------------------------------------------------

class AccelCounter:
    """A made-up accelerator's energy counter (joules since load), replaying readings one per read."""

    devices = ("accel0",)
    method: Method = "counter"
    reason = "test accelerator energy counter (J)"
    update_period_s = 0.001

    def __init__(self, readings):
        self._readings = iter(readings)
        self.closed = False

    def begin(self):
        return next(self._readings)

    def end(self, token):
        return {"accel0": next(self._readings) - token}

    def sample(self):
        return {"accel0": 250.0}

    def throttle(self):
        return {"accel0": throttle.seen(["power_cap"])}

    def close(self):
        self.closed = True


class AccelTelemetry:
    key = "accel"

    def sample(self, pids):
        return [{"device": "accel0", "mem_used_bytes": 3 * 1024**3}]

    def device_memory(self, ticks):
        used = [g["mem_used_bytes"] for tick in ticks for g in tick]
        return {"accel0": {"process_bytes": None, "device_used_bytes": max(used) if used else None}}

    def throttle(self, ticks):
        return {}


def test_a_provider_registered_in_the_table_is_measured_and_reported(monkeypatch, tmp_path):
    src, released, seen_settings = AccelCounter([1000.0, 1012.5, 2000.0, 2030.0]), [], []

    def provide(info: HardwareInfo, settings: Settings) -> Provision:
        seen_settings.append(settings)
        return Provision([Choice.of(src), Choice(("accel1",), None, "accel1 has no energy counter")],
                         telemetry=AccelTelemetry, throttle_unknown={"accel1": "accel1 reports no clock events"},
                         release=lambda: released.append(True))

    monkeypatch.setattr(sources, "PROVIDERS", (*sources.PROVIDERS, provide))      # the one registry line
    info = HardwareInfo.of(cpu=_cpu())
    s = MeasurementSession(info, interval_s=0.02, cpu_tdp_w=50.0)
    assert seen_settings[0].interval_s == 0.02 and seen_settings[0].cpu_tdp_w == 50.0
    s.start()
    w = s.begin_window()
    time.sleep(0.05)
    r = s.end_window(w)
    s.sample_now()
    rep = s.stop()
    accel, bare = r.device("accel0"), r.device("accel1")
    assert accel is not None and bare is not None
    assert (accel.joules, accel.method, accel.reason) == (12.5, "counter", "test accelerator energy counter (J)")
    assert bare.joules is None and bare.reason == "accel1 has no energy counter"
    doc = rep.monitoring().model_dump(mode="json")
    assert {"devices": ["accel0"], "method": "counter", "reason": "test accelerator energy counter (J)"} \
        in doc["energy_sources"]
    assert doc["unavailable"]["accel1"] == "accel1 has no energy counter"
    assert doc["throttle"]["accel0"] == {"reasons": ["power_cap"]}
    assert doc["throttle"]["accel1"] == {"reasons": None, "reason_unknown": "accel1 reports no clock events"}
    assert rep.memory.peak_device_memory == {"accel0": {"process_bytes": None, "device_used_bytes": 3 * 1024**3}}
    assert rep.timeline[-1]["accel"] == [{"device": "accel0", "mem_used_bytes": 3 * 1024**3}]
    assert rep.timeline[-1]["power_w"]["accel0"] == 250.0
    assert src.closed and released == [True]


# --- a GPU vendor only this test knows ---------------------------------------------------

def test_a_gpu_vendor_registered_in_the_table_is_probed_numbered_measured_and_read(nvml, monkeypatch, tmp_path):
    """The module of a made-up vendor (its probe, provider and GpuVendor) and one line in
    hardware/gpus.GPU_VENDORS: nothing else names it, yet every reader finds its GPU."""
    from bench.measurement import bandwidth_key
    from contract.device import Device
    from contract.result import GpuDriver, GpuInfo
    from hardware import gpus
    from hardware.plan import measurement_plan
    from hardware.provider import GpuVendor

    def probe(first):
        return GpuDriver(available=True, reason=None, driver_version="1.0", runtime="oneAPI"), [
            GpuInfo(vendor="acme", index=0, device=f"gpu{first}", name="Acme X1", uuid="acme-0",
                    memory_bytes=16 * 1024**3, power_limit_w=150.0, spec_bandwidth_gbps=500.0, energy_counter=True)]

    def provide(info, settings):
        mine = [g for g in info.gpus if g.vendor == "acme"]
        src = AccelCounter([1000.0, 1012.5])
        src.devices = (mine[0].device,)
        return Provision([Choice.of(src)]) if mine else Provision()

    acme = GpuVendor("acme", (Device.SYCL,), probe, provide, memory_method="acme memory counter",
                     throttle_method="acme clock events")
    monkeypatch.setattr(gpus, "GPU_VENDORS", (*gpus.GPU_VENDORS, acme))         # the one table line
    nvml([fake_nvml.H100])
    info = machine(_cpu())
    assert [(g.vendor, g.device) for g in info.gpus] == [("nvidia", "gpu0"), ("acme", "gpu1")]
    assert info.gpu_drivers["acme"].runtime == "oneAPI"
    assert (("gpu1",), "counter", "test accelerator energy counter (J)") in _choices(info, powercap=tmp_path)
    plan = {(r.metric, r.device): r.detail for r in measurement_plan(info, bandwidth={})}
    assert plan[("memory", "gpu1")] == "acme memory counter" and plan[("throttling", "gpu1")] == "acme clock events"
    assert bandwidth_key(info, Device.SYCL) == "gpu1" and bandwidth_key(info, Device.CUDA) == "gpu0"
    # the result's hardware section carries it as it carries NVIDIA's: no schema change
    assert HardwareInfo.model_validate(json.loads(json.dumps(info.to_dict()))) == info
