"""The figures the dashboard shows, read out of one result document.

A figure the run did not measure is None, and `missing[<figure>]` says why; the scenario each
figure came from is kept beside it, so a page can say what it is showing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from contract.enums import ScenarioKind, Status, Verdict
from contract.result import (
    EnergyWindow,
    Entry,
    HardwareInfo,
    LoadLevelEntry,
    RunResult,
    Stats,
    StreamEntry,
    StreamParams,
)
from contract.result import fingerprint as hardware_fingerprint

# Entries with an aggregate output rate: what cost can rest on.
RequestEntry = StreamEntry | LoadLevelEntry


def _ok(sc: Entry) -> bool:
    return sc.status == Status.COMPLETED and sc.validity.verdict == Verdict.VALID


def _median(stats: Stats | None) -> float | None:
    return stats.median if stats else None


def _headline_stream(scenarios: list[Entry], kind: ScenarioKind) -> StreamEntry | None:
    """The run's valid pp or tg figure: from an empty cache where it has one (tg128 before tg128@d4096)."""
    valid = [sc for sc in scenarios if isinstance(sc, StreamEntry) and sc.kind == kind and _ok(sc)]
    return min(valid, key=lambda sc: sc.params.depth, default=None)


def _not_valid(scenarios: list[Entry], kinds: tuple[ScenarioKind, ...], what: str) -> str:
    """Why no figure of this kind: the scenario was not run, or it did not pass validity."""
    ran = [sc for sc in scenarios if sc.kind in kinds]
    if not ran:
        return f"no {what} scenario in this run"
    sc = ran[0]
    reasons = "; ".join(sc.validity.reasons) or str(sc.status)
    return f"{sc.name} INVALID ({reasons})"


def machine(hw: HardwareInfo | None, device: str | None) -> dict:
    """What a cost preset is chosen for: a GPU machine (when the run used its GPUs), an Apple chip,
    or a CPU machine by vendor, architecture, ISA features, threads (vCPUs) and RAM. `hw` is a
    document's hardware section (bench run, quality and eval documents all carry one)."""
    if hw is None:
        return {"kind": None, "gpu_name": None, "gpu_count": 0, "apple_chip": None, "cpu_model": None,
                "cpu_vendor": None, "arch": None, "isa": [], "vcpus": None, "ram_gib": None}
    cpu, gpus = hw.cpu, hw.gpus
    chip = hw.apple.chip if hw.apple else None
    ram = cpu.ram_bytes
    out = {"kind": None, "gpu_name": gpus[0].name if gpus else None, "gpu_count": len(gpus),
           "apple_chip": chip, "cpu_model": cpu.model, "cpu_vendor": cpu.vendor, "arch": cpu.arch,
           "isa": sorted(k for k, v in cpu.isa.items() if v), "vcpus": cpu.threads,
           "ram_gib": ram / 2**30 if ram else None}
    if gpus and device != "cpu":
        out["kind"] = "gpu"
    elif chip:
        out["kind"] = "apple"
    else:
        out["kind"] = "cpu"
    return out


def hardware_title(hw: HardwareInfo | None, device: str | None) -> str:
    """What the model ran on, in words."""
    if hw is None:
        return "unknown hardware (the result has no hardware section)"
    gpus = hw.gpus
    if gpus and device != "cpu":
        return gpus[0].name + (f" x{len(gpus)}" if len(gpus) > 1 else "")
    apple = hw.apple
    if apple is not None and apple.chip:
        return apple.chip + (f", {apple.gpu_cores} GPU cores" if apple.gpu_cores else "")
    cores = f" ({hw.cpu.cores} cores)" if hw.cpu.cores else ""
    return (hw.cpu.model or "unknown CPU") + cores


def machine_fingerprint(hw: HardwareInfo | None) -> str | None:
    """The hardware fingerprint of a document's hardware section, by the contract's recipe over the
    section's own fields (the one the run wrote beside them, unless the section was edited since);
    None without a section. A machine is its label and this: two machines may share a label."""
    return hardware_fingerprint(hw.cpu, hw.gpus, hw.apple) if hw is not None else None


def shared_labels(machines: Iterable[tuple[str | None, str | None]]) -> set[str | None]:
    """The labels that more than one machine, (label, fingerprint), goes by."""
    seen: dict[str | None, str | None] = {}
    shared = set()
    for label, fingerprint in machines:
        if seen.setdefault(label, fingerprint) != fingerprint:
            shared.add(label)
    return shared


