"""One row per result: its measured figures, the cost basis it is priced with, and what a
million tokens costs on it next to every API price. The dashboard, the one-machine report and
the terminal (`bench run`, `bench results --breakeven`) all price a result here.

The basis, first that applies: --hourly-cost or --capex (for every result), --profile LABEL=NAME,
else the preset matching.py chooses for the detected hardware. Which throughput drives cost: the
highest aggregate output tokens/s among the run's valid request scenarios (see
figures.throughput_source); the row names that scenario.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from contract.result import RunResult
from dashboards import cost
from dashboards.compare import comparison
from dashboards.errors import DashboardError
from dashboards.figures import figures
from dashboards.matching import choose_preset
from dashboards.prices import ApiPrice
from dashboards.profiles import BASES, DEFAULT_USD_PER_KWH, CostProfile

DEFAULT_YEARS = 3.0     # --capex without --years: the 36-month straight line the owned presets use


@dataclass(frozen=True)
class CostSettings:
    ratio: float = cost.DEFAULT_RATIO   # output:input cost ratio r
    basis: str = "on_demand"            # cloud price basis
    utilisation: float | None = None    # None: the profile's own, else 1.0
    usd_per_kwh: float | None = None    # overrides every profile's electricity tariff
    hourly_cost: float | None = None    # your own $ per machine-hour: replaces every result's basis
    capex: float | None = None          # or your purchase price, amortised over `years`, plus power
    years: float | None = None

    def __post_init__(self):
        for name, value in (("--hourly-cost", self.hourly_cost), ("--capex", self.capex), ("--years", self.years)):
            if value is not None and not value > 0:
                raise DashboardError(f"{name} must be above 0, got {value}", f"for example {name} 2")
        if self.hourly_cost is not None and self.capex is not None:
            raise DashboardError("--hourly-cost and --capex are two bases for the same machine: give one",
                                 "drop --capex, or drop --hourly-cost")
        if self.years is not None and self.capex is None:
            raise DashboardError("--years is the amortisation of --capex", "add --capex USD, or drop --years")
        if not self.ratio > 0:
            raise DashboardError(f"--ratio must be above 0, got {self.ratio}", "for example --ratio 4")
        if self.basis not in BASES:
            raise DashboardError(f"unknown price basis {self.basis!r}", f"choose one of {', '.join(BASES)}")
        if self.utilisation is not None and not 0 < self.utilisation <= 1:
            raise DashboardError(f"--utilisation must be in (0, 1], got {self.utilisation}",
                                 "for example --utilisation 0.5 for a machine busy half the time")
        if self.usd_per_kwh is not None and not self.usd_per_kwh > 0:
            raise DashboardError(f"--usd-per-kwh must be above 0, got {self.usd_per_kwh}", "for example 0.15")

    def override(self) -> tuple[CostProfile, str] | None:
        """The basis --hourly-cost or --capex gives every result, with how it was chosen."""
        if self.hourly_cost is not None:
            return CostProfile(name="hourly-cost", title=f"your hourly cost, ${self.hourly_cost:g} per machine-hour",
                               kind="cloud", source="--hourly-cost", per_gpu=False,
                               usd_per_hour=dict.fromkeys(BASES, self.hourly_cost)), "given with --hourly-cost"
        if self.capex is not None:
            years = self.years or DEFAULT_YEARS
            return CostProfile(name="capex", title=f"your machine, ${self.capex:,.0f} over {years:g} years",
                               kind="owned", source="--capex" + (" and --years" if self.years else ""),
                               purchase_usd=self.capex, amortisation_months=12 * years), \
                "given with --capex" + (f" and --years {years:g}" if self.years else f" ({years:g} years by default)")
        return None


def parse_profile_choices(choices: list[str], profiles: dict[str, CostProfile]) -> dict[str, str]:
    """--profile LABEL=NAME options -> {label: profile name}, checked against known profiles."""
    out = {}
    for choice in choices:
        label, sep, name = choice.rpartition("=")     # labels may contain "=", profile names do not
        if not sep or not label.strip() or not name.strip():
            raise DashboardError(f"--profile {choice!r} is not LABEL=NAME", "for example --profile vm=cpu-server")
        if name.strip() not in profiles:
            raise DashboardError(f"unknown cost profile {name.strip()!r}", f"known: {', '.join(profiles)}")
        out[label.strip()] = name.strip()
    return out


def choose_profile(fig: dict, profiles: dict[str, CostProfile], chosen: dict[str, str],
                   settings: CostSettings = CostSettings()) -> tuple[CostProfile | None, str]:
    """(profile, how it was chosen) or (None, why there is none)."""
    override = settings.override()
    if override:
        return override
    if fig["label"] in chosen:
        return profiles[chosen[fig["label"]]], f"chosen with --profile {fig['label']}={chosen[fig['label']]}"
    return choose_preset(fig["machine_for_cost"], profiles)


def _usd(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"${v:,.0f}" if v >= 1000 else f"${v:,.2f}" if v >= 100 else f"${v:.4g}"


def basis_text(profile: CostProfile, hour: cost.MachineHour, u: float, m: dict, basis: str) -> str:
    """What one machine-hour costs and how it adds up, in one line: "cloud on-demand: 2 vCPU x ..."."""
    at = f" at {u:.0%} utilisation"
    if profile.name == "hourly-cost":
        return f"your price: {_usd(hour.at(u))}/h{at}"
    if profile.kind == "owned":
        power = f" + power {_usd(hour.idle_power_usd + u * hour.busy_extra_usd)}/h" \
            if hour.idle_power_usd or hour.busy_extra_usd else ""
        return (f"owned: {_usd(profile.purchase_usd)} over {profile.amortisation_months:g} months = "
                f"{_usd(hour.fixed_usd)}/h{power} = {_usd(hour.at(u))}/h{at}")
    kind = f"cloud {basis.replace('_', '-')}"
    if profile.per_resource:
        vcpu, gib = profile.price(profile.usd_per_vcpu_hour, basis), profile.price(profile.usd_per_gib_hour, basis)
        return (f"{kind}: {m['vcpus']} vCPU x {_usd(vcpu)} + {m['ram_gib']:.1f} GiB x "
                f"{_usd(gib)} = {_usd(hour.at(u))}/h{at}")
    gpus = m["gpu_count"] if profile.per_gpu and m["gpu_count"] > 1 else 1
    each = f"{gpus} GPUs x {_usd(profile.price(profile.usd_per_hour, basis))} = " if gpus > 1 else ""
    return f"{kind}: {each}{_usd(hour.at(u))}/h{at}"


def _power(fig: dict, profile: CostProfile, notes: list[str]) -> tuple[float | None, float | None]:
    """(idle W, active W) for an owned machine: the run's measurements first, profile figures next."""
    active = fig["average_watts"]
    if active is not None:
        covers = ", ".join(fig["energy_covers"]) or "?"
        notes.append(f"busy power {active:.1f} W {fig['energy_method']} over {fig['energy_scenario']}"
                     f"{'' if fig['energy_valid'] else ' (INVALID)'} (covers {covers}, not necessarily the whole "
                     f"machine at the wall)")
    elif profile.active_watts is not None:
        active = profile.active_watts
        notes.append(f"busy power {active:g} W from the profile (its source's figure, not measured in this run)")
    idle = fig["idle_watts"]
    if idle is not None:
        notes.append(f"idle power {idle:.2f} W {fig['idle_method']} in the run's idle baseline")
    elif profile.idle_watts is not None:
        idle = profile.idle_watts
        notes.append(f"idle power {idle:g} W from the profile (its source's figure, not measured in this run)")
    elif active is not None:
        notes.append("idle power unknown: counted at busy power (an upper bound)")
    return idle, active


