"""One task as the harness saw it: the answer, the tokens it took, and its timing."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Answer:
    text: str
    input_tokens: int | None       # measured: the engine's count, or the server's usage
    output_tokens: int | None
    ttft_s: float | None
    e2e_s: float | None
    finish: str | None = None      # "stop" (end of generation), "length" (max_tokens), or the server's reason
    token_source: str = ""         # where the counts came from
    error: str | None = None       # a request that failed: counted wrong, with the reason

    def to_dict(self) -> dict:
        return asdict(self)
