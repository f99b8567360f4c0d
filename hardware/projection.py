"""What a machine you cannot run `bench run` on would do: the projection model and its fit.

Three figures, each a roofline times efficiencies fit per platform class (cuda, rocm, metal, cpu,
vulkan) on the reference set (hardware/reference.py) and the user's own results:

- Decode at batch 1. A token reads its bytes (weights, plus the KV cache at the context) at
  eta_bw x the memory bandwidth, plus a fixed time t0 that does not shrink with bandwidth (kernel
  launches, dequantisation set-up, the non-matmul ops):
      seconds per token = bytes / (eta_bw x BW) + t0
  With t0 = 0 this is eta_bw x BW / bytes, the plain roofline. t0 is what makes a fast machine
  reach a smaller share of its ceiling than a slow one (llama.cpp on an M2 Ultra 45%, on an M1
  80%), and a 4-bit model a smaller share than F16 on the same machine.
- Prefill: tokens/s = eta_fl x compute / FLOPs per token. Compute is the dense FLOP/s where a
  published figure exists; Apple publishes none, so on Metal it is the GPU core count (prefill
  follows GPU cores: llama.cpp discussion #4167), and on CPUs the cores llama.cpp uses.
- Batched decode with B sequences: the batch-B roofline, min(B x BW / (W + B x KV x ctx), compute
  bound), times the batch-1 efficiency, times B^-beta, the share of that efficiency batching keeps:
      aggregate(B) = min(tg(1) x B x (W + KV x ctx) / (W + B x KV x ctx), eta_fl x compute / FLOPs) x B^-beta
  so aggregate(1) is the decode figure. beta is fit on serving rows that give batch 1 and batch B
  from one source.

The efficiencies are fit by least squares on relative errors: decode's two unknowns by scipy's
bounded lsq_linear (eta_bw <= 1, t0 >= 0; numpy's lstsq has no bounds), prefill's and batching's
single unknown in closed form (eta_fl <= 1 of a FLOP/s peak, beta >= 0). A platform with fewer
than three machines gets eta_bw alone (t0 = 0): two unknowns from two machines would fit them
exactly and validate nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

from hardware.machines import Machine
from hardware.reference import ReferenceRow

MIN_MACHINES_FOR_T0 = 3


@lru_cache(maxsize=None)
def model_bytes(model: str, quant: str, engine_format: str = "llamacpp") -> tuple[int, int]:
    """(weight bytes one decoded token reads, KV-cache bytes per token) from the catalog."""
    from models.catalog import get_model
    from models.formats import get_format, kv_bytes_per_token, weight_bytes

    spec = get_model(model)
    fmt = get_format(engine_format, quant)
    return weight_bytes(spec.architecture, fmt, spec.name).bytes_per_token, kv_bytes_per_token(spec.architecture, fmt)


@lru_cache(maxsize=None)
def model_flops(model: str, attended_tokens: float) -> float:
    from models.catalog import get_model
    from models.plan import flops_per_token

    return flops_per_token(get_model(model).architecture, attended_tokens)


def decode_bytes(model: str, quant: str, context: float, engine_format: str = "llamacpp") -> float:
    weights, kv = model_bytes(model, quant, engine_format)
    return weights + kv * context


@dataclass(frozen=True)
class PlatformFit:
    platform: str
    eta_bw: float | None = None         # share of bandwidth a token's bytes move at
    t0_s: float = 0.0                   # fixed seconds per decoded token
    tg_machines: int = 0
    eta_fl: float | None = None         # tokens/s x FLOPs per token / compute (unit: compute_unit)
    compute_unit: str = ""
    pp_machines: int = 0
    beta: float | None = None           # batching keeps B^-beta of the batch-1 efficiency
    beta_machines: int = 0
    beta_from: str = ""                 # whose serving rows beta comes from

    def to_dict(self) -> dict:
        return asdict(self)


def compute_of(row: ReferenceRow, machine: Machine) -> float | None:
    """The compute a row's prefill had: a CPU row ran on the threads it names (at most the cores)."""
    compute, unit = machine.compute()
    if unit == "cores" and row.threads:
        return min(row.threads, machine.cores or row.threads)
    return compute


def predict_tg(fit: PlatformFit, bytes_per_token: float, bandwidth_gbps: float) -> float | None:
    if fit.eta_bw is None:
        return None
    return 1.0 / (bytes_per_token / (fit.eta_bw * bandwidth_gbps * 1e9) + fit.t0_s)


