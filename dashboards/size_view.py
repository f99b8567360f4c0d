"""`bench size`'s table: each box's capacity within the SLO, sized for a demand, priced a month,
beside what the APIs would bill for the same requests. A box is measured (a bench run result) or
PROJECTED (bench project's figures, size_projected).

A box's capacity is the highest load level of the workload that met the SLO: the run's --search
answer, else the best passing level of its sweep (levels measured against another SLO are judged
again from their own requests). Its interval comes from the level's count of measured requests
(sizing.rate_interval). The machine-hour is the one `bench results` prices the run with (rows.py:
the cost profile chosen for its hardware, or --hourly-cost / --capex), an owned box's electricity
at the power its capacity level drew.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from contract.enums import Status
from contract.result import LoadLevelEntry, Outcome, RunResult, SloSearchEntry
from dashboards.compare import rows_for
from dashboards.cost import MachineHour
from dashboards.errors import DashboardError
from dashboards.prices import ApiPrice
from dashboards.profiles import CostProfile
from dashboards.rows import CostSettings, choose_profile, price_run
from dashboards.sizing import Capacity, Demand, Plan, api_usd_per_month, owning_wins_above, plan, rate_interval
from scenarios.slo import SLO, judge


@dataclass
class ApiBill:
    provider: str
    model: str
    usd_per_month: float
    like_for_like: bool                    # serves the run's own model


@dataclass
class Candidate:
    """One box x model x quant, measured or PROJECTED, sized for the demand."""
    run_id: str
    label: str
    hardware: str
    model: str
    quant: str | None
    backend: str
    level: str                             # the entry whose rate is the capacity
    capacity: Capacity
    hour: MachineHour
    basis: str                             # what the machine-hour is, in words
    plan: Plan
    apis: list[ApiBill]
    apis_what: str
    wins_above: float | None               # requests/day above which the boxes beat the cheapest API
    notes: list[str] = field(default_factory=list)
    projected: bool = False                # a box not measured: bench project's figures and band
    quality: dict = field(default_factory=dict)    # the eval accuracy and quality KLD found (quality_of)

    @property
    def cheapest_api(self) -> ApiBill | None:
        return min(self.apis, key=lambda a: a.usd_per_month) if self.apis else None


def _met(entry: LoadLevelEntry, slo: SLO | None) -> bool:
    """Whether the level met `slo` (None: the SLO it was measured against)."""
    verdict = entry.summary.slo
    if slo is None or (verdict is not None and (verdict.slo.ttft_s, verdict.slo.tpot_s, verdict.slo.percentile)
                       == (slo.ttft_s, slo.tpot_s, slo.percentile)):
        return bool(verdict and verdict.met)
    # judged again from its own requests, as scenarios/levels.py judged it: a failed one is a miss
    ttfts, tpots = entry.samples.get("ttft_s"), entry.samples.get("tpot_s")
    if ttfts is None or tpots is None or len(ttfts) != len(tpots):
        return False
    return bool(judge(slo, list(ttfts), list(tpots), entry.measured_requests - len(ttfts)).met)


def capacity_of(doc: RunResult, workload: str, slo: SLO | None) -> tuple[LoadLevelEntry, Capacity] | str:
    """The level that is the box's capacity for `workload`, and the capacity; else why there is none."""
    levels = [sc for sc in doc.scenarios if isinstance(sc, LoadLevelEntry) and sc.params.scenario == workload]
    if not levels:
        return f"no load level of {workload} (bench run --scenario {workload} --search concurrency)"
    usable = [sc for sc in levels if sc.status == Status.COMPLETED and sc.validity.verdict == "VALID"
              and sc.measured_requests and sc.measured_window_s and sc.summary.requests_per_s]
    searched = {sc.summary.best_level for sc in doc.scenarios if isinstance(sc, SloSearchEntry)
                and sc.params.scenario == workload and sc.summary.best_level}
    passing = [sc for sc in usable if _met(sc, slo)]
    if searched and slo is None:
        passing = [sc for sc in passing if sc.name in searched] or passing
    if not passing:
        return f"none of its {len(levels)} level(s) of {workload} met the SLO with a valid measurement"
    best = max(passing, key=lambda sc: sc.summary.requests_per_s or 0.0)
    assert best.measured_window_s is not None and best.summary.requests_per_s is not None
    low, high = rate_interval(best.measured_requests, best.measured_window_s)
    return best, Capacity(float(best.summary.requests_per_s), low, high)


