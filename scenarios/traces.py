"""Request traces: when each request came and how long it was, read from the formats the field
publishes, so a demand (bench size --trace) can be taken from real traffic.

- Mooncake JSONL (kvcache-ai/Mooncake traces): `timestamp` in ms, `input_length`, `output_length`,
  `hash_ids` (the prompt's blocks of 512 tokens, as hashes: a replay shares them, scenarios/trace_prompts.py);
- Azure LLM inference trace CSV (Azure/AzurePublicDataset): `TIMESTAMP` (a date-time), `ContextTokens`,
  `GeneratedTokens`;
- our own JSONL for users' logs: `timestamp` in seconds (a number, or an ISO 8601 date-time),
  `input_tokens`, `output_tokens` (and `hash_ids`, as Mooncake's, where prompts share blocks).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from contract.errors import ScenarioError

_HINT = ("a trace is Mooncake JSONL (timestamp ms, input_length, output_length), Azure's CSV (TIMESTAMP, "
         "ContextTokens, GeneratedTokens) or JSONL of timestamp (s), input_tokens, output_tokens")


@dataclass(frozen=True)
class TracedRequest:
    at_s: float                  # seconds, on the trace's own clock
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] = ()   # Mooncake: the prompt's blocks; equal ids are equal blocks


def _seconds(value: object, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)).timestamp()
    raise ScenarioError(f"{where}: timestamp {value!r} is neither a number nor a date-time", _HINT)


def _count(value: object, where: str, name: str) -> int:
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        n = -1
    if n < 0 or isinstance(value, bool):
        raise ScenarioError(f"{where}: {name} {value!r} is not a token count", _HINT)
    return n


def _hash_ids(value: object, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in value):
        raise ScenarioError(f"{where}: hash_ids {value!r} is not a list of whole numbers", _HINT)
    return tuple(value)


def read_trace(path: Path) -> list[TracedRequest]:
    """The requests of a trace file, in time order; one ScenarioError line for anything wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read trace {path}: {exc.strerror or exc}", "pass --trace with a readable file") \
            from None
    out = []
    if path.suffix.lower() == ".csv":
        for i, row in enumerate(csv.DictReader(text.splitlines()), start=2):
            where = f"{path}:{i}"
            if not {"TIMESTAMP", "ContextTokens", "GeneratedTokens"} <= set(row):
                raise ScenarioError(f"{where}: no TIMESTAMP, ContextTokens and GeneratedTokens columns", _HINT)
            out.append(TracedRequest(_seconds(row["TIMESTAMP"], where), _count(row["ContextTokens"], where, "ContextTokens"),
                                     _count(row["GeneratedTokens"], where, "GeneratedTokens")))
    else:
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path}:{i}"
            try:
                doc = json.loads(line)
            except ValueError as exc:
                raise ScenarioError(f"{where}: not JSON ({exc})", _HINT) from None
            if not isinstance(doc, dict):
                raise ScenarioError(f"{where}: not a JSON object", _HINT)
            if "input_length" in doc:                               # Mooncake: ms
                out.append(TracedRequest(_seconds(doc.get("timestamp"), where) / 1000.0,
                                         _count(doc["input_length"], where, "input_length"),
                                         _count(doc.get("output_length"), where, "output_length"),
                                         _hash_ids(doc.get("hash_ids"), where)))
            elif "input_tokens" in doc:
                out.append(TracedRequest(_seconds(doc.get("timestamp"), where),
                                         _count(doc["input_tokens"], where, "input_tokens"),
                                         _count(doc.get("output_tokens"), where, "output_tokens"),
                                         _hash_ids(doc.get("hash_ids"), where)))
            else:
                raise ScenarioError(f"{where}: no input_length (Mooncake) or input_tokens", _HINT)
    if len(out) < 2:
        raise ScenarioError(f"trace {path} has {len(out)} request(s): a demand needs at least two, over time", _HINT)
    return sorted(out, key=lambda r: r.at_s)
