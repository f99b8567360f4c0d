import json
import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "runs"


@pytest.fixture
def results_dir(tmp_path) -> Path:
    """A copy of the real results measured for examples/, free to add files to."""
    d = tmp_path / "results"
    shutil.copytree(EXAMPLES, d)
    return d


@pytest.fixture
def example():
    """example("tiny-Q4_K_M") -> (path, document) of a real result under examples/runs."""
    def load(name_part: str) -> tuple[Path, dict]:
        path = next(p for p in sorted(EXAMPLES.glob("*.json")) if name_part in p.name)
        return path, json.loads(path.read_text())
    return load
