"""One load level (a concurrency or a Poisson rate of one profile) and what it measured.

The measured window starts at the intended send of the first measured request, after the
warm-up requests (the opening wave, whose latencies are unlike steady state), and ends when
the level's last request ends. Warm-up is excluded at the token-event level: aggregate
`output_tps` counts every token event of a successful request that falls inside the window,
whichever request it belongs to, so work done in the window is neither dropped nor counted
twice. Per-request figures (ttft, tpot, e2e, queue wait) come from the measured requests.
A level is one entry of result["scenarios"]; its energy window is the measured window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from contract.enums import Verdict
from contract.result import (
    EnergyWindow,
    LevelParams,
    LoadLevelEntry,
    Roofline,
    SearchSummary,
    SloSearchEntry,
    SloVerdict,
    Validity,
)
from contract.validity import COMPLETED, scenario_validity
from engines.clock import RequestTrace
from engines.stats import summarize
from scenarios.definitions import LoadScenario
from scenarios.slo import FAR_FACTOR, judge
from scenarios.stream_checks import check_requests, prefix_cache

MAX_RAW_GAPS = 20_000
MAX_ERROR_EXAMPLES = 20
# An HTTP client busier than this (fraction of one core) adds its own delay to every figure.
CLIENT_CPU_LIMIT = 0.9


@dataclass(frozen=True)
class Level:
    scenario: LoadScenario
    value: float                    # users (closed loop) or requests/s (Poisson)
    searched: bool = False          # picked by an SLO search

    @property
    def kind(self) -> str:
        return self.scenario.mode

    @property
    def name(self) -> str:
        if self.kind == "concurrency":
            return f"{self.scenario.name}@c{int(self.value)}"
        return f"{self.scenario.name}@r{self.value:g}"

    @property
    def warmup(self) -> int:
        """The opening wave: one request per user; for Poisson, the first second of arrivals
        (at most as many as may be in flight)."""
        if self.kind == "concurrency":
            return int(self.value)
        return max(1, min(math.ceil(self.value), self.scenario.max_in_flight))

    @property
    def min_requests(self) -> int:
        """Measured requests: --requests, else four per user, or ten seconds of arrivals (at least 8)."""
        if self.scenario.requests is not None:
            return self.scenario.requests
        return max(8, 4 * int(self.value) if self.kind == "concurrency" else math.ceil(10 * self.value))

    @property
    def in_flight_cap(self) -> int:
        return int(self.value) if self.kind == "concurrency" else self.scenario.max_in_flight

    def params(self) -> LevelParams:
        """The level's entry's params: the contract's, with how it was run beside them."""
        sc = self.scenario
        return LevelParams.model_validate({
            "scenario": sc.name, "mode": self.kind,
            ("concurrency" if self.kind == "concurrency" else "rate_per_s"): self.value,
            "searched": self.searched, "profile": sc.profile.to_dict(), "slo": sc.slo,
            "warmup_requests": self.warmup, "min_requests": self.min_requests,
            "max_requests": max(self.min_requests, sc.max_requests), "min_duration_s": sc.min_duration_s,
            "max_in_flight": self.in_flight_cap, "seed": sc.seed})


