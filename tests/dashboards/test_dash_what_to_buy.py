"""The dashboard's "What to buy" section: bench size documents drawn per demand, the Pareto front
of accuracy against $/month, the API points priced for the demand, and the page in Chromium."""

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from bench.commands.main import main
from dashboards.page import STATIC
from dashboards.what_to_buy import pareto
from tests.dashboards.cdp_browser import CHROMIUM, Browser
from tests.dashboards.conftest import EXAMPLES

ROOT = Path(__file__).parents[2]
RECORDED = ROOT / "tests" / "recorded" / "size"
OUTCOMES = EXAMPLES.parent / "outcomes"
GROQ = ("Groq", "Llama 3.1 8B")            # a price row that serves llama-3.1-8b: input $0.05, output $0.08 /1M


def test_the_front_is_the_cheapest_way_to_each_accuracy():
    points = [{"n": "a", "usd_per_month": 100, "accuracy": 0.90}, {"n": "b", "usd_per_month": 50, "accuracy": 0.80},
              {"n": "c", "usd_per_month": 120, "accuracy": 0.85},     # dearer and worse than a
              {"n": "d", "usd_per_month": 50, "accuracy": 0.70},      # as cheap as b, worse
              {"n": "e", "usd_per_month": 400, "accuracy": 0.97},
              {"n": "f", "usd_per_month": 400, "accuracy": 0.97}]     # a tie: neither beats the other
    pareto(points)
    assert {p["n"] for p in points if p["pareto"]} == {"a", "b", "e", "f"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    """The recorded ticket-triage run, the example outcomes, and the example eval as if it had been
    run through Groq's API (an outcome's own fields, edited: what bench eval --base-url writes)."""
    d = tmp_path_factory.mktemp("fleet")
    (d / "run.json").write_text(next(RECORDED.glob("*.json")).read_text())
    for f in OUTCOMES.glob("*.json"):
        (d / f.name).write_text(f.read_text())
    api = json.loads(next(OUTCOMES.glob("*eval*.json")).read_text())
    api["run_id"] += "-groq"
    api["eval"].update(server_is_local=False, provider=GROQ[0], served_model=GROQ[1], backend="openai")
    api["eval"]["summary"].update(correct=15, accuracy=15 / 17)
    (d / "api-eval.json").write_text(json.dumps(api))
    return d


@pytest.fixture(scope="module")
def size_file(fleet, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("size") / "size.json"
    r = CliRunner().invoke(main, ["size", str(fleet), "--workload", "ticket-triage", "--requests-per-day", "40000",
                                  "--shape", "office-hours", "--hardware", "h100-sxm", "--model", "tiny,llama-3.1-8b",
                                  "--quant", "Q4_K_M", "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def site(size_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    r = CliRunner().invoke(main, ["dashboard", str(EXAMPLES), str(OUTCOMES), "--size", str(size_file), "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out / "index.html"


def page_data(index: Path) -> dict:
    block = re.search(r'<script type="application/json" id="rs-data">(.*?)</script>', index.read_text(), re.S)
    assert block is not None
    return json.loads(block.group(1))


def test_the_api_eval_is_priced_for_the_demand(size_file):
    doc = json.loads(size_file.read_text())
    (api,) = doc["api_evals"]
    assert (api["provider"], api["model"], api["accuracy"]) == (*GROQ, 15 / 17)
    per_request = (800 * 0.05 + 64 * 0.08) / 1e6
    assert api["usd_per_month"] == pytest.approx(40000 * 730 / 24 * per_request)


def test_the_section_has_each_demand_its_candidates_and_front(site, size_file):
    data = page_data(site)
    schema = json.loads((STATIC / "page-data.schema.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []
    (demand,) = data["sizes"]
    doc = json.loads(size_file.read_text())
    assert [c["usd_per_month"] for c in demand["candidates"]] == sorted(c["usd_per_month"] for c in doc["candidates"])
    assert {c["name"].split(" · ")[0] for c in demand["candidates"]} == {"vm", "h100-sxm PROJECTED"}
    api = next(p for p in demand["points"] if p["kind"] == "api")
    tiny = [p for p in demand["points"] if p["kind"] != "api"]
    assert tiny and all(p["accuracy"] == 0.0 for p in tiny)       # synthetic weights score 0
    # the API: dearer than the cheapest tiny box? then both are on the front; else the API alone
    cheapest_tiny = min(p["usd_per_month"] for p in tiny)
    assert api["pareto"] and any(p["pareto"] for p in tiny) == (cheapest_tiny < api["usd_per_month"])
    assert "What to buy" in site.read_text()


def test_a_file_that_is_not_a_size_document_is_one_line(tmp_path):
    bad = tmp_path / "size.json"
    bad.write_text(json.dumps({"schema_version": 3, "kind": "size"}))
    r = CliRunner().invoke(main, ["dashboard", str(EXAMPLES), "--size", str(bad), "-o", str(tmp_path / "s")])
    assert r.exit_code == 2 and "is not a bench size document" in r.output and "Traceback" not in r.output


@pytest.mark.engine     # a real Chromium
@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                    reason="needs Debian's chromium (apt-get install chromium); required in CI")
def test_the_page_draws_what_to_buy(site, tmp_path):
    data = page_data(site)
    (demand,) = data["sizes"]
    browser = Browser(tmp_path / "chromium")
    try:
        browser.open(site.resolve().as_uri())
        assert browser.js("document.getElementById('what-to-buy').dataset.ready") == "1"
        bars = browser.js("document.getElementById('buy-cost-0').data.map(t => t.x.length)")
        assert sum(bars) == len(demand["candidates"]) + len(demand["apis"])
        names = browser.js("document.getElementById('buy-accuracy-0').data.map(t => t.name)")
        assert "Pareto front" in names
        front = browser.js("document.getElementById('buy-accuracy-0').data.find(t => t.name === 'Pareto front').x.length")
        assert front == sum(p["pareto"] for p in demand["points"])
        assert browser.problems() == []
    finally:
        browser.close()
