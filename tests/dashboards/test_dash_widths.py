"""The terminal's tables at 80 and 120 columns, from the real results under examples/runs: no
header or figure cut with "…", no line wider than the console, each figure whole (on one line
at 120 columns, where there is room), and what does not fit a column said under the table.
The load tables are checked on a real load run in tests/load/test_load_tables.py."""

import io
import json
import re
from itertools import pairwise

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from bench.commands.main import main
from bench.commands.project import short_source
from contract.storage import load_documents
from dashboards.rows import CostSettings
from dashboards.run_tables import result_list_rows, result_list_table, run_summary_table, scenario_rows
from dashboards.terminal import breakeven_table, cost_rows
from hardware.machines import machines
from tests.dashboards.conftest import EXAMPLES

WIDTHS = (80, 120)


def render(renderable, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def assert_fits(text: str, width: int) -> None:
    assert "…" not in text, text                         # rich cut a header or a figure
    assert max(cell_len(line) for line in text.splitlines()) <= width, text


def flat(text: str) -> str:
    """The text with its table borders and line breaks gone: a note wrapped under a table reads whole."""
    return " ".join(re.sub(r"[│┃║|]", " ", text).split())


@pytest.fixture(scope="module")
def loaded():
    docs, warnings = load_documents([EXAMPLES])
    assert len(docs) == 3 and not warnings
    return docs


@pytest.mark.parametrize("width", WIDTHS)
def test_run_summaries_fit_and_keep_every_figure(loaded, width):
    for _, doc in loaded:
        text = render(run_summary_table(doc), width)
        assert_fits(text, width)
        for header in ("scenario", "tokens/s", "ttft", "tpot", "J/token", "of BW", "validity"):
            assert header in text
        lines = text.splitlines()
        for row in scenario_rows(doc):
            # the row's own line holds its figures; a spread may sit on the line under it
            i = next(i for i, line in enumerate(lines) if line.startswith(f"│ {row['scenario']} "))
            mean, _, sd = row["tokens_per_s"].partition(" ± ")
            assert mean in lines[i] and (not sd or sd in lines[i] + lines[i + 1])
            for key in ("ttft_ms", "tpot_ms", "j_per_token", "bandwidth_efficiency", "verdict"):
                assert row[key] in lines[i], (key, lines[i])
            for reason in row["reasons"]:                 # why it is INVALID: whole, under the table
                assert f"{row['scenario']} {row['verdict']}: {reason}" in flat(text)


def test_at_120_columns_each_row_is_one_line(loaded):
    for _, doc in loaded:
        text = render(run_summary_table(doc), 120)
        assert "ttft p50 ms" in text and "of BW roof" in text     # headers on one line
        for row in scenario_rows(doc):
            (line,) = [line for line in text.splitlines() if line.startswith(f"│ {row['scenario']} ")]
            assert row["tokens_per_s"] in line


def test_at_80_columns_a_wide_spread_goes_under_its_mean(loaded):
    # tiny Q4_K_M's pp64, 13,801.10 ± 729.92, does not leave room for the other columns at 80
    doc = next(d for p, d in loaded if "tiny-Q4_K_M" in p.name)
    lines = render(run_summary_table(doc), 80).splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("│ pp64 "))
    assert "13,801.10 " in lines[i] and "± 729.92" in lines[i + 1]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_result_list_fits_and_names_every_file(loaded, width):
    rows = result_list_rows(loaded)
    text = render(result_list_table(rows), width)
    assert_fits(text, width)
    for r in rows:
        assert r["file"] in text or r["file"].split("/")[-1] in text
        for k, v in r["tokens_per_s"].items():
            assert f"{k} {v:,.1f}" in text
        for key in ("model", "quant", "backend", "status", "verdict"):
            assert r[key] in text


def test_bench_results_at_80_columns():
    r = CliRunner().invoke(main, ["results", str(EXAMPLES)], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout, 80)
    assert "3 result(s)" in r.stdout and "llama-3.1-8b" in r.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_the_breakeven_table_fits_and_says_never_once(loaded, width):
    _, doc = next((p, d) for p, d in loaded if "llama-3.1-8b" in p.name)
    (row,) = cost_rows([(None, doc)], CostSettings())
    text = render(breakeven_table({**row, "label": doc.label, "model": doc.model.id, "quant": doc.model.quant}), width)
    assert_fits(text, width)
    never = [a for a in row["cost"]["apis"] if a["never"]]
    assert never                                           # 1 tok/s on a CPU: no API row is beaten
    for a in never:
        # the utilisation it would need, whole in its row; why, once under the table
        assert f"never ({a['breakeven_needs_utilisation']:.0%})" in text
    assert flat(text).count("would have to be busy N% of its hours") == 1


@pytest.fixture(scope="module")
def listing():
    def run(width: int) -> str:
        r = CliRunner().invoke(main, ["project", "--list"], env={"COLUMNS": str(width)})
        assert r.exit_code == 0, r.output
        return r.stdout
    return {w: run(w) for w in WIDTHS}


@pytest.mark.parametrize("width", WIDTHS)
def test_project_list_rows_stay_a_few_lines(listing, width):
    text = listing[width]
    assert_fits(text, width)
    rows = machines()
    # a row starts where its id does; it ends where the next one starts
    ids = [re.match(r"│ [* ] (\S+) ", line) for line in text.splitlines()]
    starts = [i for i, m in enumerate(ids) if m is not None and m[1] in rows]
    assert len(starts) == len(rows)
    heights = [b - a for a, b in pairwise(starts)]
    assert max(heights) <= (6 if width == 80 else 4), heights        # a source of a paragraph ran to ~30
    for m in rows.values():
        assert f"{m.bandwidth_gbps:g}" in text


def test_project_list_shows_the_short_source_and_json_the_full_one(listing):
    for m in machines().values():
        short = short_source(m.source)
        assert len(short) <= 40, (short, m.source)
        # nothing made up: each word of the short source is in the source (a notes file's title by its words)
        assert all(w in m.source or w in m.source.replace("-", " ") for w in short.split()), (short, m.source)
    assert "reference data 2026-12 C1" in flat(listing[120])
    full = json.loads(CliRunner().invoke(main, ["project", "--list", "--json"]).stdout)
    assert {d["id"]: d["source"] for d in full} == {m.id: m.source for m in machines().values()}
