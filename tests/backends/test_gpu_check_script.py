"""scripts/gpu-check.sh end to end where there is no GPU: it must say so, fall back to the CPU
and still install the suite offline, run, build the site and pass the physics checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends.engine_helpers import require

pytestmark = pytest.mark.engine   # installs the suite and runs real engines through scripts/gpu-check.sh

SCRIPT = Path(__file__).parent.parent.parent / "scripts" / "gpu-check.sh"


def test_gpu_check_falls_back_to_the_cpu_with_a_clear_message(tmp_path):
    torch = require("torch", "torch")
    require("transformers", "torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the script runs the real GPU check (minutes), not the fallback")
    env = {**os.environ, "PYTHON": sys.executable, "RIGHTSIZE_CACHE": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)            # the script must run the copy it installed, not this tree
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "torch sees no CUDA device here: falling back to the CPU" in r.stderr
    assert (out / "FALLBACK.txt").is_file() and (out / "site" / "index.html").is_file()
    # what the README's first command would build here: no GPU, so the CPU, and nothing built
    assert (out / "llamacpp-install.txt").read_text().startswith("llama.cpp for the CPU: ")
    (result,) = [json.loads(p.read_text()) for p in (out / "results").glob("*.json")]
    assert result["status"] == "completed" and result["backend"]["name"] == "torch"
    assert [s["name"] for s in result["scenarios"]] == [
        "tg128", "single-stream", "short-chat@c1", "short-chat@c2", "short-chat@c4"]
    assert all(s["status"] == "completed" for s in result["scenarios"])
    check = (out / "check.txt").read_text()
    assert "pass  tg128: decode under the measured read roof" in check and "FAIL" not in check