def electricity(fig: dict, profile: CostProfile | None, settings: CostSettings) -> dict:
    """Electricity alone per 1M output tokens; the tariff and the energy method are named."""
    tariff = settings.usd_per_kwh or (profile.electricity_usd_per_kwh if profile else None)
    assumed = tariff is None
    tariff = tariff or DEFAULT_USD_PER_KWH
    pue = profile.pue if profile else 1.0
    if fig["j_per_token"] is None:
        return {"usd_per_m": None, "why": fig["missing"].get("j_per_token", "no energy per token"),
                "usd_per_kwh": tariff, "tariff_assumed": assumed, "pue": pue, "method": None}
    return {"usd_per_m": cost.electricity_usd_per_million(fig["j_per_token"], tariff, pue), "why": None,
            "usd_per_kwh": tariff, "tariff_assumed": assumed, "pue": pue, "method": fig["energy_method"]}


def price_run(fig: dict, profile: CostProfile, prices: list[ApiPrice], settings: CostSettings,
              how: str = "", compare: bool = True) -> dict:
    """The cost block of a row; raises DashboardError with the reason when it cannot be priced.
    compare=False leaves `apis` and `compare` None, for compare_apis to fill in where they are
    shown (a dashboard of 10,000 runs shows them for its overview rows only)."""
    src = fig["throughput"]
    if src is None:
        raise DashboardError(fig["missing"]["throughput"])
    notes: list[str] = []
    if not src["valid"]:
        notes.append(f"the throughput comes from {src['scenario']}, which is INVALID ("
                     f"{'; '.join(src['invalid_reasons'])}): measure again before relying on this price")
    idle = active = None
    if profile.kind == "owned":
        idle, active = _power(fig, profile, notes)
        if settings.usd_per_kwh is not None:        # --usd-per-kwh is every owned machine's tariff
            profile = replace(profile, electricity_usd_per_kwh=settings.usd_per_kwh)
        if profile.electricity_usd_per_kwh is None:
            notes.append(f"electricity tariff ${DEFAULT_USD_PER_KWH}/kWh assumed (set yours with --usd-per-kwh)")
    m = fig["machine_for_cost"]
    hour = profile.machine_hour(settings.basis, m, idle, active)
    if profile.kind == "cloud" and profile.per_gpu and not profile.per_resource and m["gpu_count"] > 1:
        notes.append(f"price per GPU-hour x {m['gpu_count']} GPUs in the machine")
    if profile.note:
        notes.append(profile.note)
    u = settings.utilisation or profile.utilisation or 1.0
    r = settings.ratio
    out_m = cost.usd_per_million_output(hour, u, src["output_tps"], src["input_tps"], r)
    in_m = cost.usd_per_million_input(out_m, r)
    blended = cost.blended_3_1(in_m, out_m)
    block = {
        "profile": profile.name, "profile_title": profile.title, "profile_kind": profile.kind,
        "profile_source": profile.source, "profile_observed": profile.observed, "profile_how": how,
        "basis": settings.basis if profile.kind == "cloud" else "owned", "utilisation": u, "ratio": r,
        "basis_text": basis_text(profile, hour, u, m, settings.basis),
        "throughput": src,
        "usd_per_hour": hour.at(u),
        "hour": {"fixed": hour.fixed_usd, "idle_power": hour.idle_power_usd, "busy_extra": hour.busy_extra_usd},
        "usd_per_m_output": out_m, "usd_per_m_input": in_m, "usd_per_m_blended": blended,
        "usd_per_1k_tasks": cost.usd_per_1k_tasks(in_m, out_m, src["input_tokens"], src["output_tokens"]),
        "apis": None, "compare": None, "notes": notes,
        "prefix_cache": prefix_cache_saving(fig, hour, u),
    }
    if compare:
        compare_apis(fig, block, prices)
    return block


