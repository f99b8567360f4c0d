"""Quality deltas llama.cpp publishes per quant (published.json): reference data, dated and sourced.

Shown beside `bench quality`'s figures for catalog models, whose synthetic weights say nothing
about a real model's quality; never mixed with measured figures.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

_FILE = Path(__file__).with_name("published_quality.json")


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(_FILE.read_text(encoding="utf-8"))


def published_deltas(model_id: str | None, quants: list[str]) -> dict | None:
    """The published rows for this catalog model and these quants, with source, date and caveats;
    None when nothing is published for the model."""
    data = _data()
    for s in data["sets"]:
        if model_id and model_id.lower() in s["applies_to"]:
            wanted = {q.upper() for q in quants}
            rows = [r for r in s["rows"] if r["quant"].upper() in wanted]
            return {"model": s["model"], "note": s["note"], "source": data["source"], "observed": data["observed"],
                    "cite": data["cite"],
                    "method": data["method"], "rows": {r["quant"].upper(): r for r in rows}}
    return None
