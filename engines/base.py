"""The Backend seam (docs/architecture.md, "The engine seam").

A backend loads a model and turns prompt token ids into a stream of generated token ids.
It never times itself: the harness stamps every token event with `clock.now_ns()`, so every
engine is measured the same way. Scenarios ask which protocol a backend speaks (TokenEngine,
HTTPEngine) and its `capabilities`, never its name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, runtime_checkable

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
    """What an engine's measurements are like. Which calls it answers is its protocol's to say
    (TokenEngine, HTTPEngine), never a flag here."""
    streaming: bool = True          # yields each token as it is produced
    devices: tuple[str, ...] = ("cpu",)
    quant_formats: tuple[str, ...] = ()
    local_model: bool = True        # loads a model file from this machine (else the server has it)
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
    """What a backend settled before loading: the options to load with (its engine_options model),
    and what the run must record and say about that choice (a workaround for a broken engine
    configuration)."""
    options: EngineOptions
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


@dataclass(frozen=True)
class FreeRequest:
    """A request an HTTPEngine sends without the benchmark's exact-length fields, so that the model
    stops where it wants (bench eval's tasks); `messages`, where given, in place of one user turn."""
    max_tokens: int
    messages: tuple[dict, ...] | None = None


class RequestFailed(Exception):
    """One request of a load level failed; counted by `kind`, never fatal to the run."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind              # http_status, timeout, connection, stream_incomplete, malformed_sse, ...


class BatchSession(Protocol):
    """Several sequences stepped together in this process (TokenEngine.batch_session)."""

    @property
    def active(self) -> int: ...

    def submit(self, index: int, prompt_token_ids: list[int], max_tokens: int) -> None: ...

    def step(self) -> list[tuple[int, int]]:
        """One engine step: (request index, token id) for every token it produced."""
        ...

    def cached_tokens(self, index: int) -> int | None:
        """Of request `index`'s prompt, the tokens the engine took from a prefix cache instead of
        prefilling them, once it has produced a token (None: the engine does not say)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """What the run asks of every backend: its name and capabilities, its options, and loading.

    What it is beyond that is its protocol: a TokenEngine (token ids in and out, in this process)
    or an HTTPEngine (requests to a server). Callers ask isinstance(backend, TokenEngine) (or
    speaks(cls, TokenEngine) of a class), never a flag and never hasattr.
    """

    name: str
    capabilities: Capabilities

    @property
    def model_format(self) -> str | None:
        """The model format it runs (models/formats.py FORMATS); None where a server holds the model.
        A class attribute in every engine."""
        ...

    @property
    def engine_options(self) -> type[EngineOptions]:
        """Its options model: every key it reads, with its one default; which --engine-option sets.
        A class attribute in every engine, declared read-only here so that each may name its own."""
        ...

    def check_installed(self, extra: str) -> None:
        """Raise BackendError naming the pip extra when the engine is not installed."""
        ...

    def prepare(self, quant: str | None, options: EngineOptions | Mapping[str, Any]) -> Prepared:
        """Settle, before loading, what depends on this machine (llama.cpp probes its kernels here).
        `options` is an instance of its engine_options model."""
        ...

    def load(self, model_path: Path | str, options: EngineOptions | Mapping[str, Any]) -> LoadedModel:
        """Load a model file (local_model), or, where a server holds the model, name it (a str)."""
        ...

    def engine_memory(self) -> dict | None:
        """The engine's own account of the memory it holds (Capabilities.engine_memory), else None."""
        ...

    def unload(self) -> None: ...


@runtime_checkable
class TokenEngine(Backend, Protocol):
    """An engine driven token by token in this process: pp, tg and single-stream are measured on
    generate(), load levels on a batch session."""

    def generate(self, prompt_token_ids: list[int], max_tokens: int,
                 ignore_eos: bool = True) -> Iterator[int]:
        """Yield generated token ids one at a time, greedy, from a clean context.

        With ignore_eos the output has exactly max_tokens tokens.
        """
        ...

    def engine_counters(self) -> dict | None:
        """The engine's own timing of the last generate(), for cross-checks, or None.

        Keys: prompt_tokens, prompt_ms (batched prompt passes), decode_tokens, decode_ms
        (single-token decodes); a phase that did not run is None. A DepthEngine adds
        context_tokens (what the cache held when the generation began, by the engine's count) and
        depth_evaluated (fill_depth's, for the generation it prepared).
        """
        ...

    def batch_session(self, n_seqs: int, seq_len: int) -> BatchSession:
        """Several sequences stepped together (in-process load levels); close() it when done."""
        ...


@runtime_checkable
class DepthEngine(TokenEngine, Protocol):
    """A TokenEngine that can hold a context before a generation (llama-bench's `-d`): pp<N>@d<D>
    and tg<N>@d<D> run on it. An engine that is not one refuses those scenarios before loading."""

    def fill_depth(self, token_ids: list[int]) -> dict:
        """Put `token_ids` in the cache, untimed: the next generate() (only the next) runs on top of
        them, its prompt at positions len(token_ids) on, instead of from a clean context. Where
        the cache still holds these same tokens from the last fill, it may keep them rather than
        evaluate them again (llama-bench restores its saved state). Returns what the engine did:
        `depth_evaluated` (tokens it evaluated now: 0 when it kept them)."""
        ...


@runtime_checkable
class HTTPEngine(Backend, Protocol):
    """A backend that sends requests to a server and yields its stream events (the server batches)."""

    request_timeout_s: float | None     # None: each request's own (request_deadline_s)

    def client(self, max_connections: int | None = None) -> Any:
        """An async HTTP client (a context manager) for the requests of one level."""
        ...

    async def prepare_prompts(self, client: Any, requests: list) -> None:
        """Fit text prompts to their token counts before the clock starts."""
        ...

    async def prompt(self, client: Any, request: Any) -> Any:
        """The prompt to send for a planned request: its token ids, or text of its length."""
        ...

    def stream(self, client: Any, request: Any, on_sent: Callable[[], None], prompt: Any) -> AsyncIterator[StreamEvent]:
        """Send one streaming request with this prompt and yield its events (RequestFailed on any fault)."""
        ...

    def text_counter(self) -> Any:
        """How it counts a text prompt's tokens exactly, as the server will (an object with an async
        `count(client, text)` and a `source` name), where it found one at load(); else None."""
        ...


PROTOCOLS = (TokenEngine, HTTPEngine)     # what a backend is beyond Backend: exactly one of these


def protocol_members(protocol: type = Backend) -> tuple[str, ...]:
    """The names a protocol declares, its bases' included (typing.get_protocol_members arrives in
    Python 3.13)."""
    declared: set[str] = set()
    for klass in protocol.__mro__:
        if klass in (Protocol, Generic, object):
            continue
        declared |= {n for n in vars(klass) if not n.startswith("_")} | set(getattr(klass, "__annotations__", {}))
    return tuple(sorted(declared))


def speaks(cls: type, protocol: type) -> bool:
    """A backend class has every member of `protocol` (issubclass refuses protocols with data members)."""
    return all(hasattr(cls, m) for m in protocol_members(protocol))


class EngineDefaults:
    """What every backend shares where it has nothing of its own: no options beyond the defaults
    and no account of its memory. It adds no member of TokenEngine or HTTPEngine: a backend is one
    of them by what it implements."""

    name: str
    capabilities: Capabilities
    model_format: ClassVar[str | None] = None
    engine_options: ClassVar[type[EngineOptions]] = EngineOptions

    def engine_memory(self) -> dict | None:
        return None
