import io
import types

import pytest

from hardware import apple, specs
from hardware.apple import IOReportSource, PowermetricsSource, parse_powermetrics

# `sudo powermetrics --samplers cpu_power,gpu_power,thermal -i 500` on an M2 Max (macOS 14),
# trimmed of per-core residency lines.
RECORDED = """Machine model: Mac14,13
OS version: 23D60
Boot arguments:
Boot time: Mon Feb 12 09:11:40 2024



*** Sampled system activity (Mon Feb 12 10:02:11 2024 +0100) (502.41ms elapsed) ***


**** Processor usage ****

E-Cluster HW active frequency: 1314 MHz
E-Cluster HW active residency:  41.62% (744 MHz:   0% 1044 MHz:  38% 1476 MHz: 9.3% 2004 MHz:  11% 2268 MHz:  13%)
E-Cluster idle residency:  58.38%
P0-Cluster HW active frequency: 3504 MHz
P0-Cluster HW active residency:  97.95% (660 MHz:   0% 3504 MHz: 100%)
P0-Cluster idle residency:   2.05%

CPU Power: 12345 mW
GPU Power: 20900 mW
ANE Power: 0 mW
Combined Power (CPU + GPU + ANE): 33245 mW

**** GPU usage ****

GPU HW active frequency: 1398 MHz
GPU HW active residency:  99.12% (444 MHz:   0% 612 MHz:   0% 808 MHz:   0% 968 MHz:   0% 1110 MHz:   0% 1236 MHz:   0% 1338 MHz:   0% 1398 MHz: 100%)
GPU SW requested state: (P1 :   0% P2 :   0% P3 :   0% P4 :   0% P5 :   0% P6 :   0% P7 :   0% P8 : 100%)
GPU idle residency:   0.88%
GPU Power: 20900 mW

**** Thermal pressure ****

Current pressure level: Nominal


*** Sampled system activity (Mon Feb 12 10:02:12 2024 +0100) (497.59ms elapsed) ***


**** Processor usage ****

CPU Power: 10000 mW
GPU Power: 22000 mW
ANE Power: 5 mW
Combined Power (CPU + GPU + ANE): 32005 mW

**** GPU usage ****

GPU Power: 22000 mW

**** Thermal pressure ****

Current pressure level: Moderate

"""


def test_parse_powermetrics_blocks():
    s = parse_powermetrics(RECORDED)
    assert len(s) == 2
    assert s[0] == {"elapsed_s": pytest.approx(0.50241), "cpu": 12.345, "gpu": 20.9, "ane": 0.0,
                    "thermal_pressure": "Nominal"}
    assert s[1]["gpu"] == 22.0 and s[1]["thermal_pressure"] == "Moderate"


class FinishedProc:
    """A powermetrics process whose output has all arrived."""
    def __init__(self, argv, **kw):
        self.argv = argv
        self.stdout = io.StringIO(RECORDED)
    def poll(self):
        return 0
    def terminate(self):
        raise AssertionError("already exited")


def test_powermetrics_source_integrates_contiguous_samples():
    src = PowermetricsSource(0.5, popen=FinishedProc)
    src._reader.join(timeout=5)
    assert src._proc.argv[:3] == ["sudo", "-n", "powermetrics"]
    t0 = src._t0
    # Window = last 0.25 s of sample 1 + first 0.25 s of sample 2.
    j = src.end(t0 + 0.50241 - 0.25, now=t0 + 0.50241 + 0.25)
    assert j["cpu"] == pytest.approx(12.345 * 0.25 + 10.0 * 0.25)
    assert j["gpu"] == pytest.approx(20.9 * 0.25 + 22.0 * 0.25)
    assert src.thermal_pressure() == {"Nominal", "Moderate"}
    assert src.end(t0 + 5, now=t0 + 6)["cpu"] is None          # no sample covers it


def test_ioreport_source_converts_mj_and_keeps_missing_as_none():
    windows = {}

    class Monitor:
        def begin_window(self, name):
            windows[name] = True
        def end_window(self, name):
            assert windows.pop(name)
            return types.SimpleNamespace(cpu_total_mj=4500, gpu_mj=12000, ane_mj=None, dram_mj=None)

    src = IOReportSource(types.SimpleNamespace(AppleEnergyMonitor=Monitor))
    assert src.end(src.begin()) == {"cpu": 4.5, "gpu": 12.0, "ane": None, "dram": None}
    assert windows == {}


def test_apple_spec_table_and_gpu_core_parse():
    for chip, gpu_cores, gbps in (("Apple M2 Max", 38, 400), ("Apple M4 Max", 40, 546), ("Apple M4 Max", 32, 410)):
        spec = specs.apple_spec(chip, gpu_cores)
        assert spec is not None and spec["bandwidth_gbps"] == gbps
    assert specs.apple_spec("Apple M3 Max", 30) is None      # the 30-core bin is not in the table
    assert apple.parse_gpu_cores('  |   "gpu-core-count" = 38\n') == 38


def test_not_apple_here():
    assert apple.probe_apple() is None