@dataclass
class LevelRecord:
    scenario: Level
    traces: list[RequestTrace] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    energy: EnergyWindow | None = None
    roofline: Roofline | None = None     # a load level has none: aggregate decode is not bound by one stream's bytes
    note: str | None = None          # why a sweep or search stopped here
    client_cpu_fraction: float | None = None   # HTTP levels: the client process's CPU use

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def planned(self) -> int:
        return self.scenario.warmup + self.scenario.min_requests

    # -- the window -----------------------------------------------------------------------
    def _window_ns(self) -> tuple[int, int] | None:
        measured = [t.intended_ns for t in self.traces if t.measured]
        ends = [t.end_ns for t in self.traces if t.end_ns is not None]
        if not measured or not ends or max(ends) <= min(measured):
            return None
        return min(measured), max(ends)

    @property
    def output_tokens(self) -> int:
        """Output tokens produced inside the measured window (what energy per token divides)."""
        window = self._window_ns()
        if window is None:
            return 0
        total = 0.0
        for t in self.traces:
            if t.ok and t.output_tokens:
                # Over HTTP one event may carry several tokens: spread them evenly over the events.
                per_event = t.output_tokens / len(t.event_ns)
                total += per_event * sum(1 for ns in t.event_ns if ns >= window[0])
        return round(total)

    @property
    def window_s(self) -> float | None:
        window = self._window_ns()
        return (window[1] - window[0]) / 1e9 if window else None

    def energy_tokens(self) -> tuple[str, int]:
        return "output", self.output_tokens

    def decode_rate(self) -> None:
        """None: aggregate decode under load is not bound by one stream's bytes per token."""
        return None

    def verdict(self) -> SloVerdict:
        measured = [t for t in self.traces if t.measured]
        ok = [t for t in measured if t.ok]
        ttfts = [t.ttft_s for t in ok if t.ttft_s is not None]
        assert len(ttfts) == len(ok), "an ok request has a first token, so a ttft"
        return judge(self.scenario.scenario.slo, ttfts, [t.tpot_s for t in ok], len(measured) - len(ok))

    # -- the result entry -------------------------------------------------------------------
    def to_entry(self) -> LoadLevelEntry:
        """The level as its result entry (the contract's)."""
        measured = [t for t in self.traces if t.measured]
        ok = [t for t in measured if t.ok]
        failed = [t for t in self.traces if t.end_ns is not None and not t.ok]
        accounting, reasons, held_back = check_requests(ok)
        samples: dict[str, Sequence[float | None]] = {
            "input_tokens": [t.input_tokens for t in ok],
            "input_asked_tokens": [t.input_asked for t in ok],
            "cached_input_tokens": [t.cached_input_tokens for t in ok],
            "output_tokens": [t.output_tokens for t in ok],
            "held_back": held_back,             # such a request's ttft and tpot time the server's buffering
            "max_event_gap_s": [t.max_event_gap_s for t in ok],
            "ttft_s": [t.ttft_s for t in ok],
            "tpot_s": [t.tpot_s for t in ok],
            "e2e_s": [t.e2e_s for t in ok],
            "queue_wait_s": [t.queue_wait_s for t in ok],
            "decode_tps": [1 / t.tpot_s if t.tpot_s else None for t in ok],
            "prefill_tps": [t.input_tokens / t.ttft_s if t.input_tokens and t.ttft_s else None for t in ok],
        }
        # Gaps between events are inter-token gaps only where each event carried one token.
        gaps = [(b - a) / 1e9 for t in ok if t.one_token_per_event for a, b in pairwise(t.event_ns)]
        summary: dict[str, Any] = {k: summarize(v) for k, v in samples.items() if k in _SUMMARISED}
        summary["inter_token_gap_s"] = summarize(gaps)
        window = self.window_s
        verdict = self.verdict()
        summary.update({
            "output_tps": self.output_tokens / window if window else None,
            "requests_per_s": len(ok) / window if window else None,
            "goodput": verdict.good_requests / window if window else None,
            "goodput_fraction": verdict.good_fraction,
            "mean_in_flight": self._mean_in_flight(),
            "client_cpu_fraction": self.client_cpu_fraction,
            "errors": {"count": len(failed), "measured": sum(t.measured for t in failed),
                       "by_kind": dict(Counter(t.error_kind for t in failed))},
            "slo": verdict,
            "token_accounting": {
                "output_sources": dict(Counter(t.output_source for t in ok)),
                **accounting,
                "events_not_one_token_each": sum(not t.one_token_per_event for t in ok),
                "shorter_than_asked": sum(t.output_tokens is not None and t.output_tokens < t.max_tokens for t in ok),
            },
            "prefix_cache": prefix_cache(ok),
        })
        if len(gaps) <= MAX_RAW_GAPS:
            samples["inter_token_gap_s"] = gaps
        server = [t.server_timings for t in ok if t.server_timings]
        validity = scenario_validity(self.status, len(ok), None, len(failed))
        reasons += client_reasons(self.client_cpu_fraction)
        if reasons:
            validity = Validity(verdict=Verdict.INVALID, reasons=validity.reasons + reasons)
        return LoadLevelEntry(
            name=self.name,
            kind=self.scenario.kind,
            params=self.scenario.params(),
            status=self.status,
            error=self.error,
            note=self.note,
            samples=samples,
            errors=error_examples(failed),
            summary=summary,
            measured_requests=len(measured),
            measured_output_tokens=self.output_tokens,
            measured_window_s=window,
            engine_reported=server or None,
            engine_cross_check=server_cross_check(ok),
            energy=self.energy,
            # Spread is not a validity test here: lengths vary by design, so latencies do too.
            validity=validity,
            roofline=self.roofline,
        )

    def _mean_in_flight(self) -> float | None:
        """Average requests in flight (sent, not ended) over the window: for Poisson levels, the
        concurrency the arrivals made."""
        window = self._window_ns()
        if window is None:
            return None
        busy = sum(max(0, min(t.end_ns, window[1]) - max(t.sent_ns, window[0]))
                   for t in self.traces if t.end_ns is not None and t.sent_ns is not None)
        return busy / (window[1] - window[0])


