"""Load generators: drive a backend through the levels of a load scenario.

Two drivers share one pacer (scenarios.arrivals) and one record (scenarios.levels):
- in-process (a backend with batch_session(), e.g. llama.cpp): one thread steps the engine;
  due requests are admitted between steps and every token of a step is stamped at its end;
- HTTP (a backend with `http` capability): asyncio, one task per request, streamed. Text
  prompts are fitted to their token counts before the clock starts (backend.prepare_prompts).
  single-stream over HTTP (scenarios.single_stream_http) is this driver with one user.

`levels()` decides which levels to run: a fixed list that stops once a level is far past the
SLO (or failed), or an SLO search.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from typing import Any

from contract.errors import ScenarioError
from contract.validity import COMPLETED
from engines.base import Backend, HTTPEngine, LoadedModel, TokenEngine
from engines.clock import RequestTrace, now_ns, stamp_step, timed_request
from scenarios.arrivals import Pacer, PacerLike
from scenarios.definitions import SEARCH_CEILING, LoadScenario
from scenarios.levels import Level, LevelRecord, SearchRecord, sweep_stop
from scenarios.slo import Search
from scenarios.workloads import PlannedRequest, plan_request

# Idle waits for the next Poisson arrival are sliced so that Ctrl-C is seen promptly.
_MAX_SLEEP_S = 0.25


# Requests made before a level's clock starts (the rest as they are due): a prompt made while
# others stream would delay their events; more than this would hold too much memory (rag: ~40 MB).
_PREPARED = 256


class _Plans:
    """Requests of a level, the same at every level."""

    def __init__(self, level: Level, model: LoadedModel):
        sc = level.scenario
        avoid = {model.bos_token_id} if model.bos_token_id is not None else set()
        self._make = partial(plan_request, sc.profile, seed=sc.seed, vocab_size=model.vocab_size, avoid=avoid)
        self._cache = {i: self._make(i) for i in range(min(_PREPARED, level.warmup + level.min_requests))}

    def __call__(self, index: int) -> PlannedRequest:
        return self._cache.pop(index, None) or self._make(index)

    def prepared(self) -> list[PlannedRequest]:
        """The requests made before the clock starts (so that their text can be fitted then too)."""
        return list(self._cache.values())


def _pacer(level: Level) -> Pacer:
    sc = level.scenario
    closed = level.kind == "concurrency"
    return Pacer(now_ns(), warmup=level.warmup, min_requests=level.min_requests,
                 max_requests=sc.max_requests, min_duration_s=sc.min_duration_s,
                 users=int(level.value) if closed else None, rate=None if closed else level.value,
                 max_in_flight=level.in_flight_cap, seed=sc.seed)


def drive_in_process(backend: TokenEngine, model: LoadedModel, record: LevelRecord,
                     progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    level = record.scenario
    run_in_process(backend, record, _Plans(level, model), partial(_pacer, level), level.in_flight_cap,
                   level.scenario.profile.max_request_tokens, progress, on_measuring)


def run_in_process(backend: TokenEngine, record, plans: Callable[[int], PlannedRequest], make_pacer: Callable[[], PacerLike],
                   n_seqs: int, seq_len: int, progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    """Submit the requests the pacer releases, planned by `plans`, into `record.traces`, in one batch
    session of `n_seqs` sequences of up to `seq_len` tokens."""
    session = backend.batch_session(n_seqs, seq_len)
    try:
        traces: dict[int, RequestTrace] = {}
        measuring = False
        pacer = make_pacer()
        free_ns = now_ns()          # when the last engine step ended (a sleep's overshoot is the loop's own lag)
        while True:
            for due in pacer.due(now_ns()):
                req = plans(due.index)
                if due.measured and not measuring:
                    on_measuring()
                    measuring = True
                n_in = len(req.prompt_token_ids)
                # due during an engine step, it could be taken no earlier than the step's end
                trace = RequestTrace(due.index, due.measured, req.max_tokens, due.intended_ns, input_asked=n_in,
                                     input_tokens=n_in, input_source="engine", output_source="engine",
                                     ready_ns=max(due.intended_ns, free_ns))
                session.submit(due.index, req.prompt_token_ids, req.max_tokens)
                trace.sent_ns = now_ns()
                traces[due.index] = trace
                record.traces.append(trace)
            if session.active:
                events = session.step()
                t = free_ns = stamp_step(events, traces)
                for index, _ in events:
                    trace = traces[index]
                    if len(trace.event_ns) == trace.max_tokens:
                        trace.end_ns, trace.output_tokens = t, trace.max_tokens
                        trace.cached_input_tokens = session.cached_tokens(index)
                        pacer.finished(t)
                        progress(1)
            elif not pacer.more(now_ns()):
                break
            else:
                wake = pacer.next_arrival_ns()
                time.sleep(min(_MAX_SLEEP_S, max(0.0, (wake - now_ns()) / 1e9)) if wake else 0.001)
    finally:
        session.close()
    record.status = COMPLETED


def drive_http(backend: HTTPEngine, model: LoadedModel, record: LevelRecord,
               progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    level = record.scenario
    plans = _Plans(level, model)
    run_http(backend, record, plans, plans.prepared(), partial(_pacer, level), progress, on_measuring)


def run_http(backend: HTTPEngine, record, plans: Callable[[int], PlannedRequest], prepared: list[PlannedRequest],
             pacer: Callable[[], PacerLike], progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    """Send the requests `pacer` releases, planned by `plans`, into `record.traces`."""
    run_client(record, _drive_http(backend, record, plans, prepared, pacer, progress, on_measuring))


def run_client(record, driver: Coroutine[Any, Any, None]) -> None:
    """Run an HTTP level's driver to its end in an event loop of its own; record the client's CPU use.

    All of the client runs in this thread's event loop, so near one core means the client, not the
    server, set the pace (benchmarks/http_client.py: what it sustains)."""
    import asyncio

    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        asyncio.run(driver)
    finally:
        record.client_cpu_fraction = (time.thread_time() - cpu) / max(1e-9, time.perf_counter() - wall)
    record.status = COMPLETED


async def _drive_http(backend, record, plans, prepared, make_pacer, progress, on_measuring) -> None:
    import asyncio

    wake = asyncio.Event()
    tasks: set[asyncio.Task] = set()
    measuring = False
    async with backend.client() as client:
        await backend.prepare_prompts(client, prepared)
        pacer = make_pacer()

        def ended(task: asyncio.Task, trace: RequestTrace) -> None:
            tasks.discard(task)
            if not task.cancelled():
                pacer.finished(trace.end_ns)
                progress(1)
            wake.set()

        try:
            while True:
                wake.clear()
                for due in pacer.due(now_ns()):
                    if due.measured and not measuring:
                        on_measuring()
                        measuring = True
                    req = plans(due.index)
                    trace = RequestTrace(due.index, due.measured, req.max_tokens, due.intended_ns)
                    record.traces.append(trace)
                    task = asyncio.create_task(timed_request(backend, client, req, trace, backend.request_timeout_s))
                    tasks.add(task)
                    task.add_done_callback(partial(ended, trace=trace))
                if not tasks and not pacer.more(now_ns()):
                    break
                nxt = pacer.next_arrival_ns()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), None if nxt is None else max(0.0, (nxt - now_ns()) / 1e9))
        finally:
            # Interrupted: end the requests in flight while their client is still open.
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def driver_for(backend: Backend) -> Callable:
    if isinstance(backend, HTTPEngine):
        return drive_http
    if isinstance(backend, TokenEngine):
        return drive_in_process
    raise ScenarioError(f"backend {backend.name} cannot run several requests at once",
                        "use --backend llamacpp or --backend openai for load scenarios")


def levels(backend: Backend, model: LoadedModel, sc: LoadScenario) -> Iterator[tuple]:
    """(record, drive) for each level to run; each record is complete before the next is chosen.

    drive(progress, on_measuring) runs the level. A search ends with (SearchRecord, None).
    """
    drive = driver_for(backend)

    def run(value: float, searched: bool):
        record = LevelRecord(Level(sc, value, searched))
        return record, partial(drive, backend, model, record)

    if not sc.search:
        for i, value in enumerate(sc.levels):
            record, go = run(value, False)
            yield record, go
            if (note := sweep_stop(record, sc.levels[i + 1:])) is not None:
                record.note = note
                return
        return

    search = Search(sc.levels[0], integer=sc.mode == "concurrency", ceiling=SEARCH_CEILING[sc.mode])
    best: LevelRecord | None = None
    while (level := search.next()) is not None:
        record, go = run(level, True)
        yield record, go
        if record.status != COMPLETED:
            record.note = f"search stopped: this level {record.status}"
            return
        met = record.verdict().met
        search.report(level, met)
        if met and (best is None or level > best.scenario.value):
            best = record
    yield SearchRecord(sc, search.summary(), best), None