def measured_lengths(docs: list[RunResult], workload: str) -> tuple[float, float] | None:
    """Mean input and output tokens per request over the measured requests of `workload`'s load
    levels in these results (a chat-session's or a trace replay's, which no profile describes);
    None where no level of it has them."""
    ins: list[int] = []
    outs: list[int] = []
    for doc in docs:
        for sc in doc.scenarios:
            if isinstance(sc, LoadLevelEntry) and sc.params.scenario == workload:
                pairs = zip(sc.samples.get("input_tokens") or [], sc.samples.get("output_tokens") or [], strict=False)
                for i, o in pairs:
                    if i is not None and o is not None:
                        ins.append(i)
                        outs.append(o)
    return (sum(ins) / len(ins), sum(outs) / len(outs)) if ins else None


def api_bills(model: str, model_params: int | None, prices: list[ApiPrice], demand: Demand) -> tuple[str, list[ApiBill]]:
    """The API rows the cost comparison sets `model` against (dashboards/compare.rows_for), billed for the demand."""
    what, pool = rows_for({"model": model, "model_params": model_params}, prices, lambda p: model in p.serves,
                          lambda p: p.model_class)
    return what, [ApiBill(p.provider, p.model, api_usd_per_month(demand, p.input, p.output), model in p.serves)
                  for p in pool]


def size_candidate(doc: RunResult, row: dict, demand: Demand, workload: str, slo: SLO | None,
                   prices: list[ApiPrice], n_plus_one: bool, profiles: dict[str, CostProfile],
                   settings: CostSettings) -> Candidate | str:
    """One measured result sized for the demand; else why it cannot be."""
    found = capacity_of(doc, workload, slo)
    if isinstance(found, str):
        return found
    level, capacity = found
    cost = row["cost"]
    if not cost:
        return f"cannot price its machine: {row['cost_na']}"
    cost = _at_level_power(row, level, profiles, prices, settings)
    return _candidate((doc.run_id, row["label"], row["hardware"], row["model"], row["quant"], row["backend"],
                       level.name), capacity, cost, list(cost["notes"]), demand, prices, n_plus_one,
                      model_params=row.get("model_params"))


def _at_level_power(row: dict, level: LoadLevelEntry, profiles: dict[str, CostProfile], prices: list[ApiPrice],
                    settings: CostSettings) -> dict:
    """The row's cost block, for an owned machine priced again at the power its capacity level drew
    (the row's rests on its best throughput scenario's); a rented one's rent holds its power."""
    cost, energy = row["cost"], level.energy
    if cost["profile_kind"] != "owned" or energy is None or energy.average_watts is None:
        return cost
    profile = choose_profile(row, profiles, {}, settings)[0]
    if profile is None:
        return cost
    fig = dict(row, average_watts=energy.average_watts, energy_method=energy.method, energy_covers=energy.covers,
               energy_scenario=level.name, energy_valid=level.validity.verdict == "VALID")
    return price_run(fig, profile, prices, settings, cost["profile_how"], compare=False)


