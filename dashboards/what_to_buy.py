"""The dashboard's "What to buy" section: `bench size` documents (contract/size.py) drawn per
demand, the candidates ranked by $/month with their bands beside the APIs' bills, and accuracy
against $/month with the Pareto front (dashboards/static/what_to_buy.js draws it).

A point is on the front when no other point of its demand costs no more a month and scores at
least as well, one of the two strictly: the cheapest way to each level of accuracy. Only points
with both a $/month and an accuracy (a bench eval outcome) take part.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from contract.size import SizeResult
from dashboards.errors import DashboardError
from dashboards.page import esc


def read_sizes(paths: list[Path]) -> list[SizeResult]:
    """The bench size documents; DashboardError naming the file for one that is not."""
    docs = []
    for path in paths:
        try:
            docs.append(SizeResult.model_validate_json(Path(path).read_bytes()))
        except OSError as exc:
            raise DashboardError(f"cannot read {path}: {exc.strerror or exc}", "pass --size with a file bench size -o "
                                 "wrote") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(document)"
            raise DashboardError(f"{path} is not a bench size document: {where}: {first['msg']}",
                                 "pass --size with a file bench size -o wrote") from None
    return docs


def pareto(points: list[dict]) -> None:
    """Mark each point {"usd_per_month", "accuracy"} with `pareto`: on the front or not."""
    for p in points:
        p["pareto"] = not any(
            q is not p and q["usd_per_month"] <= p["usd_per_month"] and q["accuracy"] >= p["accuracy"]
            and (q["usd_per_month"] < p["usd_per_month"] or q["accuracy"] > p["accuracy"])
            for q in points)


def _demand_words(doc: SizeResult) -> str:
    d = doc.demand
    slo = f"SLO {d.slo.name}" if d.slo else "each run's SLO"
    return (f"{d.requests_per_day:,.0f} {d.workload} requests a day ({d.input_tokens:g} tokens in, "
            f"{d.output_tokens:g} out), peak {d.peak_rps:.3g} requests/s; {slo}{'; N+1' if d.n_plus_one else ''}")


def buy_view(docs: list[SizeResult]) -> list[dict]:
    """The data block's `sizes`: per demand, its candidates, the API bills and the accuracy points."""
    out = []
    for doc in docs:
        candidates = [{"name": f"{c.label}{' PROJECTED' if c.projected else ''} · {c.model} {c.quant or ''}".strip(),
                       "projected": c.projected, "usd_per_month": c.usd_per_month,
                       "usd_low": c.usd_per_month_range[0], "usd_high": c.usd_per_month_range[1],
                       "boxes": c.boxes, "boxes_range": c.boxes_range, "level": c.level, "basis": c.basis,
                       "accuracy": c.quality.get("accuracy"), "kld": c.quality.get("kld")}
                      for c in sorted(doc.candidates, key=lambda c: c.usd_per_month)]
        bills: dict[tuple[str, str], float] = {}
        for c in doc.candidates:
            for a in c.apis:
                bills[(a.provider, a.model)] = a.usd_per_month
        apis = [{"name": f"{provider} · {model}", "usd_per_month": usd}
                for (provider, model), usd in sorted(bills.items(), key=lambda kv: kv[1])]
        points = [{"name": c["name"], "kind": "projected" if c["projected"] else "measured",
                   "usd_per_month": c["usd_per_month"], "accuracy": c["accuracy"]}
                  for c in candidates if c["accuracy"] is not None]
        points += [{"name": f"{a.provider or '?'} · {a.model} (API)", "kind": "api", "usd_per_month": a.usd_per_month,
                    "accuracy": a.accuracy} for a in doc.api_evals if a.usd_per_month is not None]
        pareto(points)
        out.append({"title": _demand_words(doc), "created_at": doc.created_at, "candidates": candidates,
                    "apis": apis, "points": points, "skipped": doc.skipped})
    return out


def buy_section(view: list[dict]) -> str:
    """The page section what_to_buy.js draws into: a chart pair per demand."""
    parts = []
    for i, demand in enumerate(view):
        parts.append(f"""<h3>{esc(demand['title'])}</h3>
<div id="buy-cost-{i}" class="chart"></div>
<div id="buy-accuracy-{i}" class="chart"></div><div id="buy-accuracy-{i}-empty" class="empty" hidden></div>""")
    return f"""
<section id="what-to-buy"><h2>What to buy: boxes for a demand, a month</h2>
<p class="caption">From bench size documents. Each bar is what the boxes one candidate needs for the demand cost a
month, its error bar the 95% band of its capacity carried into the box count (MEASURED: the load level's request
count; PROJECTED, hatched: the band bench project's validation earned, none where unvalidated). Grey bars are what
each API would bill for the same requests at its list prices. Below, accuracy (bench eval) against $/month: the
line joins the Pareto front, the cheapest way to each level of accuracy.</p>
{''.join(parts)}</section>
"""
