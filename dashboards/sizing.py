"""How many boxes a demand needs, what they cost a month, and what an API would bill for the same
requests: the arithmetic of `bench size`, no I/O.

A demand is requests per day of one workload (mean input and output tokens per request), spread
over the day's 24 hours by a shape. The boxes are sized for the peak hour: a box serves at most its
capacity, the highest request rate it held within the SLO, so the peak needs
ceil(peak requests/s / capacity) boxes, one more with N+1. Over the day they are busy a fraction

    u = mean requests/s / (serving boxes x capacity)

of the time, and a month of them costs boxes x 730 h x H(u) (dashboards/cost.py: rent, or the
purchase spread over its months plus electricity at idle power all the time and the extra busy
power for the busy fraction). The capacity's 95% interval gives the band: its low end needs the
most boxes. A month is 730 h (8,760 h / 12), the month cost.py amortises over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dashboards.cost import HOURS_PER_MONTH, MILLION, MachineHour

DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0
SECONDS_PER_DAY = 86400.0

# Office hours: our assumption, stated wherever it is used: 80% of a day's requests in the nine
# hours 09:00-18:00, the rest spread evenly over the other fifteen.
_OFFICE = tuple(0.8 / 9 if 9 <= h < 18 else 0.2 / 15 for h in range(24))
SHAPES = {"flat": tuple(1.0 / 24 for _ in range(24)), "office-hours": _OFFICE}


def day_shape(spec: str) -> tuple[float, ...]:
    """`flat`, `office-hours`, or 24 comma-separated hourly weights (any scale), as shares of a day."""
    if spec in SHAPES:
        return SHAPES[spec]
    try:
        weights = [float(w) for w in spec.split(",")]
    except ValueError:
        weights = []
    if len(weights) != 24 or min(weights) < 0 or sum(weights) <= 0 or not all(map(math.isfinite, weights)):
        raise ValueError(f"cannot read the day's shape {spec!r}: use {' or '.join(SHAPES)}, or 24 comma-separated "
                         "non-negative hourly weights")
    total = sum(weights)
    return tuple(w / total for w in weights)


@dataclass(frozen=True)
class Demand:
    requests_per_day: float
    input_tokens: float                 # mean per request
    output_tokens: float
    shape: tuple[float, ...] = SHAPES["flat"]    # each hour's share of the day's requests

    @property
    def peak_rps(self) -> float:
        return self.requests_per_day * max(self.shape) / 3600.0

    @property
    def mean_rps(self) -> float:
        return self.requests_per_day / SECONDS_PER_DAY

    @property
    def tokens_per_month(self) -> float:
        return self.requests_per_day * DAYS_PER_MONTH * (self.input_tokens + self.output_tokens)


@dataclass(frozen=True)
class Capacity:
    """Requests/s one box holds within the SLO, with its 95% interval."""
    requests_per_s: float
    low: float
    high: float


def rate_interval(count: int, seconds: float) -> tuple[float, float]:
    """95% interval of a rate measured as `count` completions in `seconds` (Garwood's exact
    Poisson interval): what the level's own count of requests says about its rate."""
    from scipy.stats import chi2

    low = chi2.ppf(0.025, 2 * count) / 2 if count > 0 else 0.0
    high = chi2.ppf(0.975, 2 * count + 2) / 2
    return low / seconds, high / seconds


@dataclass(frozen=True)
class Sizing:
    """One capacity's answer: boxes, their busy fraction and what they cost a month."""
    boxes: int
    utilisation: float
    usd_per_month: float
    usd_per_m_tokens: float


def boxes_needed(peak_rps: float, capacity_rps: float, n_plus_one: bool = False) -> int:
    serving = max(1, math.ceil(peak_rps / capacity_rps - 1e-9))     # 1e-9: 2.0000000001 boxes is 2
    return serving + (1 if n_plus_one else 0)


