"""Which code measures each kind of scenario: the in-process runner, single-stream over HTTP,
or the load levels. Kept apart from those modules so that none of them imports another back."""

from __future__ import annotations

from functools import partial
from typing import Iterator

from bench.backends.base import Backend, LoadedModel
from scenarios import load, runner, single_stream_http
from scenarios.definitions import LoadScenario, Scenario


def scenario_runs(backend: Backend, model: LoadedModel, scenario: Scenario | LoadScenario) -> Iterator[tuple]:
    """(record, drive) for each entry a scenario adds to the result, in order: one for pp, tg
    and single-stream, one per level of a load scenario (plus an SLO search's answer, whose
    drive is None); single-stream over HTTP has a record of its own. drive(progress,
    on_measuring) measures into its record; the caller must let it finish (or fail) before
    asking for the next, which may depend on it."""
    if isinstance(scenario, LoadScenario):
        yield from load.levels(backend, model, scenario)
        return
    if backend.capabilities.http:
        over_http = single_stream_http.HTTPSingleStreamRecord(scenario)
        yield over_http, partial(single_stream_http.drive, backend, model, over_http)
        return
    record = runner.ScenarioRecord(scenario)
    yield record, partial(runner.run_scenario, backend, model, scenario, record)
