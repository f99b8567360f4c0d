"""The task file: JSON Lines, one task per line.

    {"id": "t1", "prompt": "...", "expected": "billing", "scorer": "choice", "labels": ["billing", "bug"]}
    {"id": "t2", "messages": [{"role": "user", "content": "..."}], "expected": {"intent": "refund"},
     "scorer": "json_fields", "fields": ["intent"], "max_tokens": 96}

`prompt` is raw text to complete; `messages` (OpenAI chat format) go through the model's own chat
template. Scorers: exact, normalised, contains, regex (`expected` is the pattern), json_fields
(the answer's first JSON object has these fields of `expected`, equal), choice (the first of
`labels` the answer names is `expected`). Blank lines and lines starting with // are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.errors import BenchError

SCORERS = ("exact", "normalised", "contains", "regex", "json_fields", "choice")
DEFAULT_MAX_TOKENS = 64


class TaskFileError(BenchError):
    """The task file cannot be read, or a line is not a valid task."""


@dataclass(frozen=True)
class Task:
    id: str
    scorer: str
    expected: str | dict[str, Any]      # a dict for json_fields only, a string for every other scorer
    prompt: str | None = None
    messages: tuple[dict, ...] | None = None
    labels: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    max_tokens: int = DEFAULT_MAX_TOKENS


def _fail(where: str, problem: str, hint: str) -> TaskFileError:
    return TaskFileError(f"{where}: {problem}", hint)


def _task(doc, where: str, index: int) -> Task:
    if not isinstance(doc, dict):
        raise _fail(where, "a task must be a JSON object", 'for example {"prompt": "...", "expected": "...", '
                                                            '"scorer": "exact"}')
    scorer = doc.get("scorer")
    if scorer not in SCORERS:
        raise _fail(where, f"scorer {scorer!r} is not one of {', '.join(SCORERS)}", 'set "scorer"')
    prompt, messages = doc.get("prompt"), doc.get("messages")
    if (prompt is None) == (messages is None):
        raise _fail(where, "a task needs a prompt or messages (one of them)", 'add "prompt": "..." or "messages"')
    if prompt is not None and not isinstance(prompt, str):
        raise _fail(where, "prompt must be a string", 'use "messages" for a chat')
    if messages is not None and (not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages)):
        raise _fail(where, "messages must be a list of {\"role\": ..., \"content\": ...}", "the OpenAI chat format")
    if "expected" not in doc:
        raise _fail(where, "no expected answer", 'add "expected"')
    expected = doc["expected"]
    labels, fields = doc.get("labels") or [], doc.get("fields")
    if scorer == "json_fields":
        if not isinstance(expected, dict) or not expected:
            raise _fail(where, "json_fields needs expected to be a JSON object", 'for example "expected": {"intent": "refund"}')
        fields = list(expected) if fields is None else fields
        missing = [f for f in fields if f not in expected]
        if missing:
            raise _fail(where, f"fields {missing} are not in expected", "list only fields that expected holds")
    elif not isinstance(expected, str):
        raise _fail(where, f"{scorer} needs expected to be a string", 'for example "expected": "billing"')
    if scorer == "regex":
        try:
            re.compile(expected)
        except re.error as exc:
            raise _fail(where, f"expected is not a valid regular expression ({exc})", "fix the pattern") from None
    if scorer == "choice":
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels):
            raise _fail(where, "choice needs labels: a list of at least two strings", 'add "labels": [...]')
        if expected not in labels:
            raise _fail(where, f"expected {expected!r} is not among the labels", "add it to labels")
    max_tokens = doc.get("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _fail(where, f"max_tokens must be a positive integer, got {max_tokens!r}", 'for example "max_tokens": 64')
    return Task(id=str(doc.get("id", index)), scorer=scorer, expected=expected, prompt=prompt,
                messages=tuple(messages) if messages else None, labels=tuple(labels), fields=tuple(fields or ()),
                max_tokens=max_tokens)


def load_tasks(path: Path) -> list[Task]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TaskFileError(f"no such task file: {path}", "pass a JSON Lines file, e.g. "
                                                          "examples/tasks/ticket-triage.jsonl") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFileError(f"cannot read {path} as UTF-8 text: {exc}", "pass a JSON Lines file") from None
    tasks: list[Task] = []
    ids: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{path.name} line {n}"
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _fail(where, f"not JSON ({exc.msg} at column {exc.colno})", "one JSON object per line") from None
        task = _task(doc, where, len(tasks) + 1)
        if task.id in ids:
            raise _fail(where, f"id {task.id!r} appears twice", "give every task its own id")
        ids.add(task.id)
        tasks.append(task)
    if not tasks:
        raise TaskFileError(f"{path} holds no tasks", "one JSON object per line")
    return tasks
