"""The Backend seam (docs/architecture.md, "The engine seam").

A backend loads a model and turns prompt token ids into a stream of generated token ids.
It never times itself: the harness stamps every token event with `clock.now_ns()`, so every
engine is measured the same way. Scenarios look at `capabilities`, never at backend names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from contract.device import Device
from engines.options import EngineOptions

# Without --request-timeout a request may take this long, plus a second per output token it asks
# for: a stream slower than one token a second is a stuck one, and a long answer is not.
REQUEST_TIMEOUT_BASE_S = 60.0
REQUEST_TIMEOUT_PER_TOKEN_S = 1.0


def request_deadline_s(timeout_s: float | None, max_tokens: int) -> float:
    """The time a request of `max_tokens` may take: --request-timeout where given, else scaled to it."""
    return timeout_s if timeout_s is not None else REQUEST_TIMEOUT_BASE_S + REQUEST_TIMEOUT_PER_TOKEN_S * max_tokens


@dataclass(frozen=True)
class Capabilities:
    streaming: bool = True          # yields each token as it is produced
    batching: bool = False          # can run several sequences at once
    devices: tuple[str, ...] = ("cpu",)
    quant_formats: tuple[str, ...] = ()
    microbenchmarks: bool = True    # token-level generate(): pp/tg/single-stream
    local_model: bool = True        # loads a model file from this machine (else the server has it)
    http: bool = False              # requests go over HTTP (async streaming) instead of batch_session()
    # models/fit.py's memory rules match how this engine sizes its buffers, so a sweep can skip what
    # will not fit before starting it (other engines size their own memory: the rules are estimates)
    memory_fit_checked: bool = False
    engine_memory: bool = False     # engine_memory() gives the engine's own account of its memory


@dataclass
class LoadedModel:
    """What the backend reports after loading: facts the result needs."""
    path: Path | None                 # None when a server holds the model
    n_ctx: int | None
    vocab_size: int
    bos_token_id: int | None
    device: Device                    # where the weights ended up
    engine_info: dict = field(default_factory=dict)


@dataclass
class Prepared:
    """What a backend settled before loading: the options to load with, and what the run must
    record and say about that choice (a workaround for a broken engine configuration)."""
    options: dict
    workarounds: list[dict] = field(default_factory=list)   # each has a one-line "line" to print
    warnings: list[str] = field(default_factory=list)
    engine_health: dict | None = None       # the evidence the choice rests on, kept in the result
    if_it_dies: str = ""                    # said if the measuring process is killed by a signal anyway


@dataclass
class StreamEvent:
    """One event of a streamed HTTP response, as the server sent it (the harness stamps it)."""
    content: bool = False                 # carries generated output (text or token ids): a content chunk
    tokens: int | None = None             # how many tokens it carries, where the server lists their ids
    prompt_tokens: int | None = None      # usage, when the server reports it
    cached_prompt_tokens: int | None = None   # of those, served from its prefix cache (usage details)
    completion_tokens: int | None = None
    finish_reason: str | None = None
    server_timings: dict | None = None    # the server's own timing of the request, if it sends one
    text: str | None = None               # the generated text it carries (bench eval scores it)


class RequestFailed(Exception):
    """One request of a load level failed; counted by `kind`, never fatal to the run."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind              # http_status, timeout, connection, stream_incomplete, malformed_sse, ...


