"""One dashboard row per result: its measured figures, the cost profile it is priced with,
and what a million tokens costs on it next to every API price.

Which throughput drives cost: the highest aggregate output tokens/s among the run's valid
request scenarios (see figures.throughput_source); the row names that scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dashboards import cost
from dashboards.errors import DashboardError
from dashboards.figures import figures
from dashboards.prices import ApiPrice
from dashboards.profiles import BASES, DEFAULT_USD_PER_KWH, CostProfile, match_profile


@dataclass(frozen=True)
class CostSettings:
    ratio: float = cost.DEFAULT_RATIO   # output:input cost ratio r
    basis: str = "on_demand"            # cloud price basis
    utilisation: float | None = None    # None: the profile's own, else 1.0
    usd_per_kwh: float | None = None    # overrides every profile's electricity tariff

    def __post_init__(self):
        if not self.ratio > 0:
            raise DashboardError(f"--ratio must be above 0, got {self.ratio}", "for example --ratio 4")
        if self.basis not in BASES:
            raise DashboardError(f"unknown price basis {self.basis!r}", f"choose one of {', '.join(BASES)}")
        if self.utilisation is not None and not 0 < self.utilisation <= 1:
            raise DashboardError(f"--utilisation must be in (0, 1], got {self.utilisation}",
                                 "for example --utilisation 0.5 for a machine busy half the time")
        if self.usd_per_kwh is not None and not self.usd_per_kwh > 0:
            raise DashboardError(f"--usd-per-kwh must be above 0, got {self.usd_per_kwh}", "for example 0.15")


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


def choose_profile(fig: dict, profiles: dict[str, CostProfile],
                   chosen: dict[str, str]) -> tuple[CostProfile | None, str]:
    """(profile, how it was chosen) or (None, why there is none)."""
    if fig["label"] in chosen:
        return profiles[chosen[fig["label"]]], f"chosen with --profile {fig['label']}={chosen[fig['label']]}"
    found = match_profile(fig["device_name"], profiles)
    if found:
        return found, f"matched to the detected {fig['device_name']}"
    return None, (f"no cost profile for {fig['label']}: pass bench dashboard --profile {fig['label']}=NAME, "
                  f"presets in bench prices --profiles")


def _power(fig: dict, profile: CostProfile, notes: list[str]) -> tuple[float | None, float | None]:
    """(idle W, active W) for an owned machine: the run's measurements first, profile figures next."""
    active = fig["average_watts"]
    if active is not None:
        covers = ", ".join(fig["energy_covers"]) or "?"
        notes.append(f"busy power {active:.1f} W {fig['energy_method']} over {fig['energy_scenario']} "
                     f"(covers {covers}, not necessarily the whole machine at the wall)")
    elif profile.active_watts is not None:
        active = profile.active_watts
        notes.append(f"busy power {active:g} W from the profile (spec figure, not measured)")
    idle = fig["idle_watts"]
    if idle is not None:
        notes.append(f"idle power {idle:.2f} W {fig['idle_method']} in the run's idle baseline")
    elif profile.idle_watts is not None:
        idle = profile.idle_watts
        notes.append(f"idle power {idle:g} W from the profile (spec figure, not measured)")
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


def price_run(fig: dict, profile: CostProfile, prices: list[ApiPrice], settings: CostSettings) -> dict:
    """The cost block of a row; raises DashboardError with the reason when it cannot be priced."""
    src = fig["throughput"]
    if src is None:
        raise DashboardError(fig["missing"]["throughput"])
    notes: list[str] = []
    idle = active = None
    if profile.kind == "owned":
        idle, active = _power(fig, profile, notes)
        if profile.electricity_usd_per_kwh is None and settings.usd_per_kwh is None:
            notes.append(f"electricity tariff ${DEFAULT_USD_PER_KWH}/kWh assumed (set yours in a profile)")
    hour = profile.machine_hour(settings.basis, fig["gpu_count"], idle, active)
    if profile.kind == "cloud" and profile.per_gpu and fig["gpu_count"] > 1:
        notes.append(f"price per GPU-hour x {fig['gpu_count']} GPUs in the machine")
    if profile.note:
        notes.append(profile.note)
    u = settings.utilisation or profile.utilisation or 1.0
    r = settings.ratio
    out_m = cost.usd_per_million_output(hour, u, src["output_tps"], src["input_tps"], r)
    in_m = cost.usd_per_million_input(out_m, r)
    apis = []
    for p in prices:
        be = cost.break_even(hour, src["output_tps"], src["input_tps"], p.blended, r)
        apis.append({
            "provider": p.provider, "model": p.model, "blended": p.blended,
            "like_for_like": fig["model"] in p.serves,
            "usd_per_1k_tasks": cost.usd_per_1k_tasks(p.input, p.output, src["input_tokens"], src["output_tokens"]),
            "breakeven_utilisation": be.utilisation, "breakeven_tokens_per_month": be.tokens_per_month,
            "never": be.never,
        })
    return {
        "profile": profile.name, "profile_title": profile.title, "profile_kind": profile.kind,
        "profile_source": profile.source,
        "basis": settings.basis if profile.kind == "cloud" else "owned", "utilisation": u, "ratio": r,
        "throughput": src,
        "usd_per_hour": hour.at(u),
        "hour": {"fixed": hour.fixed_usd, "idle_power": hour.idle_power_usd, "busy_extra": hour.busy_extra_usd},
        "usd_per_m_output": out_m, "usd_per_m_input": in_m, "usd_per_m_blended": cost.blended_3_1(in_m, out_m),
        "usd_per_1k_tasks": cost.usd_per_1k_tasks(in_m, out_m, src["input_tokens"], src["output_tokens"]),
        "apis": apis, "notes": notes,
    }


def build_row(result: dict, path: Path | None, profiles: dict[str, CostProfile], chosen: dict[str, str],
              prices: list[ApiPrice], settings: CostSettings) -> dict:
    row = figures(result, path)
    profile, how = choose_profile(row, profiles, chosen)
    row["electricity"] = electricity(row, profile, settings)
    row["cost"] = None
    if not result.get("scenarios"):
        row["cost_na"] = row["missing"]["throughput"]
        return row
    if profile is None:
        row["cost_na"] = how
        return row
    try:
        row["cost"] = price_run(row, profile, prices, settings)
        row["cost"]["profile_how"] = how
        row["cost_na"] = None
    except DashboardError as exc:
        row["cost_na"] = f"{exc} (profile {profile.name})"
    return row
