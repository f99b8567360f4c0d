"""What a machine you cannot run `bench run` on would do: the projection model and its fit.

Three figures, each a roofline times efficiencies fit per platform class (cuda, rocm, metal, cpu,
vulkan) on the published reference set (hardware/reference.py); the user's own results calibrate
their own machine on top (hardware/calibration.py):

- Decode at batch 1. A token reads its bytes (weights, plus the KV cache at the context) at
  eta x the memory bandwidth, plus a fixed time t0 that does not shrink with bandwidth (kernel
  launches, dequantisation set-up, the non-matmul ops):
      seconds per token = bytes / (eta[quant family] x BW) + t0[build era] (+ CPUs: see below)
  With t0 = 0 this is eta x BW / bytes, the plain roofline. t0 is what makes a fast machine reach a
  smaller share of its ceiling than a slow one (llama.cpp on an M2 Ultra 45%, on an M1 80%), and a
  4-bit model a smaller share than F16 on the same machine.
  - eta per quant family (legacy block quants, K/I-quants, Q8_0, F16): each family's kernels read
    a byte at their own speed. A family gets its own eta where two machines measured it, or one
    that also measured the class's main family; else the ratio to the legacy family the GPU classes
    measured (pooled_family_ratios), else the main family's.
  - t0 per llama.cpp build era (ERAS, from each row's build date): the fixed time fell a great deal
    as CUDA graphs and fused kernels arrived. An era gets its own t0 with three machines, else the
    nearest era's; a class's projections speak for its newest era (PlatformFit.era).
  - CPUs read min(socket bandwidth, threads x per-thread bandwidth), the per-thread figure a grid
    search on the CPU rows; and a thread spends a fitted time per GB on each family's arithmetic
    (seconds += bytes x s_per_GB[family] / threads): at 2-8 threads decode is partly compute-bound.
- Prefill: tokens/s = eta_fl x compute / FLOPs per token. Compute is the dense FLOP/s where a
  published figure exists; Apple publishes none, so on Metal it is the GPU core count (prefill
  follows GPU cores: llama.cpp discussion #4167), and on CPUs the cores llama.cpp uses.
- Batched decode with B sequences: the batch-B roofline, min(B x BW / (W + B x KV x ctx), compute
  bound), times the batch-1 efficiency, times B^-beta, the share of that efficiency batching keeps:
      aggregate(B) = min(tg(1) x B x (W + KV x ctx) / (W + B x KV x ctx), eta_fl x compute / FLOPs) x B^-beta
  so aggregate(1) is the decode figure. beta is fit on serving rows that give batch 1 and batch B
  from one source.

The fits are least squares on relative errors. Decode is linear in 1/eta per family, t0 per era and
the CPU seconds per GB, with bounds (eta <= 1, t0 >= 0): numpy's lstsq where its answer keeps them,
else scipy's bounded solver. Prefill's and batching's single unknown are in closed form (eta_fl <= 1
of a FLOP/s peak, beta >= 0). A platform with fewer than three machines gets eta alone (t0 = 0):
two unknowns from two machines would fit them exactly and validate nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import cache

from hardware.machines import Machine
from hardware.reference import ERAS, TG128_CONTEXT, ReferenceRow

MIN_MACHINES_FOR_T0 = 3
MIN_MACHINES_FOR_FAMILY = 2     # a quant family's own efficiency needs two machines; else the pooled ratio
PER_CORE_GRID_GBPS = tuple(float(g) for g in range(4, 41))   # what one CPU thread can read, GB/s


@cache
def model_bytes(model: str, quant: str, engine_format: str = "llamacpp") -> tuple[int, int]:
    """(weight bytes one decoded token reads, KV-cache bytes per token) from the catalog."""
    from models.catalog import get_model
    from models.formats import get_format, kv_bytes_per_token, weight_bytes

    spec = get_model(model)
    fmt = get_format(engine_format, quant)
    return weight_bytes(spec.architecture, fmt, spec.name).bytes_per_token, kv_bytes_per_token(spec.architecture, fmt)


@cache
def model_flops(model: str, attended_tokens: float) -> float:
    from models.catalog import get_model
    from models.plan import flops_per_token

    return flops_per_token(get_model(model).architecture, attended_tokens)


def decode_bytes(model: str, quant: str, context: float, engine_format: str = "llamacpp") -> float:
    weights, kv = model_bytes(model, quant, engine_format)
    return weights + kv * context


QUANT_FAMILIES = ("legacy", "k", "q8", "f16")   # kernels that read a byte at different speeds


def quant_family(quant: str) -> str:
    """The kernel family of a quant: legacy block quants (Q4_0, Q5_1 ...), K- and I-quants, Q8_0, or
    16/32-bit floats. A family reads its bytes at its own share of the bandwidth."""
    q = quant.upper()
    if q in ("F16", "BF16", "F32"):
        return "f16"
    if q == "Q8_0":
        return "q8"
    return "k" if "_K" in q or q.startswith("IQ") else "legacy"


@dataclass(frozen=True)
class PlatformFit:
    platform: str
    eta_bw: float | None = None         # share of bandwidth a token's bytes move at (the main quant family)
    t0_s: float = 0.0                   # fixed seconds per decoded token, in the era projections speak for
    tg_machines: int = 0
    eta_fl: float | None = None         # tokens/s x FLOPs per token / compute (unit: compute_unit)
    compute_unit: str = ""
    pp_machines: int = 0
    beta: float | None = None           # batching keeps B^-beta of the batch-1 efficiency
    beta_machines: int = 0
    beta_from: str = ""                 # whose serving rows beta comes from
    eta_family: dict[str, float] = field(default_factory=dict)   # eta per quant family ...
    family_basis: dict[str, str] = field(default_factory=dict)   # ... and where each came from
    t0_era: dict[str, float] = field(default_factory=dict)       # fixed time per build era
    era: str = ERAS[-1]                 # the llama.cpp build era this platform's projections speak for
    per_core_gbps: float | None = None  # CPUs: bandwidth one thread reaches (the socket's figure caps threads x it)
    thread_s_per_gb: dict[str, float] = field(default_factory=dict)  # CPUs: a thread's compute time per GB, per family

    def eta_for(self, quant: str) -> float | None:
        return self.eta_family.get(quant_family(quant), self.eta_bw)

    def t0_for(self, era: str | None) -> float:
        return self.t0_era.get(era or self.era, self.t0_s)

    def to_dict(self) -> dict:
        return asdict(self)


def compute_of(row: ReferenceRow, machine: Machine) -> float | None:
    """The compute a row's prefill had: a CPU row ran on the threads it names (at most the cores)."""
    compute, unit = machine.compute()
    if unit == "cores" and row.threads:
        return min(row.threads, machine.cores or row.threads)
    return compute


