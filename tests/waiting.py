"""Waiting for what a process has done, never for a fixed time: a test that sleeps before it sends
a signal gets there too early on a loaded machine. What a run has measured is read from its
journal (bench/journal.py), which it writes through as it measures."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str,
             proc: subprocess.Popen | None = None, interval: float = 0.1) -> T:
    """`predicate()`'s first truthy value; fails naming `what` after `timeout` s, or at once when
    `proc` has exited (it will not get there any more)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited ({proc.returncode}) before {what}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(interval)


def journal_lines(results_dir: Path, quant: str | None = None) -> list[dict]:
    """Every complete line of the run journals in `results_dir` (of the runs of `quant` only, where
    given); a line still being written is left out."""
    out = []
    for path in sorted(Path(results_dir).glob("*.journal.jsonl")):
        try:
            text = path.read_text()
        except FileNotFoundError:           # the run wrote its result and removed its journal
            continue
        lines = []
        for line in text.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        if quant is None or (lines and "run" in lines[0] and lines[0]["run"]["model"]["quant"] == quant):
            out.extend(lines)
    return out


def measured(results_dir: Path, entry: int | None = None, quant: str | None = None) -> int:
    """How many measured passes (pp, tg, single-stream) and ended requests (load levels) the
    journals hold, of scenario entry `entry` only where given."""
    return sum(1 for line in journal_lines(results_dir, quant)
               for key in ("pass", "request") if key in line and (entry is None or line[key] == entry))
