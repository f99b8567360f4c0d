"""The clock. Every token event of every backend is stamped here, the same way.

`time.perf_counter_ns` is monotonic and has sub-microsecond resolution on Linux and macOS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import pairwise

from engines.base import TokenEngine, request_deadline_s

now_ns = time.perf_counter_ns


# The metric definitions (docs/architecture.md, "Measuring"), shared by single requests and load levels.
def ttft_from(start_ns: int, events_ns: list[int]) -> float | None:
    return (events_ns[0] - start_ns) / 1e9 if events_ns else None


def e2e_from(start_ns: int, events_ns: list[int]) -> float | None:
    return (events_ns[-1] - start_ns) / 1e9 if events_ns else None


def tpot_from(events_ns: list[int], output_tokens: int | None) -> float | None:
    """(last event - first event) / (output_tokens - 1): needs at least two tokens."""
    if not events_ns or not output_tokens or output_tokens < 2:
        return None
    return (events_ns[-1] - events_ns[0]) / 1e9 / (output_tokens - 1)


@dataclass
class Generation:
    """One request as the harness saw it: send time and the time each token arrived."""
    input_tokens: int
    send_ns: int
    token_ns: list[int]
    token_ids: list[int]

    @property
    def output_tokens(self) -> int:
        return len(self.token_ns)

    @property
    def ttft_s(self) -> float | None:
        return ttft_from(self.send_ns, self.token_ns)

    @property
    def e2e_s(self) -> float | None:
        return e2e_from(self.send_ns, self.token_ns)

    @property
    def tpot_s(self) -> float | None:
        return tpot_from(self.token_ns, len(self.token_ns))

    @property
    def inter_token_gaps_s(self) -> list[float]:
        return [(b - a) / 1e9 for a, b in pairwise(self.token_ns)]


def timed_generate(backend: TokenEngine, prompt_token_ids: list[int], max_tokens: int) -> Generation:
    token_ns: list[int] = []
    token_ids: list[int] = []
    send = now_ns()
    for tok in backend.generate(prompt_token_ids, max_tokens, ignore_eos=True):
        token_ns.append(now_ns())
        token_ids.append(tok)
    return Generation(len(prompt_token_ids), send, token_ns, token_ids)


@dataclass
class RequestTrace:
    """One request of a load level as the harness saw it.

    `intended_ns` is when the load generator meant to send it (Poisson arrival, or the moment
    its user's previous request ended); `sent_ns` is when it left (HTTP: the client starts
    opening a connection or writing the request; in-process: handed to the engine). The
    difference is client-side queue wait. `send_lag_s` is the part of it that is the client's own
    lateness: from `ready_ns` where the driver sets it (in-process: the earliest the engine could take
    the request, i.e. its intended time or the end of the engine step then running), else from intended.
    Each event is a content chunk (one token in-process; one or more over HTTP).
    """
    index: int
    measured: bool
    max_tokens: int
    intended_ns: int
    sent_ns: int | None = None
    ready_ns: int | None = None
    event_ns: list[int] = field(default_factory=list)
    end_ns: int | None = None
    input_asked: int | None = None         # the planned prompt length
    input_tokens: int | None = None        # what the engine or server counted; see input_source
    input_source: str | None = None        # engine, usage, server timings, token_ids, tokenize ..., local ...
    cached_input_tokens: int | None = None  # of those, served from a prefix cache, where the server says
    event_tokens: list[int] | None = None  # tokens each event carried, where the server listed their ids
    output_tokens: int | None = None       # engine count or server usage; see output_source
    output_source: str | None = None       # engine, usage, token_ids, finish_reason=length, events
    finish_reason: str | None = None
    server_timings: dict | None = None
    error_kind: str | None = None
    error: str | None = None
    turn: int | None = None                # chat-session: the request's turn in its conversation (1: first)

    @property
    def ok(self) -> bool:
        """Ended, without an error, with at least one token (an interrupted one has no end)."""
        return self.end_ns is not None and self.error_kind is None and bool(self.event_ns)

    @property
    def queue_wait_s(self) -> float | None:
        return (self.sent_ns - self.intended_ns) / 1e9 if self.sent_ns is not None else None

    @property
    def send_lag_s(self) -> float | None:
        if self.sent_ns is None:
            return None
        return (self.sent_ns - (self.intended_ns if self.ready_ns is None else self.ready_ns)) / 1e9

    @property
    def ttft_s(self) -> float | None:
        return ttft_from(self.intended_ns, self.event_ns)

    @property
    def e2e_s(self) -> float | None:
        return e2e_from(self.intended_ns, self.event_ns)

    @property
    def tpot_s(self) -> float | None:
        return tpot_from(self.event_ns, self.output_tokens)

    @property
    def max_event_gap_s(self) -> float | None:
        """The longest wait between two of its events: a stall, or (when tiny) a stream let out at once."""
        if len(self.event_ns) < 2:
            return None
        return max(b - a for a, b in pairwise(self.event_ns)) / 1e9

    @property
    def one_token_per_event(self) -> bool:
        return self.output_tokens == len(self.event_ns)


async def timed_request(backend, client, request, trace: RequestTrace, timeout_s: float | None,
                        prompt=None, texts: list[str] | None = None) -> RequestTrace:
    """Stream one request through an HTTP backend, stamping every event here.

    `prompt`, where given, is sent in place of the backend's prompt for the request (a chat
    session's conversation so far); `texts`, where given, receives the answer text of each event.

    Failures are recorded in the trace (kind and message), never raised: one bad request is
    a counted error of its level. The whole request, queueing at the server included, must
    end within `timeout_s`, or where that is None, within request_deadline_s of its length.
    """
    timeout_s = request_deadline_s(timeout_s, request.max_tokens)
    import asyncio

    from engines.base import RequestFailed

    def on_sent() -> None:
        if trace.sent_ns is None:
            trace.sent_ns = now_ns()

    usage_out = usage_in = usage_cached = None
    given = prompt
    counts: list[int | None] = []
    trace.input_asked = len(request.prompt_token_ids)

    async def consume() -> None:
        nonlocal usage_out, usage_in, usage_cached, prompt
        # Text prompts are fitted before a level starts (backend.prepare_prompts); one that is not is
        # fitted here, and that time is client-side wait of this request.
        prompt = given if given is not None else await backend.prompt(client, request)
        async for ev in backend.stream(client, request, on_sent, prompt):
            t = now_ns()
            if ev.content:
                trace.event_ns.append(t)
                counts.append(ev.tokens)
            if texts is not None and ev.text:
                texts.append(ev.text)
            if ev.prompt_tokens is not None:
                usage_in, usage_cached = ev.prompt_tokens, ev.cached_prompt_tokens
            if ev.completion_tokens is not None:
                usage_out = ev.completion_tokens
            if ev.finish_reason is not None:
                trace.finish_reason = ev.finish_reason
            if ev.server_timings is not None:
                trace.server_timings = ev.server_timings

    try:
        await asyncio.wait_for(consume(), timeout_s)
        if not trace.event_ns:
            raise RequestFailed("no_content", "the stream ended without a content token")
    except RequestFailed as exc:
        trace.error_kind, trace.error = exc.kind, str(exc)
    except asyncio.TimeoutError:
        trace.error_kind, trace.error = "timeout", f"no complete response within {timeout_s:g} s"
    trace.end_ns = now_ns()
    known = [c for c in counts if c is not None]
    if counts and len(known) == len(counts):
        trace.event_tokens = known
    _count_input(trace, prompt, usage_in, usage_cached)
    # Token counts come from the server: usage when it reports it, else the ids it listed, else a
    # stream cut by max_tokens has exactly max_tokens, else (flagged) the number of content chunks.
    if usage_out is not None:
        trace.output_tokens, trace.output_source = usage_out, "usage"
    elif trace.event_tokens is not None:
        trace.output_tokens, trace.output_source = sum(trace.event_tokens), "token_ids"
    elif trace.finish_reason == "length":
        trace.output_tokens, trace.output_source = trace.max_tokens, "finish_reason=length"
    elif trace.event_ns:
        trace.output_tokens, trace.output_source = len(trace.event_ns), "events"
    return trace


def _count_input(trace: RequestTrace, prompt, usage: int | None, cached: int | None) -> None:
    """The request's input length by the best witness: the server's usage, its own timings
    (llama.cpp: evaluated plus cached), else the count the prompt was made to, else unknown."""
    timings = trace.server_timings or {}
    if usage is not None:
        trace.input_tokens, trace.input_source, trace.cached_input_tokens = usage, "usage", cached
    elif timings.get("prompt_tokens") is not None and timings.get("cached_prompt_tokens") is not None:
        trace.input_tokens = timings["prompt_tokens"] + timings["cached_prompt_tokens"]
        trace.input_source, trace.cached_input_tokens = "server timings", timings["cached_prompt_tokens"]
    elif prompt is not None and prompt.tokens is not None:
        trace.input_tokens, trace.input_source = prompt.tokens, prompt.source
    if trace.cached_input_tokens is None and timings.get("cached_prompt_tokens") is not None:
        trace.cached_input_tokens = timings["cached_prompt_tokens"]


def stamp_step(events: list[tuple[int, int]], traces: dict[int, RequestTrace]) -> int:
    """Stamp the tokens one in-process engine step produced (all at once: one decode call)."""
    t = now_ns()
    for index, _token in events:
        traces[index].event_ns.append(t)
    return t
