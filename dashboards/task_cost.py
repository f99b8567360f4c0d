"""$ per 1,000 tasks of a `bench eval` outcome: on this machine's cost basis, or at an API's price.

- A model served here (in-process, or a server on 127.0.0.1): the machine-hour of the basis the
  dashboard would choose (--hourly-cost, --capex, --profile, else the preset for the detected
  hardware) times the measured seconds per task (send to last token; tasks run one at a time, so
  batching would lower it).
- A hosted API: the price table's row for the served model (and --provider where several list it)
  at the measured input and output tokens per task (the server's usage).
Either way the figure rests on measured seconds or tokens; n/a says why it cannot be given.
"""

from __future__ import annotations

import statistics
from typing import Any

from contract.result import EvalBody, Outcome
from dashboards import cost
from dashboards.errors import DashboardError
from dashboards.figures import machine
from dashboards.rows import CostSettings, basis_text, choose_profile


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _on_this_machine(doc: Outcome, body: EvalBody, profiles, chosen, settings: CostSettings) -> dict:
    busy = _mean(a.e2e_s for a in body.answers)
    if busy is None:
        return {"usd_per_1k_tasks": None, "why": "no task was timed", "basis": "machine"}
    fig: dict[str, Any] = {"label": doc.label, "machine_for_cost": machine(doc.hardware, body.device)}
    profile, how = choose_profile(fig, profiles, chosen, settings)
    if profile is None:
        return {"usd_per_1k_tasks": None, "why": how, "basis": "machine"}
    notes = []
    if profile.kind == "owned":
        notes.append("power from the profile (an eval measures no energy)")
    try:
        hour = profile.machine_hour(settings.basis, fig["machine_for_cost"], profile.idle_watts, profile.active_watts)
    except DashboardError as exc:
        return {"usd_per_1k_tasks": None, "why": f"{exc} (profile {profile.name})", "basis": "machine"}
    u = settings.utilisation or profile.utilisation or 1.0
    return {"usd_per_1k_tasks": cost.usd_per_1k_timed_tasks(hour.at(u), u, busy), "why": None, "basis": "machine",
            "busy_s_per_task": busy, "usd_per_hour": hour.at(u), "utilisation": u, "profile": profile.name,
            "basis_text": basis_text(profile, hour, u, fig["machine_for_cost"], settings.basis),
            "profile_how": how, "profile_source": profile.source,
            "notes": [*notes, "tasks one at a time: serving them in batches would cost less per task"]}


def _price_row(prices, model: str, provider: str | None):
    rows = [p for p in prices if p.model.strip().lower() == model.strip().lower()
            and (provider is None or p.provider.strip().lower() == provider.strip().lower())]
    if len(rows) == 1:
        return rows[0], None
    if not rows:
        return None, (f"no API price row for {model}" + (f" from {provider}" if provider else "")
                      + ": add one with bench prices --update, or pass --hourly-cost for a server you run")
    return None, f"{len(rows)} providers list {model} ({', '.join(p.provider for p in rows)}): pass --provider"


def at_api_price(body: EvalBody, prices, model: str | None = None, provider: str | None = None) -> dict:
    """The outcome's tasks at the list price of the API row of its served model (or `model`, from
    `provider`: what a server here stood in for)."""
    model, provider = model or body.served_model, provider or body.provider
    if model is None:
        return {"usd_per_1k_tasks": None, "why": "the server did not say which model it served", "basis": "api"}
    p, why = _price_row(prices, model, provider)
    if p is None:
        return {"usd_per_1k_tasks": None, "why": why, "basis": "api"}
    tokens_in = _mean(a.input_tokens for a in body.answers)
    tokens_out = _mean(a.output_tokens for a in body.answers)
    if tokens_in is None or tokens_out is None:
        return {"usd_per_1k_tasks": None, "why": "the server reported no token usage to price", "basis": "api"}
    return {"usd_per_1k_tasks": cost.usd_per_1k_tasks(p.input, p.output, tokens_in, tokens_out), "why": None,
            "basis": "api", "api": {"provider": p.provider, "model": p.model, "input": p.input, "output": p.output,
                                    "observed": p.observed, "source": p.source},
            "basis_text": f"{p.provider} {p.model} list price ${p.input:g} in / ${p.output:g} out per 1M tokens "
                          f"(observed {p.observed or 'undated'}) x {tokens_in:.0f} in / {tokens_out:.0f} out per task",
            "notes": []}


def eval_cost(doc: Outcome, settings: CostSettings, profiles, prices, chosen: dict | None = None) -> dict:
    body = doc.eval
    if body is None:
        raise TypeError(f"a bench eval outcome was expected, not a {doc.kind} document")
    if body.server_is_local:
        return _on_this_machine(doc, body, profiles, chosen or {}, settings)
    return at_api_price(body, prices)
