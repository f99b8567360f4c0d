"""What the requests of a scenario say about their own figures: was each prompt as long as
asked, and was each token seen when it came?

Input lengths: a request's actual input is what the engine or server counted
(engines.clock.RequestTrace.input_tokens). Requests whose count is unknown, or more than 5% off
the planned length, measured another workload than the one named: their scenario is INVALID
and the reason gives both lengths.

Held-back streams: a server can deliver tokens late and several at once (a detokenizer waiting
for text to decode, a front end starved of CPU, a send buffer filled before the first write).
When that happens at the start, the first token arrives late and the rest follow at once: ttft
is too long and tpot too short, by about the share of the output that came in that first rush;
later in the stream it hides the gaps (and tpot, if the last token is held too).
A request is flagged when its first event and the events right after it that came within 0.1 ms
of the one before (or a tenth of the server's own time per token, if that is longer: far below
any engine's time per token) carry more than a quarter of its output, or when more than half of
its tokens came that way anywhere in the stream. Flagged requests keep their figures, marked
(samples["held_back"]); where they are over 5% of a scenario's requests, the scenario is INVALID
and the reason names the cause.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from statistics import fmean

from contract.result import PrefixCache
from engines.clock import RequestTrace

INPUT_TOLERANCE = 0.05
BURST_GAP_S = 1e-4
LEADING_SHARE = 0.25
BURST_SHARE = 0.5
MATERIAL_SHARE = 0.05


@dataclass(frozen=True)
class Delivery:
    """How one request's tokens arrived."""
    first_event_tokens: int | None      # None when the server did not say (and there were several events)
    leading_tokens: int | None          # the first event and the rush right after it
    burst_tokens: int                   # tokens of events that came within the burst gap of the one before
    held_back: bool


def _burst_gap_ns(trace: RequestTrace) -> float:
    """0.1 ms, or a tenth of the server's own decode time per token where it reports one."""
    t = trace.server_timings or {}
    per_token_s = t["decode_ms"] / 1e3 / t["decode_tokens"] if t.get("decode_ms") and t.get("decode_tokens") else 0.0
    return max(BURST_GAP_S, per_token_s / 10) * 1e9


def delivery(trace: RequestTrace) -> Delivery:
    events, n = trace.event_ns, trace.output_tokens or 0
    counts = trace.event_tokens
    if counts is None and n == len(events):
        counts = [1] * len(events)
    gap = _burst_gap_ns(trace)
    rushed = [events[i] - events[i - 1] < gap for i in range(1, len(events))]
    if counts is None:       # several tokens in some events, which ones unknown: only a lone event says
        first = lead = n if len(events) == 1 else None
        burst = sum(rushed)
    else:
        first = counts[0]
        run = next((i for i, r in enumerate(rushed) if not r), len(rushed))
        lead = sum(counts[:run + 1])
        burst = sum(c for c, r in zip(counts[1:], rushed, strict=True) if r)
    held = n >= 2 and ((lead is not None and lead > max(1, LEADING_SHARE * n)) or burst > BURST_SHARE * n)
    return Delivery(first, lead, burst, held)


def check_requests(ok: list[RequestTrace]) -> tuple[dict, list[str], list[bool]]:
    """(accounting figures, validity reasons, held-back flag per request) for a scenario's
    successful measured requests."""
    reasons: list[str] = []
    n = len(ok)
    asked = [t.input_asked for t in ok if t.input_asked]
    # (asked, counted) for the requests whose input was counted
    known = [(t.input_asked, t.input_tokens) for t in ok if t.input_tokens is not None]
    off = [(a, k) for a, k in known if a and abs(k - a) > INPUT_TOLERANCE * a]
    asked_mean = fmean(asked) if asked else None
    actual_mean = fmean(k for _, k in known) if known else None
    if n and len(known) < n:
        reasons.append(f"input length unknown for {n - len(known)} of {n} requests (asked {asked_mean:.0f} tokens "
                       "on average): the server reported no prompt token count and the prompt could not be counted")
    if off:
        reasons.append(f"input length more than {INPUT_TOLERANCE:.0%} off in {len(off)} of {n} requests: asked "
                       f"{fmean(a for a, _ in off):.0f}, actual {fmean(k for _, k in off):.0f} "
                       "tokens on average")

    shapes = [delivery(t) for t in ok]
    flagged = [s for s in shapes if s.held_back]
    if n and len(flagged) > MATERIAL_SHARE * n:
        causes = []
        firsts = [s.first_event_tokens for s in flagged if s.first_event_tokens and s.first_event_tokens > 1]
        leads = [s.leading_tokens for s in flagged if s.leading_tokens and s.leading_tokens > 1]
        if firsts:
            causes.append(f"a first event carrying up to {max(firsts)} tokens")
        if leads and max(leads) > max(firsts, default=0):
            causes.append(f"the first token arriving with up to {max(leads) - 1} more within "
                          f"{BURST_GAP_S * 1e3:g} ms of each other")
        # an uncounted output is 0 tokens, as delivery() takes it
        if any(s.burst_tokens > BURST_SHARE * (t.output_tokens or 0) for s, t in zip(shapes, ok, strict=True) if s.held_back):
            causes.append(f"most tokens arriving within {BURST_GAP_S * 1e3:g} ms of the one before")
        reasons.append(f"{len(flagged)} of {n} requests streamed held back ({' and '.join(causes)}): their token "
                       "timing (ttft, tpot, gaps) shows when the server let tokens out, not when it generated them")

    cached = [t.cached_input_tokens for t in ok if t.cached_input_tokens is not None]
    accounting = {
        "input_known": len(known),
        "input_sources": dict(Counter(t.input_source for t in ok if t.input_tokens is not None)),
        "input_asked_mean": asked_mean,
        "input_actual_mean": actual_mean,
        "input_off_by_more_than_5pct": len(off),
        # A cached prefix is not prefilled: ttft then looks faster than the prompt length implies.
        "prompt_cache_reported": len(cached),
        "prompt_cache_hits": sum(c > 0 for c in cached),
        "cached_input_tokens": sum(cached) if cached else None,
        "held_back": len(flagged),
        "event_token_counts": "server" if ok and all(t.event_tokens is not None for t in ok) else "inferred",
    }
    return accounting, reasons, [s.held_back for s in shapes]


def prefix_cache(ok: list[RequestTrace]) -> PrefixCache:
    """The prefix-cache hit rate of these requests: cached input tokens / input tokens over the
    requests whose engine or server said how many of their input tokens were cached (the rest
    say nothing, which is not 0)."""
    told = [t for t in ok if t.cached_input_tokens is not None and t.input_tokens]
    if not told:
        why = ("no successful measured request" if not ok else
               "the engine reported no cached input tokens for any request (a server says them in "
               "usage.prompt_tokens_details.cached_tokens or llama.cpp's timings.cache_n)")
        return PrefixCache(requests=len(ok), why_none=why)
    cached = sum(t.cached_input_tokens or 0 for t in told)
    total = sum(t.input_tokens or 0 for t in told)
    return PrefixCache(hit_rate=cached / total, cached_input_tokens=cached, input_tokens=total,
                       requests_reported=len(told), requests=len(ok))
