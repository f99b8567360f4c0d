"""Physics checks: they pass real figures, catch impossible ones, and skip what was not measured."""

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from contract import documents
from contract.result import RunResult
from dashboards.physics import FAIL, PASS, SKIP, check_result

EXAMPLE = Path(__file__).parent.parent / "examples" / "runs" / "2026-11-28T021125Z-vm-llama-3.1-8b-Q4_K_M-llamacpp.json"
GIB = 2**30


def gpu_result(tg_tps=92.0, watts=310.0, idle_w=72.0, nvml_process=18.9 * GIB, allocated=16.4 * GIB):
    """An H100 SXM result: the CPU example with the parts the checks read replaced (NVML's figures
    for that card: 700 W enforced limit, 5120-bit bus x 2619 MHz -> 3352 GB/s; Llama-3.1-8B bf16
    weights)."""
    bytes_per_token = 16.07e9
    roof = {"bytes_per_token": bytes_per_token, "measured_tps": tg_tps, "spec_bandwidth_gbps": 3352.3,
            "measured_bandwidth_gbps": 2900.0, "ceiling_tps_spec": 3352.3e9 / bytes_per_token,
            "ceiling_tps_measured": 2900e9 / bytes_per_token, "efficiency_spec": None, "efficiency_measured": None}

    def window(w):
        return {"seconds": 10.0, "joules": w * 10.0, "method": "counter", "covers": ["gpu0"],
                "devices": [{"device": "gpu0", "joules": w * 10.0, "seconds": 10.0, "method": "counter",
                             "average_watts": w}]}
    doc = json.loads(EXAMPLE.read_text())
    tg = next(sc for sc in doc["scenarios"] if sc["name"] == "tg128")
    tg.update(roofline=roof, energy=window(watts))
    doc["hardware"]["gpus"] = [{"vendor": "nvidia", "index": 0, "device": "gpu0", "name": "NVIDIA H100 80GB HBM3",
                                "uuid": None, "memory_bytes": 85520809984, "power_limit_w": 700.0,
                                "spec_bandwidth_gbps": 3352.3, "energy_counter": True}]
    doc.update({
        "scenarios": [tg],
        "backend": {"name": "torch", "device": "cuda", "model_bytes": 16_060_522_496},
        "engine_memory": {"device_peak_allocated_bytes": allocated, "device_peak_reserved_bytes": allocated + GIB},
        "memory": {"peak_device_memory": {"gpu0": {"process_bytes": nvml_process, "device_used_bytes": nvml_process + GIB}}},
    })
    doc["monitoring"]["idle"] = window(idle_w)
    return documents.parse(doc)


def statuses(doc):
    return {c.name: c.status for c in check_result(doc)}


def test_plausible_gpu_figures_pass():
    checks = check_result(gpu_result())
    assert [c.status for c in checks] == [PASS, PASS, PASS, PASS]
    assert "92.0 tok/s vs ceiling 208.6" in checks[0].detail
    assert checks[1].name == "tg128: decode under the measured read roof" and "51% of 180.5" in checks[1].detail


SPEC, ROOF = "tg128: decode under the bandwidth ceiling", "tg128: decode under the measured read roof"
WATTS, MEMORY = "tg128: gpu0 watts between idle and the power limit", "device memory: driver >= engine's peak allocation >= weights"


@pytest.mark.parametrize("change, failing", [
    ({"tg_tps": 250.0}, {SPEC, ROOF}),             # faster than HBM can feed it
    ({"tg_tps": 190.0}, {ROOF}),                   # under the spec, above what this card was measured to read
    ({"watts": 760.0}, {WATTS}),                   # above the enforced limit
    ({"watts": 60.0}, {WATTS}),                    # less than it drew idle
    ({"allocated": 12 * GIB}, {MEMORY}),           # weights do not fit
    ({"nvml_process": 10 * GIB}, {MEMORY}),
    ({"nvml_process": 30 * GIB}, {MEMORY}),
])
def test_impossible_figures_fail(change, failing):
    got = statuses(gpu_result(**change))
    assert {name for name, status in got.items() if status == FAIL} == failing
    assert {status for name, status in got.items() if name not in failing} == {PASS}