def size_projected(entry: dict, demand: Demand, slo: SLO, prices: list[ApiPrice], n_plus_one: bool) -> Candidate | str:
    """One of bench project's entries (a machine x model x quant, PROJECTED) sized for the demand;
    else why it cannot be. Its capacity is the highest projected concurrency whose latencies meet
    the SLO, read from the projected rates as a batch of B requests runs: the B prompts prefilled one
    after another (the last one's ttft), then B sequences decoding together (tpot = B / the
    aggregate decode rate). No queueing is modelled; the band is the one bench project's
    validation earned for the request stream, or none where the class is unvalidated."""
    out = demand.output_tokens
    best = None
    unpriced = [level["cost_na"] for level in entry["levels"] if not level["cost"] and level["cost_na"]]
    for level in entry["levels"]:
        agg, stream, cost = level["aggregate_tps"]["value"], level["request_output_tps"], level["cost"]
        if level["fits"] is False or not agg or not stream or not cost:
            continue
        b = level["concurrency"]
        ttft, tpot = b * max(out / stream - out / agg, 0.0), b / agg
        if ttft <= slo.ttft_s and tpot <= slo.tpot_s and (best is None or stream > best[1]["request_output_tps"]):
            best = (b, level)
    if best is None and len(unpriced) == len(entry["levels"]):
        return f"cannot price it: {unpriced[0]}"
    if best is None:
        return f"no projected concurrency meets the SLO (ttft {slo.ttft_s:g} s, tpot {slo.tpot_s * 1000:g} ms) and fits"
    b, level = best
    rps = level["request_output_tps"] / out
    band = level["cost"].get("usd_band")
    notes = [f"PROJECTED at concurrency {b}: not measured"]
    if band is None:
        notes.append("no validated band for this machine class: the capacity's range is unknown")
    capacity = Capacity(rps, rps * (1 - band) if band is not None else rps, rps * (1 + band) if band is not None else rps)
    return _candidate((f"projected:{entry['hardware']}", entry["hardware"], entry["hardware_name"], entry["model"],
                       entry["quant"], "llamacpp", f"c{b} projected"), capacity, level["cost"],
                      notes + list(level["cost"]["notes"]), demand, prices, n_plus_one, projected=True)


def _hour(cost: dict) -> MachineHour:
    return MachineHour(cost["hour"]["fixed"], cost["hour"]["idle_power"], cost["hour"]["busy_extra"])


def _basis(cost: dict) -> str:
    return f"{cost['profile_title']} ({cost['basis'].replace('_', '-')}): " + hour_words(_hour(cost))


def _candidate(ident: tuple[str, str, str, str, str | None, str, str], capacity: Capacity, cost: dict,
               notes: list[str], demand: Demand, prices: list[ApiPrice], n_plus_one: bool,
               projected: bool = False, model_params: int | None = None) -> Candidate:
    """A box (run id, label, hardware, model, quant, backend, level) sized from its capacity and its
    cost block's machine-hour, with its API bills and where owning wins."""
    hour = _hour(cost)
    what, apis = api_bills(ident[3], model_params, prices, demand)
    wins = None
    if apis:
        cheapest = min(apis, key=lambda a: a.usd_per_month)
        price = next(p for p in prices if (p.provider, p.model) == (cheapest.provider, cheapest.model))
        wins = owning_wins_above(demand, capacity.requests_per_s, hour, price.input, price.output, n_plus_one)
    return Candidate(*ident, capacity, hour, _basis(cost), plan(demand, capacity, hour, n_plus_one), apis, what, wins,
                     notes, projected)


def hour_words(hour: MachineHour) -> str:
    """A machine-hour as `bench size` uses it: what is paid held, and what busy adds."""
    held = hour.fixed_usd + hour.idle_power_usd
    busy = f", +${hour.busy_extra_usd:.4g} an hour busy (electricity above idle)" if hour.busy_extra_usd else ""
    return f"${held:.4g} an hour held{busy}"


def demand_for(workload_tokens: tuple[float, float], requests_per_day: float | None, tokens_per_month: float | None,
               shape: tuple[float, ...]) -> Demand:
    """The demand from a request count or a token volume (one of them) of a workload's mean lengths."""
    from dashboards.sizing import DAYS_PER_MONTH

    tokens_in, tokens_out = workload_tokens
    if (requests_per_day is None) == (tokens_per_month is None):
        raise DashboardError("give the demand once", "pass --requests-per-day N or --tokens-per-month N")
    if requests_per_day is None:
        assert tokens_per_month is not None
        requests_per_day = tokens_per_month / DAYS_PER_MONTH / (tokens_in + tokens_out)
    if not requests_per_day > 0:
        raise DashboardError("the demand must be above zero", "pass a positive --requests-per-day or --tokens-per-month")
    return Demand(requests_per_day, tokens_in, tokens_out, shape)


