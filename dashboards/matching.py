"""Which cost preset fits the machine a run measured, and in words why.

GPU machines are matched by the GPU's name. Apple chips by the chip: the preset of that chip, else
the preset of the same tier (Ultra, Max, Pro) with the nearest generation. CPU machines by a
preset's `match` on the CPU model, then by vendor, architecture, ISA features and thread count
(`match_cpu`), and when none of those fits, by the `fallback` preset, which prices the vCPUs and
RAM the machine has. A GPU no preset knows is not priced as a CPU machine: that would leave the
GPU out of the price.
"""

from __future__ import annotations

import re

from dashboards.profiles import CostProfile

_APPLE = re.compile(r"\bM(\d+)(?:\s+(Pro|Max|Ultra))?\b", re.I)


def _apple(chip: str | None) -> tuple[int, str] | None:
    """("M2 Ultra") -> (2, "Ultra"); a base chip's tier is ""."""
    m = _APPLE.search(chip or "")
    return (int(m.group(1)), (m.group(2) or "").title()) if m else None


def describe_cpu(m: dict) -> str:
    vendor = m["cpu_vendor"] or "unknown vendor"
    ram = f", {m['ram_gib']:.1f} GiB RAM" if m["ram_gib"] else ""
    return f"{m['cpu_model'] or 'unknown CPU'} ({vendor}, {m['arch'] or '?'}, {m['vcpus'] or '?'} threads{ram})"


def cpu_fits(rule: dict, m: dict) -> bool:
    lo, hi = rule.get("threads", [1, 10**6])
    return (bool(re.search(rule.get("vendor", ""), f"{m['cpu_vendor'] or ''} {m['cpu_model'] or ''}", re.I))
            and bool(re.fullmatch(rule.get("arch", ".*"), m["arch"] or "", re.I))
            and set(rule.get("isa", [])) <= set(m["isa"])
            and m["vcpus"] is not None and lo <= m["vcpus"] <= hi)


def _closest_apple(chip: str, profiles: list[CostProfile]) -> tuple[CostProfile | None, str]:
    mine = _apple(chip)
    if mine is None:
        return None, ""
    exact = next((p for p in profiles if p.apple_chip and _apple(p.apple_chip) == mine), None)
    if exact:
        return exact, f"matched to the detected {chip}"
    tier = [(p, theirs) for p in profiles
            if p.apple_chip and (theirs := _apple(p.apple_chip)) is not None and theirs[1] == mine[1]]
    if not tier:
        return None, ""
    # nearest generation; between two as near, the newer
    p, (gen, _) = min(tier, key=lambda t: (abs(t[1][0] - mine[0]), -t[1][0]))
    apart = abs(gen - mine[0])
    return p, (f"closest preset to the detected {chip}: the same tier ({mine[1] or 'base'}), "
               f"{'one generation' if apart == 1 else f'{apart} generations'} {'newer' if gen > mine[0] else 'older'}")


def choose_preset(m: dict, profiles: dict[str, CostProfile]) -> tuple[CostProfile | None, str]:
    """(preset, how it was chosen) or (None, why there is none and what to pass instead)."""
    ps = list(profiles.values())
    instead = "pass --hourly-cost USD, --capex USD, or a profile with --profile LABEL=NAME"
    if m["kind"] is None:
        return None, f"the result has no hardware section to choose a cost preset from: {instead}"
    if m["kind"] == "gpu":
        found = next((p for p in ps if p.matches(m["gpu_name"])), None)
        if found:
            return found, f"matched to the detected {m['gpu_name']}"
        return None, f"no cost preset for {m['gpu_name']} (presets in bench prices --profiles): {instead}"
    if m["kind"] == "apple":
        found = next((p for p in ps if p.matches(m["apple_chip"])), None)
        if found:
            return found, f"matched to the detected {m['apple_chip']}"
        found, how = _closest_apple(m["apple_chip"], ps)
        if found:
            return found, how
    found = next((p for p in ps if p.matches(m["cpu_model"])), None)
    if found:
        return found, f"matched to the detected {m['cpu_model']}"
    found = next((p for p in ps if p.match_cpu is not None and cpu_fits(p.match_cpu, m)), None)
    if found:
        return found, f"closest preset to the detected {describe_cpu(m)}, by vendor, ISA and thread count"
    found = next((p for p in ps if p.fallback), None)
    what = f"{m['apple_chip']} (no Mac preset for its tier; its GPU is not priced apart)" if m["kind"] == "apple" \
        else describe_cpu(m)
    if found:
        return found, f"no preset fits the detected {what}: priced per vCPU-hour and per GiB-hour of RAM"
    return None, f"no cost preset fits the detected {what}: {instead}"
