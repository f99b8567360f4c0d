"""The typed config a run's parent hands each child: what the parent parsed is what the child runs."""

import json
import sys

from bench.isolation import child_argv
from bench.run import RunConfig
from scenarios.kinds import parse_scenarios


def _config(scenarios, **extra):
    return RunConfig(model="tiny", quant="Q8_0", backend="llamacpp", scenarios=scenarios,
                     backend_options={"n_ctx": None, "n_threads": 2, "flash_attn": None}, label="box",
                     idle_seconds=0.5, backend_reason="llamacpp (no GPU detected)", **extra)


def test_every_kind_of_scenario_survives_the_job_file(tmp_path):
    scenarios = (parse_scenarios("pp64,tg16,single-stream", requests=4, min_duration_s=0)
                 + parse_scenarios("chat", concurrency="1,2", slo="interactive", max_in_flight=8)
                 + parse_scenarios("rag", rate="0.5,1.5", requests=9)
                 + parse_scenarios("summarise", search="concurrency", slo="ttft=1s,tpot=50ms"))
    config = _config(scenarios, results_dir=tmp_path / "r")
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.to_dict() == config.to_dict()


def test_the_api_key_never_travels_in_it():
    config = _config(parse_scenarios("chat"), api_key="sk-secret")
    text = json.dumps(config.to_dict())
    assert "sk-secret" not in text
    assert RunConfig.from_dict(json.loads(text)).api_key is None
    assert RunConfig.from_dict(json.loads(text), api_key="sk-secret").api_key == "sk-secret"


def test_the_child_is_handed_its_job_and_no_flags(tmp_path):
    assert child_argv(tmp_path / "job.json", debug=False) == [sys.executable, "-m", "bench.commands.job",
                                                              str(tmp_path / "job.json")]
    assert child_argv(tmp_path / "job.json", debug=True)[3] == "--debug"
