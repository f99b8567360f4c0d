"""pp<N>@d<D> and tg<N>@d<D>: a generation on top of D tokens already in the cache (llama-bench's -d).

The names and their parameters; the run's logic on a fake engine and a fake clock (the depth is
filled untimed and outside the energy window, the roofline counts its KV bytes, an engine that
cannot hold a context refuses before anything is measured); and llama.cpp on the tiny model,
where decoding over a deep cache is slower, and llama.cpp's own counters say the depth was in the
cache and was not evaluated inside the timed part.
"""

from __future__ import annotations

import pytest

from bench.run import execute
from contract.errors import ScenarioError
from contract.result import RunResult, StreamEntry
from dashboards.figures import figures
from dashboards.run_tables import depth_notes, result_list_rows, scenario_rows
from engines.base import DepthEngine, TokenEngine
from engines.stats import summarize
from scenarios.definitions import Scenario
from scenarios.kinds import parse_scenario, parse_scenarios
from scenarios.request import RunRequest
from scenarios.runner import decode_rate
from tests.fakes import FakeClock, FakeDepthEngine, FakeEngine, FakeMeasurement, Pace

KV_PER_TOKEN = 2 * 2 * 2 * 64 * 2     # the tiny model: K+V x layers x kv heads x head dim x f16


def _micro(name: str, **overrides) -> Scenario:
    sc = parse_scenario(name, **overrides)
    assert isinstance(sc, Scenario)
    return sc


def test_depth_names_parse_into_their_parameters():
    tg = _micro("tg128@d4096")
    assert (tg.kind, tg.input_tokens, tg.output_tokens, tg.depth) == ("tg", 1, 128, 4096)
    assert tg.context_needed == 4096 + 1 + 128 + 1
    assert tg.params()["depth"] == 4096
    pp = _micro("PP512@D8192", repetitions=5)
    assert (pp.name, pp.kind, pp.input_tokens, pp.depth, pp.repetitions) == ("pp512@d8192", "pp", 512, 8192, 5)
    # without a depth, the params are what they always were
    assert "depth" not in _micro("tg128").params() and _micro("tg128").depth == 0


@pytest.mark.parametrize("name,needle", [("tg128@d0", "positive depth"), ("tg128@d", "unknown scenario"),
                                          ("single-stream@d64", "unknown scenario")])
def test_a_bad_depth_is_one_line(name, needle):
    with pytest.raises(ScenarioError, match=needle) as err:
        parse_scenario(name)
    assert "\n" not in str(err.value)


def test_the_mean_context_of_a_decode_at_depth_counts_the_depth():
    tg = _micro("tg128@d4096")
    entry = StreamEntry.model_validate({"name": tg.name, "kind": "tg", "params": tg.params(), "status": "completed",
                                        "summary": {"tg_tps": summarize([40.0, 50.0, 60.0])},
                                        "validity": {"verdict": "VALID", "reasons": []}})
    assert decode_rate(entry) == (50.0, 4096 + 1 + 64)


@pytest.fixture
def clock(monkeypatch):
    return FakeClock().install(monkeypatch)


def _run(tmp_path, model, engine, measured, names: str):
    config = RunRequest(model=str(model), quant="Q4_K_M", backend="fake", results_dir=tmp_path, idle_seconds=0,
                        scenarios=parse_scenarios(names, repetitions=3, min_duration_s=0))
    return execute(config, backend=engine, measurement=measured.factory)


