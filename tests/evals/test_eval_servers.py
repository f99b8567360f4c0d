"""bench eval through real servers on 127.0.0.1: one of our own that answers chosen tasks right
(a known accuracy), and llama-cpp-python's server with the tiny synthetic model."""

import json
from typing import Any

import pytest

from bench.evals.run import EvalConfig, execute
from tests.evals.answer_server import AnswerServer

pytestmark = pytest.mark.engine   # real llama.cpp and its server

SYSTEM = {"role": "system", "content": "Answer with one word."}
TASKS: list[dict[str, Any]] = [   # task records, as tasks.jsonl holds them
    {"id": "a", "messages": [SYSTEM, {"role": "user", "content": "Capital of France?"}], "expected": "Paris", "scorer": "normalised"},
    {"id": "b", "messages": [SYSTEM, {"role": "user", "content": "Ticket: refund order C-1"}],
     "expected": {"intent": "refund", "order_id": "C-1"}, "scorer": "json_fields"},
    {"id": "c", "messages": [SYSTEM, {"role": "user", "content": "Which label: bug or billing? The app crashes."}],
     "expected": "bug", "scorer": "choice", "labels": ["bug", "billing"]},
    {"id": "d", "messages": [SYSTEM, {"role": "user", "content": "Order number in: see A-1042"}],
     "expected": r"A-\d{4}", "scorer": "regex"},
    {"id": "e", "messages": [SYSTEM, {"role": "user", "content": "Say hello"}], "expected": "hello", "scorer": "contains"},
]
RIGHT = {"Capital of France?": "Paris.", "Ticket: refund order C-1": '{"intent": "refund", "order_id": "C-1"}',
         "Which label: bug or billing? The app crashes.": "Bug"}


@pytest.fixture
def task_file(tmp_path):
    f = tmp_path / "tasks.jsonl"
    f.write_text("\n".join(json.dumps(t) for t in TASKS) + "\n")
    return f


def test_a_server_that_knows_three_of_five_answers(task_file, tmp_path):
    with AnswerServer(RIGHT) as url:
        out = execute(EvalConfig(tasks=task_file, backend="openai", model="answers", base_url=url,
                                 results_dir=tmp_path, label="vm"))
    body = out.doc["eval"]
    s = body["summary"]
    assert (s["correct"], s["n"], s["accuracy"]) == (3, 5, 0.6)
    assert s["wilson95"] == pytest.approx([0.2307, 0.8824], abs=1e-4)
    assert [a["correct"] for a in body["answers"]] == [True, True, True, False, False]
    # tokens are the server's usage; latency the harness clock
    assert body["answers"][0]["input_tokens"] == 4 and body["answers"][0]["output_tokens"] == 1
    assert s["e2e_s"]["n"] == 5 and s["e2e_s"]["min"] > 0
    assert body["endpoint"] == "chat" and body["server_is_local"]
    assert out.doc["kind"] == "eval" and out.path.exists()


def test_the_eval_request_lets_the_model_stop(task_file, tmp_path):
    server = AnswerServer(RIGHT)
    with server as url:
        execute(EvalConfig(tasks=task_file, backend="openai", model="answers", base_url=url, results_dir=tmp_path))
    sent = [b for b in server.bodies if b.get("messages") and b["messages"][0] == SYSTEM]
    assert len(sent) == len(TASKS)
    assert all("ignore_eos" not in b and "min_tokens" not in b for b in sent)
    assert sent[0]["messages"][1]["content"] == "Capital of France?" and sent[0]["temperature"] == 0


def test_llama_cpp_python_server_with_the_tiny_model(tmp_path):
    """Prompts to complete: llama-cpp-python's server streams no usage, so each prompt is counted with
    the model's own tokenizer and the output is max_tokens (the synthetic model never stops)."""
    f = tmp_path / "prompts.jsonl"
    f.write_text("\n".join(json.dumps({"id": t["id"], "prompt": t["messages"][1]["content"], "expected": t["expected"],
                                       "scorer": t["scorer"], **({"labels": t["labels"]} if "labels" in t else {}),
                                       "max_tokens": 12}) for t in TASKS) + "\n")
    out = execute(EvalConfig(tasks=f, backend="llamacpp-server", model="tiny", quant="Q4_K_M",
                             results_dir=tmp_path, engine_options={"n_threads": 2}))
    body, s = out.doc["eval"], out.doc["eval"]["summary"]
    assert out.doc["status"] == "completed" and s["errors"] == 0 and s["n"] == 5
    assert body["weights"] == "synthetic" and "about 0" in body["what_it_measures"]
    assert s["correct"] <= 1                          # random words: about 0
    assert body["endpoint"] == "completions" and body["server_is_local"] is True
    for a in body["answers"]:
        assert a["input_tokens"] > 3 and "counted with" in a["token_source"]
        assert a["output_tokens"] == 12 and a["finish"] == "length"


def test_in_process_llama_cpp(task_file, tmp_path):
    out = execute(EvalConfig(tasks=task_file, backend="llamacpp", model="tiny", quant="Q4_K_M", results_dir=tmp_path))
    body = out.doc["eval"]
    assert body["chat_template"].startswith("none in the model file")
    assert all(a["output_tokens"] == 64 and a["finish"] == "length" for a in body["answers"])   # never stops early
    assert body["summary"]["input_tokens"]["min"] > 5
