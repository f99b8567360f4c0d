"""The figures the dashboard shows, read out of one result document.

A figure the run did not measure is None, and `missing[<figure>]` says why; the scenario each
figure came from is kept beside it, so a page can say what it is showing.
"""

from __future__ import annotations

from pathlib import Path


def _ok(sc: dict) -> bool:
    return sc.get("status") == "completed" and (sc.get("validity") or {}).get("verdict") == "VALID"


def _median(summary: dict, key: str) -> float | None:
    return (summary.get(key) or {}).get("median")


def _not_valid(scenarios: list[dict], kinds: tuple[str, ...], what: str) -> str:
    """Why no figure of this kind: the scenario was not run, or it did not pass validity."""
    ran = [sc for sc in scenarios if sc.get("kind") in kinds]
    if not ran:
        return f"no {what} scenario in this run"
    sc = ran[0]
    reasons = "; ".join((sc.get("validity") or {}).get("reasons") or []) or sc.get("status") or "?"
    return f"{sc['name']} INVALID ({reasons})"


def machine(result: dict) -> dict:
    """What a cost preset is chosen for: a GPU machine (when the run used its GPUs), an Apple chip,
    or a CPU machine by vendor, architecture, ISA features, threads (vCPUs) and RAM."""
    hw = result.get("hardware") or {}
    cpu = hw.get("cpu") or {}
    gpus = (hw.get("nvidia") or {}).get("gpus") or []
    chip = (hw.get("apple") or {}).get("chip")
    ram = cpu.get("ram_bytes")
    out = {"kind": None, "gpu_name": gpus[0].get("name") if gpus else None, "gpu_count": len(gpus),
           "apple_chip": chip, "cpu_model": cpu.get("model"), "cpu_vendor": cpu.get("vendor"), "arch": cpu.get("arch"),
           "isa": sorted(k for k, v in (cpu.get("isa") or {}).items() if v), "vcpus": cpu.get("threads"),
           "ram_gib": ram / 2**30 if ram else None}
    if gpus and (result.get("backend") or {}).get("device") != "cpu":
        out["kind"] = "gpu"
    elif chip:
        out["kind"] = "apple"
    elif cpu:
        out["kind"] = "cpu"
    return out


def hardware_title(result: dict) -> str:
    """What the model ran on, in words."""
    hw = result.get("hardware")
    if not hw:
        return "unknown hardware (the result has no hardware section)"
    device = (result.get("backend") or {}).get("device")
    gpus = (hw.get("nvidia") or {}).get("gpus") or []
    if gpus and device != "cpu":
        return gpus[0].get("name", "GPU") + (f" x{len(gpus)}" if len(gpus) > 1 else "")
    apple = hw.get("apple") or {}
    if apple.get("chip"):
        return apple["chip"] + (f", {apple['gpu_cores']} GPU cores" if apple.get("gpu_cores") else "")
    cpu = hw.get("cpu") or {}
    cores = f" ({cpu['cores']} cores)" if cpu.get("cores") else ""
    return (cpu.get("model") or "unknown CPU") + cores


def request_scenarios(result: dict) -> list[dict]:
    """Scenarios with an aggregate output tokens/s (single-stream; concurrency runs later)."""
    return [sc for sc in result.get("scenarios") or [] if (sc.get("summary") or {}).get("output_tps") is not None]


def _workload(sc: dict) -> tuple[float, float]:
    """Mean (input, output) tokens per request of the scenario."""
    samples = sc.get("samples") or {}
    # A count a server did not give is None (such a scenario is INVALID; older results have them).
    ins = [n for n in samples.get("input_tokens") or [] if n is not None]
    outs = [n for n in samples.get("output_tokens") or [] if n is not None]
    if ins and outs:
        return sum(ins) / len(ins), sum(outs) / len(outs)
    params = sc.get("params") or {}
    profile = params.get("profile") or {}
    return (float(params.get("input_tokens") or (profile.get("input") or {}).get("mean") or 0),
            float(params.get("output_tokens") or (profile.get("output") or {}).get("mean") or 1))


