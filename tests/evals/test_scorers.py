import json

import pytest

from bench.evals.scorers import chosen_label, first_json_object, normalise, score
from bench.evals.tasks import Task, load_tasks
from bench.evals.wilson import wilson_interval
from contract.errors import BenchError


def task(scorer, expected, **kw):
    return Task(id="t", scorer=scorer, expected=expected, prompt="p", **kw)


@pytest.mark.parametrize("scorer, expected, answer, ok", [
    ("exact", "Paris", " Paris\n", True),
    ("exact", "Paris", "paris", False),
    ("normalised", "Paris.", "  PARIS ", True),
    ("normalised", "New York", "new-york", True),          # punctuation is a space
    ("normalised", "Paris", "Paris, France", False),
    ("contains", "order A-1042", "It is about Order A 1042, sadly.", True),
    ("contains", "refund", "refunded", False),             # whole words only
    ("regex", r"\bA-\d{4}\b", "ref A-1042 ok", True),
    ("regex", r"^\d+$", "42 apples", False),
])
def test_text_scorers(scorer, expected, answer, ok):
    assert score(task(scorer, expected), answer)[0] is ok


def test_json_fields_equal():
    t = task("json_fields", {"intent": "refund", "order_id": "C-3307", "urgent": False}, fields=("intent", "order_id", "urgent"))
    assert score(t, 'Sure: ```json\n{"intent": "refund", "order_id": "C-3307", "urgent": false, "x": 1}\n```')[0]
    ok, why = score(t, '{"intent": "refund", "order_id": "C-3307", "urgent": 0}')     # 0 is not false
    assert not ok and "urgent" in why
    ok, why = score(t, "refund C-3307")
    assert not ok and why == "no JSON object in the answer"
    assert first_json_object('{bad} then {"a": 1}') == {"a": 1}


def test_choice_takes_the_first_label_named():
    labels = ("refund", "billing", "bug")
    assert chosen_label("Billing, then maybe a refund", labels) == "billing"
    assert score(task("choice", "bug", labels=labels), "bug.")[0]
    ok, why = score(task("choice", "bug", labels=labels), "debugging")
    assert not ok and "none of the labels" in why


def test_normalise():
    assert normalise("  Ça   VA ?!") == "ça va"


@pytest.mark.parametrize("k, n, lo, hi", [
    (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (8, 10, 0.4902, 0.9433), (10, 10, 0.7225, 1.0), (1, 1, 0.2065, 1.0),
])
def test_wilson_interval(k, n, lo, hi):
    """Published values of the Wilson score interval at 95%."""
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_of_nothing_is_none():
    assert wilson_interval(0, 0) is None


def test_task_file_errors_name_the_line(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"prompt": "x", "expected": "y", "scorer": "exact"}) + "\n"
                 + json.dumps({"prompt": "x", "expected": "y", "scorer": "fuzzy"}) + "\n")
    with pytest.raises(BenchError, match=r"t.jsonl line 2: scorer 'fuzzy'"):
        load_tasks(f)
    f.write_text(json.dumps({"prompt": "x", "expected": "z", "scorer": "choice", "labels": ["a", "b"]}))
    with pytest.raises(BenchError, match="not among the labels"):
        load_tasks(f)
    f.write_text("{not json\n")
    with pytest.raises(BenchError, match="line 1: not JSON"):
        load_tasks(f)


def test_the_example_task_file_loads():
    from pathlib import Path

    tasks = load_tasks(Path(__file__).parents[2] / "examples" / "tasks" / "ticket-triage.jsonl")
    assert len(tasks) >= 15
    assert {t.scorer for t in tasks} == {"json_fields", "choice"}
    assert all(t.fields == ("intent", "order_id", "urgent") for t in tasks if t.scorer == "json_fields")
