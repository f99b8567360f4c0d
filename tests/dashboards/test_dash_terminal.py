"""The cost lines `bench run` prints below its tables, and the break-even tables of `bench run
--breakeven` and `bench results --breakeven`: real runs of the tiny model through llama.cpp."""

import json

import pytest
from click.testing import CliRunner

from bench.commands.main import main

pytestmark = pytest.mark.engine   # real bench runs of the tiny model through llama.cpp

QUICK = ["--model", "tiny", "--scenario", "single-stream", "--requests", "3", "--min-duration", "0",
         "--input-tokens", "32", "--output-tokens", "8", "--idle-seconds", "0"]


def bench(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory):
    """A fresh `bench run --model tiny --results-dir D`, no cost flags: (its output, D)."""
    d = tmp_path_factory.mktemp("results")
    r = bench("run", *QUICK, "--results-dir", d)
    assert r.exit_code == 0, r.output
    return r.output, d


def test_run_prints_a_priced_cost_line_with_its_basis(fresh_run):
    out, _d = fresh_run
    lines = out.splitlines()
    start = lines.index("What a million tokens costs here (USD; blended = 3 input : 1 output)")
    block = lines[start:start + 12]
    # each figure names the throughput it rests on
    assert block[1].startswith("  output ") and " per 1M  at " in block[1] and "output tok/s (single-stream" in block[1]
    assert block[2].startswith("  input ") and "input tok/s (the same requests, 32 in / 8 out" in block[2]
    assert block[3].startswith("  blended ")
    # the basis: what the hour costs and from what, how it was chosen, its source and date
    assert block[4].startswith("  basis    ") and "/h at 100% utilisation" in block[4]
    assert block[6].startswith("           source (observed ")
    assert any(b.startswith("           cheapest: ") for b in block)
    assert any(b.startswith("           closest : ") for b in block)
    assert out.index("What a million tokens") > out.index("single-stream")        # below the table
    assert out.index("What a million tokens") < out.index("result: ")


def test_results_breakeven_with_an_hourly_cost_by_hand(fresh_run):
    _, d = fresh_run
    # 1 cent an hour: even a machine slowed by other load reaches the break-even volume (at $1/h
    # it needs ~64 tok/s, which a shared 2-core box does not always give, and the row says "never")
    r = bench("results", d, "--breakeven", "--hourly-cost", "0.01")
    assert r.exit_code == 0, r.output
    assert "  basis    your price: $0.01/h at 100% utilisation" in r.output
    # Held all month at $0.01/h, the machine costs $7.30; against GPT-4o at $4.375 blended the
    # break-even volume is 730 x 0.01 x 1e6 / 4.375 = 1.67M tokens a month, whatever the throughput.
    row = next(line for line in r.output.splitlines() if "OpenAI · GPT-4o " in line)
    assert "$4.38" in row and "1.67M" in row
    j = json.loads(bench("results", d, "--breakeven", "--hourly-cost", "0.01", "--json").stdout)
    gpt4o = next(a for a in j[0]["cost"]["apis"] if a["model"] == "GPT-4o")
    assert gpt4o["breakeven_tokens_per_month"] == pytest.approx(730 * 0.01e6 / 4.375)
    # the same arithmetic as the dashboard: the break-even utilisation is k x H / API price
    t = j[0]["cost"]["throughput"]
    k = 1e6 * (3 / 4 + 1) / (4 * 3600 * (t["output_tps"] + t["input_tps"] / 4))
    assert gpt4o["breakeven_utilisation"] == pytest.approx(k * 0.01 / 4.375)


def test_run_breakeven_flag(tmp_path):
    r = bench("run", *QUICK, "--results-dir", tmp_path, "--capex", "2000", "--breakeven")
    assert r.exit_code == 0, r.output
    assert "  basis    owned: $2,000 over 36 months" in r.output
    assert "Break-even against each API" in r.output


def test_a_pricing_problem_never_fails_the_run(tmp_path, monkeypatch):
    store = tmp_path / "prices.json"
    store.write_text("{ not json")                     # the user's price store is broken
    monkeypatch.setenv("RIGHTSIZE_PRICES", str(store))
    r = bench("run", *QUICK, "--results-dir", tmp_path / "res")
    assert r.exit_code == 0, r.output
    line = next(line for line in r.output.splitlines() if line.startswith("cost: "))
    assert line.startswith("cost: n/a (price file ") and "is not valid JSON" in line
    assert len(list((tmp_path / "res").glob("*.json"))) == 1              # measured and kept


def test_bad_cost_options_stop_before_anything_runs(tmp_path):
    r = CliRunner().invoke(main, ["run", *QUICK, "--results-dir", str(tmp_path), "--years", "3"])
    assert r.exit_code != 0
    assert r.output.strip() == "error: --years is the amortisation of --capex (add --capex USD, or drop --years)"
    assert not list(tmp_path.glob("*.json"))
