"""Repeated runs of one machine x model x quant x backend are one overview row: median, spread,
count; the raw runs a click away; headers sort; a shared n/a reason is said once."""

import copy
import json
import os
from pathlib import Path

import pytest

from dashboards.rows import CostSettings
from dashboards.site import build_site
from tests.dashboards.cdp_browser import CHROMIUM, Browser

IN_CI = os.environ.get("CI")
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and not IN_CI,
                                    reason="needs Debian's chromium (apt-get install chromium); required in CI")
SPEEDS = [1.0, 3.0, 2.0]          # three VALID repetitions of one run, output tok/s scaled


def _single_stream(doc: dict) -> dict:
    return next(sc for sc in doc["scenarios"] if sc["name"] == "single-stream")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Three VALID repetitions and one fast INVALID one of the tiny Q4_K_M example on "vm"; two
    machines whose copies have no request scenario (the same n/a reason); the other examples."""
    from tests.dashboards.conftest import EXAMPLES

    d = tmp_path_factory.mktemp("results")
    base = json.loads(next(EXAMPLES.glob("*tiny-Q4_K_M*.json")).read_text())
    for i, speed in enumerate(SPEEDS):
        doc = copy.deepcopy(base)
        doc.update(run_id=f"rep-{i}", started_at=f"2026-11-2{i}T00:00:00Z")
        _single_stream(doc)["summary"]["output_tps"] *= speed
        (d / f"rep-{i}.json").write_text(json.dumps(doc))
    (d / "rep-0.html").write_text("<p>the report bench run writes beside its result</p>")
    bad = copy.deepcopy(base)
    bad.update(run_id="rep-invalid")
    _single_stream(bad)["summary"]["output_tps"] *= 100
    _single_stream(bad)["validity"] = {"verdict": "INVALID", "reasons": ["high variance (edited copy for this test)"]}
    bad["validity"] = {"verdict": "INVALID", "reasons": ["single-stream: high variance (edited copy for this test)"]}
    (d / "rep-invalid.json").write_text(json.dumps(bad))
    for label in ("box-a", "box-b"):
        bare = copy.deepcopy(base)
        bare.update(run_id=f"bare-{label}", label=label)
        bare["scenarios"] = [sc for sc in bare["scenarios"] if sc["kind"] not in ("single-stream", "load-level")]
        (d / f"bare-{label}.json").write_text(json.dumps(bare))
    for f in EXAMPLES.glob("*.json"):
        if "tiny-Q4_K_M" not in f.name:
            (d / f.name).write_text(f.read_text())
    return build_site([d], tmp_path_factory.mktemp("site"), settings=CostSettings(), profile_choices=["vm=cpu-server"])


def page_data(site) -> dict:
    import re

    text = site.index.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="rs-data">(.*?)</script>', text, re.S)
    assert found, "the page carries its data"
    return json.loads(found.group(1))


def _group(data, model="tiny", quant="Q4_K_M", label="vm"):
    (g,) = [g for g in data["groups"] if (g["label"], g["model"], g["quant"]) == (label, model, quant)]
    return g


def test_repeated_runs_are_one_row_with_median_spread_and_count(site):
    data = page_data(site)
    assert len(site.rows) == 8 and len(data["groups"]) == 5       # every run is kept; 4 runs are one row
    g = _group(data)
    base = next(r["throughput"]["output_tps"] for r in site.rows if r["run_id"] == "rep-0")
    out = g["figures"]["output_tps"]
    assert (g["n"], g["n_invalid"], g["median_of"]) == (4, 1, "VALID")
    assert out["n"] == 3                                              # the INVALID run is counted, not in the median
    assert out["median"] == pytest.approx(2 * base) and out["min"] == pytest.approx(base)
    assert out["max"] == pytest.approx(3 * base)
    assert {r["run_id"] for r in g["runs"]} == {"rep-0", "rep-1", "rep-2", "rep-invalid"}
    # the charts and cost details show the median run, named for the row
    rep = data["rows"][g["rep"]]
    assert rep["run_id"] == "rep-2" and rep["name"].endswith("median of 3 runs")
    single = _group(data, quant="Q8_0")
    assert single["n"] == 1 and single["figures"]["output_tps"]["min"] == single["figures"]["output_tps"]["max"]


def test_a_row_of_invalid_runs_only_is_marked_invalid(site):
    g = _group(page_data(site), quant="Q8_0")          # the example Q8_0 run is INVALID
    assert (g["n"], g["n_invalid"], g["median_of"]) == (1, 1, "INVALID")
    assert g["figures"]["output_tps"] is not None


@pytest.fixture(scope="module")
def page(site, tmp_path_factory):
    browser = Browser(tmp_path_factory.mktemp("chromium-groups"))
    try:
        browser.open(site.index.resolve().as_uri())
        yield browser
    finally:
        browser.close()


def _column(page, title):
    return page.js(f"Array.from(document.querySelectorAll('#overview thead th')).findIndex(th => th.textContent.startsWith('{title}'))")


def _cells(page, title):
    i = _column(page, title)
    return page.js(f"Array.from(document.querySelectorAll('#overview > tbody > tr:not(.raw)')).map(r => r.cells[{i}].textContent)")


@pytest.mark.engine     # a real Chromium
@needs_chromium
def test_the_row_shows_median_spread_and_n(page, site):
    assert page.problems() == []
    (row,) = [r for r in page.js("Array.from(document.querySelectorAll('#overview > tbody > tr')).map(r => r.textContent)")
              if r.startswith("vm") and "tiny Q4_K_M" in r]
    assert "4 (1 INVALID)" in row and "–" in row
    assert page.js("document.getElementById('shown').textContent") == "8 of 8 results shown"
    tip = page.js(f"document.querySelectorAll('#overview thead th')[{_column(page, 'Output tok/s')}].title")
    assert "min–max spread" in tip and "Median of the row's VALID runs" in tip


@pytest.mark.engine     # a real Chromium
@needs_chromium
def test_raw_runs_are_one_click_away(page):
    assert page.js("document.querySelectorAll('#overview tr.raw').length") == 0
    page.js("document.querySelector('#overview button.runs-toggle').click()")
    runs = page.js("Array.from(document.querySelectorAll('#overview tr.raw tbody tr')).map(r => r.dataset.run)")
    assert sorted(runs) == ["rep-0", "rep-1", "rep-2", "rep-invalid"]
    assert page.js("document.querySelector('#overview tr.raw tr.invalid').dataset.run") == "rep-invalid"
    links = page.js("Array.from(document.querySelectorAll('#overview tr.raw a')).map(a => [a.closest('tr').dataset.run, a.href])")
    assert len(links) == 1 and links[0][0] == "rep-0" and links[0][1].endswith("/rep-0.html")   # its own report
    page.js("document.querySelector('#overview button.runs-toggle').click()")       # and closed again
    assert page.js("document.querySelectorAll('#overview tr.raw').length") == 0


@pytest.mark.engine     # a real Chromium
@needs_chromium
def test_clicking_a_header_sorts_numbers_with_na_last_both_ways(page):
    def numbers(cells):
        return [float(c.split(" ")[0].replace(",", "")) for c in cells if not c.startswith("n/a")]

    before = _cells(page, "Output tok/s")
    page.js(f"document.querySelectorAll('#overview thead th')[{_column(page, 'Output tok/s')}].click()")
    up = _cells(page, "Output tok/s")
    page.js(f"document.querySelectorAll('#overview thead th')[{_column(page, 'Output tok/s')}].click()")
    down = _cells(page, "Output tok/s")
    assert up != before and numbers(up) == sorted(numbers(up)) and numbers(down) == sorted(numbers(down), reverse=True)
    assert len(numbers(up)) == 3
    for cells in (up, down):                                   # the two rows without a request scenario: last
        assert [c.startswith("n/a") for c in cells] == [False, False, False, True, True]
    assert "▼" in page.js(f"document.querySelectorAll('#overview thead th')[{_column(page, 'Output tok/s')}].textContent")
    page.js(f"document.querySelectorAll('#overview thead th')[{_column(page, 'Machine')}].click()")
    machines = _cells(page, "Machine")
    assert machines == sorted(machines, key=str.lower)
    assert page.problems() == []


@pytest.mark.engine     # a real Chromium
@needs_chromium
def test_a_shared_explanation_is_said_once(page, site):
    (bare,) = {r["missing"]["throughput"] for r in site.rows if r["run_id"].startswith("bare-")}
    table = page.js("document.getElementById('overview').textContent")
    notes = page.js("Array.from(document.querySelectorAll('#overview-notes li')).map(li => li.textContent)")
    assert bare not in table and notes.count(bare) == 1
    mark = notes.index(bare) + 1
    i = _column(page, "Output tok/s")
    marked = page.js(f"Array.from(document.querySelectorAll('#overview > tbody > tr')).filter(r => r.textContent.startsWith('box'))"
                     f".map(r => r.cells[{i}].textContent)")
    assert marked == [f"n/a{mark}", f"n/a{mark}"]
    heights = page.js("Array.from(document.querySelectorAll('#overview > tbody > tr')).map(r => r.getBoundingClientRect().height)")
    assert max(heights) < 40                                  # one line per row


@pytest.mark.engine     # a real Chromium
@needs_chromium
def test_cost_details_are_filled_when_opened(page):
    assert page.js("document.querySelectorAll('#details table.apis').length") == 0          # not built up front
    page.js("(() => { const d = document.querySelector('#details details'); d.open = true; })()")
    page.js("new Promise(r => setTimeout(r, 50))")
    cells = page.js("Array.from(document.querySelectorAll('#details table.apis tbody tr')).map(r => r.cells[0].textContent)")
    apis = page.js("JSON.parse(document.getElementById('rs-data').textContent).apis.map(p => p.provider + ' · ' + p.model)")
    assert len(cells) == len(apis) > 0 and all(c.startswith(a) for c, a in zip(cells, apis, strict=True))
    assert page.problems() == []


@pytest.mark.engine     # a real Chromium
@needs_chromium
def test_estimates_and_scenarios_are_still_said(page, site):
    data = page_data(site)
    estimated = [g for g in data["groups"] if g["energy_method"] == "estimated" and g["figures"]["j_per_token"]]
    assert estimated                                          # the examples estimate energy from TDP
    notes = page.js("Array.from(document.querySelectorAll('#overview-notes li')).map(li => li.textContent)")
    assert notes.count("estimated energy (TDP × CPU utilisation), not measured") == 1
    i = _column(page, "Output tok/s")
    titles = page.js(f"Array.from(document.querySelectorAll('#overview > tbody > tr')).map(r => r.cells[{i}].title)")
    assert "from single-stream" in titles
