"""Tasks over HTTP (`--backend openai|llamacpp-server|vllm`): the same backends `bench run` uses,
hosted APIs included, sending each task as text (/v1/completions) or as chat messages
(/v1/chat/completions: the server applies the model's own chat template), greedy, streamed.

The backends are bench run's, used through their public interface: each task goes as a FreeRequest
(engines.base), which they send without the exact-length fields (`ignore_eos`, `min_tokens`), so the
model stops where it wants, and with a task's own messages in place of one user turn. Token counts are the server's usage (the model's own
tokenizer); without usage, as bench run does: a text prompt counted with the server's tokenize
endpoint or the model's tokenizer here, the output as max_tokens when it stopped for length, else
one per content event, each source named; what cannot be counted stays unknown (None).
"""

from __future__ import annotations

import asyncio

from bench.evals.answer import Answer
from bench.evals.tasks import Task
from engines.base import FreeRequest, RequestFailed
from engines.clock import now_ns
from engines.openai.engine import OpenAIBackend
from engines.openai.prompts import Prompt

# bench eval's --backend -> bench run's
HTTP_BACKENDS = {"openai": "openai", "llamacpp-server": "llamacpp-server", "vllm": "vllm-serve"}


def eval_backend(name: str, api_key: str | None = None) -> OpenAIBackend:
    """The HTTP backend `name`, as `bench run` makes it (installed-checked); its tasks are sent as
    FreeRequests, which it sends without the benchmark's exact-length fields."""
    from engines import get_backend

    backend = get_backend(HTTP_BACKENDS[name], api_key=api_key)
    assert isinstance(backend, OpenAIBackend), name       # every HTTP backend is the OpenAI-compatible client
    return backend


def task_request(task: Task) -> FreeRequest:
    return FreeRequest(task.max_tokens, task.messages)


async def _answer(backend, client, task: Task) -> Answer:
    if task.prompt is not None:
        payload = task.prompt
    else:
        assert task.messages is not None        # a task has a prompt or messages (bench/evals/tasks.py)
        payload = task.messages[-1]["content"]
    text: list[str] = []
    usage_in = usage_out = finish = None
    first = last = None
    events = 0
    send = now_ns()
    try:
        async for ev in backend.stream(client, task_request(task), lambda: None, Prompt(payload, None, None)):
            if ev.content:
                last = now_ns()
                first = first or last
                events += 1
            text.append(ev.text or "")
            usage_in = ev.prompt_tokens if ev.prompt_tokens is not None else usage_in
            usage_out = ev.completion_tokens if ev.completion_tokens is not None else usage_out
            finish = ev.finish_reason or finish
        source = "server usage"
        if usage_in is None:
            usage_in, source = await _counted(backend, client, task)
        if usage_out is None:
            # as bench run counts: max_tokens when it stopped for length, else one token per content event
            usage_out = task.max_tokens if finish == "length" else events
            source += "; output: " + ("max_tokens (stopped for length)" if finish == "length"
                                      else "content events, one token each")
    except RequestFailed as exc:
        return Answer("".join(text), usage_in, usage_out, None, None, None, "", f"{exc.kind}: {exc}")
    return Answer("".join(text), usage_in, usage_out, None if first is None else (first - send) / 1e9,
                  None if last is None else (last - send) / 1e9, finish, source)


async def _counted(backend, client, task: Task) -> tuple[int | None, str]:
    """No usage: a text prompt is counted with the server's tokenize endpoint or the model's own
    tokenizer here (http_prompts), as bench run counts its prompts; chat messages stay unknown (the
    template's tokens cannot be counted without usage)."""
    from engines.openai.prompts import CountFailed

    fit = backend.text_counter()
    if task.prompt is None or fit is None:
        return None, "input unknown: no usage from the server" + ("" if task.prompt is None else ", nothing to count with")
    try:
        return await fit.count(client, task.prompt), f"input counted with {fit.source}"
    except CountFailed as exc:
        return None, f"input unknown: {exc}"


def answer_all(backend, tasks: list[Task], advance) -> list[Answer]:
    """One task after another, each timed from its send to its last content event."""
    async def run() -> list[Answer]:
        out = []
        async with backend.client(max_connections=1) as client:
            for task in tasks:
                out.append(await _answer(backend, client, task))
                advance(1)
        return out

    return asyncio.run(run())
