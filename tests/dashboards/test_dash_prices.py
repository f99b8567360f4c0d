"""The API price table: built-in rows, user overrides (JSON and CSV), staleness, bad rows."""

import datetime as dt
import json

import pytest

from dashboards.errors import DashboardError
from dashboards.prices import load_prices, stale_rows, staleness_warning

# Rows of the research note's table B3 that must be in the built-in table, as (provider, model, in, out).
B3 = [("OpenAI", "GPT-4o", 2.50, 10.00), ("OpenAI", "GPT-4o-mini", 0.15, 0.60), ("OpenAI", "GPT-5", 1.25, 10.00),
      ("OpenAI", "GPT-5.5", 5.00, 30.00), ("Anthropic", "Claude Haiku 4.5", 1.00, 5.00),
      ("Anthropic", "Claude Opus 4.7", 5.00, 25.00), ("Google", "Gemini 2.5 Flash", 0.30, 2.50),
      ("Google", "Gemini 3.5 Flash", 1.50, 9.00), ("Groq", "Llama 3.1 8B", 0.05, 0.08),
      ("Together", "Llama 3.1 8B", 0.18, 0.18), ("DeepInfra", "Llama 3.1 8B Turbo (FP8)", 0.02, 0.03),
      ("GMI Cloud", "R1-Distill-Qwen-14B", 0.20, 0.20)]


def _by_key(prices):
    return {(p.provider, p.model): p for p in prices}


def test_builtin_table_has_the_research_rows_with_dates_and_sources():
    prices = load_prices()
    rows = _by_key(prices)
    assert len(prices) >= 30
    for provider, model, inp, out in B3:
        p = rows[(provider, model)]
        assert (p.input, p.output) == (inp, out)
    assert rows[("OpenAI", "GPT-4o")].blended == pytest.approx(4.375)
    assert rows[("OpenAI", "GPT-4o")].cached_input == 1.25
    assert rows[("Groq", "Llama 3.1 8B")].cached_input is None      # not listed: None, never 0
    assert all(p.source.startswith("https://") for p in prices)
    assert "llama-3.1-8b" in rows[("Groq", "Llama 3.1 8B")].serves


def test_user_json_overrides_and_adds(tmp_path):
    f = tmp_path / "prices.json"
    f.write_text(json.dumps({"prices": [
        {"model": "gpt-4o", "provider": "openai", "input": 2.0, "output": 8.0, "observed": "2026-11-01",
         "source": "https://example.com/contract"},
        {"model": "Our fine-tune", "provider": "Acme", "input": 0.3, "output": 0.6, "observed": "2026-11",
         "source": "internal quote"}]}))
    builtin = load_prices()
    prices = load_prices(f)
    assert len(prices) == len(builtin) + 1                          # one replaced, one added
    gpt4o = [p for p in prices if p.key == ("openai", "gpt-4o")]
    assert len(gpt4o) == 1 and gpt4o[0].output == 8.0 and gpt4o[0].origin == str(f)
    assert _by_key(prices)[("Acme", "Our fine-tune")].blended == pytest.approx((3 * 0.3 + 0.6) / 4)


def test_user_csv(tmp_path):
    f = tmp_path / "prices.csv"
    f.write_text("model,provider,input,cached_input,output,observed,source,serves\n"
                 "Llama 3.1 8B,Groq,0.04,,0.07,2026-11-20,https://groq.com/pricing,llama-3.1-8b\n")
    p = _by_key(load_prices(f))[("Groq", "Llama 3.1 8B")]
    assert (p.input, p.cached_input, p.output, p.serves) == (0.04, None, 0.07, ("llama-3.1-8b",))


@pytest.mark.parametrize("row, needle", [
    ({"model": "m", "provider": "p", "input": -1, "output": 1, "observed": "2026-01-01", "source": "s"}, "input"),
    ({"model": "m", "provider": "p", "input": 1, "output": "ten", "observed": "2026-01-01", "source": "s"}, "output"),
    ({"model": "m", "provider": "p", "input": 1, "output": 1, "observed": "yesterday", "source": "s"}, "observed"),
    ({"model": "m", "provider": "p", "input": 1, "output": 1, "observed": "2026-02-30", "source": "s"}, "observed"),
    ({"model": "m", "input": 1, "output": 1, "observed": "2026-01-01", "source": "s"}, "provider"),
])
def test_bad_rows_name_the_problem(tmp_path, row, needle):
    f = tmp_path / "p.json"
    f.write_text(json.dumps([row]))
    with pytest.raises(DashboardError) as err:
        load_prices(f)
    assert needle in str(err.value) and "row 1" in str(err.value)


def test_unreadable_price_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text("{not json")
    with pytest.raises(DashboardError, match="not valid JSON"):
        load_prices(f)
    with pytest.raises(DashboardError, match="cannot read"):
        load_prices(tmp_path / "missing.json")


def test_staleness():
    prices = load_prices()
    today = dt.date(2026, 11, 28)
    stale = stale_rows(prices, today, 180)
    keys = {p.key for p in stale}
    assert ("openai", "gpt-4o") in keys                       # 2025-06-03: 543 days
    assert ("groq", "llama 3.1 8b") not in keys               # 2026-09-26: 63 days
    assert ("fireworks", "base models up to 16b") in keys     # undated counts as unchecked
    assert ("openai", "gpt-5") in keys                        # "2026-04" counts from 2026-04-01: 241 days
    undated = {p.key for p in prices if p.observed is None}
    assert undated and {p.key for p in stale_rows(prices, today, 10_000)} == undated   # always flagged
    warning = staleness_warning(prices, today, 180)
    assert f"{len(stale)} of {len(prices)}" in warning and "undated" in warning
    assert staleness_warning([p for p in prices if p not in stale], today, 180) is None
