"""Write the published JSON Schema of the result document: `python -m contract.schema`.

contract/result.schema.json is generated from contract/result.py and committed, so that other
tools can validate our results without this package; tests/test_contract.py fails when it is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from contract.documents import json_schema

SCHEMA_FILE = Path(__file__).with_name("result.schema.json")


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
