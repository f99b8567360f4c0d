"""bench quality's bad input: one line naming the problem and the fix, non-zero exit, nothing written."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.engine   # each test is a bench process of its own


def bench(*args):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def one_line(proc, *needles):
    """Progress (a synthetic build) may come first; the error is one line, the last."""
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and proc.stderr.strip().splitlines()[-1] == errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in errors[0]


def test_missing_text_file(tmp_path):
    one_line(bench("quality", "--model", "tiny", "--text", str(tmp_path / "nope.txt"), "--results-dir", str(tmp_path)),
             "nope.txt", "--text")
    assert not list(tmp_path.glob("*.json"))


def test_a_text_too_short_for_two_windows(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("only a few words here")
    one_line(bench("quality", "--model", "tiny", "--quant", "Q8_0", "--text", str(short), "--results-dir", str(tmp_path)),
             "at least 1024", "--text")
    assert not list(tmp_path.glob("*.json"))


def test_the_reference_among_the_quants(tmp_path):
    one_line(bench("quality", "--model", "tiny", "--quant", "F16,Q8_0", "--results-dir", str(tmp_path)), "F16",
             "reference")


def test_a_quantized_file_cannot_be_the_reference(tmp_path, tiny_gguf):
    one_line(bench("quality", "--model", str(tiny_gguf), "--quant", "Q8_0", "--results-dir", str(tmp_path)),
             "already quantized", "F16")
