"""Cost arithmetic against cases worked by hand (and against published worked examples)."""

import pytest

from dashboards import cost


def test_cloud_price_per_million_matches_the_published_calculator():
    # tools.gera.services: $2/h at 2,000 tok/s -> $0.28/1M at 100 %, $1.40/1M at 20 % utilisation.
    hour = cost.cloud_hour(2.0)
    assert cost.usd_per_million_output(hour, 1.0, 2000, 0) == pytest.approx(2.0 * 1e6 / (3600 * 2000))
    assert cost.usd_per_million_output(hour, 1.0, 2000, 0) == pytest.approx(0.2778, abs=1e-4)
    assert cost.usd_per_million_output(hour, 0.2, 2000, 0) == pytest.approx(1.3889, abs=1e-4)


def test_input_output_split_with_ratio():
    # $3.60/h = $0.001/s; 4,000 input + 1,000 output tok/s; r = 4:
    # $/output token = 0.001 / (4000/4 + 1000) = 5e-7 -> $0.50/1M; input = $0.125/1M.
    hour = cost.cloud_hour(3.6)
    out = cost.usd_per_million_output(hour, 1.0, 1000, 4000, ratio=4)
    assert out == pytest.approx(0.50)
    assert cost.usd_per_million_input(out, 4) == pytest.approx(0.125)
    # The two prices pay exactly for the hour: 3600 s x (4000 x 0.125 + 1000 x 0.50) / 1e6 = $3.60.
    assert 3600 * (4000 * 0.125 + 1000 * out) / 1e6 == pytest.approx(3.6)
    # r = 1: every token the same price, 0.001 / 5000 -> $0.20/1M.
    assert cost.usd_per_million_output(hour, 1.0, 1000, 4000, ratio=1) == pytest.approx(0.20)


def test_blended_is_three_input_to_one_output():
    assert cost.blended_3_1(2.50, 10.00) == pytest.approx(4.375)   # GPT-4o, 4.38 in the research table
    assert cost.blended_3_1(0.125, 0.50) == pytest.approx(0.21875)


def test_owned_machine_hour():
    # $15,000 over 36 months = $416.67 a month (llmtco) = 416.67 / 730 = $0.570776 per hour.
    # 100 W idle, 500 W busy, $0.15/kWh, PUE 1.2: idle $0.018/h, busy extra 0.4 kW x 0.18 = $0.072/h.
    hour = cost.owned_hour(15000, 36, 0.15, 1.2, 100, 500)
    assert hour.fixed_usd * cost.HOURS_PER_MONTH == pytest.approx(416.6667, abs=1e-3)
    assert hour.fixed_usd == pytest.approx(0.570776, abs=1e-6)
    assert hour.idle_power_usd == pytest.approx(0.018)
    assert hour.busy_extra_usd == pytest.approx(0.072)
    assert hour.at(0.5) == pytest.approx(0.570776 + 0.018 + 0.036, abs=1e-6)


def test_electricity_only():
    # ML.ENERGY's unit check: 0.12 J/token at $0.10/kWh = 0.0333 kWh per 1M = $0.00333.
    assert cost.electricity_usd_per_million(0.12, 0.10) == pytest.approx(0.0033333, abs=1e-7)
    assert cost.electricity_usd_per_million(0.12, 0.10, pue=1.5) == pytest.approx(0.005)


def test_per_thousand_tasks():
    # 550 in / 150 out per task at $0.125 / $0.50 per 1M: (68.75 + 75) / 1e6 x 1000 = $0.14375.
    assert cost.usd_per_1k_tasks(0.125, 0.50, 550, 150) == pytest.approx(0.14375)


def test_break_even_cloud():
    # $2/h, 2,000 output tok/s, no input, r = 4. Self-hosted blended at 100 %:
    # output 0.27778, input 0.069444 -> (3 x 0.069444 + 0.27778) / 4 = 0.121528.
    # Against an API at $0.50 blended: utilisation 0.121528 / 0.5 = 24.3 %,
    # volume = 730 h x $2 x 1e6 / $0.50 = 2.92e9 tokens a month.
    be = cost.break_even(cost.cloud_hour(2.0), 2000, 0, 0.50)
    assert be.utilisation == pytest.approx(0.243056, abs=1e-6)
    assert be.tokens_per_month == pytest.approx(2.92e9)
    assert be.never is None


def test_break_even_never_above_full_utilisation():
    # Same machine against an API at $0.10 blended: needs 121.5 % utilisation.
    be = cost.break_even(cost.cloud_hour(2.0), 2000, 0, 0.10)
    assert be.utilisation is None and be.tokens_per_month is None
    assert be.never is not None and "122%" in be.never


def test_break_even_owned_includes_power():
    # Owned: fixed $0.570776/h, idle $0.018/h, busy extra $0.072/h; 1,000 output tok/s, no input, r = 4.
    # k = 1e6 x (3/4 + 1) / (4 x 3600 x 1000) = 0.121528; API $1.00 blended:
    # u = k (0.570776 + 0.018) / (1.00 - k x 0.072) = 0.071553 / 0.991250 = 0.072185.
    hour = cost.owned_hour(15000, 36, 0.15, 1.2, 100, 500)
    be = cost.break_even(hour, 1000, 0, 1.00)
    assert be.utilisation == pytest.approx(0.072185, abs=1e-5)
    # volume = 730 x H(u) x 1e6 / 1.00 with H(u) = 0.588776 + 0.072 x 0.072185.
    assert be.tokens_per_month == pytest.approx(730 * (0.588776 + 0.072 * 0.072185) * 1e6, rel=1e-5)
    # Electricity per token above the API price: never.
    never = cost.break_even(hour, 1000, 0, 0.0001).never
    assert never is not None and "electricity" in never
