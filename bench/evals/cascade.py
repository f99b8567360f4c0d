"""A cascade of two models on one task file: the small model answers every task, and a task whose
answer fails the task's own check (scorers.passes_check: invalid JSON, a label outside the label
set) goes to the big one, an API. From the two `bench eval` outcomes of the same task file:

- its accuracy: the small model's answers where they pass the check, the API's where they did not;
- its $ per 1,000 tasks: the small model's for every task (each is tried there first), plus the
  API's list price for the tokens of the tasks sent on (the API's own usage for those tasks).

Each figure beside each model alone, with the Wilson interval of the accuracies.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.evals.wilson import wilson_interval
from contract.errors import BenchError
from contract.result import EvalAnswer, EvalBody, Outcome
from dashboards.sizing import Demand, boxes_needed


@dataclass
class Arm:
    """One way of answering the tasks: a model alone, or the cascade."""
    name: str
    correct: int
    n: int
    usd_per_1k_tasks: float | None
    why: str | None = None                   # no cost: why
    to_api: int = 0                          # the cascade: tasks sent on
    boxes: list[int] | None = None           # for a demand: small-model boxes (low, central, high), None: API only

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def to_dict(self) -> dict:
        lo_hi = wilson_interval(self.correct, self.n)
        return {"name": self.name, "n": self.n, "correct": self.correct, "accuracy": self.accuracy,
                "wilson95": list(lo_hi) if lo_hi else None, "usd_per_1k_tasks": self.usd_per_1k_tasks,
                "why": self.why, "to_api": self.to_api, "to_api_fraction": self.to_api / self.n, "boxes": self.boxes}


def _body(doc: Outcome, what: str) -> EvalBody:
    if doc.kind != "eval" or doc.eval is None:
        raise BenchError(f"the {what} file is a bench {doc.kind} outcome, not a bench eval one",
                         "pass two files bench eval wrote")
    return doc.eval


def _valid(answer: EvalAnswer) -> bool:
    if answer.valid is None:
        raise BenchError(f"task {answer.id}: the small model's outcome does not say whether its answers pass the "
                         "task's check (written before this rightsize recorded it)", "run bench eval again")
    return answer.valid


def cascade(small: Outcome, api: Outcome, small_cost: dict, api_cost: dict, api_price: tuple[float, float] | None
            ) -> list[Arm]:
    """[small alone, API alone, cascade]. `*_cost`: task_cost.eval_cost's for each outcome;
    `api_price`: the API row's (input, output) $/1M, for the tokens of the tasks sent on."""
    s, a = _body(small, "small model's"), _body(api, "API's")
    if s.tasks_file.sha256 != a.tasks_file.sha256:
        raise BenchError(f"the two outcomes scored different task files ({s.tasks_file.name} and {a.tasks_file.name}, "
                         "by content)", "run bench eval of both models on the same file")
    if not s.server_is_local:
        raise BenchError("the cascade's first model is the small one, served here; this outcome went to an API",
                         "pass the local model's outcome first, then the API's")
    by_id = {x.id: x for x in a.answers}
    missing = [x.id for x in s.answers if x.id not in by_id]
    if missing or len(s.answers) != len(a.answers):
        raise BenchError(f"the outcomes answered different tasks (first missing from the API's: "
                         f"{missing[0] if missing else '?'})", "run both on the whole file")
    routed = [x.id for x in s.answers if not _valid(x)]
    correct = sum((by_id[x.id].correct if x.id in routed else x.correct) for x in s.answers)
    n = len(s.answers)
    usd, why = None, small_cost["why"] or api_cost["why"]
    if why is None and api_price is None:
        why = "no API price row for the tokens sent on"
    if why is None and api_price is not None:
        per_task = []
        for x in s.answers:
            if x.id not in routed:
                per_task.append(0.0)
                continue
            sent = by_id[x.id]
            if sent.input_tokens is None or sent.output_tokens is None:
                why = f"task {x.id}: the API reported no token usage to price"
                break
            per_task.append((sent.input_tokens * api_price[0] + sent.output_tokens * api_price[1]) / 1e6)
        if why is None:
            usd = small_cost["usd_per_1k_tasks"] + 1000 * statistics.fmean(per_task)
    return [Arm(f"{small.model.get('id')} {small.model.get('quant') or ''} alone".replace("  ", " "),
                sum(x.correct for x in s.answers), n, small_cost["usd_per_1k_tasks"], small_cost["why"]),
            Arm(f"{api_cost.get('api', {}).get('model') or a.served_model or api.model.get('id')} (API) alone", sum(x.correct for x in a.answers), n,
                api_cost["usd_per_1k_tasks"], api_cost["why"]),
            Arm("cascade: small first, API where the answer fails the task's check", correct, n, usd, why,
                len(routed))]


def small_boxes(small: Outcome, demand: Demand, n_plus_one: bool = False) -> list[int] | None:
    """Boxes of the small model for `demand` (every task is tried there first), serving tasks one
    at a time at the measured seconds per task, with the mean's 95% interval: [fewest, central,
    most]. Serving them in batches would need fewer. None where no task was timed."""
    body = _body(small, "small model's")
    e2e = body.summary.e2e_s if body.summary else None
    if e2e is None:
        return None
    low, high = (e2e.ci95 or [e2e.mean, e2e.mean])
    return [boxes_needed(demand.peak_rps, 1 / max(busy, 1e-9), n_plus_one) for busy in (low, e2e.mean, high)]