def size_at(demand: Demand, capacity_rps: float, hour: MachineHour, n_plus_one: bool = False) -> Sizing:
    boxes = boxes_needed(demand.peak_rps, capacity_rps, n_plus_one)
    u = demand.mean_rps / (boxes * capacity_rps)          # the spare of N+1 counts: it is paid for too
    usd = boxes * HOURS_PER_MONTH * hour.at(u)
    return Sizing(boxes, u, usd, usd * MILLION / demand.tokens_per_month)


@dataclass(frozen=True)
class Plan:
    """The answer at the measured capacity, and at the ends of its interval: `worst` at the low
    end (most boxes), `best` at the high end."""
    central: Sizing
    worst: Sizing
    best: Sizing


def plan(demand: Demand, capacity: Capacity, hour: MachineHour, n_plus_one: bool = False) -> Plan:
    return Plan(size_at(demand, capacity.requests_per_s, hour, n_plus_one),
                size_at(demand, capacity.low, hour, n_plus_one),
                size_at(demand, capacity.high, hour, n_plus_one))


def api_usd_per_month(demand: Demand, input_usd_per_m: float, output_usd_per_m: float) -> float:
    """What an API bills a month for the same requests at its list prices."""
    per_request = (demand.input_tokens * input_usd_per_m + demand.output_tokens * output_usd_per_m) / MILLION
    return demand.requests_per_day * DAYS_PER_MONTH * per_request


def owning_wins_above(demand: Demand, capacity_rps: float, hour: MachineHour, input_usd_per_m: float,
                      output_usd_per_m: float, n_plus_one: bool = False, most_boxes: int = 10_000) -> float | None:
    """The requests per day (of this workload and shape) above which the boxes cost less a month
    than the API; None when no number of boxes up to `most_boxes` does.

    With k serving boxes (demand up to k x capacity at the peak), the month's cost is linear in the
    demand D: boxes x 730 x (fixed + idle + u(D) x busy_extra), u(D) = D / 86,400 / (boxes x
    capacity); the API's is a x D. So within each k the boxes win above one D, if at all."""
    per_request = api_usd_per_month(Demand(1.0, demand.input_tokens, demand.output_tokens), input_usd_per_m,
                                    output_usd_per_m)           # $/month for one request a day
    peak_share = max(demand.shape)
    top = 0.0                                                  # the demand k - 1 serving boxes hold
    for k in range(1, most_boxes + 1):
        boxes = k + (1 if n_plus_one else 0)
        limit = k * capacity_rps * 3600.0 / peak_share
        fixed = boxes * HOURS_PER_MONTH * (hour.fixed_usd + hour.idle_power_usd)
        slope = per_request - HOURS_PER_MONTH * hour.busy_extra_usd / (SECONDS_PER_DAY * capacity_rps)
        if slope > 0:
            above = max(fixed / slope, top)
            if above <= limit:
                return above
        top = limit
    return None


def demand_of_trace(times_s: list[float], input_tokens: list[int], output_tokens: list[int]) -> Demand:
    """The demand a trace shows: its requests a day (its count over its span), its mean lengths,
    and its day's shape by hour of day on the trace's clock, each hour's count over the days the
    span covered it; an hour the trace never covered takes the mean of those it did (flat where
    the trace says nothing)."""
    span = times_s[-1] - times_s[0]
    if span <= 0:
        raise ValueError("the trace's requests all have one timestamp: no rate to read")
    covered = [0.0] * 24
    counts = [0] * 24
    for t in times_s:
        counts[int(t // 3600) % 24] += 1
    # the seconds of each hour of day inside [first, last]
    t = times_s[0]
    while t < times_s[-1]:
        hour_end = (t // 3600 + 1) * 3600
        covered[int(t // 3600) % 24] += min(hour_end, times_s[-1]) - t
        t = hour_end
    rates = [counts[h] / covered[h] if covered[h] > 0 else None for h in range(24)]
    known = [r for r in rates if r is not None]
    fill = sum(known) / len(known)
    weights = [r if r is not None else fill for r in rates]
    total = sum(weights)
    shape = tuple(w / total for w in weights) if total > 0 else SHAPES["flat"]
    n = len(times_s)
    return Demand(n / span * SECONDS_PER_DAY, sum(input_tokens) / n, sum(output_tokens) / n, shape)
