"""The options each engine reads, declared per engine as a pydantic model, and `--engine-option KEY=VALUE`.

Each backend class names its EngineOptions model in `engine_options`: its fields are every option
key the engine reads, each with its one default. Those annotated with `engine_option(type)` are
settings one engine has and the others do not (torch's static cache, vLLM's memory share, ...), set
with --engine-option; anything else given there is refused in one line that lists what the backend
takes. The other fields are set by `bench run`'s own flags (--threads, --ctx-size, ...) or by the
model's resolution, where None means "not given": the field's default.

A run keeps an engine's own keys of the options it was given (`keep`: llama.cpp's reach llama.cpp
only), makes the model once (`of`) and hands it typed to prepare() and load(); the result records
`given()`, the keys it was given with the values the engine ran with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from contract.errors import BenchError

OptionsT = TypeVar("OptionsT", bound="EngineOptions")


@dataclass(frozen=True)
class engine_option:
    """Marks a field that --engine-option sets, converted with `kind` (bool, int, float, str or a
    Choice): `amx: Annotated[str, engine_option(KERNEL_CHOICE)] = "auto"`."""
    kind: Callable[[str], Any]


class EngineOptions(BaseModel):
    """The option keys one engine reads (subclass it per engine; every field has its default)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    @classmethod
    def keys(cls) -> frozenset[str]:
        return frozenset(cls.model_fields)

    @classmethod
    def settable(cls) -> dict[str, Callable[[str], Any]]:
        """What --engine-option takes for this engine: key -> the type its value converts to."""
        return {name: m.kind for name, f in cls.model_fields.items() for m in f.metadata
                if isinstance(m, engine_option)}

    @classmethod
    def keep(cls, options: Mapping[str, Any]) -> dict:
        """The entries of `options` this engine reads; the others belong to other engines."""
        return {k: v for k, v in options.items() if k in cls.keys()}  # noqa: SIM118 - a classmethod, not a dict

    @classmethod
    def of(cls: type[OptionsT], options: EngineOptions | Mapping[str, Any], backend: str = "this backend") -> OptionsT:
        """These options as this engine's model: an instance is taken as it is, a mapping validated
        (None: the field's default). An unknown key or a wrong value is a one-line BenchError."""
        if isinstance(options, cls):
            return options
        if isinstance(options, EngineOptions):
            options = options.given()
        given = {k: (cls.model_fields[k].get_default(call_default_factory=True)
                     if v is None and k in cls.model_fields else v) for k, v in options.items()}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise _one_line(cls, exc, backend, given) from None

    def with_(self: OptionsT, **changes: Any) -> OptionsT:
        """A copy with `changes` (validated), which count as given."""
        return type(self).of({**self.given(), **changes})

    def context(self) -> int:
        """n_ctx, for an engine that has it: the run sets it before loading (default_context)."""
        n_ctx = getattr(self, "n_ctx", None)
        if n_ctx is None:
            raise BenchError(f"{type(self).__name__} has no n_ctx: it is set before a model is loaded",
                             "pass n_ctx, as bench run does (--ctx-size or what the scenarios need)")
        return int(n_ctx)

    def given(self) -> dict[str, Any]:
        """The keys this engine was given, with the values it runs with (what a result records)."""
        return self.model_dump(include=set(self.model_fields_set))


def _one_line(cls: type[EngineOptions], exc: ValidationError, backend: str, given: Mapping[str, Any]) -> BenchError:
    err = exc.errors()[0]
    key = str(err["loc"][0]) if err["loc"] else "?"
    if err["type"] == "extra_forbidden":
        return BenchError(f"--backend {backend} has no option {key!r}",
                          f"drop it; {backend} reads: {', '.join(sorted(cls.keys()))}")
    return BenchError(f"option {key}={given.get(key)!r} for --backend {backend}: {err['msg'].lower()}",
                      f"give {key} a value of its type, or leave it out for the default")


class HTTPOptions(EngineOptions):
    """What every backend that sends its requests over HTTP reads."""
    base_url: str | None = None
    endpoint: str = "completions"            # or "chat"
    request_timeout_s: float | None = None   # None: each request's own (engines.base.request_deadline_s)


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
