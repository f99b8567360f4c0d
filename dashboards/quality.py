"""The quality side of the page: `bench eval` and `bench quality` outcomes next to what things cost.

- eval points: task accuracy (Wilson 95% interval) against $ per 1,000 tasks, one per model x quant
  x machine, and one per hosted API model (priced at its list price, dashboards/task_cost.py);
- KLD points: a quant's mean KL divergence from its reference against $ per 1M tokens blended,
  the cost taken from a `bench run` result of the same model, quant and machine on the page;
- the quant ladder: per model and machine, each quant with what it costs (bench run), what it loses
  (bench quality, measured), the deltas llama.cpp publishes for the model (reference data, with
  source and date) and the task accuracy (bench eval).

Synthetic weights stay labelled: their KLD is the quantizer's error on random weights, their task
accuracy about 0 by construction; neither is a real model's quality.
"""

from __future__ import annotations

from contract.result import EvalBody, Outcome, QualityBody
from dashboards.figures import hardware_title, hardware_words, machine_fingerprint, shared_labels
from dashboards.task_cost import eval_cost
from models.published_quality import published_deltas
from models.quant import QUANTS

_ORDER = {name: i for i, name in enumerate(QUANTS)}


def _machine(doc: Outcome, shared: set) -> str:
    """Named as the bench run rows name their machines (site._machines), so the ladder puts an
    outcome beside the runs of its machine."""
    words = hardware_words(hardware_title(doc.hardware, None), doc.label, machine_fingerprint(doc.hardware), shared)
    return f"{doc.label} ({words})"


def _eval_point(doc: Outcome, body: EvalBody, settings, profiles, prices, chosen, shared: set) -> dict:
    s = body.summary
    model = doc.model
    api = not body.server_is_local
    c = eval_cost(doc, settings, profiles, prices, chosen)
    quant = model.get("quant") or ""
    machine = f"API ({body.base_url or 'hosted'})" if api else _machine(doc, shared)
    return {"kind": "eval", "run_id": doc.run_id, "label": doc.label, "machine": machine,
            "model": model.get("id"), "quant": quant, "backend": body.backend, "api": api,
            "name": f"{'API' if api else doc.label} · {model.get('id')} {quant} · {body.backend}".replace("  ", " "),
            "weights": body.weights, "note": body.what_it_measures,
            "tasks_file": body.tasks_file.name, "n": s.n if s else None, "correct": s.correct if s else None,
            "accuracy": s.accuracy if s else None, "wilson95": s.wilson95 if s else None, "status": doc.status.value,
            "usd_per_1k_tasks": c["usd_per_1k_tasks"], "cost_why": c.get("why"), "cost_basis": c["basis"],
            "basis_text": c.get("basis_text")}


def _kld_points(doc: Outcome, body: QualityBody, costs: dict, shared: set) -> list[dict]:
    model_id = doc.model.get("id")
    # the bench run of its label; where the label names several machines, of its own machine
    machine = (doc.label, machine_fingerprint(doc.hardware)) if doc.label in shared else (doc.label,)
    out = []
    for quant, s in body.quants.items():
        row = costs.get((*machine, model_id, quant))
        cost = row["cost"] if row else None
        why = (row["cost_na"] if row else "no bench run result of this model, quant and machine on the page") \
            if cost is None else None
        pub = (body.published or {}).get("rows", {}).get(quant)
        out.append({"kind": "quality", "run_id": doc.run_id, "label": doc.label, "machine": _machine(doc, shared),
                    "model": model_id, "quant": quant, "backend": "llamacpp",
                    "name": f"{doc.label} · {model_id} {quant}", "reference": body.reference.quant,
                    "weights": body.weights, "note": body.what_it_measures, "text": body.text.name,
                    "kld": s.kld.value, "kld_ci95": s.kld.ci95, "kld_p99": s.kld.p99,
                    "same_top": s.same_top.value, "ppl_ratio": s.ppl_ratio.value, "file_bytes": s.file_bytes,
                    "usd_per_m_blended": cost["usd_per_m_blended"] if cost else None, "cost_why": why,
                    "published": pub})
    return out


def _published(model: str | None, quant: str) -> dict | None:
    pub = published_deltas(model, [quant])
    if not pub or quant not in pub["rows"]:
        return None
    r = pub["rows"][quant]
    return {"model": pub["model"], "note": pub["note"], "cite": pub["cite"], "observed": pub["observed"],
            "kld": r["kld"][0], "same_top": (r.get("same_top") or [None])[0],
            "ppl_ratio": (r.get("ppl_ratio") or [None])[0], "imatrix": r.get("imatrix")}


def _ladder(rows: list[dict], klds: list[dict], evals: list[dict]) -> list[dict]:
    """Per (model, machine): one entry per quant seen, each cell None where nothing was measured."""
    groups: dict[tuple, dict] = {}

    def entry(model, machine, quant) -> dict:
        g = groups.setdefault((model, machine), {"model": model, "machine": machine, "quants": {}})
        return g["quants"].setdefault(quant, {"quant": quant, "file_bytes": None, "decode_tps": None,
                                              "usd_per_m_blended": None, "cost_na": None, "kld": None,
                                              "same_top": None, "ppl_ratio": None, "weights": None,
                                              "accuracy": None, "wilson95": None, "published": _published(model, quant)})

    for r in rows:
        if not r.get("quant"):
            continue
        e = entry(r["model"], r["machine"], r["quant"])
        e["file_bytes"] = r.get("model_file_bytes")
        e["decode_tps"] = r.get("decode_tps")
        e["usd_per_m_blended"] = r["cost"]["usd_per_m_blended"] if r.get("cost") else None
        e["cost_na"] = r.get("cost_na")
        e["weights"] = e["weights"] or ("synthetic" if r.get("model_source") == "synthetic" else "real")
    for k in klds:
        e = entry(k["model"], k["machine"], k["quant"])
        e.update(kld=k["kld"], same_top=k["same_top"], ppl_ratio=k["ppl_ratio"], weights=k["weights"],
                 file_bytes=e["file_bytes"] or k["file_bytes"])
    for v in evals:
        if not v["api"] and v["quant"]:
            entry(v["model"], v["machine"], v["quant"]).update(accuracy=v["accuracy"], wilson95=v["wilson95"])
    out = []
    for g in groups.values():
        g["quants"] = sorted(g["quants"].values(), key=lambda e: _ORDER.get(e["quant"], len(_ORDER)))
        out.append(g)
    return sorted(out, key=lambda g: (g["model"] or "", g["machine"]))


def quality_view(outcomes: list[Outcome], rows: list[dict], settings, profiles, prices, chosen: dict) -> dict:
    """What the page's quality charts and ladder draw, from the outcome documents and the cost rows."""
    shared = shared_labels((r["label"], r["fingerprint"]) for r in rows)
    costs: dict[tuple, dict] = {(r["label"], r["model"], r["quant"]): r for r in rows}
    costs.update({(r["label"], r["fingerprint"], r["model"], r["quant"]): r for r in rows if r["label"] in shared})
    evals, klds = [], []
    for doc in outcomes:
        if doc.eval is not None:
            evals.append(_eval_point(doc, doc.eval, settings, profiles, prices, chosen, shared))
        elif doc.quality is not None:
            klds += _kld_points(doc, doc.quality, costs, shared)
    return {"evals": evals, "klds": klds, "ladder": _ladder(rows, klds, evals)}
