import builtins
import time

import pytest

from contract.result import HardwareInfo
from hardware import rapl
from hardware.cpu import probe_cpu
from hardware.session import MeasurementSession
from hardware.sources import choose, open_sources

MAX = 262143328850          # max_energy_range_uj of an Intel package zone


def zone(root, name, label, uj, max_uj=MAX):
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


@pytest.fixture
def powercap(tmp_path):
    """The layout of a one-socket Intel server, links flattened as sysfs shows them."""
    root = tmp_path / "powercap"
    pkg = zone(root, "intel-rapl:0", "package-0", 1_000_000)
    zone(pkg, "intel-rapl:0:0", "core", 400_000)
    zone(pkg, "intel-rapl:0:1", "uncore", 100_000)
    zone(pkg, "intel-rapl:0:2", "dram", 50_000)
    zone(root, "intel-rapl:1", "psys", 9_000_000)
    zone(root, "intel-rapl-mmio:0", "package-0", 1_000_000)   # duplicate of the package
    return root


def test_only_packages_and_dram_are_counted(powercap):
    groups, problem = rapl.discover(powercap)
    assert problem is None
    assert [z.name for z in groups["cpu"]] == ["package-0"]
    assert [z.name for z in groups["dram"]] == ["dram"]


def test_wraparound_is_corrected(powercap):
    z = rapl.discover(powercap)[0]["cpu"][0]
    (powercap / "intel-rapl:0/energy_uj").write_text(f"{MAX - 2_000_000}")
    z.accumulate()
    before = z.accumulate()
    (powercap / "intel-rapl:0/energy_uj").write_text("3000000")     # wrapped past max
    assert z.accumulate() - before == 5_000_000


def test_source_reports_joules_per_device(powercap):
    src = rapl.RaplSource(rapl.discover(powercap)[0])
    token = src.begin()
    (powercap / "intel-rapl:0/energy_uj").write_text("26000000")     # +25 J
    (powercap / "intel-rapl:0/intel-rapl:0:2/energy_uj").write_text("3050000")  # +3 J
    assert src.end(token) == {"cpu": pytest.approx(25.0), "dram": pytest.approx(3.0)}


def denying_opener(path, *a, **kw):
    if str(path).endswith("energy_uj"):
        raise PermissionError(13, "Permission denied", str(path))
    return builtins.open(path, *a, **kw)


def _info(tdp, cores=None):
    cpu = probe_cpu()
    cpu.spec_tdp_w, cpu.sockets, cpu.cores = tdp, 1, cores
    return HardwareInfo.of(cpu=cpu)


def test_permission_error_explains_the_fix_and_falls_back(powercap):
    groups, problem = rapl.discover(powercap, denying_opener)
    assert groups == {} and problem is not None and "CVE-2020-8694" in problem and "chmod" in problem and "udev" in problem
    estimated, _ = choose(_info(200), powercap=powercap, opener=denying_opener)
    cpu = next(c for c in estimated if "cpu" in c.devices)
    assert cpu.method == "estimated" and "chmod" in cpu.reason
    unknown, _ = choose(_info(None), powercap=powercap, opener=denying_opener)
    cpu = next(c for c in unknown if "cpu" in c.devices)
    assert cpu.method is None and "chmod" in cpu.reason and "RIGHTSIZE_CPU_TDP_W" in cpu.reason


def test_session_window_uses_the_counter(powercap):
    info = _info(None)
    s = MeasurementSession(info, interval_s=0.05, sources=open_sources(info, powercap=powercap))
    s.start()
    w = s.begin_window()
    (powercap / "intel-rapl:0/energy_uj").write_text(f"{1_000_000 + 40_000_000}")   # +40 J
    (powercap / "intel-rapl:0/intel-rapl:0:2/energy_uj").write_text(f"{50_000 + 2_000_000}")  # +2 J
    time.sleep(0.1)
    r = s.end_window(w)
    s.stop()
    cpu, dram = r.device("cpu"), r.device("dram")
    assert cpu is not None and cpu.method == "counter" and cpu.joules == pytest.approx(40.0)
    assert dram is not None and dram.joules == pytest.approx(2.0) and dram.method == "counter"
    assert r.joules == pytest.approx(42.0) and r.method == "counter"   # package + dram, core/psys not added
