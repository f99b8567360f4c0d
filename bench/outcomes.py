"""Result documents of their own kinds: what `bench quality` and `bench eval` measured.

They sit in the results directory beside `bench run`'s results, with the same schema_version and a
`kind` ("quality" or "eval"; a run result has none). Every such document is built and read here
only, so that it can move into the typed result model in one small step.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Sequence
from pathlib import Path

from bench import environment, storage
from contract.result import SCHEMA_VERSION

KINDS = ("quality", "eval")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def outcome_document(kind: str, *, label: str | None, started_at: str, model: dict, hardware: dict | None,
                     config: dict, body: dict, status: str = "completed", errors: Sequence[str] = ()) -> dict:
    """The whole document for one outcome; `body` holds what the kind measured."""
    if kind not in KINDS:
        raise ValueError(f"unknown outcome kind {kind!r}")
    label = label or socket.gethostname()
    stamp = started_at.replace("+00:00", "Z").replace(":", "")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(p for p in (stamp, label, model.get("id") or "model", kind) if p))
    return {"schema_version": SCHEMA_VERSION, "kind": kind, "run_id": name[:160], "status": status, "label": label,
            "started_at": started_at, "finished_at": utc_now(), "config": config,
            "environment": environment.capture(), "hardware": hardware, "model": model, "errors": list(errors),
            kind: body}


def write_outcome(doc: dict, results_dir: Path) -> tuple[Path, str | None]:
    """Atomically, under its run_id; (path, warning) as bench run writes its results."""
    _, path, warning = storage.write_document(doc, results_dir, doc["run_id"])
    return path, warning


def read_outcome(doc: dict) -> tuple[str, dict] | None:
    """(kind, what it measured) for a quality or eval document; None for any other result."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind in KINDS and isinstance(doc.get(kind), dict):
        return kind, doc[kind]
    return None


def outcome_lines(loaded: list[tuple[Path, dict]]) -> list[str]:
    """One line per quality or eval outcome, for `bench results`."""
    lines = []
    for path, doc in loaded:
        kind, body = read_outcome(doc) or (None, {})
        if kind == "quality":
            what = ", ".join(f"{q} KLD {s['kld']['value']:.4g}" for q, s in body["quants"].items()) or "no quant measured"
            what += f" against {body['reference']['quant']} ({body['weights']} weights)"
        elif kind == "eval":
            s = body.get("summary") or {}
            what = (f"accuracy {s['accuracy']:.1%} of {s['n']} tasks in {body['tasks_file']['name']}"
                    if s.get("accuracy") is not None else "no task answered") + f" via {body['backend']}"
        else:
            continue
        model = doc.get("model") or {}
        lines.append(f"{kind} {doc.get('started_at')} {doc.get('label')} {model.get('id')}: {what} "
                     f"[{doc.get('status')}] {path.name}")
    return lines