class BatchSession(Protocol):
    """Several sequences stepped together in this process (Capabilities.batching without http)."""

    @property
    def active(self) -> int: ...

    def submit(self, index: int, prompt_token_ids: list[int], max_tokens: int) -> None: ...

    def step(self) -> list[tuple[int, int]]:
        """One engine step: (request index, token id) for every token it produced."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """Everything the run, the scenarios and the harness use of a backend.

    What only some engines do is said by `capabilities`, and asked there, never by hasattr:
    microbenchmarks -> generate/engine_counters; batching without http -> batch_session;
    http -> client/prepare_prompts/prompt/stream/request_timeout_s; engine_memory -> engine_memory.
    """

    name: str
    capabilities: Capabilities
    request_timeout_s: float | None

    @property
    def engine_options(self) -> type[EngineOptions]:
        """The option keys it reads; which --engine-option sets. A class attribute in every engine,
        declared read-only here so that each may name its own EngineOptions subclass."""
        ...

    def check_installed(self, extra: str) -> None:
        """Raise BackendError naming the pip extra when the engine is not installed."""
        ...

    def prepare(self, quant: str | None, options: dict) -> Prepared:
        """Settle, before loading, what depends on this machine (llama.cpp probes its kernels here)."""
        ...

    def load(self, model_path: Path | str, options: dict) -> LoadedModel:
        """Load a model file (local_model), or, where a server holds the model, name it (a str)."""
        ...

    def generate(self, prompt_token_ids: list[int], max_tokens: int,
                 ignore_eos: bool = True) -> Iterator[int]:
        """Yield generated token ids one at a time, greedy, from a clean context.

        With ignore_eos the output has exactly max_tokens tokens.
        """
        ...

    def engine_counters(self) -> dict | None:
        """The engine's own timing of the last generate(), for cross-checks, or None.

        Keys: prompt_tokens, prompt_ms (batched prompt passes), decode_tokens, decode_ms
        (single-token decodes); a phase that did not run is None.
        """
        ...

    def engine_memory(self) -> dict | None:
        """The engine's own account of the memory it holds, or None where it keeps none."""
        ...

    def batch_session(self, n_seqs: int, seq_len: int) -> BatchSession: ...

    def client(self, max_connections: int | None = None) -> Any:
        """An async HTTP client (a context manager) for the requests of one level."""
        ...

    async def prepare_prompts(self, client: Any, requests: list) -> None:
        """Fit text prompts to their token counts before the clock starts."""
        ...

    async def prompt(self, client: Any, request: Any) -> Any: ...

    def stream(self, client: Any, request: Any, on_sent: Callable[[], None], prompt: Any) -> AsyncIterator[StreamEvent]:
        ...

    def unload(self) -> None: ...


def protocol_members() -> tuple[str, ...]:
    """The names Backend declares (typing.get_protocol_members arrives in Python 3.13)."""
    declared = {n for n in vars(Backend) if not n.startswith("_")} | set(Backend.__annotations__)
    return tuple(sorted(declared))


class EngineDefaults:
    """What a backend has when its capabilities say it lacks a feature: a clear refusal, so that
    every backend matches Backend and a caller that skipped the capability check learns why."""

    name: str
    capabilities: Capabilities
    engine_options: ClassVar[type[EngineOptions]] = EngineOptions
    request_timeout_s: float | None = None

    def _lacks(self, what: str, says: str) -> NotImplementedError:
        return NotImplementedError(f"backend {self.name} has no {what}: ask its capabilities first ({says})")

    def generate(self, prompt_token_ids: list[int], max_tokens: int, ignore_eos: bool = True) -> Iterator[int]:
        raise self._lacks("token-level generate()", "microbenchmarks")

    def engine_counters(self) -> dict | None:
        return None

    def engine_memory(self) -> dict | None:
        return None

    def batch_session(self, n_seqs: int, seq_len: int) -> BatchSession:
        raise self._lacks("in-process batch session", "batching and not http")

    def client(self, max_connections: int | None = None) -> Any:
        raise self._lacks("HTTP client", "http")

    async def prepare_prompts(self, client: Any, requests: list) -> None:
        raise self._lacks("HTTP prompts", "http")

    async def prompt(self, client: Any, request: Any) -> Any:
        raise self._lacks("HTTP prompts", "http")

    def stream(self, client: Any, request: Any, on_sent: Callable[[], None], prompt: Any) -> AsyncIterator[StreamEvent]:
        raise self._lacks("HTTP stream", "http")
