"""The tables `bench run` prints under load, at 80 and 120 columns, on a real load run against a
small HTTP server (tests/load/sse_server.py) that holds some streams back, so that a level is
INVALID with a reason a paragraph long: no header or figure cut with "…", no line wider than the
console, and the reason whole under the tables."""

import io
import json
import re

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from bench.commands.main import main
from contract.storage import load_documents
from dashboards.run_tables import load_rows, load_summary_table, result_list_rows, result_list_table
from tests.load.conftest import TINY_PROFILE
from tests.load.sse_server import HOLD, OK, FakeServer


def render(renderable, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def assert_fits(text: str, width: int) -> None:
    assert "…" not in text, text
    assert max(cell_len(line) for line in text.splitlines()) <= width, text


def flat(text: str) -> str:
    return " ".join(re.sub(r"[│┃]", " ", text).split())


@pytest.fixture(scope="module")
def load_run(tmp_path_factory):
    """`bench run --concurrency 1,4` at 80 columns, with two streams held back: (its output, its result)."""
    d = tmp_path_factory.mktemp("load")
    (d / "workloads.json").write_text(json.dumps(TINY_PROFILE))
    # requests 1 and 2 are probes; 5 and 7 fall in the first level's measured requests
    with FakeServer(lambda n, body: HOLD if n in (5, 7) else OK, interval_s=0.002) as url:
        r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", url, "--model", "fake",
                                      "--min-duration", "0", "--idle-seconds", "0", "--results-dir", str(d / "r"),
                                      "--workloads", str(d / "workloads.json"), "--scenario", "tiny-chat",
                                      "--concurrency", "1,4", "--requests", "6"],
                               catch_exceptions=False, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    (loaded,), warnings = load_documents([d / "r"])
    assert not warnings
    return r.output, loaded


def test_bench_run_prints_its_load_tables_whole_at_80_columns(load_run):
    out, (_, doc) = load_run
    # from the title of the first table ("... · under load"; a line above may say "under load" too)
    # to the cost block or the result's path under the tables
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith("· under load"))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith(("What a million", "cost: ", "result: ")))
    tables = "\n".join(lines[start:end])
    assert_fits(tables, 80)
    for r in load_rows(doc):
        for key in ("level", "output_tps", "requests_per_s", "ttft_ms", "tpot_ms", "e2e_p99_s", "queue_p99_ms",
                    "goodput", "errors", "slo", "verdict"):
            assert r[key] in tables, (key, r[key])


@pytest.mark.parametrize("width", (80, 120))
def test_load_tables_fit_and_say_why_a_level_is_invalid(load_run, width):
    _, (_, doc) = load_run
    text = render(load_summary_table(doc), width)
    assert_fits(text, width)
    rows = load_rows(doc)
    invalid = [r for r in rows if r["reasons"]]
    assert invalid, "the held-back streams make a level INVALID"
    for r in invalid:
        for reason in r["reasons"]:
            assert f"{r['level']} {r['verdict']}: {reason}" in flat(text)
    lines = text.splitlines()
    for r in rows:
        # one line per level: each figure whole on it (in one table or in both halves)
        mine = " ".join(line for line in lines if line.startswith(f"│ {r['level']} "))
        for key in ("output_tps", "ttft_ms", "tpot_ms", "goodput", "verdict"):
            assert r[key] in mine, (key, mine)
    if width == 120:                                       # room for one table: one line per level
        assert sum(line.startswith(f"│ {rows[0]['level']} ") for line in lines) == 1


def test_the_result_list_of_a_load_run_fits(load_run):
    _, loaded = load_run
    (row,) = result_list_rows([loaded])
    for width in (80, 120):
        text = render(result_list_table([row]), width)
        assert_fits(text, width)
        # its best valid level's rate, or (when the held-back streams made every level INVALID) why none
        for k, v in row["tokens_per_s"].items():
            assert f"{k} {v:,.1f}" in text
        assert row["tokens_per_s"] or f"#1 tokens/s n/a: {row['why_no_figures']}" in flat(text)
