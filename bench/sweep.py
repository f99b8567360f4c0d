"""`bench run` over several models x quants: a fit check before each, one process per run.

One failing combination does not stop the rest; the exit code says whether any failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import BenchError


@dataclass
class Combination:
    model: str
    quant: str
    skip_reason: str | None = None


def combinations(models: str, quants: str) -> list[Combination]:
    ms = [m.strip() for m in models.split(",") if m.strip()]
    qs = [q.strip() for q in quants.split(",") if q.strip()]
    if not ms or not qs:
        raise BenchError("no model or quant given", "for example --model llama-3.1-8b --quant Q4_K_M")
    return [Combination(m, q) for m in ms for q in qs]


def check_fits(combos: list[Combination], scenarios: list, ctx_size: int | None, backend: str,
               flash_attn: bool, n_ubatch: int) -> str | None:
    """Mark the combinations that cannot fit in this machine's memory. Returns where the
    available-memory figure came from, or None when no check applies (an engine without
    memory_fit_checked: HTTP servers, and engines that size their own memory)."""
    import hardware
    from bench.run import default_context
    from engines import backend_class
    from models.catalog import CATALOG, ModelSpec, get_model
    from models.fit import available_memory, check_fit
    from models.resolve import ResolvedModel, looks_like_path, resolve_model

    if not backend_class(backend).capabilities.memory_fit_checked:
        return None
    available, where = available_memory(hardware.probe())
    context = default_context(scenarios, ctx_size)
    # the most sequences any scenario holds, each at the longest context any needs: an upper bound
    concurrency = max(s.sequences_needed for s in scenarios)
    model: ResolvedModel | ModelSpec
    for c in combos:
        if looks_like_path(c.model):
            if not c.model.endswith(".gguf"):
                continue
            model, quant = resolve_model(c.model, c.quant, None, None), None
        elif c.model.strip().lower() in CATALOG:
            model, quant = get_model(c.model), c.quant
        else:
            continue    # resolve_model reports the unknown id in the run itself
        verdict = check_fit(model, quant, context, concurrency, available, backend=backend,
                            flash_attn=flash_attn, n_ubatch=n_ubatch)
        if not verdict.fits:
            fewer = "; lower --concurrency or --max-in-flight to hold fewer sequences" if concurrency > 1 else ""
            c.skip_reason = verdict.reason + fewer
    return where


def exit_code(statuses: list[str], nothing_measured: bool = False) -> int:
    """README, Exit codes. `nothing_measured`: a run that completed had no valid measurement (3)."""
    ran = [s for s in statuses if s != "skipped"]
    if "interrupted" in ran:
        return 130
    if not ran or any(s != "completed" for s in ran):
        return 1
    return 3 if nothing_measured else 0


def summary_rows(combos: list[Combination], outcomes: list) -> list[dict]:
    rows = []
    for c, o in zip(combos, outcomes, strict=True):
        rows.append({"model": c.model, "quant": c.quant,
                     "status": "skipped" if c.skip_reason else o.status,
                     "detail": c.skip_reason or (str(o.path) if o.path else f"exit code {o.exit_code}")})
    return rows

