"""What a million tokens costs on a machine: the arithmetic only, no I/O.

One machine-hour costs H(u) dollars at utilisation u (the fraction of the hours the machine is
held that it spends generating at the measured throughput):

    H(u) = fixed + idle_power + u * busy_extra_power

`fixed` is the rent per hour (cloud: per machine, per GPU times the GPUs, or per vCPU and per GiB
of RAM times the machine's), or the purchase price spread over the amortisation months of 730
hours (owned, straight line). Electricity is paid separately only for owned machines:
idle watts all the time, plus the extra watts above idle while busy, times PUE and the tariff.

Splitting an hour between input and output tokens (the GKE Inference Quickstart method): an
input token is priced at 1/r of an output token (r = output:input cost ratio, default 4).
In one busy second the machine reads I input tokens and writes O output tokens, so

    $/output token = H / 3600 / (O + I / r)       $/input token = $/output token / r

and the two together pay exactly for the hour. Blended = (3 x input + 1 x output) / 4, the same
3:1 mix Artificial Analysis uses for API prices, so the two can be compared directly.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_MONTH = 730.0     # 8,760 h / 12, the month used for straight-line amortisation
MILLION = 1e6
JOULES_PER_KWH = 3.6e6
DEFAULT_RATIO = 4.0         # output:input cost ratio r (GKE Inference Quickstart default)


def blended_3_1(input_usd: float, output_usd: float) -> float:
    """Blended $/1M tokens for a 3 input : 1 output mix."""
    return (3 * input_usd + output_usd) / 4


@dataclass(frozen=True)
class MachineHour:
    """The cost of holding one machine for one hour, split by what depends on utilisation."""

    fixed_usd: float            # rent, or amortised purchase: paid whether busy or idle
    idle_power_usd: float = 0.0  # electricity at idle power for the hour (owned machines)
    busy_extra_usd: float = 0.0  # extra electricity for an hour spent busy instead of idle

    def at(self, utilisation: float) -> float:
        return self.fixed_usd + self.idle_power_usd + utilisation * self.busy_extra_usd


def cloud_hour(usd_per_hour: float) -> MachineHour:
    """Rented: the price includes power and facility."""
    return MachineHour(fixed_usd=usd_per_hour)


def resource_hour(vcpus: float, ram_gib: float, usd_per_vcpu_hour: float, usd_per_gib_hour: float) -> MachineHour:
    """Rented by the resource, as cloud list prices are built: vCPUs x rate + GiB of RAM x rate."""
    return MachineHour(fixed_usd=vcpus * usd_per_vcpu_hour + ram_gib * usd_per_gib_hour)


def owned_hour(purchase_usd: float, amortisation_months: float, usd_per_kwh: float, pue: float,
               idle_watts: float, active_watts: float) -> MachineHour:
    """Owned: straight-line amortisation plus wall power x PUE at the tariff."""
    kwh_usd = usd_per_kwh * pue / 1000.0          # $ per watt-hour, facility overhead included
    return MachineHour(
        fixed_usd=purchase_usd / (amortisation_months * HOURS_PER_MONTH),
        idle_power_usd=idle_watts * kwh_usd,
        busy_extra_usd=max(active_watts - idle_watts, 0.0) * kwh_usd,
    )


def output_equivalent_tps(output_tps: float, input_tps: float, ratio: float) -> float:
    """Tokens per second counted in output tokens: an input token weighs 1/r."""
    return output_tps + input_tps / ratio


def usd_per_million_output(hour: MachineHour, utilisation: float, output_tps: float, input_tps: float,
                           ratio: float = DEFAULT_RATIO) -> float:
    q = output_equivalent_tps(output_tps, input_tps, ratio)
    return hour.at(utilisation) * MILLION / (3600.0 * utilisation * q)


def usd_per_million_input(usd_per_million_output_: float, ratio: float = DEFAULT_RATIO) -> float:
    return usd_per_million_output_ / ratio


def electricity_usd_per_million(joules_per_token: float, usd_per_kwh: float, pue: float = 1.0) -> float:
    """Electricity alone for 1M tokens at the measured (or estimated) energy per token."""
    return joules_per_token * MILLION / JOULES_PER_KWH * usd_per_kwh * pue


def usd_per_1k_tasks(input_usd_per_m: float, output_usd_per_m: float, input_tokens: float,
                     output_tokens: float) -> float:
    """1,000 requests of a workload shape (tokens in, tokens out per request)."""
    return 1000.0 * (input_tokens * input_usd_per_m + output_tokens * output_usd_per_m) / MILLION


def input_usd_per_m_cached(input_usd_per_m: float, cached_usd_per_m: float | None, cached_share: float) -> float:
    """$/1M input tokens of a workload whose `cached_share` of input tokens an API serves from its
    prompt cache at its cached-input price (its input price where it lists none)."""
    cached = input_usd_per_m if cached_usd_per_m is None else cached_usd_per_m
    return (1 - cached_share) * input_usd_per_m + cached_share * cached


def usd_per_1k_timed_tasks(usd_per_hour: float, utilisation: float, busy_s_per_task: float) -> float:
    """1,000 tasks that each keep the machine busy for `busy_s_per_task` seconds: a busy hour
    costs H(u) / u when only a fraction u of the hours held are busy."""
    return 1000.0 * busy_s_per_task * usd_per_hour / (3600.0 * utilisation)


@dataclass(frozen=True)
class BreakEven:
    """Against one API price, with the machine held all month (730 h).

    `utilisation`: the busy fraction above which self-hosting is cheaper than the API.
    `tokens_per_month`: the monthly volume (3 input : 1 output) at that utilisation, i.e. the
    volume at which the month's machine cost equals the API bill. None with `never` when one
    machine cannot beat the API at any utilisation; `needs`: the utilisation it would take, above
    1, when that is why.
    """

    utilisation: float | None
    tokens_per_month: float | None
    never: str | None = None
    needs: float | None = None


def break_even(hour: MachineHour, output_tps: float, input_tps: float, api_blended_usd: float,
               ratio: float = DEFAULT_RATIO) -> BreakEven:
    # Self-hosted blended price at utilisation u is k * H(u) / u; solve k * H(u) / u = API price.
    q = output_equivalent_tps(output_tps, input_tps, ratio)
    k = MILLION * (3.0 / ratio + 1.0) / (4.0 * 3600.0 * q)
    margin = api_blended_usd - k * hour.busy_extra_usd
    if margin <= 0:
        return BreakEven(None, None, "the electricity for each token alone costs more than this API")
    u = k * (hour.fixed_usd + hour.idle_power_usd) / margin
    if u > 1.0:
        return BreakEven(None, None, f"would need {u:.0%} utilisation; one machine tops out at 100%", u)
    return BreakEven(u, HOURS_PER_MONTH * hour.at(u) * MILLION / api_blended_usd)
