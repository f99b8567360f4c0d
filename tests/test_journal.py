"""The run's journal as a writer (bench/journal.py): every request that ended is written once,
whatever order requests end in, and the writer's thread (often the HTTP client's event loop,
whose lateness is measured) never waits for the disk."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, cast

from bench import journal as journal_module
from bench.journal import Journal
from engines.clock import RequestTrace


class _Scenario:
    def params(self) -> dict:
        return {"name": "load"}


class _Record:
    """What Journal reads of a level's record: its scenario's params and its traces."""
    scenario = _Scenario()

    def __init__(self) -> None:
        self.traces: list[RequestTrace] = []


def _request_lines(journal: Journal) -> list[dict]:
    lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
    return [o["trace"] for o in lines if "request" in o]


def test_requests_ending_out_of_order_are_each_journaled_once(tmp_path):
    journal = Journal(tmp_path, "run", cast(Any, {"run_id": "run"}))
    record = _Record()
    journal.started(0, record)
    record.traces = [RequestTrace(i, True, 4, intended_ns=i) for i in range(6)]
    for i in (3, 0, 5, 1, 4, 2):        # the order they end in
        record.traces[i].end_ns, record.traces[i].event_ns = 100 + i, [50 + i]
        journal.measured(0, record)
        journal.measured(0, record)     # nothing new: nothing written
    record.traces.append(RequestTrace(6, True, 4, intended_ns=6, event_ns=[56], end_ns=106))
    journal.measured(0, record)
    written = _request_lines(journal)
    assert [t["index"] for t in written] == [3, 0, 5, 1, 4, 2, 6]
    assert [RequestTrace(**t) for t in written] == [record.traces[i] for i in (3, 0, 5, 1, 4, 2, 6)]


def test_the_writer_never_waits_for_the_disk(tmp_path, monkeypatch):
    """The fsync that lets a journal outlive its machine runs on a thread of its own."""
    synced_on: list[str] = []
    real_fsync = journal_module.os.fsync

    def fsync(fd: int) -> None:
        synced_on.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(journal_module.os, "fsync", fsync)
    monkeypatch.setattr(journal_module, "FSYNC_EVERY_S", 0.0)
    journal = Journal(tmp_path, "run", cast(Any, {"run_id": "run"}))
    deadline = time.monotonic() + 30
    while not synced_on and time.monotonic() < deadline:
        journal.set("n", 1)
        time.sleep(0.01)
    assert synced_on, "the journal was never fsynced"
    assert threading.current_thread().name not in synced_on


def test_a_nan_is_written_as_null_and_the_journal_goes_on(tmp_path):
    warnings: list[str] = []
    journal = Journal(tmp_path, "run", cast(Any, {"run_id": "run"}), warnings.append)
    journal.set("x", float("nan"))
    journal.set("y", 2)
    lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
    assert lines[1:] == [{"set": {"x": None}}, {"set": {"y": 2}}] and warnings == []