def effective_bandwidth(machine: Machine, threads: int | None, per_core_gbps: float | None) -> float:
    """The bandwidth decode can reach: on a CPU, the threads it runs times what one thread reads, up
    to the socket's figure (a 2-vCPU slice of a 12-channel socket reads nothing like the socket)."""
    if machine.platform != "cpu" or not per_core_gbps:
        return machine.bandwidth_gbps
    n = threads or machine.cores
    return min(machine.bandwidth_gbps, n * per_core_gbps) if n else machine.bandwidth_gbps


def predict_tg(fit: PlatformFit, bytes_per_token: float, bandwidth_gbps: float, quant: str = "Q4_0",
               era: str | None = None, threads: int | None = None) -> float | None:
    eta = fit.eta_for(quant)
    if eta is None:
        return None
    compute = fit.thread_s_per_gb.get(quant_family(quant), 0.0) * bytes_per_token / 1e9 / threads if threads else 0.0
    return 1.0 / (bytes_per_token / (eta * bandwidth_gbps * 1e9) + compute + fit.t0_for(era))


def predict_pp(fit: PlatformFit, compute: float | None, flops_per_token: float) -> float | None:
    if fit.eta_fl is None or not compute:
        return None
    return fit.eta_fl * compute / flops_per_token


def batch_speedup(b: int, weights: float, kv_context: float) -> float:
    """How much more a batch of B reads per weight pass: B x (W + KV x ctx) / (W + B x KV x ctx)."""
    return b * (weights + kv_context) / (weights + b * kv_context)