def test_the_depth_is_filled_once_untimed_and_outside_the_energy_window(tmp_path, tiny_gguf, clock):
    pace = Pace(prefill_s_per_token=0.002, decode_s=0.010)
    engine, measured = FakeDepthEngine(clock, (pace,)), FakeMeasurement(clock, measured_gbps=100.0)
    assert isinstance(engine, DepthEngine)
    outcome = _run(tmp_path, tiny_gguf, engine, measured, "tg8@d64,tg8")
    deep, plain = outcome.result["scenarios"]
    one_pass = pace.seconds(1, 8)
    # the fill's 64 x 2 ms is in no pass and in no energy window: only the three passes are
    assert deep["samples"]["tg_tps"] == pytest.approx([8 / one_pass] * 3)
    assert measured.windows == [pytest.approx(3 * one_pass)] * 2
    # evaluated once after the warmup; each measured pass kept it (llama-bench restores its state)
    assert engine.fills == [(64, 64), (64, 0), (64, 0), (64, 0)]
    assert deep["samples"]["depth_fill"] == [{"depth_evaluated": 64, "seconds": pytest.approx(64 * 0.002)}]
    assert deep["params"]["depth"] == 64 and "depth" not in plain["params"]
    # the roofline reads the depth's KV too: weights + KV x (depth + start token + half the output)
    roof, roof0 = deep["roofline"], plain["roofline"]
    assert roof["mean_context_tokens"] == 64 + 1 + 4 and roof["kv_bytes_read_per_token"] == KV_PER_TOKEN * 69
    assert roof["bytes_per_token"] - roof["kv_bytes_read_per_token"] == \
        roof0["bytes_per_token"] - roof0["kv_bytes_read_per_token"]            # the same weights
    assert roof0["kv_bytes_read_per_token"] == KV_PER_TOKEN * 5
    # the run's table and `bench results` show it by its name, beside the same scenario without depth
    doc = RunResult.model_validate(outcome.result)
    assert [r["scenario"] for r in scenario_rows(doc)] == ["tg8@d64", "tg8"]
    assert set(result_list_rows([(outcome.path, doc)])[0]["tokens_per_s"]) == {"tg8", "tg8@d64"}
    # a run's headline decode figure (dashboards, cost) is the one from an empty cache, whatever the order
    assert figures(doc)["decode_scenario"] == "tg8"
    assert depth_notes(doc) == [f"tg8@d64: 64 tokens in the cache before each pass, put there untimed; the roof "
                                f"counts {KV_PER_TOKEN * 69 / 1e6:.1f} MB of KV read per token (mean context 69) "
                                f"beside {(roof['bytes_per_token'] - KV_PER_TOKEN * 69) / 1e6:.1f} MB of weights"]


def test_an_engine_that_cannot_hold_a_context_refuses_before_anything_is_measured(tmp_path, tiny_gguf, clock):
    engine, measured = FakeEngine(clock), FakeMeasurement(clock)
    assert isinstance(engine, TokenEngine) and not isinstance(engine, DepthEngine)
    with pytest.raises(ScenarioError, match=r"tg8@d64 runs on top of 64 tokens .* backend fake") as err:
        _run(tmp_path, tiny_gguf, engine, measured, "tg8,tg8@d64")
    assert "--backend llamacpp" in (err.value.hint or "")
    assert measured.started_with is None and engine.loaded_from is None and not engine.calls


@pytest.mark.engine   # llama.cpp on the tiny model
def test_decoding_over_a_deep_cache_is_slower_and_the_depth_was_really_there(tmp_path):
    from bench.measurement import RunMeasurement
    from bench.run import engine_for

    depth = 4096
    # one thread: on a CPU shared with other work, llama.cpp's threads wait on each other for whole
    # time slices (tg128 at a tenth of its one-thread rate was seen here), which buries the difference
    config = RunRequest(model="tiny", quant="Q4_K_M", backend="llamacpp", results_dir=tmp_path, idle_seconds=0,
                        backend_options={"n_threads": 1},
                        scenarios=parse_scenarios(f"tg128,tg128@d{depth}", repetitions=3, min_duration_s=0))
    outcome = execute(config, backend=engine_for(config), measurement=RunMeasurement)
    plain, deep = outcome.result["scenarios"]
    assert plain["status"] == deep["status"] == "completed"
    # each decode also reads 4 MB of KV (the weights are 8 MB: by bytes alone 0.65 of the rate) and
    # attends over 4k positions (0.3 of the rate here): the best pass at depth is clearly slower than
    # the best without (a busy machine slows passes, never speeds them). A busy machine alone made a
    # 10% difference here, so the counters below are what shows the depth was there.
    assert max(deep["samples"]["tg_tps"]) < 0.75 * max(plain["samples"]["tg_tps"])
    # llama.cpp's own count: the depth was in its cache when each timed generation began, and the
    # timed part evaluated no prompt batch (the start token and 127 decodes are single tokens)
    for counters in deep["engine_reported"]:
        assert counters["context_tokens"] == depth and counters["depth_evaluated"] == 0
        assert counters["prompt_tokens"] is None and counters["decode_tokens"] == 128
    # ...it evaluated the depth once, before measuring
    assert [f["depth_evaluated"] for f in deep["samples"]["depth_fill"]] == [depth]
    # and our clock timed what llama.cpp timed: no fill inside the timed window
    assert abs(deep["engine_cross_check"]["relative_difference"]) < 0.15
    roof = deep["roofline"]
    assert roof["mean_context_tokens"] == depth + 1 + 64
    assert roof["kv_bytes_read_per_token"] == KV_PER_TOKEN * (depth + 65)
    assert roof["bytes_per_token"] - roof["kv_bytes_read_per_token"] == \
        plain["roofline"]["bytes_per_token"] - plain["roofline"]["kv_bytes_read_per_token"]
