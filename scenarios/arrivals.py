"""When each request of a load level is due: closed-loop users, open-loop Poisson arrivals, or a
replayed trace's schedule.

The pacer is pure bookkeeping over the harness clock: the drivers ask it what is due now and
tell it when a request ended. Request i is a warm-up request for i < warmup; measured ones
follow until both the minimum count and the minimum duration are reached (up to a cap).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Due:
    index: int
    intended_ns: int
    measured: bool


class PacerLike(Protocol):
    """What the drivers (scenarios/load.py) ask of a pacer."""
    window_start_ns: int | None

    def more(self, now_ns: int) -> bool: ...
    def due(self, now_ns: int) -> list[Due]: ...
    def finished(self, end_ns: int) -> None: ...
    def next_arrival_ns(self) -> int | None: ...


class Pacer:
    def __init__(self, start_ns: int, *, warmup: int, min_requests: int, max_requests: int,
                 min_duration_s: float, users: int | None = None, rate: float | None = None,
                 max_in_flight: int | None = None, seed: int = 0):
        if (users is None) == (rate is None):
            raise ValueError("a pacer is either closed-loop (users) or open-loop (rate)")
        self.warmup, self.min_requests, self.max_requests = warmup, min_requests, max(min_requests, max_requests)
        self.min_duration_ns = int(min_duration_s * 1e9)
        self.released = 0
        self.in_flight = 0
        self.window_start_ns: int | None = None    # intended send of the first measured request
        self._cap = users if users is not None else max_in_flight
        # Closed loop: a heap of users free since a time (all free at the start).
        self._free = [start_ns] * users if users is not None else None
        # Open loop: exponential gaps from a seeded generator, so arrivals are reproducible.
        self._rng = random.Random(f"poisson:{seed}:{rate}") if rate is not None else None
        self._rate = rate
        self._next_arrival = start_ns + self._gap() if rate is not None else None

    def _gap(self) -> int:
        assert self._rng is not None and self._rate is not None, "only an open-loop pacer draws gaps"
        return int(self._rng.expovariate(self._rate) * 1e9)

    def _more(self, now_ns: int) -> bool:
        measured = self.released - self.warmup
        if measured < self.min_requests:
            return True
        if self.released >= self.warmup + self.max_requests:
            return False
        start = now_ns if self.window_start_ns is None else self.window_start_ns
        return now_ns - start < self.min_duration_ns

    def more(self, now_ns: int) -> bool:
        """Will anything still be released?"""
        return self._more(now_ns)

    def due(self, now_ns: int) -> list[Due]:
        out: list[Due] = []
        while self._more(now_ns) and (self._cap is None or self.in_flight < self._cap):
            if self._free is not None:
                intended = heapq.heappop(self._free)
            else:
                assert self._next_arrival is not None, "a pacer without users is open-loop: it has an arrival"
                if self._next_arrival > now_ns:
                    break
                intended = self._next_arrival
                self._next_arrival += self._gap()
            measured = self.released >= self.warmup
            if measured and self.window_start_ns is None:
                self.window_start_ns = intended
            out.append(Due(self.released, intended, measured))
            self.released += 1
            self.in_flight += 1
        return out

    def finished(self, end_ns: int) -> None:
        """A request ended (or failed) at end_ns: its closed-loop user sends the next from then."""
        self.in_flight -= 1
        if self._free is not None:
            heapq.heappush(self._free, end_ns)

    def next_arrival_ns(self) -> int | None:
        """When to look again without a request ending: the next Poisson arrival, if one can go."""
        if self._free is not None or (self._cap is not None and self.in_flight >= self._cap):
            return None
        return self._next_arrival


class TracePacer:
    """A trace's schedule: request i is due at start + offsets_ns[i] (sorted), whatever happens to
    the others; no warm-up, every request is measured. `max_in_flight` (in-process: the engine's
    sequences) holds later ones back, which their queue wait shows; None holds none back."""

    def __init__(self, start_ns: int, offsets_ns: Sequence[int], max_in_flight: int | None = None):
        self._at = [start_ns + o for o in offsets_ns]
        self._cap = max_in_flight
        self.released = 0
        self.in_flight = 0
        self.window_start_ns: int | None = None

    def more(self, now_ns: int) -> bool:
        return self.released < len(self._at)

    def due(self, now_ns: int) -> list[Due]:
        out: list[Due] = []
        while (self.released < len(self._at) and self._at[self.released] <= now_ns
               and (self._cap is None or self.in_flight < self._cap)):
            intended = self._at[self.released]
            if self.window_start_ns is None:
                self.window_start_ns = intended
            out.append(Due(self.released, intended, True))
            self.released += 1
            self.in_flight += 1
        return out

    def finished(self, end_ns: int) -> None:
        self.in_flight -= 1

    def next_arrival_ns(self) -> int | None:
        if self.released >= len(self._at) or (self._cap is not None and self.in_flight >= self._cap):
            return None
        return self._at[self.released]
