"""Multi-turn sessions (`chat-session`): users holding conversations that grow turn by turn.

A level is a number of users (`--concurrency`, each value a level). The level's conversations
(`--requests`, default max(3, users)) are dealt to the users in turn; a user holds one at a
time. Every request is preceded by the user's think time (`--think-time`, the mean of a seeded
exponential draw; 0: none), counted from the end of the user's previous request (from the
level's start for its first), and a new conversation follows the last turn of the one before.
Turn k's prompt is the whole conversation so far: turn k-1's prompt, the answer turn k-1 got,
then a new user message. Each turn's user message and answer lengths are drawn from a profile
(`chat-session` uses TURN_PROFILE; `chat-session:NAME` a workload profile's lengths per turn).

What the previous answer is in the next prompt:
- in process (a batch session): the token ids the engine generated. The session frees a
  sequence's KV when it ends, so each turn prefills its whole conversation again, and cached
  input tokens are n/a;
- over HTTP: the answer text the server streamed. The conversation travels as text, as a chat
  client sends it (a backend that takes token ids gets the same one-letter-word text it would
  fit for a server that does not), so the prompt the server sees starts with the previous
  prompt and the previous answer, and its prefix cache can hit them. The prompt is made and
  counted during the think time; where that takes longer, the turn is due when it is ready (the
  client's own work is not the server's latency).

Per request: TTFT (from the turn's due time), its turn and its context tokens at send (the
input the server or engine counted), and the cached input tokens where the engine reports them.
A level's entry is a load level's (scenarios/levels.py) with `summary.by_turn`: TTFT p50/p99 and
the cache hit rate per turn depth. The stop rule is the conversations, not --min-duration.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from pydantic import field_serializer

from contract.errors import ScenarioError
from contract.result import LevelParams, LoadLevelEntry, TurnSummary
from contract.validity import COMPLETED
from engines.base import Backend, HTTPEngine, LoadedModel, RequestFailed, TokenEngine
from engines.clock import RequestTrace, now_ns, stamp_step, timed_request
from engines.stats import summarize
from scenarios.definitions import ParseOptions, _Params
from scenarios.levels import LevelRecord, sweep_stop
from scenarios.load import run_client
from scenarios.slo import PRESETS, SLO
from scenarios.stream_checks import prefix_cache
from scenarios.workloads import Lengths, PlannedRequest, Profile, plan_request

KIND = "chat-session"
# One turn of a conversation: a user message and its answer, shorter than a `chat` request (whose
# prompt stands for a whole conversation already).
TURN_PROFILE = Profile("chat-turn", Lengths(128, 32), Lengths(64, 16), "one turn of a conversation")
DEFAULT_TURNS = 4
DEFAULT_THINK_S = 1.0
_NAME = re.compile(r"chat-session(?::(.+))?")
_MAX_SLEEP_S = 0.25            # idle waits are sliced so that Ctrl-C is seen promptly


class ChatSessionScenario(_Params):
    """Users holding multi-turn conversations: one measured level per number of users."""
    name: str
    kind: Literal["chat-session"] = "chat-session"
    users: tuple[int, ...]               # one level per value
    turns: int = DEFAULT_TURNS
    think_time_s: float = DEFAULT_THINK_S
    profile: Profile = TURN_PROFILE      # lengths of each turn's user message and answer
    conversations: int | None = None     # per level (None: max(3, users))
    slo: SLO = PRESETS["default"]
    seed: int = 0

    @field_serializer("profile")
    def _profile(self, profile: Profile) -> dict[str, Any]:
        return profile.to_dict()

    @property
    def context_needed(self) -> int:
        """A whole conversation of the longest turns."""
        return self.turns * self.profile.max_request_tokens

    @property
    def sequences_needed(self) -> int:
        """In-process, one sequence per user of the largest level."""
        return max(self.users)


def claims(key: str) -> bool:
    """Is this (lower-cased) scenario name a chat session?"""
    return _NAME.fullmatch(key) is not None


def parse(key: str, opts: ParseOptions) -> ChatSessionScenario | None:
    m = _NAME.fullmatch(key)
    if m is None:
        return None
    if m.group(1) is not None and m.group(1) not in opts.profiles:
        raise ScenarioError(f"{key}: no workload profile {m.group(1)!r} for its turn lengths",
                            f"name one of {', '.join(opts.profiles)}, or say chat-session")
    if opts.rate is not None or opts.search is not None:
        raise ScenarioError(f"{KIND} runs closed-loop users, not {'--rate' if opts.rate else '--search'}",
                            "give the users per level with --concurrency, e.g. --concurrency 1,4")
    turns = DEFAULT_TURNS if opts.turns is None else opts.turns
    think = DEFAULT_THINK_S if opts.think_time_s is None else opts.think_time_s
    if turns < 1:
        raise ScenarioError(f"--turns must be at least 1, got {turns}", "for example --turns 4")
    if not think >= 0 or math.isinf(think):
        raise ScenarioError(f"--think-time must be a number of seconds >= 0, got {think}", "for example --think-time 1")
    if opts.requests is not None and opts.requests < 1:
        raise ScenarioError(f"--requests (conversations per level) must be positive, got {opts.requests}",
                            "for example --requests 4")
    profile = opts.profiles[m.group(1)] if m.group(1) else TURN_PROFILE
    users = tuple(int(v) for v in (opts.concurrency or (1,)))
    return ChatSessionScenario(name=key, users=users, turns=turns, think_time_s=think, profile=profile,
                               conversations=opts.requests, slo=opts.slo)


# -- a level ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionLevel:
    """One number of users (what LevelRecord asks of a Level)."""
    scenario: ChatSessionScenario
    value: int                           # users
    searched: bool = False
    kind: str = KIND

    @property
    def name(self) -> str:
        return f"{self.scenario.name}@c{self.value}"

    @property
    def conversations(self) -> int:
        return self.scenario.conversations or max(3, self.value)

    @property
    def warmup(self) -> int:
        return 1                         # one first turn, alone, before the users start

    @property
    def min_requests(self) -> int:
        return self.conversations * self.scenario.turns

    @property
    def in_flight_cap(self) -> int:
        return self.value

    def params(self) -> LevelParams:
        sc = self.scenario
        return LevelParams.model_validate({
            "scenario": sc.name, "mode": "concurrency", "concurrency": self.value, "searched": False,
            "profile": sc.profile.to_dict(), "slo": sc.slo, "turns": sc.turns, "think_time_s": sc.think_time_s,
            "think_time": "exponential" if sc.think_time_s else "none", "conversations": self.conversations,
            "warmup_requests": self.warmup, "min_requests": self.min_requests, "seed": sc.seed})

    def message(self, conversation: int, turn: int, model: LoadedModel) -> PlannedRequest:
        """Turn `turn` (0-based) of a conversation: its user message and answer length (-1: the warm-up)."""
        avoid = {model.bos_token_id} if model.bos_token_id is not None else set()
        index = -1 if conversation < 0 else conversation * self.scenario.turns + turn
        return plan_request(self.scenario.profile, index, self.scenario.seed, model.vocab_size, avoid)

    def think_ns(self, conversation: int, turn: int) -> int:
        mean = self.scenario.think_time_s
        if not mean:
            return 0
        return int(random.Random(f"think:{self.scenario.seed}:{conversation}:{turn}").expovariate(1 / mean) * 1e9)

    def users_conversations(self) -> list[list[int]]:
        """Each user's conversations, dealt in turn."""
        return [list(range(u, self.conversations, self.value)) for u in range(self.value)]