def throughput_source(result: dict) -> tuple[dict | None, str | None]:
    """The valid request scenario with the highest aggregate output tokens/s: it drives cost.

    Without a valid one, the best completed INVALID one does, flagged `valid: False` with its
    reasons, so a noisy machine still gets a price that says what it rests on."""
    measured = [sc for sc in request_scenarios(result)
                if sc.get("status") == "completed" and sc["summary"]["output_tps"] > 0]
    candidates = [sc for sc in measured if _ok(sc)] or measured
    if not candidates:
        if request_scenarios(result):
            return None, "no completed request scenario with output (" + ", ".join(
                f"{sc['name']} {sc.get('status')}" for sc in request_scenarios(result)) + ")"
        return None, "no request scenario (single-stream or concurrency) in this run"
    sc = max(candidates, key=lambda s: s["summary"]["output_tps"])
    input_tokens, output_tokens = _workload(sc)
    out_tps = sc["summary"]["output_tps"]
    return {
        "scenario": sc["name"],
        "kind": sc["kind"],
        "output_tps": out_tps,
        # Same measured window, same requests: input tokens flow at the workload's in:out ratio.
        "input_tps": out_tps * input_tokens / output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "valid": _ok(sc),
        "invalid_reasons": [] if _ok(sc) else (sc.get("validity") or {}).get("reasons") or ["not VALID"],
    }, None


def _energy(sc: dict | None) -> tuple[dict, str | None]:
    energy = (sc or {}).get("energy")
    if sc is None:
        return {}, "no valid request or tg scenario to take energy from"
    if not energy:
        return {}, f"{sc['name']} has no energy reading (no monitor ran)"
    if energy.get("joules_per_output_token") is None:
        reasons = [d.get("reason") for d in energy.get("devices") or [] if d.get("reason")]
        return {}, f"{sc['name']}: energy not measured" + (f" ({reasons[0]})" if reasons else "")
    return energy, None


