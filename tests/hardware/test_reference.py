"""The reference set and the machine table are checked on load; a measured result joins the set
through one function."""

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from contract import documents
from hardware.machines import MachineError, build_machines, get_machine, machines
from hardware.reference import ReferenceError, ReferenceRow, build_reference, reference_rows, rows_from_result

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "runs"


def good_row(**kw):
    row = {"id": "X1", "machine": "rtx-4090", "backend": "CUDA", "engine": "llama.cpp", "model": "llama-2-7b",
           "quant": "Q4_0", "file_bytes": 3825065984, "flags": "-ngl 99", "build": "abc", "pp512": 100.0,
           "tg128": 10.0, "source": "somewhere", "date": "2026-01-02"}
    return {**row, **kw}


def test_shipped_reference_set_loads_with_every_field():
    rows = reference_rows()
    assert len(rows) >= 70
    assert {r.platform for r in rows} >= {"cuda", "rocm", "metal", "cpu"}
    for r in rows:
        assert r.machine in machines() and r.source and r.date and r.flags is not None and r.build
        assert r.file_bytes > 0 and (r.tg128 or r.pp512 or r.output_tps)
    # the vLLM serving figures of anchors C6 are in, with their concurrency
    served = [r for r in rows if r.output_tps is not None]
    assert {r.concurrency for r in served} == {1, 8, 32} and {r.engine for r in served} == {"vllm"}


@pytest.mark.parametrize("edit,needle", [
    ({"file_bytes": 4_000_000_000}, "not the catalog's"),
    ({"machine": "rtx-9999"}, "unknown machine"),
    ({"model": "llama-70b"}, "not in the catalog"),
    ({"source": " "}, "needs a source and a date"),
    ({"date": "last year"}, "needs a source and a date"),
    ({"tg128": -1.0}, "tg128 must be a positive"),
    ({"pp512": None, "tg128": None}, "no figure"),
    ({"backend": "OpenCL"}, "backend 'OpenCL'"),
    ({"output_tps": 50.0}, "needs the concurrency"),
    ({"build_date": "b4384"}, "build_date 'b4384'"),
])
def test_bad_reference_row_is_one_line_naming_it(edit, needle):
    with pytest.raises(ReferenceError) as exc:
        build_reference([good_row(**edit)], machines())
    assert needle in str(exc.value) and "row X1" in str(exc.value)


def test_every_llama_cpp_row_is_dated_by_its_build_and_quoted_with_its_source():
    rows = [r for r in reference_rows() if r.engine == "llama.cpp"]
    assert all(r.build_date for r in rows)
    # beyond llama-2-7b Q4_0: K-quants, Q8_0 and F16, three models, every backend class
    assert {"Q4_0", "Q4_K_M", "Q8_0", "F16"} <= {r.quant for r in rows}
    assert len({r.model for r in rows}) >= 3 and {r.platform for r in rows} >= {"cuda", "rocm", "metal", "cpu"}
    assert {r.era for r in rows} == {"2023", "2024", "2025+"}
    # a source is one publication, whatever note says where it was restated
    scoreboard = {r.source_key for r in rows if "discussions/15013" in r.source}
    assert len(scoreboard) == 1 and "reference-data" not in next(iter(scoreboard))


def test_a_rows_era_is_its_builds_date_else_its_own_date_never_an_access_date():
    assert dataclasses.replace(ReferenceRow(**good_row()), build_date="2023-11-21").era == "2023"
    assert ReferenceRow(**good_row(date="2024-05")).era == "2024"
    # accessed in 2026 says nothing about the build: taken as current
    assert ReferenceRow(**good_row(date="2024-05", date_is="accessed")).era == "2025+"


def test_duplicate_and_unknown_fields_refused():
    with pytest.raises(ReferenceError, match=r"duplicate row id 'X1'"):
        build_reference([good_row(), good_row()], machines())
    with pytest.raises(ReferenceError, match=r"unknown field"):
        build_reference([good_row(watts=3)], machines())


def test_machine_table_checked_on_load():
    base = {"id": "a", "name": "A", "platform": "cuda", "bandwidth_gbps": 100, "source": "s"}
    assert build_machines([base])["a"].compute() == (None, "FLOP/s")
    for edit, needle in (({"platform": "tpu"}, "platform 'tpu'"), ({"bandwidth_gbps": 0}, "bandwidth_gbps"),
                         ({"source": ""}, "missing source"), ({"colour": "red"}, "unknown field")):
        with pytest.raises(MachineError, match=needle):
            build_machines([{**base, **edit}])
    with pytest.raises(MachineError, match=r"duplicate machine id 'a'"):
        build_machines([base, base])
    with pytest.raises(MachineError, match=r"unknown hardware 'h900'"):
        get_machine("h900")


def test_compute_and_memory_per_platform():
    assert get_machine("h200").compute() == (989e12, "FLOP/s")
    assert get_machine("m4-max-40c").compute() == (40, "GPU cores")
    assert get_machine("epyc-9654").compute() == (96, "cores")
    mem, why = get_machine("m4-max-40c").available_bytes()
    assert mem == int(36 * 2**30 * 0.75) and "3/4" in why
    assert "assumed" in get_machine("epyc-9654").available_bytes()[1]


def example(part):
    path = next(p for p in sorted(EXAMPLES.glob("*.json")) if part in p.name)
    return path, json.loads(path.read_text())


def test_a_measured_result_joins_as_a_row():
    path, doc = example("llama-3.1-8b-Q4_K_M")
    m, rows, skipped = rows_from_result(documents.parse(doc), path)
    tg = next(sc for sc in doc["scenarios"] if sc["name"] == "tg128")["summary"]["tg_tps"]["mean"]
    pp = next(sc for sc in doc["scenarios"] if sc["name"] == "pp512")["summary"]["pp_tps"]["mean"]
    (row,) = rows
    assert row.measured and row.tg128 == tg and row.pp512 == pp and row.pp_tokens == 512
    assert row.model == "llama-3.1-8b" and row.quant == "Q4_K_M" and row.platform == "cpu"
    assert row.tg_context == 65.0 and row.threads == 2 and skipped == []
    # no spec bandwidth for a cloud "AMD EPYC" slice: the probe's figure stands in, and it says so
    assert m.bandwidth_gbps == doc["bandwidth"]["cpu"]["gbps"] and m.bandwidth_basis.startswith("measured")
    assert m.cores == 2 and m.id == row.machine


def test_results_that_cannot_calibrate_say_why():
    path, doc = example("llama-3.1-8b-Q4_K_M")
    other = copy.deepcopy(doc)
    other["config"]["backend"] = "torch"
    with pytest.raises(ReferenceError, match=r"projections are fit on llama.cpp"):
        rows_from_result(documents.parse(other), path)
    invalid = copy.deepcopy(doc)
    for sc in invalid["scenarios"]:
        sc["validity"] = {"verdict": "INVALID", "reasons": ["edited"]}
    with pytest.raises(ReferenceError, match=r"no valid pp<N> or tg<N>"):
        rows_from_result(documents.parse(invalid), path)
    tiny_path, tiny = example("tiny-Q4_K_M")
    with pytest.raises(ReferenceError, match=r"not a catalog model"):
        rows_from_result(documents.parse(tiny), tiny_path)