def predict_pp(fit: PlatformFit, compute: float | None, flops_per_token: float) -> float | None:
    if fit.eta_fl is None or not compute:
        return None
    return fit.eta_fl * compute / flops_per_token


def batch_speedup(b: int, weights: float, kv_context: float) -> float:
    """How much more a batch of B reads per weight pass: B x (W + KV x ctx) / (W + B x KV x ctx)."""
    return b * (weights + kv_context) / (weights + b * kv_context)


def _row_tg_seconds(row: ReferenceRow, m: Machine) -> float:
    """Seconds the row's bytes take at the full bandwidth."""
    return decode_bytes(row.model, row.quant, row.tg_context, row.fmt_backend) / (m.bandwidth_gbps * 1e9)


def _fit_tg(rows: list[ReferenceRow], machine_of: dict[str, Machine]) -> tuple[float | None, float, int]:
    from scipy.optimize import lsq_linear
    import numpy as np

    terms = [(_row_tg_seconds(r, machine_of[r.machine]), r.tg128) for r in rows if r.tg128 is not None]
    n = len({r.machine for r in rows if r.tg128 is not None})
    if not terms:
        return None, 0.0, 0
    # each row: (x / eta + t0) x tg = 1, i.e. the relative error of the time per token; unknowns 1/eta, t0
    with_t0 = n >= MIN_MACHINES_FOR_T0
    a = np.array([[x * tg, tg] if with_t0 else [x * tg] for x, tg in terms])
    lower = [1.0, 0.0] if with_t0 else [1.0]
    sol = lsq_linear(a, np.ones(len(terms)), bounds=(lower, [np.inf] * len(lower))).x
    return float(1.0 / sol[0]), (float(sol[1]) if with_t0 else 0.0), n


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


def fit(rows: list[ReferenceRow], machine_of: dict[str, Machine]) -> dict[str, PlatformFit]:
    """Efficiencies per platform class from these rows (published and measured alike)."""
    by_platform: dict[str, list[ReferenceRow]] = {}
    for r in rows:
        by_platform.setdefault(r.platform, []).append(r)
    pooled_beta, pooled_n = _fit_beta(rows)
    pooled_from = ", ".join(sorted({r.platform for r, _ in _serving_groups(rows)}))
    out = {}
    for platform, prows in by_platform.items():
        eta_bw, t0, tg_n = _fit_tg(prows, machine_of)
        eta_fl, unit, pp_n = _fit_pp(prows, machine_of)
        beta, beta_n = _fit_beta(prows)
        beta_from = f"{platform} serving rows"
        if beta is None and pooled_beta is not None:
            beta, beta_n, beta_from = pooled_beta, 0, f"no {platform} serving rows: the {pooled_from} rows' beta"
        out[platform] = PlatformFit(platform, eta_bw, t0, tg_n, eta_fl, unit, pp_n, beta, beta_n, beta_from)
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


def project(machine: Machine, fits: dict[str, PlatformFit], model: str, quant: str, context: int,
            concurrency: list[int], output_tokens: int = 256) -> Projection:
    """Projected pp512, batch-1 decode and batched decode of `model` at `quant` (GGUF) on `machine`."""
    f = fits.get(machine.platform)
    missing: dict[str, str] = {}
    weights, kv = model_bytes(model, quant)
    compute, unit = machine.compute()
    tg = pp512 = None
    if f is None or f.eta_bw is None:
        missing["tg"] = f"no {machine.platform} reference rows to fit the decode efficiency on"
    else:
        tg = predict_tg(f, weights + kv * context, machine.bandwidth_gbps)
    if f is None or f.eta_fl is None:
        missing["pp"] = f"no {machine.platform} reference rows with a compute figure to fit prefill on"
    elif not compute:
        missing["pp"] = f"{machine.name}: no published {unit} figure (see its note in hardware/specs.json)"
    else:
        pp512 = predict_pp(f, compute, model_flops(model, 256))
    prompt = max(context - output_tokens, 0)
    compute_tps = predict_pp(f, compute, model_flops(model, context)) if f and compute else None
    prompt_tps = predict_pp(f, compute, model_flops(model, prompt / 2)) if f and compute else None
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
    return Projection(machine, model, quant, context, output_tokens, f, pp512, tg, levels, missing)
