"""Scenario definitions (data): what to run, with which lengths and counts.

Names are versioned by meaning: `pp<N>` and `tg<N>` follow llama-bench (a warmup, then N
repetitions, tokens/s per repetition), and so do `pp<N>@d<D>` and `tg<N>@d<D>` (llama-bench's `-d`:
each repetition runs on top of D tokens already in the cache, put there untimed);
`single-stream` sends requests one after another.
A workload profile name (chat, rag, ... see scenarios.workloads) is a load scenario: its
requests at each level of a closed-loop concurrency sweep or of open-loop Poisson rates, or
at the levels an SLO search picks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_serializer,
)

from contract.errors import ScenarioError
from scenarios.slo import PRESETS, SLO
from scenarios.workloads import BUILTIN, Profile

DEFAULT_SCENARIOS = ("pp512", "tg128", "single-stream")
# Stop rule: at least this many passes AND this many seconds of measuring (docs/architecture.md,
# "Measuring"). Three passes is the fewest that gives a spread; on a fast GPU the duration adds
# passes, on a CPU running an 8B model three passes already take minutes.
DEFAULT_MIN_PASSES = 3
DEFAULT_MIN_DURATION_S = 3.0


# The kind of every load scenario: a workload profile under load (scenarios/kinds.py, KINDS).
LOAD_KIND = "load"


class _Params(BaseModel):
    """A scenario is its parameters: typed, frozen, and exactly what crosses a process boundary in a
    RunRequest (scenarios/request.py) and what a result's entries record as their params."""
    model_config = ConfigDict(frozen=True, extra="forbid")

    def params(self) -> dict[str, Any]:
        """As the result's entries and `config.scenarios` record them (JSON types)."""
        return self.model_dump(mode="json")