@dataclass
class ChatSessionRecord(LevelRecord):
    scenario: SessionLevel               # type: ignore[assignment]  # what LevelRecord asks of a Level, and more
    answers: str | None = None           # what the previous answer is in the next prompt
    cache_note: str | None = None        # why cached input tokens are n/a, where known

    def to_entry(self) -> LoadLevelEntry:
        entry = super().to_entry()
        ok = [t for t in self.traces if t.measured and t.ok]
        entry.samples["turn"] = [t.turn for t in ok]
        by_turn = []
        for turn in sorted({t.turn for t in ok if t.turn is not None}):
            these = [t for t in ok if t.turn == turn]
            by_turn.append(TurnSummary(turn=turn, requests=len(these),
                                       context_tokens=summarize([t.input_tokens for t in these]),
                                       ttft_s=summarize([t.ttft_s for t in these]),
                                       prefix_cache=prefix_cache(these)))
        entry.summary.by_turn = by_turn
        entry.params = entry.params.model_copy(update={"answers": self.answers, "cache_note": self.cache_note})
        return entry


def record_of(scenario: dict) -> ChatSessionRecord:
    """An empty record of a level a run's journal describes (bench/journal.py)."""
    return ChatSessionRecord(SessionLevel(ChatSessionScenario.model_validate(scenario["load"]), scenario["value"]))


