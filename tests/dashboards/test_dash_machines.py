"""Machines are told apart by label and hardware fingerprint: two machines that share a label (the
default, the hostname "vm") are two in the count, the hardware filter, the overview rows, the charts
and the quality view; one machine's runs stay one machine."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from contract import documents
from contract.result import AppleInfo, GpuInfo, HardwareInfo, RunResult, StreamEntry
from contract.storage import write_typed
from dashboards.figures import machine_fingerprint
from dashboards.rows import CostSettings
from dashboards.site import build_site, count_machines
from tests.dashboards.cdp_browser import CHROMIUM, Browser
from tests.dashboards.conftest import EXAMPLES

OUTCOMES = EXAMPLES.parent / "outcomes"
EXAMPLE_FINGERPRINT = "375b0d5646be813e"        # what bench run wrote in every examples/runs result
XEON = "Intel(R) Xeon(R) Platinum 8480+"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                    reason="needs Debian's chromium (apt-get install chromium); required in CI")


def _tiny_q4() -> tuple[Path, RunResult]:
    path = next(EXAMPLES.glob("*tiny-Q4_K_M*.json"))
    return path, documents.run_result(documents.read(path))


def _other_machine(d: Path, run_id: str, speed: float, **cpu) -> RunResult:
    """The tiny Q4_K_M example as measured on another machine with the same label: its CPU fields
    changed through the typed contract, its single-stream throughput scaled so its cost differs."""
    _, doc = _tiny_q4()
    assert doc.hardware is not None
    hw = doc.hardware.model_copy(deep=True, update={"cpu": doc.hardware.cpu.model_copy(update=cpu)})
    other = doc.model_copy(deep=True, update={"run_id": run_id, "hardware": hw})
    ss = next(sc for sc in other.scenarios if sc.name == "single-stream")
    assert isinstance(ss, StreamEntry) and ss.summary.output_tps
    ss.summary.output_tps *= speed
    write_typed(other, d, run_id)
    return other


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """The three example runs (one machine), the tiny Q4_K_M one again on a Xeon and on an EPYC with
    more RAM (same words, "AMD EPYC (2 cores)": only the fingerprint tells it apart), all labelled vm."""
    d = tmp_path_factory.mktemp("results")
    for f in EXAMPLES.glob("*.json"):
        shutil.copy(f, d / f.name)
    _other_machine(d, "on-a-xeon", 2.0, model=XEON, vendor="GenuineIntel")
    _other_machine(d, "more-ram", 3.0, ram_bytes=2 * 25276063744)
    return d


@pytest.fixture(scope="module")
def site(results, tmp_path_factory):
    return build_site([results], tmp_path_factory.mktemp("site"), settings=CostSettings())


def page_data(index: Path) -> tuple[str, dict]:
    text = index.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="rs-data">(.*?)</script>', text, re.S)
    assert block is not None
    return text, json.loads(block.group(1))


def test_the_fingerprint_is_the_one_bench_run_wrote():
    """The dashboards recompute it from the hardware section with the contract's own recipe."""
    for f in [*EXAMPLES.glob("*.json"), *OUTCOMES.glob("*.json")]:
        hw = documents.read(f).hardware
        assert hw is not None and machine_fingerprint(hw) == hw.fingerprint, f.name
    _, doc = _tiny_q4()
    assert doc.hardware is not None and machine_fingerprint(doc.hardware) == EXAMPLE_FINGERPRINT
    gpu = GpuInfo(vendor="nvidia", index=0, device="cuda:0", name="NVIDIA H100 80GB HBM3", uuid="GPU-1",
                  memory_bytes=80 * 2**30, power_limit_w=700.0, spec_bandwidth_gbps=3350.0, energy_counter=True)
    no_chip = AppleInfo(chip=None, p_cores=None, e_cores=None, gpu_cores=None, unified_memory_bytes=None,
                        spec_bandwidth_gbps=None, spec_source=None)
    with_gpu = HardwareInfo.of(doc.hardware.cpu, [gpu], apple=no_chip)
    assert machine_fingerprint(with_gpu) == with_gpu.fingerprint != EXAMPLE_FINGERPRINT
    assert machine_fingerprint(None) is None


def test_one_machine_across_runs_stays_one(tmp_path):
    site = build_site([EXAMPLES], tmp_path, settings=CostSettings())
    text, data = page_data(site.index)
    assert count_machines(site.rows) == 1 and "3 result(s) from 1 machine(s)" in text
    assert {r["fingerprint"] for r in site.rows} == {EXAMPLE_FINGERPRINT}
    assert {g["machine"] for g in data["groups"]} == {"vm (AMD EPYC (2 cores))"}       # no fingerprint said


def test_machines_sharing_a_label_are_counted_apart(site):
    text, _ = page_data(site.index)
    assert {r["label"] for r in site.rows} == {"vm"}
    assert count_machines(site.rows) == 3 and "5 result(s) from 3 machine(s)" in text


