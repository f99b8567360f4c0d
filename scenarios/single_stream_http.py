"""single-stream over HTTP: requests of one fixed length, one after another.

It is the HTTP load driver (scenarios.load.run_http) with one user: a warm-up request of the
in-process warm-up's lengths, then at least `repetitions` measured requests and at least
`min_duration_s` of them (at most `max_passes`), with the prompts the in-process runner makes
(the same seeds and token ids; as text of that length where the server takes no ids). The entry
has the in-process single-stream's shape (scenarios.runner.ScenarioRecord); its figures come
from each request's trace, with what only HTTP has beside them: errors, the input-length and
held-back checks (scenarios.stream_checks), the client's CPU use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise

from contract.enums import Verdict
from contract.result import EnergyWindow, ErrorCounts, Roofline, StreamEntry, Validity
from engines.base import HTTPEngine, LoadedModel
from engines.clock import RequestTrace, now_ns
from scenarios.arrivals import Pacer
from scenarios.definitions import Scenario
from scenarios.levels import client_reasons, error_examples, server_cross_check
from scenarios.load import run_http
from scenarios.runner import ScenarioRecord, decode_rate, prompt_for
from scenarios.stream_checks import check_requests, prefix_cache
from scenarios.workloads import PlannedRequest


@dataclass
class HTTPSingleStreamRecord:
    scenario: Scenario
    traces: list[RequestTrace] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    energy: EnergyWindow | None = None
    roofline: Roofline | None = None
    client_cpu_fraction: float | None = None

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def planned(self) -> int:
        return self.scenario.warmup + self.scenario.repetitions

    @property
    def _ok(self) -> list[RequestTrace]:
        return [t for t in self.traces if t.measured and t.ok]

    # What the energy window divides by: measured tokens over the measured window.
    @property
    def output_tokens(self) -> int:
        # an ok request's output is always counted (at worst by its events); `or 0` only narrows the type
        return sum(t.output_tokens or 0 for t in self._ok)

    @property
    def window_s(self) -> float | None:
        ok = self._ok
        # an ok request has ended, so the filter only narrows end_ns
        return (max(t.end_ns for t in ok if t.end_ns is not None) - min(t.intended_ns for t in ok)) / 1e9 if ok else None

    def energy_tokens(self) -> tuple[str, int]:
        return "output", self.output_tokens

    def decode_rate(self) -> tuple[float, float] | None:
        return decode_rate(self.to_entry())

    def to_entry(self) -> StreamEntry:
        """The record as its result entry: the in-process single-stream's, with what only HTTP has."""
        ok = self._ok
        accounting, reasons, held_back = check_requests(ok)
        rec = ScenarioRecord(self.scenario, status=self.status, error=self.error, energy=self.energy, roofline=self.roofline,
                             output_tokens=self.output_tokens, window_s=self.window_s)
        for t in ok:
            rec.add("input_tokens", t.input_tokens)
            rec.add("output_tokens", t.output_tokens)
            rec.add("ttft_s", t.ttft_s)
            rec.add("e2e_s", t.e2e_s)
            rec.add("tpot_s", t.tpot_s)
            rec.add("decode_tps", 1 / t.tpot_s if t.tpot_s else None)
            rec.add("prefill_tps", t.input_tokens / t.ttft_s if t.input_tokens and t.ttft_s else None)
            if t.one_token_per_event:        # else an event's gap is not one token's
                for a, b in pairwise(t.event_ns):
                    rec.add("inter_token_gap_s", (b - a) / 1e9)
        entry = rec.to_entry()
        entry.samples.update(input_asked_tokens=[t.input_asked for t in ok],
                             cached_input_tokens=[t.cached_input_tokens for t in ok], held_back=held_back,
                             max_event_gap_s=[t.max_event_gap_s for t in ok])
        failed = [t for t in self.traces if t.end_ns is not None and not t.ok]
        entry.errors = error_examples(failed)
        entry.summary.errors = ErrorCounts(count=len(failed), measured=sum(t.measured for t in failed),
                                           by_kind=dict(Counter(t.error_kind for t in failed)))
        entry.summary.token_accounting = {"output_sources": dict(Counter(t.output_source for t in ok)), **accounting}
        entry.summary.client_cpu_fraction = self.client_cpu_fraction
        entry.summary.prefix_cache = prefix_cache(ok)
        server = [t.server_timings for t in ok if t.server_timings]
        entry.engine_reported, entry.engine_cross_check = server or None, server_cross_check(ok)
        reasons = ([f"{len(failed)} errors"] if failed else []) + reasons + client_reasons(self.client_cpu_fraction)
        if reasons:
            entry.validity = Validity(verdict=Verdict.INVALID, reasons=entry.validity.reasons + reasons)
        return entry


def drive(backend: HTTPEngine, model: LoadedModel, record: HTTPSingleStreamRecord,
          progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    sc = record.scenario

    def plan(index: int) -> PlannedRequest:
        if index < sc.warmup:   # seeds as scenarios.runner: warm-ups -1, -2, ..., measured 0, 1, ...
            n_in, n_out, seed = sc.warmup_input_tokens, sc.warmup_output_tokens, -1 - index
        else:
            n_in, n_out, seed = sc.input_tokens, sc.output_tokens, index - sc.warmup
        return PlannedRequest(index, prompt_for(sc, model, n_in, seed), n_out)

    pacer = partial(Pacer, warmup=sc.warmup, min_requests=sc.repetitions, max_requests=sc.max_passes,
                    min_duration_s=sc.min_duration_s, users=1)
    prepared = [plan(i) for i in range(sc.warmup + sc.repetitions)]
    run_http(backend, record, plan, prepared, lambda: pacer(now_ns()), progress, on_measuring)
