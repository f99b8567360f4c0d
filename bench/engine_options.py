"""`--engine-option KEY=VALUE`: settings one engine has and the others do not (torch's static
cache, vLLM's memory share, ...). Each backend class lists its own in `engine_options`
(name -> type); anything else is refused in one line that lists what the backend takes."""

from __future__ import annotations

from contract.errors import BenchError

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _convert(value: str, kind: type):
    if kind is bool:
        v = value.strip().lower()
        if v in _TRUE | _FALSE:
            return v in _TRUE
        raise ValueError("expected true or false")
    return kind(value)


def parse_engine_options(pairs: tuple[str, ...], backend: str, accepted: dict[str, type]) -> dict:
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
            raise BenchError(f"--engine-option {key}={value!r}: not a valid {kind.__name__}",
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