def results_docs(paths: list[Path]) -> tuple[list[tuple[Path, RunResult]], list[Outcome], list[str]]:
    """The bench run results under `paths`, and the bench quality and bench eval outcomes beside them."""
    from contract.storage import load_documents

    loaded, warnings = load_documents(paths, kinds=None)
    return ([(p, d) for p, d in loaded if isinstance(d, RunResult)], [d for _, d in loaded if isinstance(d, Outcome)],
            warnings)


@dataclass(frozen=True)
class QualityFloor:
    """--min-accuracy (bench eval) and --max-kld (bench quality): what a model x quant must show."""
    min_accuracy: float | None = None
    max_kld: float | None = None

    def check(self, model: str, quant: str | None, outcomes: list[Outcome]) -> dict | str:
        """What the outcomes show of `model` `quant` (quality_of) where it meets the floor, else why
        it is left out."""
        shown = quality_of(model, quant, outcomes)
        if self.min_accuracy is not None:
            if "accuracy" not in shown:
                return f"no bench eval outcome of {model} {quant} to hold against --min-accuracy"
            if shown["accuracy"] < self.min_accuracy:
                return (f"accuracy {shown['accuracy']:.1%} on {shown['tasks_file']} (bench eval) is under "
                        f"--min-accuracy {self.min_accuracy:.1%}")
        if self.max_kld is not None:
            if "kld" not in shown:
                return f"no bench quality outcome of {model} {quant} to hold against --max-kld"
            if shown["kld"] > self.max_kld:
                return f"KL divergence {shown['kld']:.4g} (bench quality) is over --max-kld {self.max_kld:g}"
        return shown


def quality_of(model: str, quant: str | None, outcomes: list[Outcome]) -> dict:
    """The best bench eval accuracy and bench quality KL divergence the outcomes show of `model`
    `quant` ({} where none): what a floor is held against, and the accuracy axis of "what to buy"."""
    shown: dict = {}
    scored = [(o.eval.summary.accuracy, o.eval) for o in outcomes
              if o.kind == "eval" and o.model.get("id") == model and o.model.get("quant") == quant
              and o.eval is not None and o.eval.server_is_local and o.eval.summary is not None
              and o.eval.summary.accuracy is not None]
    if scored:
        accuracy, best = max(scored, key=lambda s: s[0])
        shown.update(accuracy=accuracy, accuracy_wilson95=best.summary.wilson95 if best.summary else None,
                     tasks_file=best.tasks_file.name)
    klds = [(q.kld.value, q.kld.ci95) for o in outcomes if o.kind == "quality" and o.model.get("id") == model
            and o.quality is not None and (q := o.quality.quants.get(quant or "")) is not None
            and q.kld.value is not None]
    if klds:
        kld, ci95 = min(klds, key=lambda k: k[0])
        shown.update(kld=kld, kld_ci95=ci95)
    return shown


def api_points(outcomes: list[Outcome], prices: list[ApiPrice], demand: Demand) -> list[dict]:
    """The APIs a bench eval scored (through the API itself): their accuracy, and what they would
    bill a month for the demand at the price table's row of that provider and model."""
    out = []
    for o in outcomes:
        body = o.eval if o.kind == "eval" else None
        if body is None or body.server_is_local or body.summary is None or body.summary.accuracy is None:
            continue
        model = body.served_model or str(o.model.get("id"))
        row = next((p for p in prices if p.model == model and (body.provider is None or p.provider == body.provider)),
                   None)
        out.append({"provider": body.provider or (row.provider if row else None), "model": model,
                    "accuracy": body.summary.accuracy, "accuracy_wilson95": body.summary.wilson95,
                    "tasks_file": body.tasks_file.name,
                    "usd_per_month": api_usd_per_month(demand, row.input, row.output) if row else None,
                    "why": None if row else f"no row of {model} in the price table"})
    return out


