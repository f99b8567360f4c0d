"""Physics checks on a result: figures that no real machine can produce mean a measuring bug.

- batch-1 decode cannot beat memory bandwidth: tokens/s <= bandwidth / bytes read per token
  (the roofline stored with every tg and single-stream figure), against the spec figure and,
  separately and with no slack, against the read roof measured on the machine: a decode above
  the measured roof means the roof was measured under load or is stale, and says which;
- a device under load draws more than it did idle and, on average, no more than its power limit;
- the device memory the driver saw our process hold covers what the engine says it allocated,
  and that covers the weights.

A check that cannot be made (no GPU, an estimated energy figure) is skipped with the reason,
never passed. `bench check RESULT...` (bench/commands/check.py) prints them and exits non-zero on a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.result import DeviceEnergy, EnergyWindow, RunResult
from hardware.bandwidth import age_text
from hardware.gpus import gpu_for

PASS, FAIL, SKIP = "pass", "FAIL", "skip"
# What a CUDA process holds beyond torch's reserved pool: the context, cuBLAS workspaces, kernels.
CUDA_CONTEXT_ALLOWANCE_BYTES = 3 << 30


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def check_result(doc: RunResult) -> list[Check]:
    if not doc.scenarios:
        # A run that died or failed before measuring (its hardware section may be null too).
        errors = doc.errors
        return [Check("measurements", SKIP, f"nothing was measured: the run {doc.status} "
                                            f"before any scenario ran" + (f" ({errors[0]})" if errors else ""))]
    return _bandwidth_checks(doc) + _power_checks(doc) + _memory_checks(doc)


def _bandwidth_checks(doc: RunResult) -> list[Check]:
    out = []
    for sc in doc.scenarios:
        roof = sc.roofline
        if roof is None or roof.measured_tps is None:
            continue
        tps, per_token = roof.measured_tps, f"{roof.bytes_per_token / 1e9:.2f} GB per token"
        name = f"{sc.name}: decode under the bandwidth ceiling"
        if roof.ceiling_tps_spec is None:
            out.append(Check(name, SKIP, "no spec bandwidth for this device"))
        else:
            out.append(Check(name, PASS if tps <= roof.ceiling_tps_spec else FAIL,
                             f"{tps:.1f} tok/s vs ceiling {roof.ceiling_tps_spec:.1f} "
                             f"(spec {roof.spec_bandwidth_gbps:g} GB/s / {per_token})"))
        name = f"{sc.name}: decode under the measured read roof"
        ceiling = roof.ceiling_tps_measured
        if ceiling is None:
            out.append(Check(name, SKIP, "no measured bandwidth for this device"))
            continue
        detail = (f"{tps:.1f} tok/s = {tps / ceiling:.0%} of {ceiling:.1f} (measured "
                  f"{roof.measured_bandwidth_gbps:g} GB/s / {per_token})")
        if tps <= ceiling:
            out.append(Check(name, PASS, detail))
        else:
            out.append(Check(name, FAIL, f"{detail}: above the measured read roof: {_roof_doubt(doc)}; "
                                         f"re-run bench hardware --measure-bandwidth"))
    return out


def _roof_doubt(doc: RunResult) -> str:
    """Why the measured roof a decode beat is likely wrong, from how the run's roof was measured
    (the result's bandwidth section: hardware/bandwidth.py's fields, as it wrote them)."""
    device = doc.backend.device if doc.backend else None
    gpu = gpu_for(doc.hardware, device) if doc.hardware is not None else None
    bw = (doc.bandwidth or {}).get(gpu.device if gpu is not None else "cpu")
    if not isinstance(bw, dict):
        return "the result does not say how its roof was measured"
    if (bw.get("kernels") or {}).get("read") != bw.get("gbps"):   # results before the read roof
        return f"the roof is an older rightsize's best kernel ({bw.get('method')}), not a read roof"
    load = [x for x in (bw.get("loadavg_before"), bw.get("loadavg_after")) if x is not None]
    age = bw.get("age_s")
    how = (f"load avg {max(load):g}" if load else "load avg n/a") + \
        (f" on {bw['logical_cpus']} CPUs" if bw.get("logical_cpus") else "") + \
        (f", {age_text(age)} old" if age is not None else ", age n/a")
    if bw.get("under_load"):
        return f"the roof was measured under load ({how})"
    return f"the roof was measured under load or is stale ({how})"


def _devices(window: EnergyWindow | None) -> dict[str, DeviceEnergy]:
    return {d.device: d for d in window.devices} if window else {}


def _power_checks(doc: RunResult) -> list[Check]:
    gpus = {g.device: g for g in doc.hardware.gpus} if doc.hardware is not None else {}
    idle = _devices(doc.monitoring.idle if doc.monitoring else None)
    out = []
    for sc in doc.scenarios:
        for device, reading in _devices(sc.energy).items():
            name = f"{sc.name}: {device} watts between idle and the power limit"
            watts = reading.average_watts
            if watts is None:
                continue
            if reading.method not in ("counter", "integrated"):
                out.append(Check(name, SKIP, f"{device} energy is {reading.method}, not measured"))
                continue
            idle_w = idle[device].average_watts if device in idle else None
            limit = gpus[device].power_limit_w if device in gpus else None
            if idle_w is None or limit is None:
                out.append(Check(name, SKIP, f"{watts:.0f} W; idle draw or power limit unknown"))
                continue
            ok = idle_w < watts <= limit
            out.append(Check(name, PASS if ok else FAIL,
                             f"{watts:.0f} W (idle {idle_w:.0f} W, limit {limit:.0f} W, {reading.method})"))
    return out


def _memory_checks(doc: RunResult) -> list[Check]:
    engine = doc.engine_memory or {}
    allocated, reserved = engine.get("device_peak_allocated_bytes"), engine.get("device_peak_reserved_bytes")
    name = "device memory: driver >= engine's peak allocation >= weights"
    if allocated is None:
        return [Check(name, SKIP, "the engine reports no device allocation (not a CUDA torch run)")]
    weights = getattr(doc.backend, "model_bytes", None)     # an engine's own field: not every engine has it
    peaks = (doc.memory.peak_device_memory if doc.memory else None) or {}
    seen = [p.get("process_bytes") for p in peaks.values() if p.get("process_bytes") is not None]
    scope = "process"
    if not seen:    # NVML could not attribute memory to processes: the device total bounds it from above only
        seen, scope = [p.get("device_used_bytes") for p in peaks.values() if p.get("device_used_bytes")], "device"
    if not seen:
        return [Check(name, SKIP, f"torch peak {_gib(allocated)}, but NVML reported no device memory")]
    driver = max(seen)
    problems = []
    if weights is not None and allocated < weights:
        problems.append("the peak allocation is smaller than the weights")
    # Sampled twice a second, the driver's figure can miss a short peak; torch's pool stays reserved.
    if driver < 0.95 * allocated:
        problems.append(f"NVML ({scope}) saw less than torch allocated")
    if scope == "process" and reserved is not None and driver > reserved + CUDA_CONTEXT_ALLOWANCE_BYTES:
        problems.append("NVML saw more than torch reserved plus a CUDA context")
    detail = (f"NVML {scope} peak {_gib(driver)}, torch max allocated {_gib(allocated)}, reserved "
              f"{_gib(reserved)}, weights {_gib(weights)}")
    return [Check(name, FAIL if problems else PASS, detail + ("; " + "; ".join(problems) if problems else ""))]


def _gib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.2f} GiB"
