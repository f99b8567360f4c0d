"""Hardware cost profiles: what one machine-hour costs, cloud (rent) or owned (buy + power).

Presets ship in cost_profiles.json with their sources; a user file adds profiles or replaces
presets by name, and `"extends": "<preset>"` copies a preset and changes only what it lists.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from dashboards import cost
from dashboards.datafile import builtin_rows, read_rows
from dashboards.errors import DashboardError

BASES = ("on_demand", "spot", "reserved")
DEFAULT_USD_PER_KWH = 0.15   # an assumption, shown as one, when no profile gives a tariff


@dataclass(frozen=True)
class CostProfile:
    name: str
    title: str
    kind: str                                # "cloud" or "owned"
    source: str
    match: str | None = None                 # regex on the detected GPU name / Apple chip
    per_gpu: bool = True                     # cloud price is per GPU-hour: times the GPUs in the machine
    usd_per_hour: dict | None = None         # cloud: {"on_demand", "spot", "reserved"} -> $ or None
    purchase_usd: float | None = None        # owned
    amortisation_months: float | None = None
    electricity_usd_per_kwh: float | None = None
    pue: float = 1.0
    idle_watts: float | None = None          # fallback when the run measured no idle power
    active_watts: float | None = None        # fallback when the run measured no energy
    utilisation: float | None = None         # default busy fraction for this machine
    observed: str | None = None
    note: str = ""
    origin: str = "built-in"

    def to_dict(self) -> dict:
        return asdict(self)

    def matches(self, device_name: str | None) -> bool:
        return bool(self.match and device_name and re.search(self.match, device_name, re.I))

    def machine_hour(self, basis: str, gpu_count: int, idle_watts: float | None,
                     active_watts: float | None) -> cost.MachineHour:
        """The hour's cost; raises DashboardError naming what is missing."""
        if self.kind == "cloud":
            price = (self.usd_per_hour or {}).get(basis)
            if price is None:
                raise DashboardError(f"profile {self.name} has no {basis.replace('_', '-')} price",
                                     "choose another --basis or add the price in a profile file")
            return cost.cloud_hour(price * (max(gpu_count, 1) if self.per_gpu else 1))
        if active_watts is None:
            raise DashboardError(f"no power figure for owned profile {self.name}",
                                 "measure energy in the run or set active_watts in a profile file")
        return cost.owned_hour(self.purchase_usd, self.amortisation_months,
                               self.electricity_usd_per_kwh or DEFAULT_USD_PER_KWH, self.pue,
                               active_watts if idle_watts is None else idle_watts, active_watts)


def _positive(raw: dict, name: str, where: str, upper: float | None = None) -> None:
    v = raw.get(name)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or (upper is not None and v > upper):
        bound = f" and at most {upper:g}" if upper is not None else ""
        raise DashboardError(f"{where}: {name} must be a number above 0{bound}, got {v!r}", f"fix {name}")


def parse_profile(raw: dict, where: str, origin: str) -> CostProfile:
    raw = dict(raw)
    for name in ("name", "title", "kind", "source"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise DashboardError(f"{where}: missing {name}",
                                 "a profile needs name, title, kind (cloud or owned) and source")
    if raw["kind"] not in ("cloud", "owned"):
        raise DashboardError(f"{where}: kind must be cloud or owned, got {raw['kind']!r}", "fix kind")
    # CSV files flatten the cloud prices into usd_per_hour_on_demand / _spot / _reserved columns.
    hourly = raw.get("usd_per_hour") or {b: raw.pop(f"usd_per_hour_{b}", None) for b in BASES}
    if not isinstance(hourly, dict) or set(hourly) - set(BASES):
        raise DashboardError(f"{where}: usd_per_hour must map {', '.join(BASES)} to prices", "fix usd_per_hour")
    for b in hourly:
        _positive(hourly, b, f"{where}: usd_per_hour")
    for name in ("purchase_usd", "amortisation_months", "electricity_usd_per_kwh", "pue", "idle_watts",
                 "active_watts"):
        _positive(raw, name, where)
    _positive(raw, "utilisation", where, upper=1.0)
    if raw["kind"] == "cloud" and not any(v is not None for v in hourly.values()):
        raise DashboardError(f"{where}: a cloud profile needs at least one usd_per_hour price",
                             "for example \"usd_per_hour\": {\"on_demand\": 2.5}")
    if raw["kind"] == "owned" and (raw.get("purchase_usd") is None or raw.get("amortisation_months") is None):
        raise DashboardError(f"{where}: an owned profile needs purchase_usd and amortisation_months",
                             "for example \"purchase_usd\": 15000, \"amortisation_months\": 36")
    if raw.get("match"):
        try:
            re.compile(raw["match"])
        except re.error as exc:
            raise DashboardError(f"{where}: match is not a regular expression ({exc})", "fix match") from None
    if isinstance(raw.get("per_gpu"), str):     # a CSV cell
        raw["per_gpu"] = raw["per_gpu"].strip().lower() in ("true", "yes", "1")
    known = {f for f in CostProfile.__dataclass_fields__} - {"usd_per_hour", "origin"}
    return CostProfile(**{k: raw[k] for k in known if raw.get(k) is not None},
                       usd_per_hour=hourly if raw["kind"] == "cloud" else None, origin=origin)


def load_profiles(user_file: Path | None = None) -> dict[str, CostProfile]:
    """Presets by name, with the user's profiles added or replacing them."""
    profiles: dict[str, CostProfile] = {}
    for raw in builtin_rows("cost_profiles.json", "profiles"):
        profiles[raw["name"]] = parse_profile(raw, f"built-in profile {raw['name']}", "built-in")
    if user_file is None:
        return profiles
    numeric = {f"usd_per_hour_{b}" for b in BASES} | {"purchase_usd", "amortisation_months", "pue", "idle_watts",
                                                     "electricity_usd_per_kwh", "active_watts", "utilisation"}
    for i, raw in enumerate(read_rows(user_file, "profiles", "cost profile", numeric)):
        where = f"{user_file}: profile {raw.get('name') or i + 1}"
        base = raw.get("extends")
        if base is not None:
            if base not in profiles:
                raise DashboardError(f"{where}: extends unknown profile {base!r}",
                                     f"known: {', '.join(profiles)}")
            parent = profiles[base].to_dict()
            parent.pop("origin")
            hourly = {**(parent.get("usd_per_hour") or {}), **(raw.get("usd_per_hour") or {})}
            raw = {**parent, "match": None, **{k: v for k, v in raw.items() if k != "extends"},
                   "usd_per_hour": hourly or None}
        profile = parse_profile(raw, where, str(user_file))
        profiles[profile.name] = profile
    return profiles


def match_profile(device_name: str | None, profiles: dict[str, CostProfile]) -> CostProfile | None:
    """The first profile whose pattern matches the detected GPU / Apple chip (file order)."""
    return next((p for p in profiles.values() if p.matches(device_name)), None)