class Scenario(_Params):
    """One generation at a time: pp, tg, single-stream (or a kind that only scenarios/kinds.py knows)."""
    name: str
    kind: str                    # "pp", "tg" or "single-stream"
    input_tokens: int            # prompt length per measured pass
    output_tokens: int           # generated tokens per measured pass
    repetitions: int             # minimum measured passes (pp/tg repetitions, single-stream requests)
    warmup: int = 1              # unmeasured passes first (llama-bench: one)
    min_duration_s: float = DEFAULT_MIN_DURATION_S  # ...and keep measuring until this long
    max_passes: int = 100        # cap when min_duration_s asks for more passes
    depth: int = 0               # tokens already in the cache when each measured pass starts (pp/tg@d<D>)

    @field_validator("kind")
    @classmethod
    def _not_load(cls, kind: str) -> str:
        if kind == LOAD_KIND:
            raise ValueError(f"kind {LOAD_KIND!r} is a load scenario's: it needs a profile, mode and levels")
        return kind

    # Warmup passes are short: they page in every weight and start the engine's threads and
    # kernels, which a short pass does as well as a long one. (llama-bench warms pp with a full
    # prompt; on a CPU an 8B pp512 pass takes a minute of the default run's budget.)
    @property
    def warmup_input_tokens(self) -> int:
        return {"pp": min(self.input_tokens, 64), "tg": 1}.get(self.kind, min(self.input_tokens, 32))

    @property
    def warmup_output_tokens(self) -> int:
        """llama-bench warms tg with one token; a request warms prefill and decode with two."""
        return {"pp": 1, "tg": 1}.get(self.kind, min(2, self.output_tokens))

    @property
    def context_needed(self) -> int:
        # tg decodes from one start token, so it needs one more position than it generates.
        return self.depth + self.input_tokens + self.output_tokens + (1 if self.kind == "tg" else 0)

    @property
    def sequences_needed(self) -> int:
        """Sequences whose KV cache an in-process engine holds at once (each of context_needed)."""
        return 1

    @model_serializer(mode="wrap")
    def _no_depth(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # No depth is what every result and request before depth meant: they keep their params as they were.
        data = handler(self)
        if not self.depth:
            data.pop("depth", None)
        return data


DEFAULT_CONCURRENCY = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_LOAD_SCENARIO = "chat"
MAX_CONCURRENCY = 1024
# Search ceilings: llama.cpp holds at most 256 sequences; 256 requests/s is more than one client
# process can stream (about 20,000 token events/s: benchmarks/http_client.py).
SEARCH_CEILING = {"concurrency": 256, "poisson": 256.0}


class LoadScenario(_Params):
    """A workload profile under load: one measured level per concurrency or rate."""
    name: str
    kind: Literal["load"] = "load"
    mode: Literal["concurrency", "poisson"]  # closed loop (users) or open loop (Poisson arrivals)
    levels: tuple[int | float, ...] = Field(min_length=1)  # users or requests/s; with search, the first is the start
    search: bool = False
    profile: Profile
    slo: SLO = PRESETS["default"]
    requests: int | None = None          # minimum measured requests per level (None: by level)
    min_duration_s: float = DEFAULT_MIN_DURATION_S
    max_requests: int = 1000             # cap per level when the duration asks for more requests
    max_in_flight: int = 64              # Poisson: more arrivals than this wait in the client
    seed: int = 0

    @field_serializer("profile")
    def _profile(self, profile: Profile) -> dict[str, Any]:
        return profile.to_dict()         # its keys in the order results have always had them

    @property
    def context_needed(self) -> int:
        return self.profile.max_request_tokens

    @property
    def sequences_needed(self) -> int:
        """In-process, a level's batch session holds one sequence per user, or max_in_flight for
        Poisson arrivals (scenarios/levels.py, in_flight_cap)."""
        return int(max(self.levels)) if self.mode == "concurrency" else self.max_in_flight


def parse_levels(text: str | None, option: str, integer: bool) -> tuple[float, ...] | None:
    """`1,2,4` -> (1, 2, 4); one clear error for anything else."""
    if text is None:
        return None
    example = "1,2,4,8" if integer else "0.5,1,2"
    values = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            v = int(part) if integer else float(part)
        except ValueError:
            raise ScenarioError(f"{option} takes a comma-separated list of {'whole ' if integer else ''}numbers, "
                                f"got {part!r}", f"for example {option} {example}") from None
        if not v > 0 or (integer and v > MAX_CONCURRENCY) or v != v or v == float("inf"):
            raise ScenarioError(f"{option} values must be positive{f' and at most {MAX_CONCURRENCY}' if integer else ''}, "
                                f"got {part}", f"for example {option} {example}")
        values.append(v)
    if not values:
        raise ScenarioError(f"{option} is empty", f"for example {option} {example}")
    return tuple(values)


def _load_scenario(profile: Profile, *, concurrency, rate, search, slo, requests, min_duration_s,
                   max_in_flight) -> LoadScenario:
    if concurrency is not None and rate is not None:
        raise ScenarioError("--concurrency and --rate both given", "a level is either closed-loop users or a Poisson rate")
    if search not in (None, "concurrency", "rate"):
        raise ScenarioError(f"cannot search {search!r}", "use --search concurrency or --search rate")
    mode = "poisson" if (rate is not None or search == "rate") else "concurrency"
    if (search == "concurrency" and rate is not None) or (search == "rate" and concurrency is not None):
        raise ScenarioError(f"--search {search} with {'--rate' if rate else '--concurrency'}",
                            "give the start of a concurrency search with --concurrency, of a rate search with --rate")
    levels = (rate if mode == "poisson" else concurrency) or ((1.0,) if search == "rate" else (1,) if search else DEFAULT_CONCURRENCY)
    sc = LoadScenario(name=profile.name, profile=profile, mode=mode, levels=levels, search=search is not None,
                      slo=slo, requests=requests, **({} if max_in_flight is None else {"max_in_flight": max_in_flight}))
    if requests is not None:
        _positive(sc.name, requests, "requests")
    if max_in_flight is not None:
        _positive(sc.name, max_in_flight, "max in flight")
    if min_duration_s is not None:
        if min_duration_s < 0:
            raise ScenarioError(f"min duration must not be negative, got {min_duration_s}", "for example --min-duration 30")
        sc = sc.model_copy(update={"min_duration_s": min_duration_s})
    return sc


@dataclass(frozen=True)
class ParseOptions:
    """The command line's scenario options, each parsed once, for every kind's name parser."""
    repetitions: int | None = None          # pp/tg repetitions
    requests: int | None = None             # single-stream requests; a load level's minimum
    input_tokens: int | None = None         # single-stream lengths
    output_tokens: int | None = None
    min_duration_s: float | None = None
    profiles: dict[str, Profile] = field(default_factory=lambda: dict(BUILTIN))
    concurrency: tuple[float, ...] | None = None
    rate: tuple[float, ...] | None = None
    search: str | None = None
    slo: SLO = PRESETS["default"]
    max_in_flight: int | None = None
    turns: int | None = None                # chat-session: turns per conversation
    think_time_s: float | None = None       # chat-session: mean think time between turns
    trace: Path | None = None               # trace replay (scenarios/trace_replay.py)
    time_scale: float | None = None
    duration_s: float | None = None
    max_send_lag_s: float | None = None


def _positive(name: str, value: int | float, what: str) -> None:
    if value is None or value <= 0:
        raise ScenarioError(f"{what} must be a positive number for scenario {name!r}, got {value}",
                            f"for example --{what.replace(' ', '-')} 3")


def _with_duration(sc: Scenario, min_duration_s: float | None) -> Scenario:
    if min_duration_s is None:
        return sc
    if min_duration_s < 0:
        raise ScenarioError(f"min duration must not be negative, got {min_duration_s}", "for example --min-duration 30")
    return sc.model_copy(update={"min_duration_s": min_duration_s})


# Each kind's name parser: the scenario a name means, or None when the name is not of this kind.

def parse_micro(kind: str, key: str, opts: ParseOptions) -> Scenario | None:
    """pp<N> and tg<N>, llama-bench's: N prompt tokens in one pass, or N generated tokens; with
    `@d<D>`, on top of D tokens already in the cache (llama-bench -d D)."""
    m = re.fullmatch(rf"{kind}(\d+)(?:@d(\d+))?", key)
    if m is None:
        return None
    n = int(m.group(1))
    if n <= 0:
        raise ScenarioError(f"scenario {key!r} needs a positive token count", "for example pp512 or tg128")
    depth = int(m.group(2) or 0)
    if m.group(2) is not None and depth <= 0:
        raise ScenarioError(f"scenario {key!r} needs a positive depth",
                            f"for example {kind}{n}@d4096; {kind}{n} alone starts from an empty cache")
    reps = DEFAULT_MIN_PASSES if opts.repetitions is None else opts.repetitions
    _positive(key, reps, "repetitions")
    shape = {"input_tokens": n, "output_tokens": 1} if kind == "pp" else {"input_tokens": 1, "output_tokens": n}
    return _with_duration(Scenario(name=key, kind=kind, repetitions=reps, depth=depth, **shape), opts.min_duration_s)


def parse_single_stream(key: str, opts: ParseOptions) -> Scenario | None:
    if key != "single-stream":
        return None
    sc = Scenario(
        name=key, kind="single-stream",
        input_tokens=128 if opts.input_tokens is None else opts.input_tokens,
        output_tokens=32 if opts.output_tokens is None else opts.output_tokens,
        repetitions=DEFAULT_MIN_PASSES if opts.requests is None else opts.requests,
    )
    _positive(key, sc.input_tokens, "input tokens")
    _positive(key, sc.output_tokens, "output tokens")
    _positive(key, sc.repetitions, "requests")
    return _with_duration(sc, opts.min_duration_s)


def parse_load(key: str, opts: ParseOptions) -> LoadScenario | None:
    """A workload profile's name: that profile under load."""
    if key not in opts.profiles:
        return None
    return _load_scenario(opts.profiles[key], concurrency=opts.concurrency, rate=opts.rate, search=opts.search,
                          slo=opts.slo, requests=opts.requests, min_duration_s=opts.min_duration_s,
                          max_in_flight=opts.max_in_flight)
