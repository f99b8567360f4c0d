"""The RunRequest a run's parent hands each child (and bench fleet each node): what the parent
parsed is what the child runs, in one typed format."""

import json
import os
import sys

import pytest

from bench.isolation import child_argv, read_job, write_job
from contract.errors import BenchError
from scenarios.kinds import parse_scenarios
from scenarios.request import Output, RunRequest, scenario_of


def _request(scenarios, **extra):
    return RunRequest(model="tiny", quant="Q8_0", backend="llamacpp", scenarios=scenarios,
                      backend_options={"n_ctx": None, "n_threads": 2, "flash_attn": None}, label="box",
                      idle_seconds=0.5, backend_reason="llamacpp (no GPU detected)", **extra)


EVERY_KIND = {
    "stream": lambda: parse_scenarios("single-stream", requests=4, input_tokens=64, output_tokens=8, min_duration_s=0),
    "pp/tg": lambda: parse_scenarios("pp64,tg16", repetitions=5, min_duration_s=1.5),
    "load levels": lambda: (parse_scenarios("chat", concurrency="1,2", slo="interactive", max_in_flight=8)
                            + parse_scenarios("rag", rate="0.5,1.5", requests=9)),
    "slo search": lambda: parse_scenarios("summarise", search="concurrency", slo="ttft=1s,tpot=50ms"),
    "workload profile": lambda: parse_scenarios("my-chat", workloads=_workloads()),
}


def _workloads():
    import tempfile
    from pathlib import Path

    f = Path(tempfile.mkdtemp()) / "w.json"
    f.write_text(json.dumps({"my-chat": {"input": {"mean": 700, "stddev": 100}, "output": {"mean": 40, "min": 16},
                                         "description": "mine"}}))
    return f


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_every_kind_of_scenario_round_trips(kind, tmp_path):
    scenarios = EVERY_KIND[kind]()
    request = _request(scenarios, results_dir=tmp_path / "r", output=Output(as_json=True, cost={"hourly_cost": 2.5}))
    again = RunRequest.from_json(request.model_dump_json(), "test")
    assert again == request
    assert list(again.scenarios) == scenarios and [type(s) for s in again.scenarios] == [type(s) for s in scenarios]
    # what a result's entries record as params is unchanged by the trip
    assert [s.params() for s in again.scenarios] == [s.params() for s in scenarios]
    assert [scenario_of(s.params()) for s in scenarios] == scenarios


def test_the_child_reads_exactly_what_the_parent_wrote(tmp_path):
    scenarios = [s for make in EVERY_KIND.values() for s in make()]
    request = _request(scenarios, results_dir=tmp_path, output=Output(cost={"basis": "spot"}))
    job = tmp_path / "job.json"
    fd = os.open(job, os.O_WRONLY | os.O_CREAT)
    write_job(request, fd)
    os.close(fd)
    assert json.loads(job.read_text()) == json.loads(request.model_dump_json())
    assert read_job(job) == request
    assert not job.exists()         # read once, then gone


def test_the_result_config_is_the_request_without_how_it_is_printed():
    request = _request(parse_scenarios("tg16,chat"), output=Output(as_json=True))
    record = request.config_record({"n_ctx": 512})
    assert set(record) == {"model", "quant", "backend", "scenarios", "backend_options", "results_dir", "label",
                           "idle_seconds", "backend_reason"}
    assert record["backend_options"] == {"n_ctx": 512}
    assert record["scenarios"] == [s.params() for s in request.scenarios]
    assert record["results_dir"] == "results"


def test_the_api_key_is_no_field_of_a_request():
    with pytest.raises(ValueError, match="api_key"):
        _request(parse_scenarios("chat"), api_key="sk-secret")
    assert "api_key" not in RunRequest.model_fields


@pytest.mark.parametrize("change, field", [
    (lambda d: d["scenarios"][0].pop("input_tokens"), "scenarios.0.stream.input_tokens"),
    (lambda d: d["scenarios"][1].update(levels="many"), "scenarios.1.load.levels"),
    (lambda d: d["scenarios"][1].update(mode="closed"), "scenarios.1.load.mode"),
    (lambda d: d["scenarios"][0].update(kind="burst"), "scenarios"),
    (lambda d: d.update(idle_seconds=-1), "idle_seconds"),
    (lambda d: d.update(api_key="sk-secret"), "api_key"),
    (lambda d: d.pop("backend"), "backend"),
])
def test_an_invalid_request_is_one_line_naming_the_field(change, field):
    doc = json.loads(_request(parse_scenarios("tg16,chat")).model_dump_json())
    change(doc)
    with pytest.raises(BenchError) as err:
        RunRequest.from_json(json.dumps(doc), "the job file j.json")
    line = str(err.value)
    assert line.startswith(f"the job file j.json is not a valid run request: {field}") and "\n" not in line, line
    if field == "scenarios":
        assert "'burst'" in line


def test_the_child_is_handed_its_job_and_no_flags(tmp_path):
    assert child_argv(tmp_path / "job.json", debug=False) == [sys.executable, "-m", "bench.commands.job",
                                                              str(tmp_path / "job.json")]
    assert child_argv(tmp_path / "job.json", debug=True)[3] == "--debug"