def compare_apis(fig: dict, block: dict, prices: list[ApiPrice]) -> None:
    """Fill a cost block's `apis` (this run against every API price: $ per 1,000 tasks at the API's
    prices, the break-even utilisation and monthly volume) and `compare` (the cheapest and the
    closest of the rows it is set against), from the machine-hour and throughput the block holds."""
    h, src, r = block["hour"], block["throughput"], block["ratio"]
    hour = cost.MachineHour(fixed_usd=h["fixed"], idle_power_usd=h["idle_power"], busy_extra_usd=h["busy_extra"])
    out_tps, in_tps, in_tokens, out_tokens = src["output_tps"], src["input_tps"], src["input_tokens"], src["output_tokens"]
    # The measured share of input tokens a prefix cache served: an API bills those at its
    # cached-input price where it lists one (the blended 3:1 figures stay list prices).
    share = src.get("cached_input_share") or 0.0
    apis = []
    for p in prices:
        blended = p.blended
        be = cost.break_even(hour, out_tps, in_tps, blended, r)
        apis.append({
            "provider": p.provider, "model": p.model, "blended": blended, "observed": p.observed,
            "model_class": p.model_class, "like_for_like": fig["model"] in p.serves,
            "usd_per_1k_tasks": cost.usd_per_1k_tasks(cost.input_usd_per_m_cached(p.input, p.cached_input, share),
                                                      p.output, in_tokens, out_tokens),
            # how the cached share of the input was priced: None where nothing was cached
            "cached_priced_as": None if not share else "cached input" if p.cached_input is not None else "input",
            "breakeven_utilisation": be.utilisation, "breakeven_tokens_per_month": be.tokens_per_month,
            "never": be.never, "breakeven_needs_utilisation": be.needs,
        })
    block["apis"] = apis
    block["compare"] = comparison(fig, apis, block["usd_per_m_blended"])


