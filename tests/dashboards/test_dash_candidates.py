"""The dashboard's candidate-hardware view: projected machines hatched with error bars next to the
measured ones and the API prices, in a section and data block of their own, never in the measured
table or charts."""

import json
import re
from pathlib import Path

import pytest

from dashboards.rows import CostSettings
from dashboards.site import build_site
from tests.dashboards.cdp_browser import CHROMIUM, Browser
from tests.dashboards.conftest import EXAMPLES

CANDIDATES = ["h200", "m3-ultra-60c", "epyc-9654"]


def page_data(index: Path) -> dict:
    text = index.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="rs-data">(.*?)</script>', text, re.S)
    assert block is not None, "the page has no data block"
    return json.loads(block.group(1))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site([EXAMPLES], tmp_path_factory.mktemp("site"), settings=CostSettings(), candidates=CANDIDATES)


def test_projections_live_in_their_own_block(site):
    data = page_data(site.index)
    measured = len(list(EXAMPLES.glob("*.json")))
    assert len(data["rows"]) == len(site.rows) == measured
    assert not any("PROJECTED" in json.dumps(r) for r in data["rows"])
    cand = data["candidates"]["rows"]
    # one per candidate and per catalog model x GGUF quant measured (tiny is a test model: not projected)
    assert {(c["machine"], c["model"], c["quant"]) for c in cand} == {(m, "llama-3.1-8b", "Q4_K_M") for m in CANDIDATES}
    for c in cand:
        assert c["label"] == "PROJECTED" and c["name"].startswith("PROJECTED · ")
        assert c["tg"] > 0
        classes = {(s["platform"], s["kind"]): s for s in data["candidates"]["validation"]}
        tg_class, pp_class = classes[(c["platform"], "tg")], classes[(c["platform"], "pp")]
        assert c["band"] == tg_class["band"]
        if c["band"] is None:            # no earned band: none is drawn, and the row says why
            assert c["tg_low"] is None and c["unvalidated"] == tg_class["unvalidated"] and c["usd_band"] is None
            continue
        assert c["tg_low"] < c["tg"] < c["tg_high"]
        # $/1M rests on decode and prefill: their bands add; at 100% or more there is no upper bound
        assert c["usd_band"] == pytest.approx(c["band"] + pp_class["band"])
        assert c["usd_low"] < c["usd_per_m_blended"]
        assert c["usd_per_m_blended"] < c["usd_high"] if c["usd_band"] < 1 else c["usd_high"] is None
    assert any(c["band"] is not None for c in cand)      # the Metal candidate's band held
    # the measured run's request shape (single-stream, 128 in / 32 out) is what the candidates are priced on
    assert all(c["concurrency"] == 1 for c in cand)
    assert data["candidates"]["reference"] and all(r["source"] and r["date"] for r in data["candidates"]["reference"])
    validated = {(s["platform"], s["kind"]) for s in data["candidates"]["validation"]}
    assert ("cuda", "tg") in validated and ("cpu", "tg") in validated


def test_no_candidates_no_section(tmp_path):
    site = build_site([EXAMPLES], tmp_path / "site", settings=CostSettings())
    assert "candidates" not in page_data(site.index) and 'id="candidates"' not in site.index.read_text()


@pytest.mark.engine   # a bench process of its own
def test_unknown_candidate_is_one_line(tmp_path):
    from tests.test_cli_errors import assert_one_line_error, bench

    assert_one_line_error(bench("dashboard", str(EXAMPLES), "-o", str(tmp_path), "--candidates", "h900"), "h900")


pytestmark_browser = pytest.mark.skipif(not Path(CHROMIUM).exists() and not __import__("os").environ.get("CI"),
                                        reason="needs Debian's chromium; required in CI")


@pytest.fixture(scope="module")
def page(site, tmp_path_factory):
    browser = Browser(tmp_path_factory.mktemp("chromium-candidates"))
    try:
        browser.open(site.index.resolve().as_uri())
        yield browser
    finally:
        browser.close()


@pytest.mark.engine     # a real Chromium
@pytestmark_browser
def test_projected_bars_are_hatched_with_error_bars(page, site):
    assert page.js("document.body.dataset.ready") == "1"
    assert page.js("document.getElementById('candidates').dataset.ready") == "1"
    assert page.problems() == []
    cand = page_data(site.index)["candidates"]["rows"]
    for chart, err, band in (("chart-candidate-cost", "error_x", "usd_band"), ("chart-candidate-tg", "error_y", "band")):
        proj = page.js(f"document.getElementById('{chart}').data.filter(t => t.name.startsWith('PROJECTED'))"
                       f".map(t => ({{n: t.x.length, shape: t.marker.pattern.shape, "
                       f"up: t.{err}.array, down: t.{err}.arrayminus}}))")
        assert len(proj) == 1 and proj[0]["n"] == len(CANDIDATES) and proj[0]["shape"] == "/"
        # an error bar exactly where the class's validation earned a band (Metal here); none where it did not
        banded = [v > 0 for v in proj[0]["down"]]
        assert any(banded) and not all(banded)
        assert banded == [c[band] is not None for c in cand]
        measured = page.js(f"document.getElementById('{chart}').data.filter(t => t.name.startsWith('measured'))"
                           f".reduce((n, t) => n + t.x.length, 0)")
        assert measured >= 1                                         # the measured machines stand beside them
    assert page.js("document.getElementById('chart-candidate-cost').data.some(t => t.name === 'API list price' && "
                   "t.x.length > 0)")
    hover = page.js("document.getElementById('chart-candidate-cost').data.find(t => t.name.startsWith('PROJECTED'))"
                    ".hovertext")
    assert any("unvalidated" in h and "epyc-9654" in h for h in hover)     # no band: the hover says why
    assert any("±" in h and "m3-ultra-60c" in h for h in hover)


@pytest.mark.engine     # a real Chromium
@pytestmark_browser
def test_measured_table_and_charts_hold_no_projection(page):
    rows = page.js("document.querySelectorAll('#overview tbody tr').length")
    assert rows == len(list(EXAMPLES.glob("*.json")))
    assert "PROJECTED" not in page.js("document.getElementById('overview').textContent")
    for chart in ("chart-cost", "chart-pareto", "chart-quant", "chart-breakeven"):
        names = page.js(f"[].concat(...document.getElementById('{chart}').data.map(t => [t.name].concat(t.y || [])"
                        f".concat(t.x || [])))")
        assert not any("PROJECTED" in str(n) for n in names), chart
    refs = page.js("document.querySelectorAll('#reference-rows tbody tr').length")
    assert refs >= 70 and "discussions/4167" in page.js("document.getElementById('reference-rows').textContent")
    assert page.js("document.querySelectorAll('#candidate-validation tbody tr').length") >= 5
