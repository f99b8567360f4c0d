"""Every measured pass and request, appended as it is measured to a journal beside the result.

`<run_id>.journal.jsonl` in the results directory: one JSON object a line. The first holds the
run's document as it starts; then `set` (a top-level field, e.g. hardware), `entry` (a scenario
entry begins: its record type and scenario), `pass` (the samples one measured pass added),
`request` (one request that ended, its whole trace) and `done` (an entry as written at its end).
Each line is written through at once, so a process killed mid-run (SIGKILL, out of memory)
loses nothing it measured; the file is fsynced at most every FSYNC_EVERY_S, for a machine that
goes down with it, on a thread of its own.

The writer is often an HTTP client's event loop, whose lateness is measured (send lag), so a line
costs it little: orjson, no deep copy, only the traces that may have ended looked at, and no
fsync (tens of ms) on it. Before, a request of 1,000 events cost the loop 1.8 ms on average and
84 ms at worst (benchmarks/journal_cost.py); now 0.09 ms and 11 ms.

The run's process holds an flock on the file while it lives: a journal nobody holds is one whose
run died, and `rebuild` turns it into the result the run would have written
(its unfinished entry `interrupted`); the parent of a run's process does so, or `bench results`
where the parent died too. A run that writes its result removes its journal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from contract import storage
from contract.errors import ResultsError
from contract.result import RunResult
from contract.validity import INTERRUPTED, run_validity
from engines.clock import RequestTrace
from scenarios import chat_session
from scenarios.definitions import LoadScenario
from scenarios.levels import Level, LevelRecord
from scenarios.request import scenario_of
from scenarios.runner import ScenarioRecord
from scenarios.single_stream_http import HTTPSingleStreamRecord
from scenarios.trace_replay import TraceLevel, TraceRecord, TraceScenario

SUFFIX = ".journal.jsonl"
FSYNC_EVERY_S = 2.0


def journal_path(results_dir: Path, run_id: str) -> Path:
    return Path(results_dir) / f"{run_id}{SUFFIX}"


class _Journaled:
    """Which of a record's traces (by position; the list only grows) are journaled: every one
    before `start`, and those in `ahead`. Only traces from `start` on are looked at again, so a
    request's line costs about the requests sent since the oldest one still in flight, not all
    the level's."""

    def __init__(self) -> None:
        self.start = 0
        self.ahead: set[int] = set()

    def ended(self, traces: list[RequestTrace]) -> list[RequestTrace]:
        """The traces that ended since the last call, marked journaled."""
        new = []
        for pos in range(self.start, len(traces)):
            if pos not in self.ahead and traces[pos].end_ns is not None:
                self.ahead.add(pos)
                new.append(traces[pos])
        while self.start in self.ahead:
            self.ahead.remove(self.start)
            self.start += 1
        return new


class Journal:
    """The writer, in the run's process. A journal that cannot be written (a full disk) warns
    once and stops: it must never cost the measurement it guards."""

    def __init__(self, results_dir: Path, run_id: str, doc: RunResult, warn: Callable[[str], None] = lambda m: None):
        self.path = journal_path(results_dir, run_id)
        self._warn = warn
        self._synced = time.monotonic()
        self._syncing = False
        self._closing = threading.Lock()     # a file being fsynced is not closed under it
        self._seen: dict[int, Any] = {}     # entry index -> what of its record is journaled already
        self._fh = None
        try:
            self._fh = open(self.path, "xb")    # noqa: SIM115 - held (and locked) while the run lives
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._fail(exc)
        self._line({"run": _dump(doc)})

    def set(self, key: str, value: Any) -> None:
        """A top-level field of the run's document (a section of the contract's, or its JSON)."""
        self._line({"set": {key: _dump(value)}})

    def started(self, index: int, record: Any) -> None:
        """An entry begins: what `rebuild` needs to make its record again."""
        sc = record.scenario
        if isinstance(record, LevelRecord):
            scenario = {"load": sc.scenario.params(), "value": sc.value, "searched": sc.searched}
        else:
            scenario = sc.params()
        self._seen[index] = {} if isinstance(record, ScenarioRecord) else _Journaled()
        self._line({"entry": index, "record": type(record).__name__, "scenario": scenario})

    def tracking(self, index: int, record: Any, advance: Callable[..., None]) -> Callable[..., None]:
        """`advance` as a scenario's drive calls it after each pass or request, journaling what it added."""
        def progress(n: int, total: int | None = None) -> None:
            self.measured(index, record)
            advance(n, total)
        return progress

    def measured(self, index: int, record: Any) -> None:
        seen = self._seen.get(index)
        if isinstance(record, ScenarioRecord) and isinstance(seen, dict):
            added = {k: v[seen.get(k, 0):] for k, v in record.samples.items() if len(v) > seen.get(k, 0)}
            if added:
                engine = record.engine_reported[seen.get("__engine", 0):]
                seen.update({k: len(v) for k, v in record.samples.items()}, __engine=len(record.engine_reported))
                self._line({"pass": index, "add": added, "output_tokens": record.output_tokens,
                            "window_s": record.window_s, "engine_reported": engine})
        elif isinstance(seen, _Journaled):
            for trace in seen.ended(getattr(record, "traces", [])):
                self._line({"request": index, "trace": trace})

    def done(self, index: int, record: Any) -> None:
        self.measured(index, record)
        self._line({"done": index, "entry": _dump(record.to_entry())})

    def remove(self) -> None:
        """The result is written: the journal has done its job."""
        if self._fh is not None:
            self.path.unlink(missing_ok=True)
            self._close()

    def _line(self, obj: dict) -> None:
        if self._fh is None:
            return
        try:
            # a dataclass (a RequestTrace) as its fields; NaN as null
            self._fh.write(orjson.dumps(obj, default=str, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS))
            self._fh.flush()                     # through to the kernel: it outlives this process
        except (OSError, TypeError, ValueError) as exc:    # TypeError: orjson's; ValueError: a closed file
            self._fail(exc)
            return
        if not self._syncing and time.monotonic() - self._synced >= FSYNC_EVERY_S:
            self._syncing = True                 # and to the disk, now and then: it outlives the machine
            threading.Thread(target=self._sync, name="journal-fsync", daemon=True).start()

    def _sync(self) -> None:
        with self._closing:
            if self._fh is not None:
                with contextlib.suppress(OSError, ValueError):
                    os.fsync(self._fh.fileno())
        self._synced, self._syncing = time.monotonic(), False

    def _close(self) -> None:
        with self._closing:
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    self._fh.close()
            self._fh = None

    def _fail(self, exc: Exception) -> None:
        self._warn(f"warning: the run's journal {self.path} cannot be written ({exc}); "
                   "if this process dies, what it measured is lost")
        self._close()


