"""Each kind of scenario: the names that mean it, the code that measures it and what it needs of the engine.

The run and the command line ask this table, never a kind's name: a new kind is the module that
parses and measures it plus one line in KINDS (and its entries' kind in the result's vocabulary,
contract/enums.py). `parse(key, options)` gives the scenario a lower-cased name means, or None when
the name is not of this kind. `runs(backend, model, scenario)` yields (record, drive) for each entry
the scenario adds to the result, in order: one for pp, tg and single-stream, one per level of a load
scenario (plus an SLO search's answer, whose drive is None). drive(progress, on_measuring) measures
into its record; the caller must let it finish (or fail) before asking for the next, which may
depend on it. A record that is measured tells the run what its energy is per (energy_tokens) and
which decode rate its bandwidth roof bounds (decode_rate). Kept apart from the measuring modules so
none of them imports another back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from contract.errors import ScenarioError
from contract.result import EnergyWindow, Roofline, ScenarioEntry
from engines.base import Backend, DepthEngine, HTTPEngine, LoadedModel, TokenEngine
from scenarios import chat_session, definitions, load, runner, single_stream_http, trace_replay
from scenarios.definitions import (
    BUILTIN,
    DEFAULT_LOAD_SCENARIO,
    DEFAULT_SCENARIOS,
    LOAD_KIND,
    LoadScenario,
    ParseOptions,
    Scenario,
    parse_levels,
)
from scenarios.slo import parse_slo
from scenarios.workloads import load_profiles


class MeasuredRecord(Protocol):
    """What the run asks of a record it measured (scenarios/runner.py, single_stream_http.py, levels.py)."""
    status: str
    error: str | None
    energy: EnergyWindow | None
    roofline: Roofline | None

    @property
    def name(self) -> str: ...
    @property
    def planned(self) -> int: ...
    def energy_tokens(self) -> tuple[str, int]: ...           # ("prompt" | "output", tokens in the window)
    def decode_rate(self) -> tuple[float, float] | None: ...  # (tokens/s, mean context tokens)
    def to_entry(self) -> ScenarioEntry: ...                  # the result's entry (the contract's)


Drive = Callable[[Callable[[int], None], Callable[[], None]], Any]

# Every scenario type the kinds below parse into (what a RunRequest carries).
AnyScenario = Scenario | LoadScenario | chat_session.ChatSessionScenario | trace_replay.TraceScenario


@dataclass(frozen=True)
class Kind:
    parse: Callable[[str, ParseOptions], Any]
    hint: str                          # how to name it, for the unknown-name error
    runs: Callable[[Backend, LoadedModel, Any], Iterator[tuple[Any, Drive | None]]]
    token_level: bool = False          # needs generate() in this process (a TokenEngine)


def _in_process(backend: Backend, model: LoadedModel, scenario: Scenario) -> Iterator[tuple[Any, Drive | None]]:
    if scenario.depth and not isinstance(backend, DepthEngine):   # the run refuses these before it loads too
        raise runner.refuse_depth(scenario, backend.name)
    if not isinstance(backend, TokenEngine):      # the run refuses such a scenario before it loads
        raise ScenarioError(f"scenario {scenario.name} needs a token-level engine; backend {backend.name} is not one",
                            "run single-stream or a workload profile, or use --backend llamacpp")
    record = runner.ScenarioRecord(scenario)
    yield record, partial(runner.run_scenario, backend, model, scenario, record)


def _single_stream(backend: Backend, model: LoadedModel, scenario: Scenario) -> Iterator[tuple[Any, Drive | None]]:
    """Over HTTP: sequential requests, with a record of their own; else in process as pp/tg."""
    if isinstance(backend, HTTPEngine):
        record = single_stream_http.HTTPSingleStreamRecord(scenario)
        yield record, partial(single_stream_http.drive, backend, model, record)
        return
    yield from _in_process(backend, model, scenario)


# A name goes to the first kind that claims it: a workload profile first, as a --workloads file may
# name one like a built-in scenario.
KINDS: dict[str, Kind] = {
    LOAD_KIND: Kind(definitions.parse_load, f"a workload profile ({', '.join(BUILTIN)})", load.levels),
    "pp": Kind(partial(definitions.parse_micro, "pp"), "pp<N> or pp<N>@d<D> (e.g. pp512, pp512@d8192)", _in_process, token_level=True),
    "tg": Kind(partial(definitions.parse_micro, "tg"), "tg<N> or tg<N>@d<D> (e.g. tg128, tg128@d4096)", _in_process, token_level=True),
    "single-stream": Kind(definitions.parse_single_stream, "single-stream", _single_stream),
    chat_session.KIND: Kind(chat_session.parse, "chat-session[:PROFILE] (multi-turn conversations)", chat_session.levels),
    trace_replay.KIND: Kind(trace_replay.parse, "trace (with --trace FILE)", trace_replay.runs),
}


def parse_scenario(name: str, options: ParseOptions | None = None,
                   **overrides) -> Scenario | LoadScenario | trace_replay.TraceScenario:
    """Turn a scenario name plus CLI overrides into a scenario, or raise a one-line ScenarioError."""
    options = options or ParseOptions(**overrides)
    key = name.strip().lower()
    for kind in KINDS.values():
        scenario = kind.parse(key, options)
        if scenario is not None:
            return scenario
    hints = [k.hint for k in KINDS.values()]
    raise ScenarioError(f"unknown scenario {name!r}", f"choose {', '.join(hints[:-1])} or {hints[-1]}")


def parse_scenarios(spec: str | None, *, concurrency: str | None = None, rate: str | None = None,
                    search: str | None = None, slo: str | None = None, workloads=None,
                    max_in_flight: int | None = None, default: tuple[str, ...] | None = None,
                    turns: int | None = None, think_time: float | None = None,
                    **overrides) -> list[AnyScenario]:
    """Scenario names plus CLI options -> scenarios. Workload profile names become load
    scenarios; --concurrency/--rate/--search/--slo/--max-in-flight apply to them (and
    chat-session) only; --turns/--think-time to chat-session only."""
    load_opts = {"--concurrency": concurrency, "--rate": rate, "--search": search, "--slo": slo,
                 "--max-in-flight": max_in_flight, "--workloads": workloads}
    given = [k for k, v in load_opts.items() if v is not None]
    profiles = dict(BUILTIN)
    if workloads is not None:
        profiles.update(load_profiles(workloads))
    if spec:
        names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    else:
        names = list(default or DEFAULT_SCENARIOS)
        if given and not any(n in profiles for n in names):
            names = [DEFAULT_LOAD_SCENARIO]
    if not names:
        raise ScenarioError("no scenario given", "for example --scenario pp512,tg128")
    has_load = any(n in profiles or chat_session.claims(n) for n in names)
    session_opts = [k for k, v in (("--turns", turns), ("--think-time", think_time)) if v is not None]
    if session_opts and not any(chat_session.claims(n) for n in names):
        raise ScenarioError(f"{session_opts[0]} applies to chat-session, not to {', '.join(names)}",
                            "add chat-session to --scenario")
    replay = trace_replay.KIND in names
    trace_given = [k for k in ("trace", "time_scale", "duration_s", "max_send_lag_s") if overrides.get(k) is not None]
    if trace_given and not replay:
        option = "--" + trace_given[0].removesuffix("_s").replace("_", "-")
        raise ScenarioError(f"{option} applies to a trace replay, not to {', '.join(names)}",
                            "add trace to --scenario, e.g. --scenario trace --trace FILE")
    # a replay is judged against an SLO and holds sequences in process as a Poisson level does
    if replay:
        given = [k for k in given if k not in ("--slo", "--max-in-flight")]
    if given and not has_load:
        raise ScenarioError(f"{given[0]} applies to workload profiles, not to {', '.join(names)}",
                            f"add one of {', '.join(profiles)} to --scenario")
    lengths_given = overrides.get("input_tokens") is not None or overrides.get("output_tokens") is not None
    if has_load and lengths_given and "single-stream" not in names:
        raise ScenarioError("--input-tokens/--output-tokens set the lengths of single-stream, not of a profile",
                            "define a profile with your lengths in a --workloads file")
    options = ParseOptions(**overrides, profiles=profiles, search=search, max_in_flight=max_in_flight,
                           turns=turns, think_time_s=think_time,
                           concurrency=parse_levels(concurrency, "--concurrency", True),
                           rate=parse_levels(rate, "--rate", False),
                           slo=parse_slo(slo if has_load or replay else None))
    return [parse_scenario(n, options) for n in names]


def scenario_runs(backend: Backend, model: LoadedModel,
                  scenario: AnyScenario) -> Iterator[tuple[Any, Drive | None]]:
    """(record, drive) for each entry `scenario` adds to the result (see the module docstring)."""
    yield from KINDS[scenario.kind].runs(backend, model, scenario)