def row_tg(fit: PlatformFit, row: ReferenceRow, m: Machine) -> float | None:
    """A reference row's decode figure as the fit projects it, on the bandwidth its threads reach."""
    threads = row.tg_threads or row.threads or m.cores
    bw = effective_bandwidth(m, threads, fit.per_core_gbps)
    return predict_tg(fit, decode_bytes(row.model, row.quant, row.tg_context, row.fmt_backend), bw, row.quant, row.era,
                      threads if m.platform == "cpu" else None)


@dataclass
class _TgSolution:
    eta_family: dict[str, float]
    family_basis: dict[str, str]
    t0_era: dict[str, float]
    machines: int
    residual: float
    thread_s_per_gb: dict[str, float] = field(default_factory=dict)


def _own_groups(rows: list[ReferenceRow], key, minimum: int) -> list[str]:
    """The values of `key` seen on at least `minimum` machines: each gets an unknown of its own."""
    seen: dict[str, set[str]] = {}
    for r in rows:
        seen.setdefault(key(r), set()).add(r.machine)
    return [k for k, ms in seen.items() if len(ms) >= minimum]


def _bounded_lstsq(a, b, lower):
    """min |a x - b| with x >= lower: numpy's unbounded answer where it keeps the bounds (nearly
    always, and 100x faster), else scipy's bounded solver (numpy's lstsq has no bounds)."""
    import numpy as np
    from scipy.optimize import lsq_linear

    x = np.linalg.lstsq(a, b, rcond=None)[0]
    if np.all(x >= lower):
        return x
    return lsq_linear(a, b, bounds=(lower, np.full(len(lower), np.inf)), method="bvls").x


def _solve_tg(rows: list[ReferenceRow], bandwidth_of, ratios: dict[str, float], threads_of=None) -> _TgSolution | None:
    """Least squares on the relative error of the time per token, linear in 1/eta per family and t0
    per era: seconds = bytes / (eta_family x BW) + t0_era. A family seen on fewer than
    MIN_MACHINES_FOR_FAMILY machines shares the main family's unknown, scaled by the pooled ratio
    other platforms measured for it; an era with fewer than MIN_MACHINES_FOR_T0 machines shares the
    nearest era's t0; a platform with fewer than MIN_MACHINES_FOR_T0 machines fits no t0 at all."""
    import numpy as np

    tg = [r for r in rows if r.tg128 is not None]
    n = len({r.machine for r in tg})
    if not tg:
        return None
    fam_count = {f: len({r.machine for r in tg if quant_family(r.quant) == f}) for f in QUANT_FAMILIES}
    main = max(QUANT_FAMILIES, key=lambda f: (fam_count[f], f == "legacy"))
    with_main = {r.machine for r in tg if quant_family(r.quant) == main}
    # a family earns its own efficiency on two machines, or on one that measured the main family too
    # (a source that ran several quants on one machine gives the ratio directly)
    own = [f for f in QUANT_FAMILIES if f == main or fam_count[f] >= MIN_MACHINES_FOR_FAMILY
           or any(quant_family(r.quant) == f and r.machine in with_main for r in tg)]
    eras = [e for e in ERAS if e in _own_groups(tg, lambda r: r.era, MIN_MACHINES_FOR_T0)] if n >= MIN_MACHINES_FOR_T0 else []

    def era_col(era: str) -> int:
        # an era without machines enough of its own shares the nearest one's t0 (the newer on a tie)
        return min(range(len(eras)), key=lambda i: (abs(ERAS.index(eras[i]) - ERAS.index(era)), -i))

    cpu = own if threads_of is not None and n >= MIN_MACHINES_FOR_T0 else []
    a, b = [], []
    for r in tg:
        nbytes = decode_bytes(r.model, r.quant, r.tg_context, r.fmt_backend)
        x = nbytes / (bandwidth_of(r) * 1e9)
        fam, speed = quant_family(r.quant), r.tg128
        assert speed is not None                # tg holds the rows with a decode figure only
        row = [0.0] * (len(own) + len(eras) + len(cpu))
        if fam in own:
            row[own.index(fam)] = x * speed
        else:                                   # eta_fam = ratio x eta_main: 1/eta_fam = (1/eta_main) / ratio
            row[own.index(main)] = x * speed / ratios.get(fam, 1.0)
        if eras:
            row[len(own) + era_col(r.era)] = speed
        if cpu:                                 # CPU: time each thread spends on a byte (dequantising, dot products)
            row[len(own) + len(eras) + cpu.index(fam if fam in cpu else main)] = nbytes / 1e9 / threads_of(r) * speed
        a.append(row)
        b.append(1.0)
    x = _bounded_lstsq(np.array(a), np.array(b), np.array([1.0] * len(own) + [0.0] * (len(eras) + len(cpu))))
    compute = {f: float(x[len(own) + len(eras) + i]) for i, f in enumerate(cpu)}
    residual = float(np.sum((np.array(a) @ x - 1.0) ** 2))
    eta = {f: float(1.0 / x[i]) for i, f in enumerate(own)}
    basis = {f: f"fit on {fam_count[f]} machine(s)" for f in own}
    for f in QUANT_FAMILIES:
        if f not in eta:
            eta[f] = eta[main] * ratios.get(f, 1.0)
            basis[f] = (f"{main} x {ratios[f]:.2f}, the ratio other platforms measured" if f in ratios
                        else f"as {main}: no machine measured it")
    t0 = {e: float(x[len(own) + i]) for i, e in enumerate(eras)}
    for e in ERAS:
        if e not in t0:
            t0[e] = t0[eras[era_col(e)]] if eras else 0.0
    return _TgSolution(eta, basis, t0, n, residual, {f: compute.get(f, compute.get(main, 0.0)) for f in QUANT_FAMILIES}
                       if compute else {})