def test_each_machine_is_its_own_overview_row_and_chart_entry(site):
    _, data = page_data(site.index)
    tiny = [g for g in data["groups"] if (g["model"], g["quant"]) == ("tiny", "Q4_K_M")]
    by_run = {g["runs"][0]["run_id"]: g for g in tiny}
    assert len(tiny) == 3 and all(g["n"] == 1 for g in tiny)        # not one row of three runs
    example = next(r for r in by_run if r not in ("on-a-xeon", "more-ram"))
    fingerprints = {run: next(r["fingerprint"] for r in site.rows if r["run_id"] == run) for run in by_run}
    assert fingerprints[example] == EXAMPLE_FINGERPRINT and len(set(fingerprints.values())) == 3
    assert by_run[example]["machine"] == f"vm (AMD EPYC (2 cores) #{EXAMPLE_FINGERPRINT[:6]})"
    assert by_run["more-ram"]["machine"] == f"vm (AMD EPYC (2 cores) #{fingerprints['more-ram'][:6]})"
    assert by_run["on-a-xeon"]["machine"].startswith(f"vm ({XEON} (2 cores) #")
    # the charts name each run by its row; where those collide, by the hardware words
    names = [data["rows"][g["rep"]]["name"] for g in tiny]
    assert len(set(names)) == 3 and all(g["hardware"] in n for g, n in zip(tiny, names, strict=True))
    # and the other example runs, on the example machine, carry its name too
    assert {g["machine"] for g in data["groups"] if g["model"] != "tiny" or g["quant"] != "Q4_K_M"} \
        == {by_run[example]["machine"]}


def test_the_cli_counts_machines(results, tmp_path):
    from bench.commands.main import main

    r = CliRunner().invoke(main, ["dashboard", str(results), "-o", str(tmp_path / "site")])
    assert r.exit_code == 0, r.output
    assert "5 result(s) from 3 machine(s)" in r.stdout


def test_a_quality_outcome_takes_the_cost_of_its_own_machine(results, tmp_path):
    """A bench quality outcome of label vm is priced from the run on its machine, where vm names
    three (the run read last, on the Xeon, is not its machine)."""
    d = tmp_path / "results"
    shutil.copytree(results, d)
    quality = json.loads(next(OUTCOMES.glob("*tiny-quality*.json")).read_text())
    quality["hardware"] = json.loads(_tiny_q4()[0].read_text())["hardware"]     # measured on the example machine
    (d / "quality.json").write_text(json.dumps(quality))
    site = build_site([d], tmp_path / "site", settings=CostSettings())
    _, data = page_data(site.index)
    (point,) = [k for k in data["quality"]["klds"] if k["quant"] == "Q4_K_M"]
    tiny = [r for r in site.rows if (r["model"], r["quant"]) == ("tiny", "Q4_K_M")]
    (mine,) = [r for r in tiny if r["fingerprint"] == EXAMPLE_FINGERPRINT]
    assert point["usd_per_m_blended"] == mine["cost"]["usd_per_m_blended"]
    assert point["usd_per_m_blended"] not in [r["cost"]["usd_per_m_blended"] for r in tiny if r is not mine]
    assert point["machine"] == mine["machine"]                   # the ladder puts it beside that run
    ladder = {g["machine"] for g in data["quality"]["ladder"] if g["model"] == "tiny"}
    assert mine["machine"] in ladder and len(ladder) == 3


@needs_chromium
def test_the_hardware_filter_tells_them_apart(site, tmp_path):
    _, data = page_data(site.index)
    machines = sorted({g["machine"] for g in data["groups"]})
    browser = Browser(tmp_path / "chromium")
    try:
        browser.open(site.index.resolve().as_uri())
        assert browser.problems() == []
        options = browser.js("Array.from(document.querySelectorAll('#f-machine option')).map(o => o.value)")
        assert sorted(o for o in options if o) == machines and len(machines) == 3
        for machine in machines:
            browser.js(f"""(() => {{ const s = document.getElementById('f-machine'); s.value = {json.dumps(machine)};
                       s.dispatchEvent(new Event('change')); }})()""")
            shown = browser.js("Array.from(document.querySelectorAll('#overview > tbody > tr')).map(r => r.cells[0].textContent)")
            expect = [g for g in data["groups"] if g["machine"] == machine]
            assert len(shown) == len(expect) >= 1
            assert all(g["hardware"] in cell for g, cell in zip(expect, shown, strict=True))
            bars = browser.js("[].concat(...document.getElementById('chart-quant').data.map(t => t.x))")
            assert len(bars) == len([g for g in expect if data["rows"][g["rep"]]["decode_tps"] is not None]) >= 1
            assert all(b.startswith(machine + " · ") for b in bars)
        assert browser.problems() == []
    finally:
        browser.close()
