"""The quality-cost charts and the quant ladder in headless Chromium, from real bench quality and
bench eval outcomes beside the example bench run results."""

import copy
import json
import shutil

import pytest

from bench.evals.run import EvalConfig
from bench.evals.run import execute as run_eval
from bench.quality.run import QualityConfig
from bench.quality.run import execute as run_quality
from dashboards.site import build_site
from tests.dashboards.cdp_browser import Browser
from tests.evals.answer_server import AnswerServer

TASKS = [{"id": str(i), "prompt": f"question {i}", "expected": f"answer {i}", "scorer": "exact"} for i in range(4)]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from tests.dashboards.conftest import EXAMPLES

    d = tmp_path_factory.mktemp("results")
    for f in EXAMPLES.glob("*.json"):
        shutil.copy(f, d / f.name)
    # measured on the tiny model, labelled as the example runs' machine so that costs match up
    run_quality(QualityConfig(model="tiny", quants=["Q8_0", "Q4_K_M"], chunks=2, results_dir=d, label="vm"))
    tasks = d.parent / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps(t) for t in TASKS) + "\n")
    with AnswerServer({"question 0": "answer 0", "question 1": "answer 1", "question 2": "answer 2"}) as url:
        local = run_eval(EvalConfig(tasks=tasks, backend="openai", model="tiny", base_url=url, results_dir=d,
                                    label="vm"))
    # the same eval as if sent to a hosted API listed in the price table (an edited copy)
    api = copy.deepcopy(local.doc)
    api["run_id"] = "api-eval"
    api["eval"].update(server_is_local=False, served_model="GPT-5.4", provider="OpenAI", base_url="https://api.example")
    (d / "api-eval.json").write_text(json.dumps(api))
    return build_site([d], tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def page(site, tmp_path_factory):
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        browser.open(site.index.resolve().as_uri())
        yield browser
    finally:
        browser.close()


def traces(page, chart):
    return page.js(f"document.getElementById('{chart}').data.map(t => [t.name, t.x.length, t.y])")


def test_accuracy_against_cost_with_the_api_as_a_point(page):
    assert page.js("document.body.dataset.ready") == "1" and page.problems() == []
    drawn = {name: (n, y) for name, n, y in traces(page, "chart-accuracy")}
    assert drawn["hosted API, at its list price"][1] == [75.0]              # 3 of 4 right
    assert any(name.startswith("this machine's basis") for name in drawn)
    assert "Pareto front" in drawn
    assert page.js("document.querySelectorAll('#chart-accuracy .main-svg').length") > 0


def test_kld_against_cost_with_its_pareto_front(page):
    drawn = {name: (n, y) for name, n, y in traces(page, "chart-kld")}
    measured = next(v for k, v in drawn.items() if "synthetic weights: quantizer error" in k)
    assert measured[0] == 2                      # Q8_0 and Q4_K_M of tiny: both have example bench runs
    assert drawn["Pareto front (measured points)"][0] >= 1


def test_the_ladder_shows_cost_and_loss_per_quant(page):
    text = page.js("document.getElementById('ladder').textContent")
    assert "tiny on vm" in text and "(quantizer error)" in text
    assert "llama-3.1-8b on vm" in text and "KLD 0.0313" in text and "observed 2026-10-01" in text
    rows = page.js("Array.from(document.querySelectorAll('#ladder table')).map(t => t.querySelectorAll('tbody tr').length)")
    assert sum(rows) >= 3
    # the filters reach the ladder too
    page.js("""(() => { const s = document.getElementById('f-quant'); s.value = 'Q8_0';
               s.dispatchEvent(new Event('change')); })()""")
    assert "Q4_K_M" not in page.js("document.getElementById('ladder').textContent")
    page.js("document.getElementById('f-reset').click()")
    assert page.problems() == []