def _fit_tg(rows: list[ReferenceRow], machine_of: dict[str, Machine], platform: str,
            ratios: dict[str, float]) -> tuple[_TgSolution | None, float | None]:
    """The decode fit, and on CPUs the per-thread bandwidth that fits the rows best (a coarse grid,
    then the whole GB/s around its best: the unknown is not linear). Memoised on the rows: the
    validation refits a platform whose rows a held-out group did not touch many times over."""
    key = (platform, tuple(rows), tuple(sorted(ratios.items())),
           tuple((m.bandwidth_gbps, m.cores) for m in (machine_of[r.machine] for r in rows)))
    if key not in _TG_FITS:
        if len(_TG_FITS) > 4096:
            _TG_FITS.clear()
        _TG_FITS[key] = _search_tg(rows, machine_of, platform, ratios)
    return _TG_FITS[key]


_TG_FITS: dict[tuple, tuple[_TgSolution | None, float | None]] = {}


def _search_tg(rows, machine_of, platform, ratios):
    def threads_of(r: ReferenceRow) -> int:
        return r.tg_threads or r.threads or machine_of[r.machine].cores or 1

    def solve(per_core: float | None) -> _TgSolution | None:
        return _solve_tg(rows, lambda r: effective_bandwidth(machine_of[r.machine], r.tg_threads or r.threads,
                                                             per_core), ratios, threads_of if platform == "cpu" else None)

    best: tuple[_TgSolution | None, float | None] = (solve(None), None)
    if platform != "cpu" or best[0] is None or not PER_CORE_GRID_GBPS:
        return best
    coarse = PER_CORE_GRID_GBPS[::4]
    fine = lambda c: [g for g in PER_CORE_GRID_GBPS if abs(g - c) < 4]   # noqa: E731
    for grid in (coarse, None):
        for per_core in grid if grid is not None else fine(best[1] or coarse[0]):
            sol = solve(per_core)
            if sol is not None and best[0] is not None and sol.residual < best[0].residual - 1e-12:
                best = sol, per_core
    return best


def _fit_pp(rows: list[ReferenceRow], machine_of: dict[str, Machine]) -> tuple[float | None, str, int]:
    use: list[tuple[ReferenceRow, float, float]] = []      # (row, its compute, its pp512)
    for r in rows:
        c = compute_of(r, machine_of[r.machine]) if r.pp512 is not None else None
        if r.pp512 is not None and c:
            use.append((r, c, r.pp512))
    if not use:
        return None, "", 0
    unit = machine_of[use[0][0].machine].compute()[1]
    # eta_fl x c / flops = pp: least squares on the relative error has the closed form below
    x = [c / (model_flops(r.model, r.pp_tokens / 2) * pp) for r, c, pp in use]
    eta = sum(x) / sum(v * v for v in x)
    if unit == "FLOP/s":
        eta = min(eta, 1.0)            # no more than the peak
    return eta, unit, len({r.machine for r, _, _ in use})


