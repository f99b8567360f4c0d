"""The API price table: built-in rows, user overrides (JSON and CSV), the user's store, staleness."""

import datetime as dt
import json

import pytest

from dashboards.errors import DashboardError
from dashboards.prices import (
    load_prices,
    merge_into_store,
    newest_observed,
    stale_headline,
    stale_rows,
    staleness_warning,
    user_store_path,
)
from models.catalog import CATALOG

# Rows of reference-data-2026-12.md (tables A1, A2) that must be in the built-in table, as
# (provider, model, input, cached input, output, observed).
RESEARCH = [("OpenAI", "GPT-5.6 Terra", 2, 0.2, 12, "2026-08-21"), ("OpenAI", "o3", 2, 0.5, 8, "2026-08-21"),
            ("OpenAI", "GPT-5", 1.25, 0.125, 10, "2026-08-21"), ("OpenAI", "GPT-4o", 2.5, 1.25, 10, "2026-08-21"),
            ("Anthropic", "Claude Sonnet 5", 3, 0.3, 15, "2026-08-21"),
            ("Anthropic", "Claude Opus 4.1 / 4.0", 15, 1.5, 75, "2026-08-21"),
            ("Google", "Gemini 3.7 Flash", 0.75, 0.075, 3.75, "2026-08-21"),
            ("Google", "Gemini 2.5 Flash-Lite", 0.1, 0.01, 0.4, "2026-08-21"),
            ("Fireworks", "gpt-oss-20b", 0.07, 0.035, 0.3, "2026-08-21"),
            ("Nebius (via HF router)", "Llama 3.1 8B Instruct", 0.03, None, 0.09, "2026-08-21"),
            ("OpenRouter", "Qwen3 14B", 0.06, None, 0.24, "2026-06-15"),
            ("Mistral", "Ministral 3 14B", 0.2, 0.02, 0.2, "2026-08-21"),
            ("Novita", "Llama 3.1 8B Instruct", 0.05, None, 0.05, "2025-07-05")]
# Older rows (anchors-power-cost.md B3) kept because no newer row exists for them.
KEPT = [("Groq", "Llama 3.1 8B", 0.05, 0.08, "2026-09-26"), ("Together", "Llama 3.1 8B", 0.18, 0.18, "2026-09-26"),
        ("DeepInfra", "Llama 3.1 8B Turbo (FP8)", 0.02, 0.03, "2026"), ("GMI Cloud", "R1-Distill-Qwen-14B", 0.2, 0.2, "2026")]


def _by_key(prices):
    return {(p.provider, p.model): p for p in prices}


def test_builtin_table_has_the_research_rows_with_dates_and_sources():
    prices = load_prices()
    rows = _by_key(prices)
    assert len(prices) == 77
    for provider, model, inp, cached, out, observed in RESEARCH:
        p = rows[(provider, model)]
        assert (p.input, p.cached_input, p.output, p.observed) == (inp, cached, out, observed)
    for provider, model, inp, out, observed in KEPT:
        assert (rows[(provider, model)].input, rows[(provider, model)].output, rows[(provider, model)].observed) == (
            inp, out, observed)
    assert rows[("OpenAI", "GPT-4o")].blended == pytest.approx(4.375)
    assert rows[("Groq", "Llama 3.1 8B")].cached_input is None      # not listed: None, never 0
    # no row lacks a date or a source; the newest are from the research files
    assert all(p.observed and p.source.startswith("https://") for p in prices)
    assert newest_observed(prices) == dt.date(2026, 9, 26)
    dates = [d for d in (p.observed_date() for p in prices) if d is not None]
    assert len(dates) == len(prices) and min(dates) == dt.date(2025, 7, 5)
    assert sum(p.observed == "2026-08-21" for p in prices) >= 55
    # a model's older row is gone where a newer one exists: o3's launch price, the undated DeepInfra row
    assert ("OpenAI", "o3 (launch price)") not in rows and ("DeepInfra", "Llama 3.1 8B Instruct") not in rows
    assert sum(p.cached_input is not None for p in prices) >= 45
    # like-for-like rows name catalog models, and every row has a class to be compared in
    assert {m for p in prices for m in p.serves} <= set(CATALOG)
    assert "llama-3.1-8b" in rows[("Groq", "Llama 3.1 8B")].serves
    assert {p.model_class for p in prices} == {"open 7B-14B", "proprietary", "open, other sizes"}


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
    assert ("novita", "llama 3.1 8b instruct") in keys               # 2025-07-05: 511 days
    assert ("openai", "gpt-4o") not in keys                          # 2026-08-21: 99 days
    assert ("openrouter", "qwen3 14b") not in keys                   # 2026-06-15: 166 days
    assert ("deepinfra", "llama 3.1 8b turbo (fp8)") in keys         # "2026" counts from 2026-01-01
    assert len(stale) == 7
    warning = staleness_warning(prices, today, 180)
    assert warning is not None and warning.startswith("7 of 77 API price rows are older than 180 days; ")
    assert staleness_warning([p for p in prices if p not in stale], today, 180) is None


