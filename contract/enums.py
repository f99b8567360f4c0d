"""The result document's closed vocabularies: a run's or scenario's status, a scenario's kind.

Each is a `str` enum, so a value compares equal to its spelling in the JSON ("completed" ==
Status.COMPLETED) and prints as that spelling; a misspelt value fails where it is written or
read instead of silently matching nothing.
"""

from __future__ import annotations

from enum import Enum


class Vocabulary(str, Enum):
    """A str enum that prints and formats as its value ("cuda", not "Device.CUDA")."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Status(Vocabulary):
    RUNNING = "running"            # a scenario record while it is being measured
    COMPLETED = "completed"
    FAILED = "failed"              # also a run whose engine process died (written by the parent)
    INTERRUPTED = "interrupted"    # Ctrl-C: what was measured so far is kept


class ScenarioKind(Vocabulary):
    """What one entry of result["scenarios"] is: it decides which figures the entry carries."""
    PP = "pp"                      # prompt processing, llama-bench's pp<N>
    TG = "tg"                      # token generation, llama-bench's tg<N>
    SINGLE_STREAM = "single-stream"
    CONCURRENCY = "concurrency"    # one closed-loop load level
    POISSON = "poisson"            # one open-loop (Poisson arrivals) load level
    TRACE = "trace"                # a replayed request trace: one level, arrivals as the trace has them
    SLO_SEARCH = "slo-search"      # an SLO search's answer; its levels are entries of their own
    CHAT_SESSION = "chat-session"  # users holding multi-turn conversations (a level: one number of users)


# Each entry shape's kinds (contract/result.py types each entry's `kind` with these): a new kind of
# an existing shape is its member above and its place here.
# Entries measured one generation at a time, and entries that are load levels.
STREAM_KINDS = (ScenarioKind.PP, ScenarioKind.TG, ScenarioKind.SINGLE_STREAM)
LEVEL_KINDS = (ScenarioKind.CONCURRENCY, ScenarioKind.POISSON, ScenarioKind.CHAT_SESSION, ScenarioKind.TRACE)


class Verdict(Vocabulary):
    VALID = "VALID"
    INVALID = "INVALID"
