"""Trace replay (`--scenario trace --trace FILE`): a recorded trace's requests, each sent at its time.

Request i is due at (its timestamp - the first's) / --time-scale after the replay starts, with the
trace's input and output lengths, whatever the engine is doing (open loop: no warm-up, every
request measured); --duration keeps the first S seconds of that scaled schedule. Its prompts share
what the trace's hash_ids say they share (scenarios/trace_prompts.py). It runs on the load drivers
(scenarios/load.py) with a TracePacer (scenarios/arrivals.py) and is one load-level entry of kind
`trace` (scenarios/levels.py summarises it).

The schedule is kept honest as in MLPerf's server scenario, where a query must be issued at its
scheduled time: each request's send lag (sent - due; in-process, from the end of the engine step
running when it came due) is in the entry's samples and summary, and the entry is INVALID when
more than LATE_FRACTION of its requests were sent more than --max-send-lag late: the client, not
the engine, then shaped the load. Waiting for a free sequence in-process, or at the server over
HTTP, is no send lag: that is the engine queueing, which ttft (counted from the due time) shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import SerializationInfo, model_serializer

from contract.enums import Verdict
from contract.errors import ScenarioError
from contract.result import LevelParams, LoadLevelEntry, Stats, Validity
from engines.base import Backend, HTTPEngine, LoadedModel, TokenEngine
from engines.clock import now_ns
from engines.stats import summarize
from scenarios.arrivals import TracePacer
from scenarios.definitions import ParseOptions, _Params
from scenarios.levels import LevelRecord
from scenarios.load import run_http, run_in_process
from scenarios.slo import PRESETS, SLO
from scenarios.trace_prompts import BLOCK_TOKENS, reusable_tokens, trace_prompt
from scenarios.traces import TracedRequest, read_trace
from scenarios.workloads import PlannedRequest

KIND: Final = "trace"
# A request sent more than this after it was due is late. 10 ms: asyncio and the in-process loop
# wake within about a millisecond of a due time, and 10 ms is under the ttft of any request worth
# measuring, so a request within it still lands in its own burst.
DEFAULT_MAX_SEND_LAG_S = 0.010
# More late requests than this fraction, and the entry is INVALID: MLPerf's server scenario holds
# its latency bounds at the 99th percentile; so does this rule.
LATE_FRACTION = 0.01
# In-process: the engine's sequences at most (later arrivals wait for one, as at a server).
DEFAULT_MAX_IN_FLIGHT = 64
# Prompts made (and over HTTP fitted to their length) before the clock starts, up to this many
# tokens in all; the rest are made when due, and that time is send lag.
PREPARED_TOKENS = 2_000_000


class TraceScenario(_Params):
    """A trace to replay: the requests kept (on the trace's own clock) and how to replay them."""
    name: str = KIND
    kind: Literal["trace"] = KIND
    trace: str                              # the file as given
    trace_sha256: str                       # which trace it was (its bytes)
    time_scale: float = 1.0                 # 2: twice as fast as recorded
    duration_s: float | None = None         # the first seconds of the scaled schedule (None: all)
    request_count: int                      # requests kept
    max_send_lag_s: float = DEFAULT_MAX_SEND_LAG_S
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    block_tokens: int = BLOCK_TOKENS
    seed: int = 0
    slo: SLO = PRESETS["default"]
    # The requests travel with the scenario (a fleet node has no copy of the file); a result's
    # config and entry record the fields above instead (the `record` serialisation context).
    requests: tuple[TracedRequest, ...] = ()

    @model_serializer(mode="wrap")
    def _without_requests_when_recorded(self, handler, info: SerializationInfo) -> dict[str, Any]:
        out = handler(self)
        if isinstance(info.context, dict) and info.context.get("record"):
            out.pop("requests", None)
        return out

    def params(self) -> dict[str, Any]:
        return self.model_dump(mode="json", context={"record": True})

    @property
    def offsets_ns(self) -> list[int]:
        """When each request is due, from the replay's start."""
        if not self.requests:
            return []
        first = self.requests[0].at_s
        return [round((r.at_s - first) / self.time_scale * 1e9) for r in self.requests]

    @property
    def context_needed(self) -> int:
        return max((_lengths(r)[0] + _lengths(r)[1] for r in self.requests), default=1)

    @property
    def sequences_needed(self) -> int:
        """In-process, the replay's batch session holds max_in_flight sequences."""
        return self.max_in_flight


def _lengths(r: TracedRequest) -> tuple[int, int]:
    """(input, output) as sent: an engine takes no empty prompt and generates at least one token."""
    return max(1, r.input_tokens), max(1, r.output_tokens)


def parse(key: str, opts: ParseOptions) -> TraceScenario | None:
    if key != KIND:
        return None
    if opts.trace is None:
        raise ScenarioError("scenario trace needs --trace FILE",
                            "for example --scenario trace --trace examples/traces/sample-mooncake.jsonl")
    scale = 1.0 if opts.time_scale is None else opts.time_scale
    lag = DEFAULT_MAX_SEND_LAG_S if opts.max_send_lag_s is None else opts.max_send_lag_s
    for option, value in (("--time-scale", scale), ("--duration", opts.duration_s), ("--max-send-lag", lag)):
        if value is not None and not 0 < value < float("inf"):
            raise ScenarioError(f"{option} must be a positive number, got {value:g}", f"for example {option} 2")
    if opts.max_in_flight is not None and opts.max_in_flight <= 0:
        raise ScenarioError(f"--max-in-flight must be positive, got {opts.max_in_flight}", "for example --max-in-flight 64")
    path = Path(opts.trace)
    requests = read_trace(path)
    first = requests[0].at_s
    if opts.duration_s is not None:
        requests = [r for r in requests if (r.at_s - first) / scale < opts.duration_s]
    return TraceScenario(trace=str(opts.trace), trace_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                         time_scale=scale, duration_s=opts.duration_s, request_count=len(requests),
                         max_send_lag_s=lag, slo=opts.slo, requests=tuple(requests),
                         **({} if opts.max_in_flight is None else {"max_in_flight": opts.max_in_flight}))


@dataclass(frozen=True)
class TraceLevel:
    """The one level a trace replay is (what LevelRecord asks of a level)."""
    scenario: TraceScenario
    value: float = 1.0                      # unused: a replay has no load level of its own
    searched: bool = False
    kind: str = KIND
    warmup: int = 0

    @property
    def name(self) -> str:
        return f"{KIND}@x{self.scenario.time_scale:g}"

    @property
    def min_requests(self) -> int:
        return self.scenario.request_count

    @property
    def in_flight_cap(self) -> int:
        return self.scenario.max_in_flight

    def params(self) -> LevelParams:
        sc = self.scenario
        total, reusable = reusable_tokens(sc.requests, sc.block_tokens)
        offsets = sc.offsets_ns
        return LevelParams.model_validate({
            "scenario": KIND, "mode": KIND, "slo": sc.slo, **sc.params(),
            "warmup_requests": 0, "min_requests": sc.request_count,
            "scheduled_s": offsets[-1] / 1e9 if offsets else None,
            "hash_block_tokens": sc.block_tokens if any(r.hash_ids for r in sc.requests) else None,
            # the prompt tokens an unbounded prefix cache could serve, in schedule order
            "reusable_prefix_fraction": reusable / total if total and sc.requests else None})


@dataclass
class TraceRecord(LevelRecord):
    """A replay's record: a load level's, with its send lag and the schedule's validity rule."""
    scenario: TraceLevel  # type: ignore[assignment]  # the same interface as Level's

    def to_entry(self) -> LoadLevelEntry:
        entry = super().to_entry()
        ok = [t for t in self.traces if t.measured and t.ok]
        entry.samples["send_lag_s"] = [t.send_lag_s for t in ok]
        stats = summarize([t.send_lag_s for t in ok])
        entry.summary.send_lag_s = Stats.model_validate(stats) if stats else None
        reasons = lag_reasons([t.send_lag_s for t in self.traces if t.measured and t.sent_ns is not None],
                              self.scenario.scenario.max_send_lag_s)
        if reasons:
            entry.validity = Validity(verdict=Verdict.INVALID, reasons=[*entry.validity.reasons, *reasons])
        return entry


def lag_reasons(lags: Sequence[float | None], bound_s: float) -> list[str]:
    """INVALID's reason when more than LATE_FRACTION of the requests sent were sent later than bound_s."""
    values = [x for x in lags if x is not None]
    late = sum(x > bound_s for x in values)
    if not values or late <= LATE_FRACTION * len(values):
        return []
    return [f"send lag: {late} of {len(values)} requests sent more than {bound_s * 1e3:g} ms after their scheduled "
            f"time (worst {max(values) * 1e3:,.1f} ms): the client fell behind the trace"]


class _Plans:
    """Each request's prompt and length; the first ones made before the clock starts."""

    def __init__(self, sc: TraceScenario, model: LoadedModel):
        avoid = {model.bos_token_id} if model.bos_token_id is not None else set()
        self._requests = sc.requests
        self._make = partial(trace_prompt, seed=sc.seed, vocab_size=model.vocab_size, avoid=avoid,
                             block_tokens=sc.block_tokens)
        self._cache: dict[int, PlannedRequest] = {}
        budget = PREPARED_TOKENS
        for i, r in enumerate(sc.requests):
            budget -= _lengths(r)[0]
            if budget < 0:
                break
            self._cache[i] = self._plan(i)

    def _plan(self, index: int) -> PlannedRequest:
        r = self._requests[index]
        n_in, n_out = _lengths(r)
        request = TracedRequest(r.at_s, n_in, n_out, r.hash_ids)
        return PlannedRequest(index, self._make(request, index), n_out)

    def __call__(self, index: int) -> PlannedRequest:
        return self._cache.pop(index, None) or self._plan(index)

    def prepared(self) -> list[PlannedRequest]:
        return list(self._cache.values())


def _drive(backend: Backend, model: LoadedModel, record: TraceRecord,
           progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    sc = record.scenario.scenario
    plans = _Plans(sc, model)
    offsets = sc.offsets_ns
    if isinstance(backend, HTTPEngine):
        # No cap over HTTP: every request goes at its time, and the server queues what it cannot take.
        run_http(backend, record, plans, plans.prepared(), lambda: TracePacer(now_ns(), offsets), progress,
                 on_measuring)
    else:
        assert isinstance(backend, TokenEngine), "runs() refuses any other backend"
        run_in_process(backend, record, plans, lambda: TracePacer(now_ns(), offsets, sc.max_in_flight),
                       sc.max_in_flight, sc.context_needed, progress, on_measuring)


def runs(backend: Backend, model: LoadedModel, sc: TraceScenario) -> Iterator[tuple[Any, Any]]:
    if not isinstance(backend, (HTTPEngine, TokenEngine)):
        raise ScenarioError(f"backend {backend.name} cannot run several requests at once",
                            "use --backend llamacpp or an HTTP backend to replay a trace")
    record = TraceRecord(TraceLevel(sc))
    yield record, partial(_drive, backend, model, record)
