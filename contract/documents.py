"""Reading and writing result documents: the one place a JSON file becomes a typed document.

Reading checks `schema_version` first, upgrades an older document one version at a time (1:
results written before the typed contract; 2: the hardware section before it was typed), then
validates; anything else is a one-line ResultsError that names the file and the first field
that is wrong. Writing dumps exactly the fields that were set, so a
document read and written again is the same JSON.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from contract.device import Device
from contract.enums import ScenarioKind
from contract.errors import ResultsError
from contract.result import SCHEMA_VERSION, Document, Outcome, RunResult

OUTCOME_KINDS = ("quality", "eval")
_HINT = "pass result files written by bench run, bench quality or bench eval"
_ANY = TypeAdapter(Document)
_TAGS = {k.value for k in ScenarioKind}     # a discriminated union puts the tag in the error's path


def upgrade_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """A version-1 document as version 2. Version 1 had the same fields, unchecked; an engine's
    own device spelling ("CUDA0") in `backend.device` becomes the Device vocabulary's."""
    doc = copy.deepcopy(doc)
    doc["schema_version"] = 2
    backend = doc.get("backend")
    if isinstance(backend, dict) and isinstance(backend.get("device"), str):
        with contextlib.suppress(ValueError):
            backend["device"] = Device.parse(backend["device"]).value
            pass            # validation names the field below
    return doc


def upgrade_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """A version-2 document as version 3: its hardware section's NVIDIA GPUs (`hardware.nvidia.gpus`)
    become `hardware.gpus` with vendor "nvidia" and the name their figures already went by
    ("gpu<index>"), the compute capability becomes `arch`, and the rest of `hardware.nvidia` (the
    driver, the CUDA version, why there were no GPUs) becomes `hardware.gpu_drivers.nvidia`."""
    doc = copy.deepcopy(doc)
    doc["schema_version"] = 3
    hw = doc.get("hardware")
    if isinstance(hw, dict) and isinstance(hw.get("nvidia"), dict):
        nvidia = hw["nvidia"]
        gpus = []
        for g in nvidia.get("gpus") or []:
            if not isinstance(g, dict):
                gpus.append(g)          # validation names the field below
                continue
            g = dict(g)
            if "compute_capability" in g:
                g["arch"] = g.pop("compute_capability")
            gpus.append({"vendor": "nvidia", "index": g.get("index"), "device": f"gpu{g.get('index')}", **g})
        driver = {k: v for k, v in nvidia.items() if k not in ("gpus", "cuda_version")}
        driver.update(runtime="CUDA", runtime_version=nvidia.get("cuda_version"))
        rest = {k: v for k, v in hw.items() if k not in ("cpu", "nvidia", "apple", "fingerprint")}
        # the order version 3 writes: cpu, gpus, gpu_drivers, apple, fingerprint
        doc["hardware"] = {"cpu": hw.get("cpu"), "gpus": gpus, "gpu_drivers": {"nvidia": driver},
                           **({"apple": hw["apple"]} if "apple" in hw else {}), **rest,
                           **({"fingerprint": hw["fingerprint"]} if "fingerprint" in hw else {})}
    return doc


# version -> the function that lifts a document of that version one version up
UPGRADES = {1: upgrade_v1, 2: upgrade_v2}


def _field(loc: tuple[str | int, ...]) -> str:
    """('scenarios', 0, 'pp', 'status') -> 'scenarios[0].status' (the union's tag dropped)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _TAGS:
            continue
        else:
            text += ("." if text else "") + str(part)
    return text or "(document)"


def parse(doc: Any, source: str | Path | None = None) -> RunResult | Outcome:
    """A decoded JSON document -> RunResult or Outcome; ResultsError (one line) otherwise."""
    where = f"{source}: " if source is not None else ""
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise ResultsError(f"{where}no schema_version, not a rightsize result", _HINT)
    version = doc["schema_version"]
    if not isinstance(version, int) or (version != SCHEMA_VERSION and version not in UPGRADES):
        older = " and ".join(str(v) for v in sorted(UPGRADES))
        raise ResultsError(f"{where}schema_version {version} (this rightsize reads {SCHEMA_VERSION}, and {older} by "
                           f"upgrading them)", "upgrade rightsize to read it")
    while doc["schema_version"] in UPGRADES:
        doc = UPGRADES[doc["schema_version"]](doc)
    try:
        if doc.get("kind") in OUTCOME_KINDS:
            return Outcome.model_validate(doc)
        if doc.get("kind") is not None:
            raise ResultsError(f"{where}a {doc['kind']!r} document, not a result", _HINT)
        return RunResult.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = exc.error_count() - 1
        field, msg = _field(first["loc"]), first["msg"]
        if first["type"] == "union_tag_invalid":
            field += ".kind"
            msg = f"unknown kind {first['ctx']['tag']!r} (one of {', '.join(sorted(_TAGS))})"
        raise ResultsError(f"{where}malformed result: field {field}: {msg}"
                           + (f" (and {more} more)" if more else ""), _HINT) from None


def run_result(doc: RunResult | Outcome | dict[str, Any], source: str | Path | None = None) -> RunResult:
    """A `bench run` result, from its typed document or its decoded JSON (parsed as `parse` does);
    TypeError for a quality or eval outcome, which has no run figures."""
    typed = parse(doc, source) if isinstance(doc, dict) else doc
    if not isinstance(typed, RunResult):
        raise TypeError(f"a bench run result was expected, not a {typed.kind} document")
    return typed


def outcome(doc: RunResult | Outcome | dict[str, Any], source: str | Path | None = None) -> Outcome:
    """A `bench quality` or `bench eval` outcome, from its typed document or its decoded JSON;
    TypeError for a bench run result."""
    typed = parse(doc, source) if isinstance(doc, dict) else doc
    if not isinstance(typed, Outcome):
        raise TypeError("a bench quality or bench eval outcome was expected, not a bench run result")
    return typed


def _not_json(token: str) -> None:
    # Python writes NaN and Infinity unless told not to; JSON has no such numbers and no other
    # reader of our results would accept them.
    raise ValueError(f"{token} is not a JSON number")


def read(path: str | Path) -> RunResult | Outcome:
    """The document in `path`; ResultsError naming the file for anything unreadable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"{path}: not a readable result file ({exc})", _HINT) from None
    if b"NaN" not in data and b"Infinity" not in data:
        # the common case, a current run result, validated straight from its bytes (about 2x faster
        # than decoding first: a dashboard reads thousands); anything else takes the checked path below
        try:
            return RunResult.model_validate_json(data)
        except ValidationError:
            pass
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_not_json)
    except ValueError as exc:
        raise ResultsError(f"{path}: not a readable result file ({exc})", _HINT) from None
    return parse(doc, path)


def dump(doc: RunResult | Outcome) -> dict[str, Any]:
    """The JSON-ready dict of a document: the fields that were set, enums as their values."""
    return doc.model_dump(mode="json", exclude_unset=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every document a results directory holds (contract/result.schema.json)."""
    schema = _ANY.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "rightsize result document"
    schema["description"] = (f"schema_version {SCHEMA_VERSION}: a bench run result (RunResult) or a bench quality / "
                             "bench eval outcome (Outcome). Generated from contract/result.py.")
    return schema

