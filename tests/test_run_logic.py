"""The run's own logic (bench/run.py execute) on a fake engine and a fake clock: when it stops
measuring, what a failing engine or Ctrl-C leaves in the result, and the validity verdicts.
Each figure asserted is one the run computed from the clock's stamps, not one the fake gave."""

from __future__ import annotations

import json
import math

import pytest

from bench.run import execute
from contract.errors import ModelError, ResultsError, ScenarioError
from engines.base import Backend, TokenEngine
from scenarios.kinds import parse_scenarios
from scenarios.request import RunRequest
from tests.fakes import FakeClock, FakeEngine, FakeMeasurement, Pace


@pytest.fixture
def clock(monkeypatch):
    return FakeClock().install(monkeypatch)


def scenario(name: str, **shape):
    """One built-in scenario, e.g. scenario("tg8", repetitions=3, min_duration_s=0, max_passes=5)."""
    cap = shape.pop("max_passes", None)
    sc = parse_scenarios(name, **shape)[0]
    return sc if cap is None else sc.model_copy(update={"max_passes": cap})


def run(tmp_path, model, engine, measurement, *scenarios):
    config = RunRequest(model=str(model), quant="Q4_K_M", backend="fake", scenarios=list(scenarios),
                        results_dir=tmp_path, idle_seconds=0)
    return execute(config, backend=engine, measurement=measurement.factory)


def written(outcome) -> dict:
    """The result file as a reader sees it; no journal is left beside it."""
    assert not list(outcome.path.parent.glob("*.journal.jsonl"))
    return json.loads(outcome.path.read_text())


def test_the_fake_engine_is_a_backend():
    """The fakes stand in for the seam only while they match it."""
    assert isinstance(FakeEngine(FakeClock()), Backend) and isinstance(FakeEngine(FakeClock()), TokenEngine)


# -- stop rules ------------------------------------------------------------------------------

def test_the_minimum_repetitions_are_measured_when_the_duration_is_already_met(tmp_path, tiny_gguf, clock):
    pace = Pace(prefill_s_per_token=0.002, decode_s=0.010)
    engine, measured = FakeEngine(clock, (pace,)), FakeMeasurement(clock)
    outcome = run(tmp_path, tiny_gguf, engine, measured, scenario("tg8", repetitions=3, min_duration_s=0))
    tg = outcome.result["scenarios"][0]
    one_pass = pace.seconds(1, 8)                          # tg decodes from one start token
    assert tg["samples"]["tg_tps"] == pytest.approx([8 / one_pass] * 3)
    assert tg["measured_window_s"] == pytest.approx(3 * one_pass)
    # one short warmup, then the three measured passes; the energy window holds those three only
    assert engine.calls == [(1, 1), (1, 8), (1, 8), (1, 8)]
    assert measured.windows == [pytest.approx(3 * one_pass)]
    assert outcome.exit_code == 0 and written(outcome)["status"] == "completed"


def test_the_minimum_duration_adds_passes_until_it_is_reached(tmp_path, tiny_gguf, clock):
    pace = Pace(prefill_s_per_token=0.001, decode_s=0.010)
    one_pass = pace.seconds(1, 8)                          # 0.071 s
    outcome = run(tmp_path, tiny_gguf, FakeEngine(clock, (pace,)), FakeMeasurement(clock),
                  scenario("tg8", repetitions=2, min_duration_s=0.5))
    tg = outcome.result["scenarios"][0]
    passes = len(tg["samples"]["tg_tps"])
    assert passes == math.ceil(0.5 / one_pass) == 8        # not one pass more than the duration needs
    assert tg["measured_window_s"] >= 0.5 > (passes - 1) * one_pass


def test_the_pass_cap_stops_a_duration_that_would_never_be_reached(tmp_path, tiny_gguf, clock):
    engine = FakeEngine(clock)
    outcome = run(tmp_path, tiny_gguf, engine, FakeMeasurement(clock),
                  scenario("tg4", repetitions=2, min_duration_s=3600, max_passes=5))
    tg = outcome.result["scenarios"][0]
    assert len(tg["samples"]["tg_tps"]) == 5 and len(engine.calls) == 1 + 5
    assert tg["measured_window_s"] < 3600 and tg["status"] == "completed"


# -- failures and Ctrl-C ----------------------------------------------------------------------

def test_an_engine_that_fails_mid_scenario_fails_the_run_and_keeps_what_it_measured(tmp_path, tiny_gguf, clock):
    # calls: 0 tg warmup, 1 first measured pass, 2 fails; then pp16 runs all of its own
    engine = FakeEngine(clock, fail_on={2: RuntimeError("device lost")})
    measured = FakeMeasurement(clock)
    outcome = run(tmp_path, tiny_gguf, engine, measured, scenario("tg8", repetitions=3, min_duration_s=0),
                  scenario("pp16", repetitions=3, min_duration_s=0))
    doc = written(outcome)
    assert doc == json.loads(json.dumps(outcome.result))
    tg, pp = doc["scenarios"]
    assert (tg["status"], tg["error"]) == ("failed", "RuntimeError: device lost")
    assert tg["samples"]["tg_tps"] == pytest.approx([8 / Pace().seconds(1, 8)])   # the pass before it
    assert pp["status"] == "completed" and len(pp["samples"]["pp_tps"]) == 3   # one failure stops no other
    assert doc["status"] == "failed" and doc["errors"] == ["tg8: RuntimeError: device lost"]
    assert "run failed" in doc["validity"]["reasons"] and "tg8: scenario failed" in doc["validity"]["reasons"]
    assert outcome.exit_code == 1
    assert engine.unloaded and measured.finished and len(measured.windows) == 2


