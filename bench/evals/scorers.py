"""Does an answer match the expected one? Each scorer says yes or no, and why."""

from __future__ import annotations

import json
import re
import unicodedata

from bench.evals.tasks import Task


def normalise(text: str) -> str:
    """NFKC, case-folded, punctuation dropped, whitespace collapsed: "  Billing." == "billing"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(text.split())


def first_json_object(text: str) -> dict | None:
    """The first JSON object in the answer (inside a code fence or prose around it too)."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _equal(a, b) -> bool:
    """JSON values equal; strings without surrounding spaces; true is not 1."""
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def chosen_label(text: str, labels: tuple[str, ...]) -> str | None:
    """The label the answer names first, as a whole word (or phrase), case and punctuation aside."""
    answer = f" {normalise(text)} "
    found = [(answer.find(f" {normalise(label)} "), -len(label), label) for label in labels]
    found = [f for f in found if f[0] >= 0]
    return min(found)[2] if found else None


def score(task: Task, answer: str) -> tuple[bool, str]:
    """(correct, a short reason when not)."""
    s, expected = task.scorer, task.expected
    if isinstance(expected, dict):          # json_fields (the task file allows an object for it only)
        obj = first_json_object(answer)
        if obj is None:
            return False, "no JSON object in the answer"
        wrong = [f for f in task.fields if f not in obj or not _equal(obj[f], expected[f])]
        return not wrong, "" if not wrong else f"fields differ: {', '.join(wrong)}"
    if s == "exact":
        ok = answer.strip() == expected.strip()
        return ok, "" if ok else "not exactly the expected text"
    if s == "normalised":
        ok = normalise(answer) == normalise(expected)
        return ok, "" if ok else "differs after normalising case, punctuation and spaces"
    if s == "contains":
        ok = f" {normalise(expected)} " in f" {normalise(answer)} "
        return ok, "" if ok else "the expected text is not in the answer"
    if s == "regex":
        ok = re.search(expected, answer) is not None
        return ok, "" if ok else "the pattern does not match"
    if s == "choice":
        label = chosen_label(answer, task.labels)
        if label is None:
            return False, "the answer names none of the labels"
        return label == expected, "" if label == expected else f"chose {label!r}"
    raise ValueError(f"task {task.id}: scorer {s!r} with a string expected answer")


def passes_check(task: Task, answer: str) -> bool:
    """Whether the answer has the shape the task asks for, judged without its expected answer, as a
    service could at the moment it answers: a label of the label set (choice), a JSON object with
    every field (json_fields), else any text. A cascade sends what fails it to a bigger model."""
    if isinstance(task.expected, dict):
        obj = first_json_object(answer)
        return obj is not None and all(f in obj for f in task.fields)
    if task.scorer == "choice":
        return chosen_label(answer, task.labels) is not None
    return bool(answer.strip())
