"""The result contract: every example validates against the published JSON Schema, a document
survives a read and a write unchanged, versions 1 and 2 are upgraded, and anything else is one
line that names the file and the field."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from contract import documents
from contract.build import died_run, run_id
from contract.device import Device
from contract.enums import ScenarioKind, Status
from contract.errors import ResultsError
from contract.result import SCHEMA_VERSION, GpuInfo, Outcome, PcieLink, RunResult, fingerprint
from contract.schema import SCHEMA_FILE, schema_text
from dashboards.figures import hardware_title, machine

ROOT = Path(__file__).resolve().parent.parent
# Every result document shipped in examples/ (profiles.json and the like carry no schema_version).
EXAMPLES = sorted(p for p in ROOT.glob("examples/**/*.json") if "schema_version" in json.loads(p.read_text()))
TINY = next(p for p in EXAMPLES if "tiny-Q4_K_M" in p.name)
# Version-2 files as bench run and bench eval wrote them; examples/ holds them lifted to the current version.
V2 = ROOT / "tests" / "recorded" / "v2"
V2_RUN, V2_EVAL = V2 / "2026-11-28T024018Z-vm-tiny-Q8_0-llamacpp.json", V2 / "2026-12-02T024320Z-vm-tiny-eval.json"


def test_the_published_schema_is_current():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), "run: python -m contract.schema"


def test_examples_cover_runs_and_both_outcome_kinds():
    kinds = {type(documents.read(p)).__name__ + ":" + str(getattr(documents.read(p), "kind", "")) for p in EXAMPLES}
    assert {"RunResult:", "Outcome:quality", "Outcome:eval"} <= kinds


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_against_the_published_schema(path):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert [e.message for e in validator.iter_errors(json.loads(path.read_text()))] == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_reading_from_the_bytes_gives_what_decoding_first_gives(path):
    assert documents.read(path) == documents.parse(json.loads(path.read_text()), path)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_a_document_read_and_written_again_is_the_same_json(path):
    raw = json.loads(path.read_text())
    assert json.dumps(documents.dump(documents.read(path)), sort_keys=True) == json.dumps(raw, sort_keys=True)


def test_the_schema_refuses_what_the_reader_refuses():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    doc = json.loads(TINY.read_text())
    assert validator.is_valid(doc)
    assert not validator.is_valid({**doc, "schema_version": 99})
    assert not validator.is_valid({**doc, "status": "finished"})
    bad = copy.deepcopy(doc)
    bad["scenarios"][0]["kind"] = "warp"
    assert not validator.is_valid(bad)


def test_a_version_1_document_is_upgraded(tmp_path):
    old = json.loads(V2_RUN.read_text())        # version 1 had version 2's fields, unchecked
    old["schema_version"] = 1
    old["backend"]["device"] = "CUDA0"          # an engine's own spelling, as early results stored it
    (tmp_path / "old.json").write_text(json.dumps(old))
    doc = documents.read(tmp_path / "old.json")
    assert isinstance(doc, RunResult) and doc.schema_version == SCHEMA_VERSION == 3
    assert doc.backend is not None and doc.backend.device is Device.CUDA
    tg = doc.scenarios[1]
    assert tg.kind is ScenarioKind.TG and tg.roofline is not None
    assert tg.roofline.measured_tps is not None and tg.roofline.measured_tps > 0
    energy = doc.scenarios[0].energy
    assert energy is not None and energy.joules_per_prompt_token is not None
    assert doc.hardware is not None and doc.hardware.fingerprint == old["hardware"]["fingerprint"]
    written = documents.dump(doc)
    assert written["schema_version"] == 3 and written["backend"]["device"] == "cuda"
    assert written["scenarios"] == old["scenarios"]


@pytest.mark.parametrize("v2", [V2_RUN, V2_EVAL], ids=lambda p: p.name)
def test_a_version_2_file_reads_as_its_example_lifted_to_version_3(v2):
    old = json.loads(v2.read_text())
    assert old["schema_version"] == 2 and "nvidia" in old["hardware"] and "gpus" not in old["hardware"]
    doc = documents.read(v2)
    assert doc.schema_version == 3 and doc.hardware is not None
    hw = doc.hardware
    assert hw.gpus == [] and hw.fingerprint == old["hardware"]["fingerprint"]
    assert hw.cpu.model == old["hardware"]["cpu"]["model"] and hw.apple is None
    nvidia = hw.gpu_drivers["nvidia"]
    assert (nvidia.available, nvidia.reason, nvidia.runtime) == (False, old["hardware"]["nvidia"]["reason"], "CUDA")
    example = next(p for p in EXAMPLES if p.name == v2.name)
    assert json.dumps(documents.dump(doc), sort_keys=True) == json.dumps(json.loads(example.read_text()), sort_keys=True)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_fingerprint_is_the_one_version_2_computed(path):
    """Bandwidth caches and a fleet's finished jobs are keyed by it: the machines they were written on
    must keep their ids."""
    hw = documents.read(path).hardware
    assert hw is not None and fingerprint(hw.cpu, hw.gpus, hw.apple) == hw.fingerprint


def test_version_2_nvidia_gpus_become_gpus_with_their_vendor(tmp_path):
    old = json.loads(V2_RUN.read_text())
    # the hardware section's `nvidia` part as version 2's probe wrote it for an H100 (NVML's figures)
    old["hardware"]["nvidia"] = {
        "available": True, "reason": None, "driver_version": "550.54.15", "cuda_version": "12.4",
        "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-6f0e5b36-2d6c-8c1f-1b4e-6a0d3c2b9e11",
                  "memory_bytes": 85520809984, "compute_capability": "9.0", "power_limit_w": 700.0,
                  "memory_bus_width_bits": 5120, "max_memory_clock_mhz": 2619, "spec_bandwidth_gbps": 3352.3,
                  "pcie_link": {"gen": 5, "width": 16, "max_gen": 5, "max_width": 16}, "mig_mode": False,
                  "energy_counter": True, "unknown": {}}]}
    old["backend"]["device"] = "cuda"
    (tmp_path / "h100.json").write_text(json.dumps(old))
    doc = documents.read(tmp_path / "h100.json")
    assert isinstance(doc, RunResult) and doc.hardware is not None
    (g,) = doc.hardware.gpus
    assert isinstance(g, GpuInfo) and (g.vendor, g.index, g.device, g.arch) == ("nvidia", 0, "gpu0", "9.0")
    assert (g.memory_bytes, g.power_limit_w, g.spec_bandwidth_gbps) == (85520809984, 700.0, 3352.3)
    assert g.pcie_link == PcieLink(gen=5, width=16, max_gen=5, max_width=16) and g.unknown == {}
    driver = doc.hardware.gpu_drivers["nvidia"]
    assert (driver.driver_version, driver.runtime, driver.runtime_version) == ("550.54.15", "CUDA", "12.4")
    assert hardware_title(doc.hardware, "cuda") == "NVIDIA H100 80GB HBM3"
    assert machine(doc.hardware, "cuda")["kind"] == "gpu"
    written = documents.dump(doc)
    assert "nvidia" not in written["hardware"] and "compute_capability" not in written["hardware"]["gpus"][0]
    assert documents.parse(written) == doc                 # version 3 reads back as itself


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(scenarios="not a list"), "field scenarios: Input should be a valid list"),
    (lambda d: d["scenarios"][2].update(kind="warp"), "field scenarios[2].kind: unknown kind 'warp'"),
    (lambda d: d["scenarios"][0].update(status="finished"), "field scenarios[0].status"),
    (lambda d: d["scenarios"][1]["energy"].update(joules="lots"), "field scenarios[1].energy.joules"),
    (lambda d: d.pop("run_id"), "field run_id: Field required"),
    (lambda d: d.update(schema_version=99), "schema_version 99"),
    (lambda d: d.pop("schema_version"), "no schema_version"),
])
def test_any_other_document_is_one_line_naming_the_file_and_the_field(tmp_path, edit, field):
    doc = json.loads(TINY.read_text())
    edit(doc)
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError) as err:
        documents.read(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and field in message, message


@pytest.mark.engine   # a bench process of its own
def test_bench_results_says_which_file_and_field_it_skipped(tmp_path):
    doc = json.loads(TINY.read_text())
    doc["scenarios"][0]["status"] = "finished"
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    (tmp_path / "good.json").write_text(TINY.read_text())
    p = subprocess.run([sys.executable, "-m", "bench", "results", str(tmp_path), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "Traceback" not in p.stderr
    assert [line for line in p.stderr.splitlines() if line.strip()] == [
        f"warning: skipped {tmp_path / 'odd.json'}: malformed result: field scenarios[0].status: Input should be "
        "'running', 'completed', 'failed' or 'interrupted'"]
    assert len(json.loads(p.stdout)) == 1


def test_the_died_run_document_is_a_valid_failed_run():
    doc = died_run(finished_at="2026-12-02T07:00:00+00:00", label="box", model="org/model", quant="Q4_K_M",
                   backend="llamacpp", environment={"python": "3"}, error="the engine process was killed")
    assert doc.status is Status.FAILED and doc.scenarios == [] and doc.validity.verdict == "INVALID"
    assert re.fullmatch(r"2026-12-02T070000Z-box-org_model-Q4_K_M-llamacpp-died-[0-9a-f]{6}", doc.run_id)
    assert documents.parse(documents.dump(doc)) == doc


def test_run_ids_follow_one_rule():
    assert run_id("2026-11-28T01:45:05+00:00", "my lab", "tiny", None, "llamacpp") == \
        "2026-11-28T014505Z-my_lab-tiny-llamacpp"
    # two runs started in the same second never share an id, however long the label
    twins = {run_id("2026-11-28T01:45:05+00:00", "x" * 200, "tiny", unique=True) for _ in range(20)}
    assert len(twins) == 20 and all(len(t) == 160 and re.search(r"-[0-9a-f]{6}$", t) for t in twins)


def test_vocabularies_print_as_their_json_spelling():
    assert f"{Status.FAILED}" == str(Status.FAILED) == "failed" == Status.FAILED
    assert f"{ScenarioKind.SINGLE_STREAM:>14}" == " single-stream"
    assert json.dumps({"d": Device.METAL}) == '{"d": "metal"}'


def test_outcomes_are_typed_too():
    quality = next(documents.read(p) for p in EXAMPLES if "quality" in p.name)
    assert isinstance(quality, Outcome) and quality.kind == "quality"
    assert quality.quality is not None and quality.quality.quants


def test_nan_in_a_file_is_refused_by_the_reader(tmp_path):
    doc = json.loads(TINY.read_text())
    doc["scenarios"][2]["summary"]["output_tps"] = float("nan")
    (tmp_path / "nan.json").write_text(json.dumps(doc))      # Python writes the NaN token
    with pytest.raises(ResultsError, match=r"nan.json: not a readable result file \(NaN is not a JSON number\)"):
        documents.read(tmp_path / "nan.json")