def orphaned_journals(results_dir: Path) -> list[Path]:
    """The journals in `results_dir` whose run's process is gone (nobody holds their lock)."""
    return [p for p in sorted(Path(results_dir).glob(f"*{SUFFIX}")) if nobody_holds(p)]


def nobody_holds(path: Path) -> bool:
    """Whether no living process holds an flock on `path` (one that held it and died, even by
    SIGKILL, holds it no more)."""
    try:
        with open(path, encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def rebuild(path: Path, status: str, error: str) -> tuple[Path, int] | None:
    """Write the result of the run whose journal this is, with `status` and `error`, and remove
    the journal. Returns (the result's path, measured passes and requests kept), or None when
    the journal is held (its run lives), gone (rebuilt by another) or holds no run."""
    try:
        fh = open(path, encoding="utf-8")    # noqa: SIM115 - closed below, after its lock is tried
    except FileNotFoundError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None
        if not path.exists():
            return None
        doc, kept = _replay(fh.read().splitlines())
        if doc is None:
            path.unlink(missing_ok=True)
            return None
        doc["status"] = status
        doc["finished_at"] = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="seconds")
        doc["errors"] = [*doc.get("errors", []), error]
        doc["validity"] = _dump(run_validity(status, doc["scenarios"]))
        try:
            _, written, _ = storage.write_document(doc, path.parent, doc["run_id"])
        except ResultsError:
            path.unlink(missing_ok=True)     # written as measured before the contract's error: kept
            raise
        path.unlink(missing_ok=True)
    return written, kept


def _replay(lines: list[str]) -> tuple[dict | None, int]:
    """The run's document from its journal lines, and the measured passes and requests in it. A
    last line cut short by the kill is skipped."""
    doc: dict | None = None
    entries: dict[int, dict] = {}               # index -> a finished entry, as written
    records: dict[int, Any] = {}                # index -> an unfinished entry's record, rebuilt
    kept = 0
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "run" in obj:
            doc = obj["run"]
        elif "set" in obj and doc is not None:
            doc.update(obj["set"])
        elif "entry" in obj:
            records[obj["entry"]] = _record(obj["record"], obj["scenario"])
        elif "pass" in obj and isinstance(records.get(obj["pass"]), ScenarioRecord):
            rec = records[obj["pass"]]
            for k, values in obj["add"].items():
                rec.samples.setdefault(k, []).extend(values)
            rec.output_tokens, rec.window_s = obj["output_tokens"], obj["window_s"]
            rec.engine_reported.extend(obj["engine_reported"])
            kept += 1
        elif "request" in obj and obj["request"] in records:
            trace = RequestTrace(**obj["trace"])
            records[obj["request"]].traces.append(trace)
            kept += trace.measured
        elif "done" in obj:
            entries[obj["done"]] = obj["entry"]
            records.pop(obj["done"], None)
    if doc is None:
        return None, 0
    for i, rec in records.items():
        rec.status = INTERRUPTED
        entries[i] = _dump(rec.to_entry())
    doc["scenarios"] = [entries[i] for i in sorted(entries)]
    return doc, kept


def _dump(value: Any) -> Any:
    """A section of the contract's as its JSON (the fields set, as a result file holds them)."""
    return value.model_dump(mode="json", exclude_unset=True) if isinstance(value, BaseModel) else value


def _record(kind: str, scenario: dict) -> Any:
    """An empty record of type `kind` for the scenario the journal's `entry` line describes."""
    if kind == "ChatSessionRecord":
        return chat_session.record_of(scenario)
    if kind == "TraceRecord":
        replay = scenario_of(scenario["load"])
        assert isinstance(replay, TraceScenario)
        return TraceRecord(TraceLevel(replay))
    if kind == "LevelRecord":
        load = scenario_of(scenario["load"])
        assert isinstance(load, LoadScenario)
        return LevelRecord(Level(load, scenario["value"], scenario["searched"]))
    sc = scenario_of(scenario)
    return HTTPSingleStreamRecord(sc) if kind == "HTTPSingleStreamRecord" else ScenarioRecord(sc)  # type: ignore[arg-type]
