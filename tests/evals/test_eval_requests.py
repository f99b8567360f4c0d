"""bench eval sends its tasks through an HTTP backend's public interface: a FreeRequest, which the
backend sends without the benchmark's exact-length fields, and text_counter() to count a prompt."""

from bench.evals.remote import task_request
from bench.evals.tasks import Task
from engines.base import FreeRequest
from engines.openai.engine import OpenAIBackend
from engines.openai.prompts import Prompt


def _backend(endpoint: str) -> OpenAIBackend:
    backend = OpenAIBackend()
    backend.model, backend.endpoint = "m", endpoint
    backend._form, backend._ask_token_ids = (False, True, True), True     # a server that takes every field
    return backend


def test_a_free_request_runs_free_and_carries_its_messages():
    messages = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})
    body = _backend("chat")._body(FreeRequest(16, messages), Prompt("hi", None, None))
    assert body["messages"] == list(messages) and body["max_tokens"] == 16
    assert not {"ignore_eos", "min_tokens", "return_token_ids"} & set(body)
    measured = _backend("completions")._body(FreeRequest(16), Prompt("text", None, None))
    assert measured["prompt"] == "text" and "messages" not in measured


def test_a_benchmark_request_keeps_its_exact_length_fields():
    from types import SimpleNamespace

    body = _backend("completions")._body(SimpleNamespace(prompt_token_ids=[1, 2], max_tokens=8), Prompt("x", None, None))
    assert body["ignore_eos"] is True and body["min_tokens"] == 8 and body["return_token_ids"] is True


def test_a_task_becomes_a_free_request_and_nothing_counts_without_a_tokenizer():
    task = Task(id="t", scorer="exact", expected="4", prompt="2+2=", max_tokens=4)
    assert task_request(task) == FreeRequest(4, None)
    assert OpenAIBackend().text_counter() is None
