"""A cascade end to end: the tiny model through llama.cpp here, and a local OpenAI-compatible
server (tests/evals/answer_server.py) standing in for an API, priced at an API row's list price.
The small model's answers that fail the task's own check go to the API; the accuracy and the
$ per 1,000 tasks are recomputed here from the two outcomes' own answer records."""

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from bench.evals.run import EvalConfig, execute
from bench.evals.scorers import passes_check
from bench.evals.tasks import load_tasks
from tests.evals.answer_server import AnswerServer

pytestmark = pytest.mark.engine   # real llama.cpp and a real server

SYSTEM = {"role": "system", "content": "Answer with one word."}
LABELS = ["refund", "shipping"]
TASKS: list[dict[str, Any]] = [
    # any text passes a regex of one non-space character: the tiny model keeps these, and is right
    {"id": "r1", "messages": [SYSTEM, {"role": "user", "content": "Say anything"}], "expected": r"\S", "scorer": "regex"},
    {"id": "r2", "messages": [SYSTEM, {"role": "user", "content": "Say something"}], "expected": r"\S", "scorer": "regex"},
    # the tiny model's random words name no label: these go to the API, which knows two of three
    {"id": "c1", "messages": [SYSTEM, {"role": "user", "content": "Refund or shipping? I want my money back."}],
     "expected": "refund", "scorer": "choice", "labels": LABELS},
    {"id": "c2", "messages": [SYSTEM, {"role": "user", "content": "Refund or shipping? Where is my parcel?"}],
     "expected": "shipping", "scorer": "choice", "labels": LABELS},
    {"id": "c3", "messages": [SYSTEM, {"role": "user", "content": "Refund or shipping? Box arrived broken, money back."}],
     "expected": "refund", "scorer": "choice", "labels": LABELS},
]
RIGHT = {"Refund or shipping? I want my money back.": "Refund", "Refund or shipping? Where is my parcel?": "Shipping"}
GROQ = ("Groq", "Llama 3.1 8B", 0.05, 0.08)       # the API row the stand-in is priced at ($/1M in, out)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    d = tmp_path_factory.mktemp("cascade")
    tasks = d / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps(t) for t in TASKS) + "\n")
    small = execute(EvalConfig(tasks=tasks, backend="llamacpp", model="tiny", quant="Q4_K_M", results_dir=d / "small",
                               label="vm"))
    with AnswerServer(RIGHT) as url:
        api = execute(EvalConfig(tasks=tasks, backend="openai", model="answers", base_url=url, results_dir=d / "api",
                                 label="vm"))
    return tasks, small.path, api.path


def test_each_answer_records_the_tasks_own_check(outcomes):
    tasks, small, _ = outcomes
    answers = json.loads(small.read_text())["eval"]["answers"]
    for task, answer in zip(load_tasks(tasks), answers, strict=True):
        assert answer["valid"] == passes_check(task, answer["text"]), task.id
    assert passes_check(load_tasks(tasks)[2], "it is a refund") and not passes_check(load_tasks(tasks)[2], "no idea")


def test_the_cascade_recomputes_from_the_two_outcomes(outcomes):
    _, small, api = outcomes
    r = CliRunner().invoke(main, ["cascade", str(small), str(api), "--api-model", GROQ[1], "--api-provider", GROQ[0],
                                  "--hourly-cost", "0.5", "--json"])
    assert r.exit_code == 0, r.output
    alone, api_alone, both = json.loads(r.stdout)["arms"]
    s = json.loads(small.read_text())["eval"]["answers"]
    a = {x["id"]: x for x in json.loads(api.read_text())["eval"]["answers"]}
    routed = [x["id"] for x in s if not x["valid"]]
    assert set(routed) == {"c1", "c2", "c3"}          # the tiny model's words name no label; any text passes r1, r2
    assert both["to_api"] == 3 and both["n"] == 5
    correct = sum(a[x["id"]]["correct"] if x["id"] in routed else x["correct"] for x in s)
    assert correct == 4 and both["correct"] == correct
    assert alone["correct"] == sum(x["correct"] for x in s) == 2
    assert api_alone["correct"] == sum(x["correct"] for x in a.values())
    # $/1k tasks: the small model's seconds per task at $0.50 an hour for every task, plus the API's
    # list price for the tokens of the tasks sent on
    busy = sum(x["e2e_s"] for x in s) / len(s)
    small_per_1k = 1000 * busy * 0.5 / 3600
    assert alone["usd_per_1k_tasks"] == pytest.approx(small_per_1k)
    api_per_task = {i: (a[i]["input_tokens"] * GROQ[2] + a[i]["output_tokens"] * GROQ[3]) / 1e6 for i in a}
    assert api_alone["usd_per_1k_tasks"] == pytest.approx(
        1000 * (sum(a[i]["input_tokens"] for i in a) / 5 * GROQ[2] + sum(a[i]["output_tokens"] for i in a) / 5 * GROQ[3]) / 1e6)
    assert both["usd_per_1k_tasks"] == pytest.approx(small_per_1k + 1000 * sum(api_per_task[i] for i in routed) / 5)
    assert both["wilson95"][0] < both["accuracy"] == 0.8 < both["wilson95"][1]


def test_the_table_and_bad_input(outcomes, tmp_path):
    _, small, api = outcomes
    r = CliRunner().invoke(main, ["cascade", str(small), str(api), "--api-model", GROQ[1], "--api-provider", GROQ[0]])
    assert r.exit_code == 0 and "cascade" in r.output and "3/5" in r.output
    run = next((Path(__file__).parents[2] / "examples" / "runs").glob("*.json"))
    not_eval = CliRunner().invoke(main, ["cascade", str(small), str(run)])
    assert not_eval.exit_code == 2 and "not a bench eval outcome" in not_eval.output
    other = json.loads(api.read_text())
    other["eval"]["tasks_file"]["sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    r = CliRunner().invoke(main, ["cascade", str(small), str(tmp_path / "other.json")])
    assert r.exit_code == 2 and "different task files" in r.output and "Traceback" not in r.output


def test_the_cascade_boxes_for_a_demand(outcomes):
    """Every task tries the small model first, one at a time at its measured seconds per task: the
    boxes for the peak hour, with the band of the mean's 95% interval, recomputed here."""
    import math

    _, small, api = outcomes
    r = CliRunner().invoke(main, ["cascade", str(small), str(api), "--requests-per-day", "200000",
                                  "--shape", "office-hours", "--n-plus-one", "--json"])
    assert r.exit_code == 0, r.output
    alone, api_alone, both = json.loads(r.stdout)["arms"]
    e2e = json.loads(small.read_text())["eval"]["summary"]["e2e_s"]
    peak = 200000 * (0.8 / 9) / 3600
    expect = [max(1, math.ceil(peak * busy)) + 1 for busy in (e2e["ci95"][0], e2e["mean"], e2e["ci95"][1])]
    assert both["boxes"] == alone["boxes"] == expect and api_alone["boxes"] is None
    assert expect[2] >= expect[1] >= expect[0]
    table = CliRunner().invoke(main, ["cascade", str(small), str(api), "--requests-per-day", "200000"])
    assert table.exit_code == 0 and "boxes" in table.output
