"""Each kind of scenario: the code that measures it and what it needs of the engine.

The run asks this table, never a kind's name: a new kind is the module that measures it plus one
line in KINDS. `runs(backend, model, scenario)` yields (record, drive) for each entry the
scenario adds to the result, in order: one for pp, tg and single-stream, one per level of a load
scenario (plus an SLO search's answer, whose drive is None). drive(progress, on_measuring)
measures into its record; the caller must let it finish (or fail) before asking for the next,
which may depend on it. Kept apart from the measuring modules so none of them imports another back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterator

from bench.backends.base import Backend, LoadedModel
from scenarios import load, runner, single_stream_http
from scenarios.definitions import LoadScenario, Scenario


@dataclass(frozen=True)
class Kind:
    runs: Callable[[Backend, LoadedModel, Any], Iterator[tuple]]
    token_level: bool = False          # needs generate() in this process (Capabilities.microbenchmarks)


def _in_process(backend: Backend, model: LoadedModel, scenario: Scenario) -> Iterator[tuple]:
    record = runner.ScenarioRecord(scenario)
    yield record, partial(runner.run_scenario, backend, model, scenario, record)


def _single_stream(backend: Backend, model: LoadedModel, scenario: Scenario) -> Iterator[tuple]:
    """Over HTTP: sequential requests, with a record of their own; else in process as pp/tg."""
    if not backend.capabilities.http:
        yield from _in_process(backend, model, scenario)
        return
    record = single_stream_http.HTTPSingleStreamRecord(scenario)
    yield record, partial(single_stream_http.drive, backend, model, record)


KINDS: dict[str, Kind] = {
    "pp": Kind(_in_process, token_level=True),
    "tg": Kind(_in_process, token_level=True),
    "single-stream": Kind(_single_stream),
    LoadScenario.kind: Kind(load.levels),
}


def scenario_runs(backend: Backend, model: LoadedModel, scenario: Scenario | LoadScenario) -> Iterator[tuple]:
    """(record, drive) for each entry `scenario` adds to the result (see the module docstring)."""
    yield from KINDS[scenario.kind].runs(backend, model, scenario)