def figures(result: dict, path: Path | None = None) -> dict:
    missing: dict[str, str] = {}
    scenarios = result.get("scenarios") or []
    model = result.get("model") or {}
    out = {
        "run_id": result.get("run_id"),
        "file": path.name if path else None,
        "label": result.get("label"),
        "started_at": result.get("started_at"),
        "status": result.get("status"),
        "verdict": (result.get("validity") or {}).get("verdict"),
        "reasons": (result.get("validity") or {}).get("reasons") or [],
        "model": model.get("id"),
        "model_name": model.get("name"),
        "model_source": model.get("source"),
        "quant": model.get("quant"),
        "backend": (result.get("config") or {}).get("backend"),
        "device": (result.get("backend") or {}).get("device"),
        "hardware": hardware_title(result),
        "machine_for_cost": machine(result),
        "model_params": (result.get("backend") or {}).get("model_params"),
        # the engine ran other than its default here (a kernel that crashes this CPU): said per row
        "workarounds": [f"{w.get('line')} ({w.get('caveat')})" for w in result.get("workarounds") or []],
    }

    source, why = throughput_source(result)
    out["throughput"] = source
    if why:
        missing["throughput"] = why
    out["latency_points"] = [
        {"scenario": sc["name"], "output_tps": sc["summary"]["output_tps"],
         "tpot_p50_ms": None if _median(sc["summary"], "tpot_s") is None else _median(sc["summary"], "tpot_s") * 1e3,
         "ttft_p50_ms": None if _median(sc["summary"], "ttft_s") is None else _median(sc["summary"], "ttft_s") * 1e3,
         "valid": _ok(sc)}
        for sc in request_scenarios(result)
    ]

    tg = next((sc for sc in scenarios if sc.get("kind") == "tg" and _ok(sc)), None)
    pp = next((sc for sc in scenarios if sc.get("kind") == "pp" and _ok(sc)), None)
    out["decode_tps"] = tg["summary"]["tg_tps"]["mean"] if tg else None
    out["decode_scenario"] = tg["name"] if tg else None
    if tg is None:
        missing["decode_tps"] = _not_valid(scenarios, ("tg",), "tg")
    out["prefill_tps"] = pp["summary"]["pp_tps"]["mean"] if pp else None
    out["prefill_scenario"] = pp["name"] if pp else None
    if pp is None:
        missing["prefill_tps"] = _not_valid(scenarios, ("pp",), "pp")

    # Energy per output token: from the scenario that drives cost, else the decode microbenchmark.
    energy_sc = next((sc for sc in scenarios if source and source["valid"] and sc["name"] == source["scenario"]), tg)
    if energy_sc is None and source:      # nothing valid: the scenario cost rests on, flagged as its throughput is
        energy_sc = next(sc for sc in scenarios if sc["name"] == source["scenario"])
    energy, why = _energy(energy_sc)
    out["j_per_token"] = energy.get("joules_per_output_token")
    out["energy_method"] = energy.get("method")
    out["energy_covers"] = energy.get("covers") or []
    out["energy_scenario"] = energy_sc["name"] if energy_sc and energy else None
    out["energy_valid"] = bool(energy_sc and energy and _ok(energy_sc))
    out["average_watts"] = energy.get("average_watts")
    if why:
        missing["j_per_token"] = why
    idle = (result.get("monitoring") or {}).get("idle") or {}
    idle_watts = [w for w in (idle.get("watts") or {}).values() if w is not None]
    out["idle_watts"] = sum(idle_watts) if idle.get("joules") is not None and idle_watts else None
    out["idle_method"] = idle.get("method") if out["idle_watts"] is not None else None
    if out["idle_watts"] is None:
        missing["idle_watts"] = "no idle power baseline in this run"

    memory = result.get("memory") or {}
    device_peaks = [g.get("process_bytes") or g.get("device_used_bytes")
                    for g in (memory.get("peak_device_memory") or {}).values()]
    out["peak_rss_bytes"] = memory.get("peak_rss_bytes")
    out["peak_device_bytes"] = sum(b for b in device_peaks if b) or None
    out["model_file_bytes"] = memory.get("model_file_bytes") or model.get("file_bytes")
    out["kv_bytes_per_token"] = memory.get("kv_cache_bytes_per_token") or model.get("kv_bytes_per_token")
    if not memory:
        missing["peak_rss_bytes"] = "no memory section in this result (older run)"
    if out["peak_device_bytes"] is None:
        missing["peak_device_bytes"] = "no GPU memory sampled (CPU or Apple run, or no NVML)"

    roof_sc = next((sc for sc in [tg] + [s for s in request_scenarios(result) if _ok(s)]
                    if sc and sc.get("roofline")), None)
    roof = (roof_sc or {}).get("roofline") or {}
    out["bw_scenario"] = roof_sc["name"] if roof_sc else None
    out["bw_eff_spec"] = roof.get("efficiency_spec")
    out["bw_eff_measured"] = roof.get("efficiency_measured")
    out["bw_spec_gbps"] = roof.get("spec_bandwidth_gbps")
    out["bw_measured_gbps"] = roof.get("measured_bandwidth_gbps")
    if not roof and any(sc.get("roofline") for sc in scenarios):
        missing["bw_eff"] = "no valid decode scenario: " + _not_valid(scenarios, ("tg",), "tg")
    elif not roof:
        missing["bw_eff"] = "no roofline in this result (older run, or no decode scenario)"
    elif out["bw_eff_spec"] is None:
        missing["bw_eff_spec"] = "no spec bandwidth known for this device"
    out["errors"] = result.get("errors") or []
    if not scenarios:
        # Died or failed before measuring: every figure is missing for that one reason.
        why = f"the run {out['status'] or '?'} before measuring" + (f": {out['errors'][0]}" if out["errors"] else "")
        missing = {key: why for key in (*missing, "throughput", "peak_rss_bytes", "bw_eff")}
    out["missing"] = missing
    return out
