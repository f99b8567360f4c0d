"""The dashboard's data block is a versioned contract between site.py and the page's scripts:
built pages validate against the schema in the repository, the schema is current, the scripts
read the version they were written for, and a page of another version says so instead of
drawing from keys it does not know."""

import json
import re
from pathlib import Path

import jsonschema
import pytest

from dashboards.page import STATIC
from dashboards.page_data import VERSION, PageData, json_schema
from dashboards.rows import CostSettings
from dashboards.site import build_site
from tests.dashboards.cdp_browser import CHROMIUM, Browser
from tests.dashboards.conftest import EXAMPLES

SCHEMA = STATIC / "page-data.schema.json"
OUTCOMES = EXAMPLES.parent / "outcomes"
BLOCK = re.compile(r'(<script type="application/json" id="rs-data">)(.*?)(</script>)', re.S)


def page_data(index: Path) -> dict:
    block = BLOCK.search(index.read_text(encoding="utf-8"))
    assert block is not None
    return json.loads(block.group(2))


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> list[Path]:
    """The examples as pages: runs and outcomes; runs alone with projected candidates."""
    out = tmp_path_factory.mktemp("pages")
    return [build_site([EXAMPLES, OUTCOMES], out / "all", settings=CostSettings()).index,
            build_site([EXAMPLES], out / "candidates", settings=CostSettings(), candidates=["h100-sxm"]).index]


def test_the_schema_in_the_repository_is_current():
    assert json.loads(SCHEMA.read_text()) == json_schema(), \
        "dashboards/page_data.py changed: write its json_schema() to dashboards/static/page-data.schema.json"


def test_built_pages_match_the_schema(pages):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    for index in pages:
        data = page_data(index)
        assert data["version"] == VERSION and data["rows"] and data["groups"] and data["apis"]
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], errors[:5]
        PageData.model_validate(data)
    assert "candidates" in page_data(pages[1]) and page_data(pages[0])["quality"]["klds"]


def test_a_key_the_scripts_do_not_know_fails_the_check(pages):
    """What a drift between site.py and the schema looks like to the check above."""
    data = page_data(pages[0])
    data["rows"][0]["decode_tok_s"] = data["rows"][0].pop("decode_tps")       # a renamed key
    messages = [e.message for e in jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).iter_errors(data)]
    assert any("decode_tok_s" in m for m in messages) and any("decode_tps" in m for m in messages)


def test_the_scripts_read_this_version():
    for script in ("dashboard.js", "candidates.js"):
        versions = re.findall(r"DATA\.version !== (\d+)", (STATIC / script).read_text())
        assert versions and {int(v) for v in versions} == {VERSION}, script


@pytest.mark.engine     # a real Chromium
@pytest.mark.skipif(not Path(CHROMIUM).exists() and not __import__("os").environ.get("CI"),
                    reason="needs Debian's chromium (apt-get install chromium); required in CI")
def test_a_page_of_another_version_says_so(pages, tmp_path):
    data = page_data(pages[1])
    data["version"] = VERSION + 1
    text = pages[1].read_text(encoding="utf-8")
    other = tmp_path / "index.html"
    block = json.dumps(data).replace("</", "<\\/")
    other.write_text(BLOCK.sub(lambda m: m.group(1) + block + m.group(3), text), encoding="utf-8")
    browser = Browser(tmp_path / "chromium")
    try:
        browser.open(other.resolve().as_uri())
        said = browser.js("(document.getElementById('data-version') || {}).textContent || ''")
        assert f"version {VERSION + 1}" in said and f"reads version {VERSION}" in said
        assert browser.js("document.querySelectorAll('#overview > tbody > tr').length") == 0
        assert browser.js("document.querySelectorAll('#candidates .js-plotly-plot, #candidate-validation tr').length") == 0
        assert browser.problems() == []
    finally:
        browser.close()
