"""Hardware cost profiles: what one machine-hour costs, cloud (rent) or owned (buy + power).

A cloud profile prices the machine per machine-hour, per GPU-hour, or per vCPU-hour and per
GiB-hour of RAM (the way cloud list prices are built, so any CPU machine can be priced at the
vCPUs and RAM it has). Presets ship in cost_profiles.json with their sources; a user file adds
profiles or replaces presets by name, and `"extends": "<preset>"` copies a preset and changes
only what it lists. Which preset fits a detected machine is matching.py's business.
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
    match: str | None = None                 # regex on the detected GPU name, Apple chip or CPU model
    per_gpu: bool = True                     # cloud price is per GPU-hour: times the GPUs in the machine
    usd_per_hour: dict | None = None         # cloud: {"on_demand", "spot", "reserved"} -> $ or None
    usd_per_vcpu_hour: dict | None = None    # cloud by the resource: basis -> $ per vCPU-hour ...
    usd_per_gib_hour: dict | None = None     # ... and basis -> $ per GiB-hour of RAM
    match_cpu: dict | None = None            # CPU presets: {"vendor", "arch" (regexes), "isa": [...], "threads": [lo, hi]}
    apple_chip: str | None = None            # Apple presets: "M2 Ultra"; the tier (Ultra, Max, Pro) finds the closest
    fallback: bool = False                   # priced per resource when no other preset fits a CPU machine
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

    @property
    def per_resource(self) -> bool:
        return self.usd_per_vcpu_hour is not None

    def price(self, table: dict | None, basis: str) -> float:
        """The `basis` price of one of this profile's tables; DashboardError where it has none."""
        price = (table or {}).get(basis)
        if price is None:
            raise DashboardError(f"profile {self.name} has no {basis.replace('_', '-')} price",
                                 "choose another --basis or add the price in a profile file")
        return price

    def machine_hour(self, basis: str, machine: dict, idle_watts: float | None,
                     active_watts: float | None) -> cost.MachineHour:
        """The hour's cost for the machine the run measured (figures.machine); raises DashboardError
        naming what is missing."""
        if self.kind == "cloud" and self.per_resource:
            vcpu, gib = self.price(self.usd_per_vcpu_hour, basis), self.price(self.usd_per_gib_hour, basis)
            if not machine.get("vcpus") or not machine.get("ram_gib"):
                raise DashboardError("the result does not say how many vCPUs and how much RAM the machine has",
                                     "price it with --hourly-cost USD")
            return cost.resource_hour(machine["vcpus"], machine["ram_gib"], vcpu, gib)
        if self.kind == "cloud":
            price = self.price(self.usd_per_hour, basis)
            return cost.cloud_hour(price * (max(machine.get("gpu_count") or 0, 1) if self.per_gpu else 1))
        if active_watts is None:
            raise DashboardError(f"no power figure for owned profile {self.name}",
                                 "measure energy in the run, set active_watts in a profile file, or price it "
                                 "with --hourly-cost")
        if self.purchase_usd is None or self.amortisation_months is None:
            raise DashboardError(f"owned profile {self.name} has no purchase_usd or amortisation_months",
                                 "set both in the profile file")
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


def _basis_prices(raw: dict, name: str, where: str) -> dict | None:
    """A basis -> price table; CSV files flatten it into <name>_on_demand / _spot / _reserved columns."""
    table = raw.get(name)
    if table is None:
        flat = {b: raw.pop(f"{name}_{b}", None) for b in BASES}
        table = flat if any(v is not None for v in flat.values()) else None
    if table is None:
        return None
    if not isinstance(table, dict) or set(table) - set(BASES):
        raise DashboardError(f"{where}: {name} must map {', '.join(BASES)} to prices", f"fix {name}")
    for b in table:
        _positive(table, b, f"{where}: {name}")
    return {b: table.get(b) for b in BASES}