def levels(backend: Backend, model: LoadedModel, sc: ChatSessionScenario) -> Iterator[tuple[ChatSessionRecord, Any]]:
    """(record, drive) per number of users, in order."""
    if isinstance(backend, HTTPEngine):
        drive: Callable = drive_http
    elif isinstance(backend, TokenEngine):
        drive = drive_in_process
    else:
        raise ScenarioError(f"backend {backend.name} cannot hold several conversations at once",
                            "use --backend llamacpp or an HTTP backend for chat-session")
    for i, users in enumerate(sc.users):
        record = ChatSessionRecord(SessionLevel(sc, users))
        yield record, partial(drive, backend, model, record)
        if (note := sweep_stop(record, sc.users[i + 1:])) is not None:
            record.note = note
            return


# -- in process ------------------------------------------------------------------------------------
@dataclass
class _User:
    conversations: list[int]
    due_ns: int
    turn: int = 0
    history: list[int] = field(default_factory=list)
    busy: bool = False


def drive_in_process(backend: TokenEngine, model: LoadedModel, record: ChatSessionRecord,
                     progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    level = record.scenario
    record.answers = "generated token ids"
    # what the engine says of its own prefix cache (vLLM's counts; llama.cpp 0) is each turn's hit count
    record.cache_note = "in-process batch sessions free a sequence's KV when it ends: the engine said none"
    session = backend.batch_session(level.value, level.scenario.context_needed)
    traces: dict[int, RequestTrace] = {}
    prompts: dict[int, list[int]] = {}
    answers: dict[int, list[int]] = {}
    owner: dict[int, _User] = {}

    def submit(index: int, prompt: list[int], req: PlannedRequest, intended: int, measured: bool, turn: int) -> None:
        trace = RequestTrace(index, measured, req.max_tokens, intended, input_asked=len(prompt),
                             input_tokens=len(prompt), input_source="engine", output_source="engine", turn=turn)
        session.submit(index, prompt, req.max_tokens)
        trace.sent_ns = now_ns()
        traces[index], prompts[index], answers[index] = trace, prompt, []
        record.traces.append(trace)

    try:
        warm = level.message(-1, 0, model)       # the warm-up: a first turn, alone
        submit(0, warm.prompt_token_ids, warm, now_ns(), False, 1)
        while session.active:
            stamp_step(session.step(), traces)
        traces[0].end_ns, traces[0].output_tokens = traces[0].event_ns[-1], warm.max_tokens
        progress(1)
        start = now_ns()
        users = [_User(convs, start + level.think_ns(convs[0], 0)) for convs in level.users_conversations() if convs]
        on_measuring()
        while True:
            now = now_ns()
            for user in users:
                if user.busy or not user.conversations or user.due_ns > now:
                    continue
                c = user.conversations[0]
                req = level.message(c, user.turn, model)
                index = 1 + c * level.scenario.turns + user.turn
                submit(index, user.history + req.prompt_token_ids, req, user.due_ns, True, user.turn + 1)
                owner[index], user.busy = user, True
            if session.active:
                events = session.step()
                t = stamp_step(events, traces)
                for index, token in events:
                    trace = traces[index]
                    answers[index].append(token)
                    if len(trace.event_ns) == trace.max_tokens:
                        trace.end_ns, trace.output_tokens = t, trace.max_tokens
                        trace.cached_input_tokens = session.cached_tokens(index)   # as a load level's (scenarios/load.py)
                        user = owner.pop(index)
                        user.busy = False
                        user.history = prompts.pop(index) + answers.pop(index)
                        _next_turn(level, user, t)
                        progress(1)
            elif not any(u.conversations for u in users):
                break
            else:
                wake = min(u.due_ns for u in users if u.conversations)
                time.sleep(min(_MAX_SLEEP_S, max(0.0, (wake - now_ns()) / 1e9)))
    finally:
        session.close()
    record.status = COMPLETED


def _next_turn(level: SessionLevel, user: _User, end_ns: int) -> None:
    """The user's next turn (or next conversation's first) is due a think time after `end_ns`."""
    user.turn += 1
    if user.turn == level.scenario.turns:
        user.conversations.pop(0)
        user.turn, user.history = 0, []
    if user.conversations:
        user.due_ns = end_ns + level.think_ns(user.conversations[0], user.turn)


# -- over HTTP -------------------------------------------------------------------------------------
def drive_http(backend: HTTPEngine, model: LoadedModel, record: ChatSessionRecord,
               progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    record.answers = "streamed answer text"
    run_client(record, _drive_http(backend, model, record, progress, on_measuring))


async def _message_text(backend: HTTPEngine, client: Any, req: PlannedRequest) -> str:
    """A user message as text: the backend's fitted text, or (a backend that sends token ids) the
    same one-letter words it would send a server that takes none."""
    from engines.openai.prompts import letters

    with contextlib.suppress(RequestFailed):       # not fitted: the server's usage still counts it
        prompt = await backend.prompt(client, req)
        if isinstance(prompt.payload, str):
            return prompt.payload
    return letters(req.prompt_token_ids, len(req.prompt_token_ids))


async def _drive_http(backend: HTTPEngine, model: LoadedModel, record: ChatSessionRecord,
                      progress: Callable[[int], None], on_measuring: Callable[[], None]) -> None:
    import asyncio

    from engines.openai.prompts import CountFailed, Prompt

    level = record.scenario
    turns = level.scenario.turns

    async with backend.client() as client:
        counter = backend.text_counter()

        async def send(index: int, text: str, req: PlannedRequest, intended: int | None, measured: bool,
                       turn: int, expected: int) -> tuple[RequestTrace, str]:
            """Count the prompt, wait until it is due, send it; the trace and the answer's text."""
            count = None
            if counter is not None:
                with contextlib.suppress(CountFailed):     # then only the server's usage can tell
                    count = await counter.count(client, text)
            due = max(intended, now_ns()) if intended is not None else now_ns()
            while (wait := due - now_ns()) > 0:
                await asyncio.sleep(min(_MAX_SLEEP_S, wait / 1e9))
            trace = RequestTrace(index, measured, req.max_tokens, due, turn=turn)
            record.traces.append(trace)
            texts: list[str] = []
            prompt = Prompt(text, count, counter.source if count is not None else None)
            await timed_request(backend, client, req, trace, backend.request_timeout_s, prompt=prompt, texts=texts)
            trace.input_asked = count if count is not None else expected
            return trace, "".join(texts)

        async def user(conversations: list[int], start: int) -> None:
            ready = start
            for c in conversations:
                text, context = "", 0
                for k in range(turns):
                    req = level.message(c, k, model)
                    message = await _message_text(backend, client, req)
                    text = f"{text} {message}" if text else message
                    trace, answer = await send(1 + c * turns + k, text, req, ready + level.think_ns(c, k), True,
                                               k + 1, context + len(req.prompt_token_ids))
                    ready = trace.end_ns or now_ns()
                    progress(1)
                    if not trace.ok:
                        break                # no answer to go on from: the conversation ends here
                    text += answer
                    context = (trace.input_tokens or context + len(req.prompt_token_ids)) + (trace.output_tokens or 0)

        warm = level.message(-1, 0, model)
        await send(0, await _message_text(backend, client, warm), warm, None, False, 1, len(warm.prompt_token_ids))
        progress(1)
        on_measuring()
        start = now_ns()
        tasks = [asyncio.create_task(user(convs, start)) for convs in level.users_conversations() if convs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
