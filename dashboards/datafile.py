"""Reading the tables a user supplies (price rows, cost profiles): JSON or CSV, clear errors.

JSON: a list of objects, or an object holding that list under `key`. CSV: a header row of field
names; empty cells are null and number columns are parsed, so a spreadsheet export works as is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Set
from pathlib import Path

from dashboards.errors import DashboardError


def _cell(name: str, text: str, numeric: Set[str]):
    text = text.strip()
    if text == "":
        return None
    if name in numeric:
        try:
            return float(text)
        except ValueError:
            return text          # left for the row's own check, which names the field
    return text


def read_rows(path: Path, key: str, what: str, numeric: Set[str] = frozenset()) -> list[dict]:
    """Rows as dicts; in a CSV file the `numeric` columns are parsed as numbers."""
    path = Path(path)
    hint = f"pass a JSON file with a list under {key!r}, or a CSV file with a header row"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DashboardError(f"cannot read {what} file {path}: {exc.strerror or exc}", hint) from None
    if path.suffix.lower() == ".csv":
        return [{k.strip(): _cell(k.strip(), v or "", numeric) for k, v in row.items() if k}
                for row in csv.DictReader(text.splitlines())]
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise DashboardError(f"{what} file {path} is not valid JSON ({exc})", hint) from None
    rows = doc.get(key) if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DashboardError(f"{what} file {path} has no list of objects under {key!r}", hint)
    return rows


def builtin_rows(name: str, key: str) -> list[dict]:
    return json.loads(Path(__file__).with_name(name).read_text(encoding="utf-8"))[key]
