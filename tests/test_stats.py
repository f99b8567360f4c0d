import math
import statistics

import pytest

from bench.stats import percentile, summarize


def test_summary_matches_hand_computed_values():
    s = summarize([10.0, 12.0, 11.0, 13.0, 14.0])
    assert s["n"] == 5
    assert s["mean"] == pytest.approx(12.0)
    assert s["median"] == pytest.approx(12.0)
    # sample (n-1) stddev, as llama-bench reports it
    assert s["stddev"] == pytest.approx(math.sqrt(2.5))
    assert s["p90"] == pytest.approx(13.6)
    # 95% CI with t(4) = 2.776
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)
    assert s["ci95"] == pytest.approx([12 - half, 12 + half])


def test_percentile_interpolates_like_numpy():
    vals = sorted([1.0, 2.0, 3.0, 4.0])
    assert percentile(vals, 50) == 2.5
    assert percentile(vals, 99) == pytest.approx(3.97)


def test_missing_is_none_not_zero():
    assert summarize([]) is None
    assert summarize([None, float("nan")]) is None
    one = summarize([5.0])
    assert one["stddev"] is None and one["ci95"] is None and one["mean"] == 5.0


def test_large_sample_uses_normal_critical_value():
    vals = [float(i % 7) for i in range(100)]
    s = summarize(vals)
    half = 1.96 * statistics.stdev(vals) / 10
    assert s["ci95"][1] - s["mean"] == pytest.approx(half)