_SUMMARISED = ("ttft_s", "tpot_s", "e2e_s", "queue_wait_s", "decode_tps", "prefill_tps")


def client_reasons(cpu_fraction: float | None) -> list[str]:
    """An HTTP client busier than CLIENT_CPU_LIMIT of a core set the pace itself."""
    if cpu_fraction is not None and cpu_fraction > CLIENT_CPU_LIMIT:
        return [f"client saturated ({cpu_fraction:.0%} of a core): its own delay is in the figures"]
    return []


def error_examples(failed: list[RequestTrace]) -> list[dict]:
    return [{"index": t.index, "warmup": not t.measured, "kind": t.error_kind, "message": t.error}
            for t in failed[:MAX_ERROR_EXAMPLES]]


def server_cross_check(ok: list[RequestTrace]) -> dict | None:
    """The server's own decode timing of the same requests against our tpot (llama.cpp server)."""
    pairs = [(t.server_timings["decode_ms"] / 1e3 / t.server_timings["decode_tokens"], t.tpot_s) for t in ok
             if t.server_timings and t.server_timings.get("decode_ms") and t.server_timings.get("decode_tokens")
             and t.tpot_s]
    if not pairs:
        return None
    server = sum(p[0] for p in pairs) / len(pairs)
    client = sum(p[1] for p in pairs) / len(pairs)
    return {"server_tpot_s_mean": server, "client_tpot_s_mean": client, "requests": len(pairs),
            "relative_difference": (client - server) / server}


def sweep_stop(record: LevelRecord, rest: Sequence[float]) -> str | None:
    """Why a sweep runs none of the levels `rest` after `record`'s (its note), or None: the level
    did not complete, or it was far past its SLO (latency over FAR_FACTOR x, or most requests
    failed), where more users or a higher rate can only be worse."""
    if not rest:
        return None
    left = ", ".join(f"{v:g}" for v in rest)
    if record.status != COMPLETED:
        return f"sweep stopped: this level {record.status}; not run: {left}"
    if record.verdict().far_past:
        return f"sweep stopped: latency over {FAR_FACTOR:g}x the SLO or most requests failed; not run: {left}"
    return None


@dataclass
class SearchRecord:
    """The answer of an SLO search: the highest level that met the SLO, and its goodput."""
    scenario: LoadScenario
    outcome: SearchSummary
    best: LevelRecord | None
    status: str = COMPLETED
    error: str | None = None
    energy: EnergyWindow | None = None
    roofline: Roofline | None = None

    @property
    def name(self) -> str:
        return f"{self.scenario.name}@slo-search"

    def to_entry(self) -> SloSearchEntry:
        """The search's answer as its result entry (the contract's)."""
        best = self.best.to_entry().summary if self.best else None
        reasons = [] if self.status == COMPLETED else [f"search {self.status}"]
        return SloSearchEntry(
            name=self.name,
            kind="slo-search",
            params={"scenario": self.scenario.name, "mode": self.scenario.mode, "slo": self.scenario.slo.model_dump()},
            status=self.status,
            error=self.error,
            samples={},
            # best is None when no level met the SLO: a finding, not a failure of the search.
            summary=self.outcome.model_copy(update={"best_level": self.best.name if self.best else None,
                                                    "goodput": best.goodput if best else None}),
            energy=None,
            validity={"verdict": "INVALID" if reasons else "VALID", "reasons": reasons},
            roofline=self.roofline,
        )