def cpu_result(tg_tps, **bandwidth):
    """The CPU example with a read roof measured as `bandwidth` says, and a tg128 at tg_tps."""
    doc = json.loads(EXAMPLE.read_text())
    doc["bandwidth"]["cpu"] = {"device": "cpu", "gbps": 25.0, "method": "numpy read", "threads": 2,
                               "kernels": {"read": 25.0, "copy": 40.0}, "read_gbps_by_threads": {"1": 13.0, "2": 25.0},
                               "logical_cpus": 2, **bandwidth}
    tg = doc["scenarios"][1]
    tg["roofline"].update(measured_tps=tg_tps, measured_bandwidth_gbps=25.0,
                          ceiling_tps_measured=25e9 / tg["roofline"]["bytes_per_token"])
    return documents.parse(doc)


@pytest.mark.parametrize("bandwidth, why", [
    ({"under_load": True, "loadavg_before": 3.1, "loadavg_after": 2.4, "age_s": 60},
     "the roof was measured under load (load avg 3.1 on 2 CPUs, 1 min old)"),
    ({"under_load": False, "loadavg_before": 0.1, "loadavg_after": 0.2, "age_s": 9 * 86400},
     "the roof was measured under load or is stale (load avg 0.2 on 2 CPUs, 9.0 days old)"),
    ({}, "the roof was measured under load or is stale (load avg n/a on 2 CPUs, age n/a)"),
])
def test_a_decode_above_the_measured_read_roof_fails_with_the_reason(bandwidth, why):
    (roof,) = [c for c in check_result(cpu_result(6.0, **bandwidth)) if c.name == ROOF]
    assert roof.status == FAIL and roof.detail.startswith("6.0 tok/s = 111% of 5.4")
    assert f"above the measured read roof: {why}; re-run bench hardware --measure-bandwidth" in roof.detail
    (under,) = [c for c in check_result(cpu_result(5.0, **bandwidth)) if c.name == ROOF]
    assert under.status == PASS                      # 93% of the same roof


def test_without_process_attribution_the_device_total_still_bounds_from_below():
    doc = gpu_result()
    doc.memory.peak_device_memory["gpu0"]["process_bytes"] = None
    (mem,) = [c for c in check_result(doc) if c.name.startswith("device memory")]
    assert mem.status == PASS and "NVML device peak" in mem.detail


def test_a_cpu_run_checks_bandwidth_and_skips_what_it_could_not_measure():
    doc = documents.read(EXAMPLE)
    assert isinstance(doc, RunResult)
    checks = check_result(doc)
    by_status: dict[str, list[str]] = {}
    for c in checks:
        by_status.setdefault(c.status, []).append(c.name)
    assert by_status[PASS] == ["tg128: decode under the measured read roof",
                               "single-stream: decode under the measured read roof"]
    assert FAIL not in by_status
    assert any(c.detail == "no spec bandwidth for this device" for c in checks if c.status == SKIP)
    assert any("estimated, not measured" in c.detail for c in checks if c.status == SKIP)
    assert any("not a CUDA torch run" in c.detail for c in checks if c.status == SKIP)


def test_bench_check_exits_non_zero_on_a_failure(tmp_path):
    good, bad = copy.deepcopy(json.loads(EXAMPLE.read_text())), json.loads(EXAMPLE.read_text())
    bad["scenarios"][1]["roofline"]["measured_tps"] = 50.0      # ten times the measured-bandwidth roof
    (tmp_path / "good.json").write_text(json.dumps(good))
    ok = CliRunner().invoke(main, ["check", str(tmp_path / "good.json")])
    assert ok.exit_code == 0 and "pass  tg128" in ok.output
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    failed = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert failed.exit_code == 1 and "FAIL  tg128: decode under the measured read roof: 50.0 tok/s" in failed.output
    # this example's roof predates the read roof: numpy's best kernel, which the check names
    assert "an older rightsize's best kernel (numpy STREAM-like read/copy/add" in failed.output
    empty = CliRunner().invoke(main, ["check", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and empty.output.count("\n") == 1 and "error: no such results file" in empty.output