def _serving_groups(rows: list[ReferenceRow]) -> list[tuple[ReferenceRow, ReferenceRow]]:
    """(batch-1 row, batch-B row) pairs from one source on one machine."""
    served = [r for r in rows if r.output_tps is not None]
    pairs = []
    for r in served:
        if r.concurrency and r.concurrency > 1:
            one = next((o for o in served if o.machine == r.machine and o.source == r.source and o.concurrency == 1), None)
            if one is not None:
                pairs.append((one, r))
    return pairs


def batch_size(row: ReferenceRow) -> int:
    """The sequences a row decoded together; a row that says none ran one."""
    return row.concurrency or 1


def retention(one: ReferenceRow, many: ReferenceRow) -> float:
    """Aggregate at B over what the batch-1 figure times the batch-B roofline gain predicts."""
    if one.output_tps is None or many.output_tps is None:
        raise ValueError(f"retention of {many.id} needs two serving rows (output_tps), got {one.id} and {many.id}")
    weights, kv = model_bytes(many.model, many.quant, many.fmt_backend)
    return many.output_tps / (one.output_tps * batch_speedup(batch_size(many), weights, kv * (many.context or 0)))


def _fit_beta(rows: list[ReferenceRow]) -> tuple[float | None, int]:
    pairs = _serving_groups(rows)
    if not pairs:
        return None, 0
    # B^-beta = retention  ->  beta x ln B = -ln retention, least squares with beta >= 0
    num = sum(-math.log(retention(o, m)) * math.log(batch_size(m)) for o, m in pairs)
    den = sum(math.log(batch_size(m)) ** 2 for _, m in pairs)
    return max(num / den, 0.0), len({m.machine for _, m in pairs})


def pooled_family_ratios(rows: list[ReferenceRow], machine_of: dict[str, Machine]) -> dict[str, float]:
    """eta of each quant family over eta of the legacy family, as the GPU platforms that fit both on
    their own measured it (geometric mean): what a platform that never measured a family assumes."""
    logs: dict[str, list[float]] = {}
    # not the CPUs': their per-thread compute time takes up much of what sets a family apart there
    for platform in dict.fromkeys(r.platform for r in rows if r.platform != "cpu"):
        sol, _ = _fit_tg([r for r in rows if r.platform == platform], machine_of, platform, {})
        if sol is None or not sol.family_basis["legacy"].startswith("fit"):
            continue
        for f in QUANT_FAMILIES[1:]:
            if sol.family_basis[f].startswith("fit"):
                logs.setdefault(f, []).append(math.log(sol.eta_family[f] / sol.eta_family["legacy"]))
    return {f: math.exp(sum(v) / len(v)) for f, v in logs.items()}


def fit(rows: list[ReferenceRow], machine_of: dict[str, Machine]) -> dict[str, PlatformFit]:
    """Efficiencies per platform class from these rows (published and measured alike)."""
    by_platform: dict[str, list[ReferenceRow]] = {}
    for r in rows:
        by_platform.setdefault(r.platform, []).append(r)
    pooled_beta, _pooled_n = _fit_beta(rows)
    pooled_from = ", ".join(sorted({r.platform for r, _ in _serving_groups(rows)}))
    ratios = pooled_family_ratios(rows, machine_of)
    out = {}
    for platform, prows in by_platform.items():
        sol, per_core = _fit_tg(prows, machine_of, platform, ratios)
        eta_fl, unit, pp_n = _fit_pp(prows, machine_of)
        beta, beta_n = _fit_beta(prows)
        beta_from = f"{platform} serving rows"
        if beta is None and pooled_beta is not None:
            beta, beta_n, beta_from = pooled_beta, 0, f"no {platform} serving rows: the {pooled_from} rows' beta"
        if sol is None:
            out[platform] = PlatformFit(platform, None, 0.0, 0, eta_fl, unit, pp_n, beta, beta_n, beta_from)
            continue
        era = max((r.era for r in prows if r.tg128 is not None), key=ERAS.index)
        main = max(sol.family_basis, key=lambda f: (sol.family_basis[f].startswith("fit"), f == "legacy"))
        out[platform] = PlatformFit(platform, sol.eta_family[main], sol.t0_era[era], sol.machines, eta_fl, unit,
                                    pp_n, beta, beta_n, beta_from, sol.eta_family, sol.family_basis, sol.t0_era,
                                    era, per_core, sol.thread_s_per_gb)
    return out