def _band(central: float, band: list[float], fmt: str) -> str:
    """The figure, and under it its interval where that differs."""
    text = format(central, fmt)
    lo, hi = format(band[0], fmt), format(band[1], fmt)
    return text if lo == hi == text else f"{text}\n[dim]{lo}-{hi}[/dim]"


def size_rows(candidates: list[Candidate]) -> list[dict]:
    """The table's rows, and --json's: every figure the table shows, with its interval."""
    out = []
    for c in sorted(candidates, key=lambda c: c.plan.central.usd_per_month):
        cheapest = c.cheapest_api
        out.append({
            "run_id": c.run_id, "label": c.label, "hardware": c.hardware, "model": c.model, "quant": c.quant,
            "backend": c.backend, "level": c.level, "projected": c.projected,
            "capacity_rps": c.capacity.requests_per_s, "capacity_rps_95": [c.capacity.low, c.capacity.high],
            "boxes": c.plan.central.boxes, "boxes_range": [c.plan.best.boxes, c.plan.worst.boxes],
            "utilisation": c.plan.central.utilisation,
            "utilisation_range": sorted([c.plan.worst.utilisation, c.plan.best.utilisation]),
            "usd_per_month": c.plan.central.usd_per_month,
            "usd_per_month_range": [c.plan.best.usd_per_month, c.plan.worst.usd_per_month],
            "usd_per_m_tokens": c.plan.central.usd_per_m_tokens,
            "usd_per_m_tokens_range": [c.plan.best.usd_per_m_tokens, c.plan.worst.usd_per_m_tokens],
            "machine_hour": {"fixed": c.hour.fixed_usd, "idle_power": c.hour.idle_power_usd,
                             "busy_extra": c.hour.busy_extra_usd},
            "basis": c.basis,
            "apis_what": c.apis_what,
            "apis": [{"provider": a.provider, "model": a.model, "usd_per_month": a.usd_per_month,
                      "like_for_like": a.like_for_like} for a in c.apis],
            "cheapest_api": None if cheapest is None else {"provider": cheapest.provider, "model": cheapest.model,
                                                           "usd_per_month": cheapest.usd_per_month},
            "owning_wins_above_requests_per_day": c.wins_above,
            "quality": c.quality,
            "notes": c.notes,
        })
    return out


def size_table(rows: list[dict]):
    """The terminal table, 80 columns: a line per candidate, its 95% band under each figure."""
    from rich import box
    from rich.table import Table

    table = Table(title="Boxes for the demand: capacity MEASURED or PROJECTED, its band below", title_justify="left",
                  box=box.SIMPLE_HEAD)
    table.add_column("box · model", overflow="fold", min_width=12)
    for name in ("req/s", "boxes", "busy", "$/month", "cheapest\nAPI $/mo", "owning wins\nabove"):
        table.add_column(name, justify="right")
    for r in rows:
        api = r["cheapest_api"]
        wins = r["owning_wins_above_requests_per_day"]
        capacity = _band(r["capacity_rps"], r["capacity_rps_95"], ".3g")
        if r["projected"] and r["capacity_rps_95"][0] == r["capacity_rps_95"][1]:
            capacity += "\n[dim]unvalidated[/dim]"
        table.add_row(
            f"{r['label']}{' PROJECTED' if r['projected'] else ''}\n{r['model']}\n{r['quant'] or ''}",
            capacity,
            _band(r["boxes"], r["boxes_range"], "d"),
            _band(r["utilisation"], r["utilisation_range"], ".0%"),
            _band(r["usd_per_month"], r["usd_per_month_range"], ",.0f"),
            "n/a" if api is None else f"{api['usd_per_month']:,.0f}",
            "never" if wins is None else f"{wins:,.0f}/day",
        )
    return table
