"""A result measured with an engine workaround says so on the dashboard, in its own row."""

import copy
import json
from pathlib import Path

import pytest

from dashboards.rows import CostSettings
from dashboards.site import build_site
from tests.dashboards.cdp_browser import CHROMIUM, Browser
from tests.dashboards.test_dash_browser import IN_CI

# each test drives a real Chromium: not in the fast subset (-m "not engine")
pytestmark = [pytest.mark.engine,
              pytest.mark.skipif(not Path(CHROMIUM).exists() and not IN_CI,
                                 reason="needs Debian's chromium (apt-get install chromium); required in CI")]

WORKAROUND = {"engine": "llama.cpp", "line": "llama.cpp's AMX kernels crash on this CPU (probe died with SIGSEGV): "
                                             "measuring without them (CPU_REPACK kept)",
              "caveat": "these figures are not what a default llama.cpp build gives where its AMX kernels work"}


def test_the_overview_names_the_workaround_for_that_row_only(example, tmp_path):
    _, doc = example("tiny-Q4_K_M")
    d = tmp_path / "results"
    d.mkdir()
    (d / "plain.json").write_text(json.dumps(doc))
    amx = copy.deepcopy(doc)
    amx.update(run_id="amx-box", label="xeon", workarounds=[WORKAROUND])
    (d / "amx.json").write_text(json.dumps(amx))
    site = build_site([d], tmp_path / "site", settings=CostSettings())
    browser = Browser(tmp_path / "profile")
    try:
        browser.open(site.index.resolve().as_uri())
        cells = browser.js("Array.from(document.querySelectorAll('#overview tbody tr')).map(r => "
                           "[r.cells[0].textContent, r.cells[2].textContent])")
        assert browser.problems() == []
    finally:
        browser.close()
    (xeon,) = [backend for machine, backend in cells if machine.startswith("xeon")]
    (plain,) = [backend for machine, backend in cells if not machine.startswith("xeon")]
    assert "workaround: llama.cpp's AMX kernels crash on this CPU" in xeon
    assert "not what a default llama.cpp build gives" in xeon
    assert "workaround" not in plain
