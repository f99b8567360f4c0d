"""Projected machines next to measured ones: what a projection costs, and the dashboard's
"candidate hardware" view.

A projection is priced by rows.price_run, the function that prices every measured result, fed the
projected request stream in place of a measured scenario: one implementation of $/1M and
break-even, not two. Everything built here is labelled PROJECTED, carries the error band of its
platform class, and lives in its own data block: it never becomes a measured row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from dashboards.errors import DashboardError
from dashboards.profiles import CostProfile, parse_profile
from dashboards.rows import CostSettings, choose_profile, price_run

PROJECTED = "PROJECTED"


def machine_for_cost(machine) -> dict:
    """The machine as figures.machine describes a measured one, so the same presets match it."""
    kind = {"metal": "apple", "cpu": "cpu"}.get(machine.platform, "gpu")
    return {"kind": kind, "gpu_name": machine.name if kind == "gpu" else None, "gpu_count": 1 if kind == "gpu" else 0,
            "apple_chip": machine.apple_chip, "cpu_model": machine.name if kind == "cpu" else None,
            "cpu_vendor": machine.vendor, "arch": machine.arch, "isa": sorted(machine.isa),
            "vcpus": machine.threads or machine.cores, "ram_gib": machine.memory_gib if kind == "cpu" else None}


def _machine_profile(machine, profiles: dict[str, CostProfile]) -> tuple[CostProfile | None, str]:
    p = machine.cost_profile
    if isinstance(p, dict):
        return parse_profile(p, f"hardware/specs.json machine {machine.id}: cost_profile", machine.origin), \
            f"the cost profile hardware/specs.json gives {machine.id}"
    if p not in profiles:
        raise DashboardError(f"hardware/specs.json machine {machine.id}: unknown cost profile {p!r}",
                             f"known: {', '.join(profiles)}")
    return profiles[p], f"the preset hardware/specs.json names for {machine.id}"


def choose_machine_profile(machine, profiles: dict[str, CostProfile], chosen: dict[str, str],
                           settings: CostSettings) -> tuple[CostProfile | None, str]:
    """--hourly-cost/--capex, then --profile ID=NAME, then the machine row's own profile, then the
    preset matching its hardware (as for a measured result)."""
    fig = {"label": machine.id, "machine_for_cost": machine_for_cost(machine)}
    if settings.override() is None and machine.id not in chosen and machine.cost_profile:
        return _machine_profile(machine, profiles)
    return choose_profile(fig, profiles, chosen, settings)


def price_projection(machine, model: str, output_tps: float, input_tps: float, input_tokens: float,
                     output_tokens: float, scenario: str, profiles, chosen, prices, settings,
                     notes: Sequence[str] = ()) -> tuple[dict | None, str | None]:
    """(cost block, None) or (None, why not) for a projected request stream on `machine`."""
    try:
        profile, how = choose_machine_profile(machine, profiles, chosen, settings)
    except DashboardError as exc:
        return None, str(exc)
    if profile is None:
        return None, how
    if profile.kind == "owned" and profile.active_watts is None and settings.override() is None:
        if machine.tdp_w is None:
            return None, (f"no power figure for {machine.id} (owned profile {profile.name}, no TDP in "
                          f"hardware/specs.json): pass --hourly-cost USD, or --profile {machine.id}=NAME with a "
                          f"profile that has active_watts")
        # the machine's TDP stands in for the busy power no run measured; the profile's source says so
        profile = replace(profile, active_watts=machine.tdp_w, source=f"{profile.source}; busy power: the "
                          f"{machine.tdp_w:g} W TDP in hardware/specs.json, not measured")
    fig = {"label": machine.id, "model": model, "model_params": None, "machine_for_cost": machine_for_cost(machine),
           "average_watts": None, "idle_watts": None, "missing": {},
           "throughput": {"scenario": f"{PROJECTED} {scenario}", "kind": "projection", "output_tps": output_tps,
                          "input_tps": input_tps, "input_tokens": input_tokens, "output_tokens": output_tokens,
                          "valid": True, "invalid_reasons": []}}
    try:
        c = price_run(fig, profile, prices, settings, how)
    except DashboardError as exc:
        return None, f"{exc} (profile {profile.name})"
    c["notes"] = list(notes) + c["notes"]
    c["projected"] = True
    return c, None


def concurrency_of(scenario: str | None) -> int:
    """The users of a measured load level ("chat@c4" -> 4); 1 for single-stream."""
    m = re.search(r"@c(\d+)$", scenario or "")
    return int(m.group(1)) if m else 1


def band_range(value: float | None, band: float | None, inverse: bool = False) -> tuple[float | None, float | None]:
    """(low, high) of a figure with a relative error band; a cost is the inverse of a throughput."""
    if value is None or band is None:
        return None, None
    if inverse:
        return value / (1 + band), (value / (1 - band) if band < 1 else None)
    return value * (1 - band), value * (1 + band)


def candidate_view(rows: list[dict], hardware_ids: list[str], settings: CostSettings, profiles, prices,
                   chosen: dict[str, str] | None = None) -> dict:
    """The dashboard's candidate-hardware block: each candidate projected for every catalog model and
    GGUF quant the measured rows ran, with the measured workload's shape; the validation table; and
    the published reference rows, as context."""
    from hardware.machines import machines, resolve
    from hardware.projection import fit, project
    from hardware.reference import reference_rows
    from hardware.validation import Compounded, stream_band, validate
    from models.catalog import CATALOG

    ref = list(reference_rows())
    known = machines()
    fits, validation = fit(ref, known), validate(ref, known)
    cand = [resolve(h) for h in hardware_ids]
    out = []
    combos: dict[tuple[str, str], dict | None] = {}
    for r in rows:
        listed = r.get("model") in CATALOG and CATALOG[r["model"]].listed      # not the tiny test model
        if r.get("backend") == "llamacpp" and listed and r.get("quant"):
            t = r["cost"]["throughput"] if r.get("cost") else r.get("throughput")
            combos.setdefault((r["model"], r["quant"]), t)
    for (model, quant), t in combos.items():
        ins, outs = (t["input_tokens"], t["output_tokens"]) if t else (128, 32)
        b = concurrency_of(t["scenario"] if t else None)
        for m in cand:
            p = project(m, fits, model, quant, int(ins + outs), [b], int(outs))
            lvl = p.levels[0]
            tg_stats, pp_stats = validation.band(m.platform, "tg"), validation.band(m.platform, "pp")
            agg_stats = tg_stats if b == 1 else Compounded(tg_stats, validation.band(m.platform, "batched"))
            tg_band = tg_stats.band if tg_stats else None
            cost, why = (None, lvl.why or p.missing.get("tg"))
            if lvl.output_tps and lvl.input_tps is not None:     # a request stream has both
                cost, why = price_projection(m, model, lvl.output_tps, lvl.input_tps, ins, outs,
                                             f"{b} x ({ins:.0f} in / {outs:.0f} out)", profiles, chosen or {},
                                             prices, settings, [lvl.why] if lvl.why else [])
            blended = cost["usd_per_m_blended"] if cost else None
            usd_band = stream_band(agg_stats.band if agg_stats else None, pp_stats.band if pp_stats else None,
                                   lvl.prefill_counted)
            low, high = band_range(blended, usd_band, inverse=True)
            tg_low, tg_high = band_range(p.tg, tg_band)
            out.append({
                "label": PROJECTED, "name": f"{PROJECTED} · {m.id} · {model} {quant}", "machine": m.id,
                "machine_name": m.name, "platform": m.platform, "model": model, "quant": quant, "concurrency": b,
                "tg": p.tg, "tg_low": tg_low, "tg_high": tg_high, "band": tg_band, "usd_band": usd_band,
                "aggregate_tps": lvl.aggregate_tps,
                "unvalidated": (tg_stats.unvalidated if tg_stats else f"no held-out errors for {m.platform} tg"),
                "misses": tg_stats.misses if tg_stats else [],
                "usd_per_m_blended": blended, "usd_low": low, "usd_high": high, "cost_na": why,
                "basis_text": cost["basis_text"] if cost else None, "profile_title": cost["profile_title"] if cost else None,
                "notes": cost["notes"] if cost else [],
            })
    reference = [{"id": r.id, "machine": known[r.machine].name, "backend": r.backend, "engine": r.engine,
                  "model": r.model, "quant": r.quant, "pp512": r.pp512, "tg128": r.tg128,
                  "concurrency": r.concurrency, "output_tps": r.output_tps, "flags": r.flags, "build": r.build,
                  "source": r.source, "date": r.date, "date_is": r.date_is, "build_date": r.build_date} for r in ref]
    return {"rows": out, "validation": [s.to_dict() for s in validation.stats.values()], "reference": reference}


def candidate_section(hardware_ids: list[str]) -> str:
    """The page section the candidate view draws into (dashboards/static/candidates.js)."""
    from dashboards.page import esc

    def chart(cid: str) -> str:
        return f'<div id="{cid}" class="chart"></div><div id="{cid}-empty" class="empty" hidden></div>'

    return f"""
<section id="candidates"><h2>Candidate hardware: {PROJECTED}, not measured</h2>
<p class="caption">{esc(', '.join(hardware_ids))} projected by bench project for each model and quantization measured
above, with the measured run's request shape: decode = bytes per token / (eta x bandwidth) + a fixed time per token,
with eta per quant family and the fixed time per llama.cpp build era, prefill = eta x compute / FLOPs per token,
efficiencies fit per platform class on published llama.cpp measurements. Hatched bars are projections; their error
bars are the band the class's validation earned (the 90th-percentile error on rows held out by machine, source, quant
and model); a class whose band did not hold on held-out groups shows none. Solid bars are measured. Projections never
enter the overview table or the charts above.</p>
<h3>$ per 1M tokens: projected machines, measured machines and API prices</h3>{chart("chart-candidate-cost")}
<h3>Decode tokens/s: projected machines and measured ones</h3>{chart("chart-candidate-tg")}
<h3>How far off the projection is (rows held out by machine, source, quant and model)</h3>
<div class="scroll"><table id="candidate-validation"></table></div>
<h3>Published reference rows (context: your box vs published machines)</h3>
<div class="scroll"><table id="reference-rows"></table></div></section>
"""
