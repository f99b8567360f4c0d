"""The options each engine reads, declared per engine, and `--engine-option KEY=VALUE`.

Each backend class names an EngineOptions dataclass in `engine_options`: its fields are every
option key the engine reads. Those made with `engine_option(type)` are settings one engine has and
the others do not (torch's static cache, vLLM's memory share, ...), set with --engine-option;
anything else given there is refused in one line that lists what the backend takes. The other
fields are set by `bench run`'s own flags (--threads, --ctx-size, ...) or by the model's
resolution. A run hands an engine only its own keys (EngineOptions.keep): llama.cpp's reach
llama.cpp only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from contract.errors import BenchError

_KIND = "engine_option"     # field metadata key: the type --engine-option converts the value with


def engine_option(kind: Callable[[str], Any], default: Any = None) -> Any:
    """A field that --engine-option sets, converted with `kind` (bool, int, float, str or a Choice)."""
    return field(default=default, metadata={_KIND: kind})


@dataclass(frozen=True)
class EngineOptions:
    """The option keys one engine reads (subclass it per engine; every field needs a default)."""

    @classmethod
    def keys(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def settable(cls) -> dict[str, Callable[[str], Any]]:
        """What --engine-option takes for this engine: key -> the type its value converts to."""
        return {f.name: f.metadata[_KIND] for f in fields(cls) if _KIND in f.metadata}

    @classmethod
    def keep(cls, options: dict) -> dict:
        """The entries of `options` this engine reads; the others belong to other engines."""
        return {k: v for k, v in options.items() if k in cls.keys()}  # noqa: SIM118 - a classmethod, not a dict


@dataclass(frozen=True)
class HTTPOptions(EngineOptions):
    """What every backend that sends its requests over HTTP reads."""
    base_url: str | None = None
    endpoint: str | None = None
    request_timeout_s: float | None = None

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _convert(value: str, kind: Callable[[str], Any]) -> Any:
    if kind is bool:
        v = value.strip().lower()
        if v in _TRUE | _FALSE:
            return v in _TRUE
        raise ValueError("expected true or false")
    return kind(value)


def parse_engine_options(pairs: tuple[str, ...], backend: str, options: type[EngineOptions]) -> dict:
    accepted = options.settable()
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise BenchError(f"--engine-option {pair!r} is not KEY=VALUE", "for example --engine-option static_cache=true")
        if key not in accepted:
            valid = ", ".join(sorted(accepted)) or "none"
            raise BenchError(f"--backend {backend} has no engine option {key!r}", f"valid: {valid}")
        kind = accepted[key]
        try:
            out[key] = _convert(value, kind)
        except ValueError:
            example = getattr(kind, "example", "true" if kind is bool else "1")
            raise BenchError(f"--engine-option {key}={value!r}: not a valid {getattr(kind, '__name__', 'value')}",
                             f"for example {key}={example}") from None
    return out


class Choice:
    """An engine option that takes one of a few words, e.g. Choice("auto", "on", "off")."""

    def __init__(self, *values: str):
        self.values = values
        self.__name__ = " | ".join(values)
        self.example = values[-1]

    def __call__(self, value: str) -> str:
        v = value.strip().lower()
        if v not in self.values:
            raise ValueError(f"expected one of {self.__name__}")
        return v