def test_ctrl_c_mid_run_writes_an_interrupted_result_with_what_was_measured(tmp_path, tiny_gguf, clock):
    # calls: 0 warmup, 1 and 2 measured, Ctrl-C during 3; pp16 never starts
    engine = FakeEngine(clock, fail_on={3: KeyboardInterrupt()})
    measured = FakeMeasurement(clock)
    outcome = run(tmp_path, tiny_gguf, engine, measured, scenario("tg8", repetitions=5, min_duration_s=0),
                  scenario("pp16", repetitions=3, min_duration_s=0))
    doc = written(outcome)
    assert doc["status"] == "interrupted" and outcome.exit_code == 130
    assert [sc["name"] for sc in doc["scenarios"]] == ["tg8"]
    tg = doc["scenarios"][0]
    assert tg["status"] == "interrupted" and len(tg["samples"]["tg_tps"]) == 2
    assert tg["measured_window_s"] == pytest.approx(2 * Pace().seconds(1, 8))
    assert doc["validity"]["verdict"] == "INVALID" and "run interrupted" in doc["validity"]["reasons"]
    assert len(engine.calls) == 4 and engine.unloaded and measured.finished


# -- a result that breaks its contract -----------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")      # the dump meets the wrong type first
def test_a_result_that_breaks_its_contract_is_written_as_measured_then_the_run_fails(tmp_path, tiny_gguf, clock):
    """A producer's bug (here the measurement's bandwidth section is no mapping) is rightsize's, not
    the measurement's: what was measured is on disk, and the run raises naming that file and the field."""
    class BrokenMeasurement(FakeMeasurement):
        def bandwidth_doc(self):
            return ["not", "a", "mapping"]

    with pytest.raises(ResultsError) as raised:
        run(tmp_path, tiny_gguf, FakeEngine(clock), BrokenMeasurement(clock), scenario("tg8", repetitions=3, min_duration_s=0))
    problem = raised.value.problem
    assert problem.startswith("the result does not match the result schema") and "field bandwidth" in problem
    (path,) = tmp_path.glob("*.json")
    assert str(path) in problem and not list(tmp_path.glob("*.journal.jsonl"))
    doc = json.loads(path.read_text())
    assert doc["bandwidth"] == ["not", "a", "mapping"] and len(doc["scenarios"][0]["samples"]["tg_tps"]) == 3


# -- validity ----------------------------------------------------------------------------------

def test_steady_passes_enough_of_them_are_valid(tmp_path, tiny_gguf, clock):
    outcome = run(tmp_path, tiny_gguf, FakeEngine(clock), FakeMeasurement(clock),
                  scenario("tg8", repetitions=3, min_duration_s=0))
    tg = outcome.result["scenarios"][0]
    assert tg["summary"]["tg_tps"]["cv"] == pytest.approx(0, abs=1e-9)
    assert tg["validity"] == {"verdict": "VALID", "reasons": []}
    assert outcome.result["validity"] == {"verdict": "VALID", "reasons": []}


def test_too_few_passes_or_too_much_spread_are_invalid_and_the_run_still_completes(tmp_path, tiny_gguf, clock):
    # passes alternate between two paces: the spread of the tg rates is far above 10%
    uneven = FakeEngine(clock, (Pace(decode_s=0.010), Pace(decode_s=0.020)))
    outcome = run(tmp_path, tiny_gguf, uneven, FakeMeasurement(clock),
                  scenario("tg8", repetitions=4, min_duration_s=0), scenario("pp16", repetitions=2, min_duration_s=0))
    tg, pp = outcome.result["scenarios"]
    cv = tg["summary"]["tg_tps"]["cv"]
    assert cv > 0.10 and tg["validity"] == {"verdict": "INVALID", "reasons": [f"high variance (cv {cv:.1%} > 10%)"]}
    assert pp["validity"] == {"verdict": "INVALID", "reasons": ["too few samples (2 < 3)"]}
    assert outcome.result["validity"]["reasons"] == [f"tg8: high variance (cv {cv:.1%} > 10%)",
                                                     "pp16: too few samples (2 < 3)"]
    # invalid figures are still figures: the run completed and measured something
    assert outcome.result["status"] == "completed" and outcome.exit_code == 0


# -- bad input -------------------------------------------------------------------------------

def test_a_scenario_the_engine_cannot_run_is_refused_before_anything_is_measured(tmp_path, tiny_gguf, clock):
    engine, measured = FakeEngine(clock), FakeMeasurement(clock)
    engine.generate = None    # type: ignore[method-assign, assignment]  # no longer a TokenEngine: an HTTP engine cannot run tg
    with pytest.raises(ScenarioError, match="tg8 needs token-level control"):
        run(tmp_path, tiny_gguf, engine, measured, scenario("tg8", repetitions=3, min_duration_s=0))
    assert measured.started_with is None and engine.loaded_from is None and not list(tmp_path.iterdir())


def test_a_missing_model_file_is_refused_before_anything_is_measured(tmp_path, clock):
    engine, measured = FakeEngine(clock), FakeMeasurement(clock)
    with pytest.raises(ModelError):
        run(tmp_path, tmp_path / "absent.gguf", engine, measured, scenario("tg8", repetitions=3, min_duration_s=0))
    assert measured.started_with is None and engine.loaded_from is None and not list(tmp_path.iterdir())