def _check_match_cpu(m, where: str) -> None:
    if not isinstance(m, dict) or set(m) - {"vendor", "arch", "isa", "threads"}:
        raise DashboardError(f"{where}: match_cpu must be an object with vendor, arch, isa and/or threads",
                             'for example "match_cpu": {"vendor": "Intel", "isa": ["amx_tile"], "threads": [8, 96]}')
    for key in ("vendor", "arch"):
        if key in m:
            try:
                re.compile(m[key])
            except (re.error, TypeError) as exc:
                raise DashboardError(f"{where}: match_cpu {key} is not a regular expression ({exc})",
                                     f"fix match_cpu {key}") from None
    if not isinstance(m.get("isa", []), list):
        raise DashboardError(f"{where}: match_cpu isa must be a list of feature names", 'e.g. ["avx512f"]')
    lo_hi = m.get("threads", [1, 1])
    if not (isinstance(lo_hi, list) and len(lo_hi) == 2 and all(isinstance(t, int) and t > 0 for t in lo_hi)
            and lo_hi[0] <= lo_hi[1]):
        raise DashboardError(f"{where}: match_cpu threads must be [lowest, highest]", "for example [2, 128]")


def parse_profile(raw: dict, where: str, origin: str) -> CostProfile:
    raw = dict(raw)
    for name in ("name", "title", "kind", "source"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise DashboardError(f"{where}: missing {name}",
                                 "a profile needs name, title, kind (cloud or owned) and source")
    if raw["kind"] not in ("cloud", "owned"):
        raise DashboardError(f"{where}: kind must be cloud or owned, got {raw['kind']!r}", "fix kind")
    hourly = _basis_prices(raw, "usd_per_hour", where) or dict.fromkeys(BASES)
    per_vcpu, per_gib = _basis_prices(raw, "usd_per_vcpu_hour", where), _basis_prices(raw, "usd_per_gib_hour", where)
    if (per_vcpu is None) != (per_gib is None):
        raise DashboardError(f"{where}: a profile priced by the resource needs both usd_per_vcpu_hour and "
                             f"usd_per_gib_hour", "add the one that is missing")
    if raw.get("match_cpu") is not None:
        _check_match_cpu(raw["match_cpu"], where)
    for name in ("purchase_usd", "amortisation_months", "electricity_usd_per_kwh", "pue", "idle_watts",
                 "active_watts"):
        _positive(raw, name, where)
    _positive(raw, "utilisation", where, upper=1.0)
    if raw["kind"] == "cloud" and not any(v is not None for v in hourly.values()) and per_vcpu is None:
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
    for flag in ("per_gpu", "fallback"):
        if isinstance(raw.get(flag), str):     # a CSV cell
            raw[flag] = raw[flag].strip().lower() in ("true", "yes", "1")
    cloud = raw["kind"] == "cloud"
    known = set(CostProfile.__dataclass_fields__) - {"usd_per_hour", "usd_per_vcpu_hour", "usd_per_gib_hour",
                                                              "origin"}
    return CostProfile(**{k: raw[k] for k in known if raw.get(k) is not None},
                       usd_per_hour=hourly if cloud and per_vcpu is None else None,
                       usd_per_vcpu_hour=per_vcpu if cloud else None, usd_per_gib_hour=per_gib if cloud else None,
                       origin=origin)


def load_profiles(user_file: Path | None = None) -> dict[str, CostProfile]:
    """Presets by name, with the user's profiles added or replacing them."""
    profiles: dict[str, CostProfile] = {}
    for raw in builtin_rows("cost_profiles.json", "profiles"):
        profiles[raw["name"]] = parse_profile(raw, f"built-in profile {raw['name']}", "built-in")
    if user_file is None:
        return profiles
    numeric = {f"{t}_{b}" for b in BASES for t in ("usd_per_hour", "usd_per_vcpu_hour", "usd_per_gib_hour")} | {"purchase_usd", "amortisation_months", "pue", "idle_watts",
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
            tables = {t: {**(parent.get(t) or {}), **(raw.get(t) or {})} or None
                      for t in ("usd_per_hour", "usd_per_vcpu_hour", "usd_per_gib_hour")}
            # a copy is only used when chosen: it inherits no way of matching hardware
            raw = {**parent, "match": None, "match_cpu": None, "apple_chip": None, "fallback": False,
                   **{k: v for k, v in raw.items() if k != "extends"}, **tables}
        profile = parse_profile(raw, where, str(user_file))
        profiles[profile.name] = profile
    return profiles

