"""Result documents of their own kinds: what `bench quality` and `bench eval` measured.

They sit in the results directory beside `bench run`'s results, with the same schema_version and a
`kind` ("quality" or "eval"; a run result has none). They are built here as the typed contract's
Outcome (contract/result.py: QualityBody, EvalBody), so a writer's mistake fails where it is made.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from bench import environment
from contract import storage
from contract.build import run_id as new_run_id
from contract.build import utc_now
from contract.enums import Status
from contract.result import SCHEMA_VERSION, EvalBody, HardwareInfo, Outcome, QualityBody, QuantQuality


def outcome_document(*, label: str | None, started_at: str, model: dict, hardware: HardwareInfo | None, config: dict,
                     body: QualityBody | EvalBody, status: Status = Status.COMPLETED, errors: Sequence[str] = (),
                     run_id: str | None = None) -> Outcome:
    """The whole document for one outcome; `body` holds what was measured, and its class says the kind.
    `run_id`: the one it was saved under before, for a document saved as it grows; else a new one."""
    kind = "quality" if isinstance(body, QualityBody) else "eval"
    label = label or socket.gethostname()
    name = run_id or new_run_id(started_at, label, model.get("id") or "model", kind, unique=True)
    return Outcome(schema_version=SCHEMA_VERSION, kind=kind, run_id=name, status=status, label=label,
                   started_at=started_at, finished_at=utc_now(), config=config, environment=environment.capture(),
                   hardware=hardware, model=model, errors=list(errors), **{kind: body})


def write_outcome(doc: Outcome, results_dir: Path, replace: Path | None = None) -> tuple[dict, Path, str | None]:
    """Atomically, under its run_id; (the JSON as written, path, warning) as bench run writes its
    results. `replace`: the path an earlier save of this document returned."""
    return storage.write_typed(doc, results_dir, doc.run_id, replace)


def _kld(q: QuantQuality) -> str:
    return "n/a (no tokens scored)" if q.kld.value is None else f"{q.kld.value:.4g}"


def outcome_lines(loaded: Sequence[tuple[Path, Outcome]]) -> list[str]:
    """One line per quality or eval outcome, for `bench results`."""
    lines = []
    for path, out in loaded:
        if out.quality is not None:
            body = out.quality
            what = ", ".join(f"{q} KLD {_kld(s)}" for q, s in body.quants.items()) or "no quant measured"
            what += f" against {body.reference.quant} ({body.weights} weights)"
        elif out.eval is not None:
            s = out.eval.summary
            what = (f"accuracy {s.accuracy:.1%} of {s.n} tasks in {out.eval.tasks_file.name}"
                    if s is not None and s.accuracy is not None else "no task answered") + f" via {out.eval.backend}"
        else:
            continue
        lines.append(f"{out.kind} {out.started_at} {out.label} {out.model.get('id')}: {what} "
                     f"[{out.status}] {path.name}")
    return lines