@dataclass
class Level:
    concurrency: int
    aggregate_tps: float | None         # decode tokens/s of all sequences together
    bound: str | None                   # "bandwidth" or "compute": which side of the min() set it
    output_tps: float | None            # a request stream: prefill of the prompt, then the output
    input_tps: float | None
    why: str | None = None
    prefill_counted: bool = False       # the request stream includes the prompts' prefill time


@dataclass
class Projection:
    machine: Machine
    model: str
    quant: str
    context: int
    output_tokens: int
    fit: PlatformFit | None
    pp512: float | None
    tg: float | None                    # batch 1, KV at `context`
    levels: list[Level]
    missing: dict[str, str]
    tg128: float | None = None          # batch 1 as llama-bench's tg128 runs it (64 tokens of context on average)


def _times(scale: float, value: float | None) -> float | None:
    return None if value is None else scale * value


def project(machine: Machine, fits: dict[str, PlatformFit], model: str, quant: str, context: int,
            concurrency: list[int], output_tokens: int = 256, scale: tuple[float, float] = (1.0, 1.0)) -> Projection:
    """Projected pp512, batch-1 decode (tg128, and at `context`) and batched decode of `model` at
    `quant` (GGUF) on `machine`. `scale` (decode, prefill) is a calibration on the machine's own
    results: every decode figure times the first, every prefill figure times the second."""
    f = fits.get(machine.platform)
    s_tg, s_pp = scale
    missing: dict[str, str] = {}
    weights, kv = model_bytes(model, quant)
    compute, unit = machine.compute()
    tg = tg128 = pp512 = None
    if f is None or f.eta_bw is None:
        missing["tg"] = f"no {machine.platform} reference rows to fit the decode efficiency on"
    else:
        bw = effective_bandwidth(machine, machine.cores, f.per_core_gbps)
        threads = machine.cores if machine.platform == "cpu" else None
        tg, tg128 = (_times(s_tg, predict_tg(f, weights + kv * ctx, bw, quant, threads=threads))
                     for ctx in (context, TG128_CONTEXT))
    if f is None or f.eta_fl is None:
        missing["pp"] = f"no {machine.platform} reference rows with a compute figure to fit prefill on"
    elif not compute:
        missing["pp"] = f"{machine.name}: no published {unit} figure (see its note in hardware/specs.json)"
    else:
        pp512 = _times(s_pp, predict_pp(f, compute, model_flops(model, 256)))
    prompt = max(context - output_tokens, 0)
    compute_tps = _times(s_pp, predict_pp(f, compute, model_flops(model, context))) if f and compute else None
    prompt_tps = _times(s_pp, predict_pp(f, compute, model_flops(model, prompt / 2))) if f and compute else None
    levels = []
    for b in concurrency:
        if tg is None or f is None:
            levels.append(Level(b, None, None, None, None, missing["tg"]))
            continue
        beta = f.beta or 0.0
        bandwidth_side = tg * batch_speedup(b, weights, kv * context)
        side = bandwidth_side if compute_tps is None or bandwidth_side <= compute_tps else compute_tps
        agg = side * b ** -beta
        why = None if compute_tps is not None else "compute bound unknown (no compute figure): bandwidth side only"
        # per B requests: B prompts prefilled one after another, then B x output tokens decoded together
        if prompt_tps:
            out_tps = output_tokens / (prompt / prompt_tps + output_tokens / agg)
        else:
            out_tps = agg
            why = (why + "; " if why else "") + "prefill time not counted in the request stream (no compute figure)"
        levels.append(Level(b, agg, "bandwidth" if side is bandwidth_side else "compute", out_tps,
                            out_tps * prompt / output_tokens, why, bool(prompt_tps)))
    return Projection(machine, model, quant, context, output_tokens, f, pp512, tg, levels, missing, tg128)
