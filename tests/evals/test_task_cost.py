"""$ per 1,000 tasks: the arithmetic, on a machine basis and at an API's price."""

import pytest

from contract.result import SCHEMA_VERSION, Outcome
from dashboards import cost
from dashboards.prices import parse_row
from dashboards.rows import CostSettings
from dashboards.task_cost import eval_cost


def test_timed_tasks():
    # 2 s per task on a $1.80/h machine busy all the time: 1000 x 2 / 3600 x 1.80 = $1.00
    assert cost.usd_per_1k_timed_tasks(1.80, 1.0, 2.0) == pytest.approx(1.0)
    # busy half the hours held: each busy hour costs twice as much
    assert cost.usd_per_1k_timed_tasks(1.80, 0.5, 2.0) == pytest.approx(2.0)


def _doc(server_is_local, answers):
    return Outcome.model_validate({
        "schema_version": SCHEMA_VERSION, "kind": "eval", "run_id": "t", "status": "completed", "started_at": None,
        "finished_at": None, "config": {}, "environment": {}, "model": {"id": "m"},
        "label": "vm", "hardware": {"cpu": {"threads": 2, "ram_bytes": 8 * 2**30, "vendor": "AMD", "arch": "x86_64",
                                            "isa": {}, "model": "cpu", "sockets": 1, "cores": 2, "caches_bytes": {},
                                            "os": "Linux", "kernel": "6", "virtualized": True},
                                    "fingerprint": "0123456789abcdef"},
        "eval": {"tasks_file": {"name": "t.jsonl"}, "backend": "openai",
                 "server_is_local": server_is_local, "served_model": "gpt-test", "provider": None, "device": "cpu",
                 "answers": [{"id": f"t{i}", "correct": True, **a} for i, a in enumerate(answers)]}})


def test_at_an_api_price():
    prices = [parse_row({"model": "gpt-test", "provider": "acme", "input": 2.0, "output": 8.0, "observed": "2026-11-01",
                         "source": "test"}, "t", "test")]
    answers = [{"input_tokens": 300, "output_tokens": 40, "e2e_s": 1.0}, {"input_tokens": 100, "output_tokens": 20, "e2e_s": 1.0}]
    c = eval_cost(_doc(False, answers), CostSettings(), {}, prices)
    # 1000 x (200 x $2 + 30 x $8) / 1M = $0.64
    assert c["usd_per_1k_tasks"] == pytest.approx(0.64)
    assert c["basis"] == "api" and c["api"]["provider"] == "acme"


def test_api_without_a_price_row_is_na():
    c = eval_cost(_doc(False, [{"input_tokens": 1, "output_tokens": 1, "e2e_s": 1.0}]), CostSettings(), {}, [])
    assert c["usd_per_1k_tasks"] is None and "no API price row for gpt-test" in c["why"]


def test_on_this_machine_at_your_hourly_cost():
    answers = [{"input_tokens": 10, "output_tokens": 5, "e2e_s": 3.0}, {"input_tokens": 10, "output_tokens": 5, "e2e_s": 1.0}]
    c = eval_cost(_doc(True, answers), CostSettings(hourly_cost=3.6), {}, [])
    # 2 s per task on average at $3.60/h: 1000 x 2 x 3.6 / 3600 = $2.00
    assert c["usd_per_1k_tasks"] == pytest.approx(2.0)
    assert c["busy_s_per_task"] == pytest.approx(2.0)
