import pytest

from contract.errors import ScenarioError
from scenarios.definitions import DEFAULT_SCENARIOS, Scenario
from scenarios.kinds import parse_scenario, parse_scenarios
from scenarios.prompts import random_prompt


def test_llama_bench_names_and_overrides():
    pp = parse_scenario("pp2048", repetitions=3)
    assert isinstance(pp, Scenario)
    assert (pp.kind, pp.input_tokens, pp.output_tokens, pp.repetitions, pp.warmup) == ("pp", 2048, 1, 3, 1)
    tg = parse_scenario("TG128")
    assert isinstance(tg, Scenario)
    assert (tg.kind, tg.input_tokens, tg.output_tokens, tg.repetitions) == ("tg", 1, 128, 3)
    assert tg.min_duration_s == 3.0 and tg.warmup_output_tokens == 1
    assert tg.context_needed == 130


def test_single_stream_parameters():
    sc = parse_scenario("single-stream", requests=7, input_tokens=32, output_tokens=16, min_duration_s=2)
    assert isinstance(sc, Scenario)
    assert (sc.input_tokens, sc.output_tokens, sc.repetitions, sc.min_duration_s) == (32, 16, 7, 2)


def test_default_list():
    assert [s.name for s in parse_scenarios(None)] == list(DEFAULT_SCENARIOS)


@pytest.mark.parametrize("name,kwargs,needle", [
    ("pp0", {}, "positive"),
    ("tg128", {"repetitions": 0}, "repetitions"),
    ("single-stream", {"requests": -1}, "requests"),
    ("single-stream", {"output_tokens": 0}, "output tokens"),
    ("throughput", {}, "unknown scenario"),
])
def test_bad_parameters_give_one_clear_line(name, kwargs, needle):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(name, **kwargs)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_prompts_are_seeded_and_avoid_special_tokens():
    a = random_prompt(64, 1000, seed=1, avoid={300})
    assert a == random_prompt(64, 1000, seed=1, avoid={300})
    assert a != random_prompt(64, 1000, seed=2, avoid={300})
    assert len(a) == 64 and 300 not in a and min(a) >= 256 and max(a) < 1000