def hardware_words(title: str, label: str | None, fingerprint: str | None, shared: set[str | None]) -> str:
    """The hardware as a page names it: its title, and where its label is shared with another
    machine, the start of its fingerprint ("AMD EPYC (2 cores) #375b0d"), so the two stay two."""
    return f"{title} #{fingerprint[:6]}" if label in shared and fingerprint else title


def request_scenarios(result: RunResult) -> list[RequestEntry]:
    """Entries with an aggregate output tokens/s: single-stream and load levels."""
    return [sc for sc in result.scenarios
            if isinstance(sc, (StreamEntry, LoadLevelEntry)) and sc.summary.output_tps is not None]


def _workload(sc: RequestEntry) -> tuple[float, float]:
    """Mean (input, output) tokens per request of the scenario."""
    # A count a server did not give is None (such a scenario is INVALID; older results have them).
    ins = [n for n in sc.samples.get("input_tokens") or [] if n is not None]
    outs = [n for n in sc.samples.get("output_tokens") or [] if n is not None]
    if ins and outs:
        return sum(ins) / len(ins), sum(outs) / len(outs)
    if isinstance(sc.params, StreamParams):
        return float(sc.params.input_tokens or 0), float(sc.params.output_tokens or 1)
    profile = sc.params.profile
    return float((profile.get("input") or {}).get("mean") or 0), float((profile.get("output") or {}).get("mean") or 1)


def _output_tps(sc: RequestEntry) -> float:
    return sc.summary.output_tps or 0.0


def throughput_source(result: RunResult) -> tuple[dict | None, str | None]:
    """The valid request scenario with the highest aggregate output tokens/s: it drives cost.

    Without a valid one, the best completed INVALID one does, flagged `valid: False` with its
    reasons, so a noisy machine still gets a price that says what it rests on."""
    measured = [sc for sc in request_scenarios(result) if sc.status == Status.COMPLETED and _output_tps(sc) > 0]
    candidates = [sc for sc in measured if _ok(sc)] or measured
    if not candidates:
        if request_scenarios(result):
            return None, "no completed request scenario with output (" + ", ".join(
                f"{sc.name} {sc.status}" for sc in request_scenarios(result)) + ")"
        return None, "no request scenario (single-stream or concurrency) in this run"
    sc = max(candidates, key=_output_tps)
    input_tokens, output_tokens = _workload(sc)
    out_tps = _output_tps(sc)
    return {
        "scenario": sc.name,
        "kind": sc.kind.value,
        "output_tps": out_tps,
        # Same measured window, same requests: input tokens flow at the workload's in:out ratio.
        "input_tps": out_tps * input_tokens / output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "valid": _ok(sc),
        "invalid_reasons": [] if _ok(sc) else sc.validity.reasons or ["not VALID"],
        # the share of input tokens its engine served from a prefix cache (None: it did not say)
        "cached_input_share": _cached_share(sc),
    }, None


def _cached_share(sc: Entry) -> float | None:
    pc = getattr(sc.summary, "prefix_cache", None)
    return pc.hit_rate if pc is not None else None


