"""Every kind of scenario the command line can name has its line in scenarios.kinds.KINDS, which the
run asks for what the kind needs and how it is measured."""

from pathlib import Path

import pytest

from engines import backend_class
from scenarios.definitions import BUILTIN
from scenarios.kinds import KINDS, parse_scenarios

SAMPLE_TRACE = Path(__file__).resolve().parents[1] / "examples" / "traces" / "sample-mooncake.jsonl"


def test_every_parsed_kind_has_a_line_in_the_table():
    scenarios = parse_scenarios(f"pp8,tg8,single-stream,{next(iter(BUILTIN))}")
    assert {s.kind for s in scenarios} <= set(KINDS)


def test_token_level_kinds_are_the_ones_an_http_backend_cannot_run():
    from engines.base import TokenEngine, speaks

    # pp and tg need the engine itself; single-stream and load levels run over HTTP too; a kind added
    # later says which it is (its Kind's token_level), and an HTTP backend runs exactly the others
    token_level = {name for name, kind in KINDS.items() if kind.token_level}
    assert {"pp", "tg"} <= token_level and not {"single-stream", "load"} & token_level
    assert not speaks(backend_class("openai"), TokenEngine)


@pytest.mark.engine   # a real run on llama.cpp
def test_a_kind_is_its_table_line(monkeypatch, tmp_path):
    """A kind that only KINDS knows is parsed from the command line's names and measured by the run,
    which takes the entry's energy basis and decode figure from its record, not from the kind's name."""
    from functools import partial

    from bench.measurement import RunMeasurement
    from bench.run import engine_for, execute
    from scenarios import definitions, runner
    from scenarios.kinds import Kind
    from scenarios.request import RunRequest

    class BurstRecord(runner.ScenarioRecord):
        def energy_tokens(self):
            return "prompt", 7          # what this kind's energy is per, whatever its samples

        def decode_rate(self):
            return None                 # a tg-shaped entry that claims no bandwidth roof

    def parse(key, options):
        tg = definitions.parse_micro("tg", key.replace("burst", "tg"), options) if key.startswith("burst") else None
        return tg and tg.model_copy(update={"name": key, "kind": "burst"})

    def runs(backend, model, scenario):
        as_tg = scenario.model_copy(update={"kind": "tg"})     # measured as tg is, into an entry of tg's shape
        record = BurstRecord(as_tg)
        yield record, partial(runner.run_scenario, backend, model, as_tg, record)

    monkeypatch.setitem(KINDS, "burst", Kind(parse, "burst<N>", runs, token_level=True))
    burst, tg = parse_scenarios("burst8,tg8", repetitions=3, min_duration_s=0)
    assert isinstance(burst, definitions.Scenario)
    assert (burst.name, burst.kind, burst.output_tokens) == ("burst8", "burst", 8)
    config = RunRequest(model="tiny", quant="Q4_K_M", backend="llamacpp", scenarios=[burst, tg],
                        results_dir=tmp_path, idle_seconds=0)
    outcome = execute(config, backend=engine_for(config), measurement=RunMeasurement)
    got, plain = outcome.result["scenarios"]
    assert got["name"] == "burst8" and got["status"] == "completed" and len(got["samples"]["tg_tps"]) == 3
    assert got["roofline"] is None and plain["roofline"] is not None
    energy = got["energy"]
    assert "joules_per_output_token" not in energy
    assert energy["joules_per_prompt_token"] == (None if energy["joules"] is None else pytest.approx(energy["joules"] / 7))


def test_each_kind_says_how_many_sequences_it_holds_in_process():
    """What the fit check counts: an in-process engine's batch session holds one sequence per user,
    or the in-flight cap for Poisson arrivals and trace replays, whatever the rate."""
    sample = SAMPLE_TRACE
    held = {s.name: s.sequences_needed for s in parse_scenarios("pp8,tg8,single-stream,chat", concurrency="1,4")}
    assert held == {"pp8": 1, "tg8": 1, "single-stream": 1, "chat": 4}
    assert parse_scenarios("chat", rate="0.5")[0].sequences_needed == 64
    assert parse_scenarios("chat", rate="0.5", max_in_flight=8)[0].sequences_needed == 8
    assert parse_scenarios("chat-session", concurrency="2,3")[0].sequences_needed == 3
    assert parse_scenarios("trace", trace=sample)[0].sequences_needed == 64
    assert parse_scenarios("trace", trace=sample, max_in_flight=16)[0].sequences_needed == 16


def test_the_fit_check_counts_the_sequences_a_replay_holds(monkeypatch):
    """An 8B model that fits one chat user in 8 GiB does not fit a trace replay's 64 sequences:
    skipped before loading, not refused by llama.cpp after it."""
    import models.fit
    from bench.sweep import Combination, check_fits

    monkeypatch.setattr(models.fit, "available_memory", lambda info: (8 << 30, "8 GiB, for the test"))

    def skipped(**options) -> str | None:
        combo = Combination("llama-3.1-8b", "Q4_K_M")
        check_fits([combo], parse_scenarios(**options), None, "llamacpp", False, 512)
        return combo.skip_reason

    assert skipped(spec="chat", concurrency="1") is None
    reason = skipped(spec="trace", trace=SAMPLE_TRACE)
    assert reason is not None and "64 x" in reason and "--max-in-flight" in reason
    assert skipped(spec="trace", trace=SAMPLE_TRACE, max_in_flight=1) is None
