"""`bench prices` and `bench dashboard` from the command line: output, warnings, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dashboards.conftest import EXAMPLES

pytestmark = pytest.mark.engine   # each test is a bench process of its own

ROOT = Path(__file__).resolve().parents[2]


def bench(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bench", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "COLUMNS": "160", **(env or {})}, timeout=120)


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for n in needles:
        assert n in lines[0]


def test_prices_table_and_staleness_warning():
    p = bench("prices")
    assert p.returncode == 0
    assert "GPT-4o" in p.stdout and "Groq" in p.stdout and "4.375" in p.stdout
    assert "warning:" in p.stderr and "older than 180 days" in p.stderr
    rows = json.loads(bench("prices", "--json", "--max-age-days", "100000").stdout)
    assert len(rows) >= 30 and all({"input", "output", "blended", "observed", "source", "age_days"} <= set(r) for r in rows)


def test_prices_user_file_and_profiles(tmp_path):
    f = tmp_path / "mine.csv"
    f.write_text("model,provider,input,output,observed,source\nMy model,Me,1,3,2026-11-01,https://example.com\n")
    rows = json.loads(bench("prices", "--json", "--prices", f).stdout)
    assert {"model": "My model", "provider": "Me", "blended": 1.5} .items() <= next(
        r for r in rows if r["provider"] == "Me").items()
    profiles = json.loads(bench("prices", "--profiles", "--json").stdout)
    assert {"h100", "cpu-server", "mac-studio-m2-ultra"} <= {p["name"] for p in profiles}
    p = bench("prices", "--profiles")
    assert p.returncode == 0 and "only with --profile" in p.stdout and "deploybase.ai" in p.stdout


def test_dashboard_builds_one_offline_file(tmp_path, results_dir):
    (results_dir / "broken.json").write_text("{ this is not json")
    other = json.loads(next(results_dir.glob("*tiny-Q4_K_M*.json")).read_text())
    other["schema_version"] = 99
    (results_dir / "future.json").write_text(json.dumps(other))
    p = bench("dashboard", results_dir, "-o", tmp_path / "site", "--profile", "vm=cpu-server")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    n = len(list(EXAMPLES.glob("*.json")))
    assert "site:" in p.stdout and f"{n} result(s) from 1 machine(s)" in p.stdout
    assert any("broken.json" in line and line.startswith("warning:") for line in p.stderr.splitlines())
    assert any("future.json" in line and "schema_version 99" in line for line in p.stderr.splitlines())
    files = list((tmp_path / "site").iterdir())
    assert [f.name for f in files] == ["index.html"]
    html = files[0].read_text()
    assert "<script src" not in html and "<link rel=\"stylesheet\"" not in html   # nothing fetched
    assert html.count("Plotly") > 10 and 4_000_000 < len(html) < 8_000_000      # plotly.js inlined once


def test_structurally_malformed_result_is_skipped(tmp_path, results_dir):
    doc = json.loads(next(results_dir.glob("*tiny-Q4_K_M*.json")).read_text())
    doc.update(run_id="odd", scenarios="not a list")
    (results_dir / "odd.json").write_text(json.dumps(doc))
    nan = json.loads(next(results_dir.glob("*llama*.json")).read_text())
    nan["run_id"] = "nan"
    nan["scenarios"][2]["summary"]["output_tps"] = float("nan")
    (results_dir / "nan.json").write_text(json.dumps(nan))            # Python writes the NaN token
    p = bench("dashboard", results_dir, "-o", tmp_path / "site", "--profile", "vm=cpu-server")
    assert p.returncode == 0 and "Traceback" not in p.stderr
    assert any(line.startswith("warning: skipped") and "odd.json" in line for line in p.stderr.splitlines())
    assert any(line.startswith("warning: skipped") and "nan.json" in line for line in p.stderr.splitlines())
    assert f"{len(list(EXAMPLES.glob('*.json')))} result(s)" in p.stdout


def test_prices_update_merges_into_the_store(tmp_path):
    store = tmp_path / "store.json"
    f = tmp_path / "negotiated.csv"
    f.write_text("model,provider,input,output,observed,source\nLlama 3.1 8B,Groq,0.04,0.06,2026-11-30,contract 3\n"
                 "Llama 3.1 8B,Acme,0.01,0.02,2026-11-30,contract 4\n")
    p = bench("prices", "--update", f, env={"RIGHTSIZE_PRICES": str(store)})
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"merged {f} into {store}: 2 added, 0 replaced"
    rows = json.loads(bench("prices", "--json", env={"RIGHTSIZE_PRICES": str(store)}).stdout)
    groq = next(r for r in rows if r["provider"] == "Groq" and r["model"] == "Llama 3.1 8B")
    assert (groq["input"], groq["output"], groq["origin"]) == (0.04, 0.06, str(store))
    f.write_text("model,provider,input,output,source\nx,y,1,1,s\n")
    assert_one_line_error(bench("prices", "--update", f, env={"RIGHTSIZE_PRICES": str(store)}), "observed date")


def test_dashboard_prices_every_result_without_flags(tmp_path, results_dir):
    p = bench("dashboard", results_dir, "-o", tmp_path / "site")
    assert p.returncode == 0, p.stderr
    n = len(list(EXAMPLES.glob("*.json")))
    assert f"{n} priced" in p.stdout and "cost n/a" not in p.stdout
    html = (tmp_path / "site" / "index.html").read_text()
    assert "Cost basis per machine" in html and "gcp-n2d" in html
    # --hourly-cost prices every result at that hour instead
    p = bench("dashboard", results_dir, "-o", tmp_path / "site2", "--hourly-cost", "0.5")
    assert p.returncode == 0 and f"{n} priced" in p.stdout
    assert "your hourly cost of $0.5 for every machine" in (tmp_path / "site2" / "index.html").read_text()


@pytest.mark.parametrize("args, needles", [
    (["--profile", "vm"], ["LABEL=NAME"]),
    (["--profile", "vm=nope"], ["unknown cost profile 'nope'"]),
    (["--utilisation", "0"], ["--utilisation"]),
    (["--years", "4"], ["--years is the amortisation of --capex"]),
    (["--hourly-cost", "1", "--capex", "9000"], ["give one"]),
])
def test_dashboard_bad_options(tmp_path, results_dir, args, needles):
    assert_one_line_error(bench("dashboard", results_dir, "-o", tmp_path / "s", *args), *needles)


def test_dashboard_bad_inputs(tmp_path):
    assert_one_line_error(bench("dashboard", tmp_path / "nope", "-o", tmp_path / "s"), "no such results")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(bench("dashboard", tmp_path / "empty", "-o", tmp_path / "s"), "no results to show")
    bad = tmp_path / "p.json"
    bad.write_text('[{"model": "m"}]')
    assert_one_line_error(bench("dashboard", tmp_path / "empty", "--prices", bad), "missing provider")


def test_help_imports_no_plotly_or_engine():
    code = ("import sys\nfrom bench.commands.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('plotly', 'llama_cpp', 'torch', 'numpy')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.stdout.strip().endswith("[]"), p.stdout + p.stderr
