"""The clock. Every token event of every backend is stamped here, the same way.

`time.perf_counter_ns` is monotonic and has sub-microsecond resolution on Linux and macOS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.backends.base import Backend

now_ns = time.perf_counter_ns


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
        return (self.token_ns[0] - self.send_ns) / 1e9 if self.token_ns else None

    @property
    def e2e_s(self) -> float | None:
        return (self.token_ns[-1] - self.send_ns) / 1e9 if self.token_ns else None

    @property
    def tpot_s(self) -> float | None:
        """(e2e - ttft) / (output_tokens - 1): needs at least two tokens."""
        if len(self.token_ns) < 2:
            return None
        return (self.token_ns[-1] - self.token_ns[0]) / 1e9 / (len(self.token_ns) - 1)

    @property
    def inter_token_gaps_s(self) -> list[float]:
        return [(b - a) / 1e9 for a, b in zip(self.token_ns, self.token_ns[1:])]


def timed_generate(backend: Backend, prompt_token_ids: list[int], max_tokens: int) -> Generation:
    token_ns: list[int] = []
    token_ids: list[int] = []
    send = now_ns()
    for tok in backend.generate(prompt_token_ids, max_tokens, ignore_eos=True):
        token_ns.append(now_ns())
        token_ids.append(tok)
    return Generation(len(prompt_token_ids), send, token_ns, token_ids)
