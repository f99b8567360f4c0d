"""Scenario definitions (data): what to run, with which lengths and counts.

Names are versioned by meaning: `pp<N>` and `tg<N>` follow llama-bench (a warmup, then N
repetitions, tokens/s per repetition); `single-stream` sends requests one after another.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace

from bench.errors import ScenarioError

DEFAULT_SCENARIOS = ("pp512", "tg128", "single-stream")
# Stop rule: at least this many passes AND this many seconds of measuring (DESIGN.md §3). Three
# passes is the fewest that gives a spread; on a fast GPU the duration adds passes, on a CPU
# running an 8B model three passes already take minutes.
DEFAULT_MIN_PASSES = 3
DEFAULT_MIN_DURATION_S = 3.0


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str                    # "pp", "tg" or "single-stream"
    input_tokens: int            # prompt length per measured pass
    output_tokens: int           # generated tokens per measured pass
    repetitions: int             # minimum measured passes (pp/tg repetitions, single-stream requests)
    warmup: int = 1              # unmeasured passes first (llama-bench: one)
    min_duration_s: float = DEFAULT_MIN_DURATION_S  # ...and keep measuring until this long
    max_passes: int = 100        # cap when min_duration_s asks for more passes

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

    def params(self) -> dict:
        return asdict(self)

    @property
    def context_needed(self) -> int:
        # tg decodes from one start token, so it needs one more position than it generates.
        return self.input_tokens + self.output_tokens + (1 if self.kind == "tg" else 0)


_MICRO = re.compile(r"^(pp|tg)(\d+)$")


def _positive(name: str, value: int | float, what: str) -> None:
    if value is None or value <= 0:
        raise ScenarioError(f"{what} must be a positive number for scenario {name!r}, got {value}",
                            f"for example --{what.replace(' ', '-')} 3")


def _with_duration(sc: Scenario, min_duration_s: float | None) -> Scenario:
    if min_duration_s is None:
        return sc
    if min_duration_s < 0:
        raise ScenarioError(f"min duration must not be negative, got {min_duration_s}", "for example --min-duration 30")
    return replace(sc, min_duration_s=min_duration_s)


def parse_scenario(name: str, *, repetitions: int | None = None, requests: int | None = None,
                   input_tokens: int | None = None, output_tokens: int | None = None,
                   min_duration_s: float | None = None) -> Scenario:
    """Turn a scenario name plus CLI overrides into a Scenario, or raise a one-line ScenarioError."""
    key = name.strip().lower()
    m = _MICRO.match(key)
    if m:
        kind, n = m.group(1), int(m.group(2))
        if n <= 0:
            raise ScenarioError(f"scenario {name!r} needs a positive token count", "for example pp512 or tg128")
        reps = DEFAULT_MIN_PASSES if repetitions is None else repetitions
        _positive(key, reps, "repetitions")
        shape = {"input_tokens": n, "output_tokens": 1} if kind == "pp" else {"input_tokens": 1, "output_tokens": n}
        return _with_duration(Scenario(key, kind, repetitions=reps, **shape), min_duration_s)
    if key == "single-stream":
        sc = Scenario(
            key, "single-stream",
            input_tokens=128 if input_tokens is None else input_tokens,
            output_tokens=32 if output_tokens is None else output_tokens,
            repetitions=DEFAULT_MIN_PASSES if requests is None else requests,
        )
        _positive(key, sc.input_tokens, "input tokens")
        _positive(key, sc.output_tokens, "output tokens")
        _positive(key, sc.repetitions, "requests")
        return _with_duration(sc, min_duration_s)
    raise ScenarioError(f"unknown scenario {name!r}",
                        "choose pp<N> (e.g. pp512), tg<N> (e.g. tg128) or single-stream")


def parse_scenarios(spec: str | None, **overrides) -> list[Scenario]:
    names = [s for s in (spec.split(",") if spec else DEFAULT_SCENARIOS) if s.strip()]
    if not names:
        raise ScenarioError("no scenario given", "for example --scenario pp512,tg128")
    return [parse_scenario(n, **overrides) for n in names]