def prefix_cache_saving(fig: dict, hour: cost.MachineHour, u: float) -> dict | None:
    """What the prefix cache saved here, estimated: the cached input tokens per request times the
    measured prefill time per token (the run's pp rate), priced at the machine's busy hour. None
    where the engine reported no cache use; the saving None (with why) where nothing measured prefill."""
    src = fig["throughput"]
    share = src.get("cached_input_share")
    if share is None:
        return None
    cached_per_task = share * src["input_tokens"]
    out = {"share": share, "scenario": src["scenario"], "cached_tokens_per_task": cached_per_task,
           "prefill_tps": fig["prefill_tps"], "prefill_scenario": fig["prefill_scenario"],
           "prefill_s_saved_per_1k_tasks": None, "usd_saved_per_1k_tasks": None, "why": None}
    if not fig["prefill_tps"]:
        out["why"] = fig["missing"].get("prefill_tps") or "no prefill rate measured (run a pp scenario beside it)"
        return out
    seconds = cached_per_task / fig["prefill_tps"]
    out["prefill_s_saved_per_1k_tasks"] = 1000 * seconds
    out["usd_saved_per_1k_tasks"] = cost.usd_per_1k_timed_tasks(hour.at(u), u, seconds)
    return out


def _profile_key(fig: dict, chosen: dict[str, str]) -> tuple:
    """What choose_profile's answer depends on besides the profiles and settings: the label where a
    --profile names it, and the machine it matches a preset to."""
    return fig["label"] if fig["label"] in chosen else None, repr(fig["machine_for_cost"])


def build_row(result: RunResult, path: Path | None, profiles: dict[str, CostProfile], chosen: dict[str, str],
              prices: list[ApiPrice], settings: CostSettings, *, compare: bool = True,
              profile_cache: dict | None = None) -> dict:
    """A result's figures and cost. compare=False: the cost block without its API comparisons (see
    price_run). `profile_cache`: a dict kept across the rows of one set of profiles, choices and
    settings, so the machines of many runs are matched to a preset once each."""
    row = figures(result, path)
    if profile_cache is None:
        profile, how = choose_profile(row, profiles, chosen, settings)
    else:
        key = _profile_key(row, chosen)
        if key not in profile_cache:
            profile_cache[key] = choose_profile(row, profiles, chosen, settings)
        profile, how = profile_cache[key]
    row["electricity"] = electricity(row, profile, settings)
    row["cost"] = None
    if not result.scenarios:
        row["cost_na"] = row["missing"]["throughput"]
        return row
    if profile is None:
        row["cost_na"] = how
        return row
    try:
        row["cost"] = price_run(row, profile, prices, settings, how, compare)
        row["cost_na"] = None
    except DashboardError as exc:
        row["cost_na"] = f"{exc} (profile {profile.name})"
    return row


def _finite(value) -> bool:
    """No NaN or infinity anywhere in a JSON-like value (a walk over its floats: a json.dumps per
    row to find out cost a second at 10,000 rows)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float):
            if not math.isfinite(v):
                return False
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return True


def check_finite(row: dict) -> None:
    """ValueError when a figure of the row is NaN or infinite (json.dumps's own error, as the page's
    JSON would raise it). The per-API comparisons, most of a row's bulk, are checked number by
    number (check_apis)."""
    cost = row["cost"]
    lean = dict(row, cost=dict(cost, apis=None, compare=None)) if cost else row
    if not _finite(lean):
        json.dumps(lean, allow_nan=False)
        raise ValueError("a figure is NaN or infinite")     # not reached: json.dumps raised on it above
    check_apis(row)


def check_apis(row: dict) -> None:
    """ValueError when a comparison with an API is NaN or infinite: the price table's own numbers
    were checked when read, so only the computed ones can be (`compare` holds two of these rows)."""
    cost = row["cost"]
    for api in (cost["apis"] or ()) if cost else ():
        for key in ("usd_per_1k_tasks", "breakeven_utilisation", "breakeven_tokens_per_month"):
            if api[key] is not None and not math.isfinite(api[key]):
                raise ValueError(f"{key} against {api['provider']} {api['model']} is {api[key]}")