def _energy(sc: Entry | None) -> tuple[EnergyWindow | None, str | None]:
    if sc is None:
        return None, "no valid request or tg scenario to take energy from"
    if sc.energy is None:
        return None, f"{sc.name} has no energy reading (no monitor ran)"
    if sc.energy.joules_per_output_token is None:
        reasons = [d.reason for d in sc.energy.devices if d.reason]
        return None, f"{sc.name}: energy not measured" + (f" ({reasons[0]})" if reasons else "")
    return sc.energy, None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def figures(result: RunResult, path: Path | None = None) -> dict:
    """The row of one result."""
    missing: dict[str, str] = {}
    scenarios = result.scenarios
    model = result.model
    device = result.backend.device.value if result.backend and result.backend.device else None
    out = {
        "run_id": result.run_id,
        "file": path.name if path else None,
        "label": result.label,
        "started_at": result.started_at,
        "status": result.status.value,
        "verdict": result.validity.verdict.value,
        "reasons": result.validity.reasons,
        "model": model.id,
        "model_name": model.name,
        "model_source": model.source,
        "quant": model.quant,
        "backend": result.config.backend,
        "device": device,
        "hardware": hardware_title(result.hardware, device),
        "fingerprint": machine_fingerprint(result.hardware),
        "machine_for_cost": machine(result.hardware, device),
        "model_params": getattr(result.backend, "model_params", None),    # an engine's own field
        # the engine ran other than its default here (a kernel that crashes this CPU): said per row
        "workarounds": [f"{w.line} ({w.caveat})" for w in result.workarounds],
    }

    source, why = throughput_source(result)
    out["throughput"] = source
    if why:
        missing["throughput"] = why
    out["latency_points"] = [
        {"scenario": sc.name, "output_tps": sc.summary.output_tps,
         "tpot_p50_ms": _ms(_median(sc.summary.tpot_s)),
         "ttft_p50_ms": _ms(_median(sc.summary.ttft_s)),
         "valid": _ok(sc)}
        for sc in request_scenarios(result)
    ]

    tg, pp = _headline_stream(scenarios, ScenarioKind.TG), _headline_stream(scenarios, ScenarioKind.PP)
    out["decode_tps"] = tg.summary.tg_tps.mean if tg and tg.summary.tg_tps else None
    out["decode_scenario"] = tg.name if tg else None
    if tg is None:
        missing["decode_tps"] = _not_valid(scenarios, (ScenarioKind.TG,), "tg")
    out["prefill_tps"] = pp.summary.pp_tps.mean if pp and pp.summary.pp_tps else None
    out["prefill_scenario"] = pp.name if pp else None
    if pp is None:
        missing["prefill_tps"] = _not_valid(scenarios, (ScenarioKind.PP,), "pp")

    # Energy per output token: from the scenario that drives cost, else the decode microbenchmark.
    energy_sc: Entry | None = next((sc for sc in scenarios if source and source["valid"]
                                    and sc.name == source["scenario"]), tg)
    if energy_sc is None and source:      # nothing valid: the scenario cost rests on, flagged as its throughput is
        energy_sc = next(sc for sc in scenarios if sc.name == source["scenario"])
    energy, why = _energy(energy_sc)
    out["j_per_token"] = energy.joules_per_output_token if energy else None
    out["energy_method"] = energy.method if energy else None
    out["energy_covers"] = energy.covers if energy else []
    out["energy_scenario"] = energy_sc.name if energy_sc and energy else None
    out["energy_valid"] = bool(energy_sc and energy and _ok(energy_sc))
    out["average_watts"] = energy.average_watts if energy else None
    if why:
        missing["j_per_token"] = why
    idle = result.monitoring.idle if result.monitoring else None
    idle_watts = [w for w in (idle.watts if idle else {}).values() if w is not None]
    out["idle_watts"] = sum(idle_watts) if idle and idle.joules is not None and idle_watts else None
    out["idle_method"] = idle.method if idle and out["idle_watts"] is not None else None
    if out["idle_watts"] is None:
        missing["idle_watts"] = "no idle power baseline in this run"

    memory = result.memory
    device_peaks = [g.get("process_bytes") or g.get("device_used_bytes")
                    for g in ((memory.peak_device_memory if memory else None) or {}).values()]
    out["peak_rss_bytes"] = memory.peak_rss_bytes if memory else None
    out["peak_device_bytes"] = sum(b for b in device_peaks if b) or None
    out["model_file_bytes"] = (memory.model_file_bytes if memory else None) or model.file_bytes
    out["kv_bytes_per_token"] = (memory.kv_cache_bytes_per_token if memory else None) or model.kv_bytes_per_token
    if memory is None:
        missing["peak_rss_bytes"] = "no memory section in this result (older run)"
    if out["peak_device_bytes"] is None:
        missing["peak_device_bytes"] = "no GPU memory sampled (CPU or Apple run, or no NVML)"

    decode: list[Entry] = [tg] if tg else []
    roof_sc = next((sc for sc in decode + [s for s in request_scenarios(result) if _ok(s)] if sc.roofline), None)
    roof = roof_sc.roofline if roof_sc else None
    out["bw_scenario"] = roof_sc.name if roof_sc else None
    out["bw_eff_spec"] = roof.efficiency_spec if roof else None
    out["bw_eff_measured"] = roof.efficiency_measured if roof else None
    out["bw_spec_gbps"] = roof.spec_bandwidth_gbps if roof else None
    out["bw_measured_gbps"] = roof.measured_bandwidth_gbps if roof else None
    if roof is None and any(sc.roofline for sc in scenarios):
        missing["bw_eff"] = "no valid decode scenario: " + _not_valid(scenarios, (ScenarioKind.TG,), "tg")
    elif roof is None:
        missing["bw_eff"] = "no roofline in this result (older run, or no decode scenario)"
    elif out["bw_eff_spec"] is None:
        missing["bw_eff_spec"] = "no spec bandwidth known for this device"
    out["errors"] = result.errors
    if not scenarios:
        # Died or failed before measuring: every figure is missing for that one reason.
        why = f"the run {out['status'] or '?'} before measuring" + (f": {out['errors'][0]}" if out["errors"] else "")
        missing = dict.fromkeys((*missing, "throughput", "peak_rss_bytes", "bw_eff"), why)
    out["missing"] = missing
    return out