def test_staleness_wording_counts_old_and_undated_apart(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps([{"model": f"m{i}", "provider": "p", "input": 1, "output": 1, "observed": obs,
                              "source": "s"} for i, obs in enumerate([None, None, "2020-01-01", "2026-11-01"])]))
    mine = [p for p in load_prices(f) if p.provider == "p"]
    today = dt.date(2026, 11, 28)
    warning = staleness_warning(mine, today, 180)
    assert warning is not None and warning.startswith(
        "3 of 4 API price rows need checking (1 older than 180 days, 2 with no date); ")
    undated = [p for p in mine if p.observed is None]
    warning = staleness_warning(undated, today, 180)
    assert warning is not None and warning.startswith("2 of 2 API price rows have no date; ")


def test_stale_headline_when_most_rows_are_stale():
    prices = load_prices()
    assert stale_headline(prices, dt.date(2026, 12, 2), 180) is None          # 7 of 77: the warning is enough
    later = stale_headline(prices, dt.date(2027, 6, 1), 180)
    assert later == ("Most API prices here are out of date: 77 of 77 API price rows are older than 180 days, and the "
                     "newest was observed on 2026-09-26.")


def test_update_merges_dated_rows_into_the_store(tmp_path, monkeypatch):
    store = tmp_path / "config" / "prices.json"
    monkeypatch.setenv("RIGHTSIZE_PRICES", str(store))
    assert user_store_path() == store
    first = tmp_path / "ours.csv"
    first.write_text("model,provider,input,cached_input,output,observed,source\n"
                     "GPT-4o,OpenAI,2.0,1.0,8.0,2026-11-01,contract 7\n"
                     "Our fine-tune,Acme,0.3,,0.6,2026-11-15,quote 12\n")
    merged = merge_into_store(first)
    assert (len(merged.added), len(merged.replaced), len(merged.kept)) == (2, 0, 0)
    rows = _by_key(load_prices())                       # every command now reads the store
    assert rows[("OpenAI", "GPT-4o")].output == 8.0 and rows[("OpenAI", "GPT-4o")].origin == str(store)
    assert rows[("Acme", "Our fine-tune")].cached_input is None
    # a later update replaces a row; an older one for a row the store has newer is kept out
    second = tmp_path / "later.json"
    second.write_text(json.dumps([
        {"model": "gpt-4o", "provider": "openai", "input": 1.9, "output": 7.5, "observed": "2026-12-01", "source": "c8"},
        {"model": "Our fine-tune", "provider": "Acme", "input": 9, "output": 9, "observed": "2026-10", "source": "old"}]))
    merged = merge_into_store(second)
    assert [p.model for p in merged.replaced] == ["gpt-4o"] and [p.observed for p in merged.kept] == ["2026-11-15"]
    rows = _by_key(load_prices())
    assert rows[("openai", "gpt-4o")].output == 7.5 and rows[("Acme", "Our fine-tune")].input == 0.3
    assert len(json.loads(store.read_text())["prices"]) == 2
    # --prices FILE for one command still goes on top of the store
    once = tmp_path / "once.json"
    once.write_text(json.dumps([{"model": "GPT-4o", "provider": "OpenAI", "input": 1, "output": 2,
                                 "observed": "2026-12-02", "source": "s"}]))
    assert _by_key(load_prices(once))[("OpenAI", "GPT-4o")].output == 2


def test_update_refuses_undated_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTSIZE_PRICES", str(tmp_path / "prices.json"))
    f = tmp_path / "undated.json"
    f.write_text(json.dumps([{"model": "m", "provider": "p", "input": 1, "output": 1, "source": "s"}]))
    with pytest.raises(DashboardError, match="without an observed date"):
        merge_into_store(f)
    assert not (tmp_path / "prices.json").exists()
