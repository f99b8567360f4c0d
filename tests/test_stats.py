import math
import statistics

import pytest

from engines.stats import percentile, summarize


def test_summary_matches_hand_computed_values():
    s = summarize([10.0, 12.0, 11.0, 13.0, 14.0])
    assert s is not None
    assert s["n"] == 5
    assert s["mean"] == pytest.approx(12.0)
    assert s["median"] == pytest.approx(12.0)
    # sample (n-1) stddev, as llama-bench reports it
    assert s["stddev"] == pytest.approx(math.sqrt(2.5))
    assert s["p90"] == pytest.approx(13.6)
    # 95% CI of the mean, modified Cox (log space) with t(4) = 2.776, computed here from the logs
    logs = [math.log(v) for v in (10.0, 12.0, 11.0, 13.0, 14.0)]
    m, var = statistics.fmean(logs), statistics.variance(logs)
    half = 2.776 * math.sqrt(var / 5 + var**2 / 8)
    assert s["ci95"] == pytest.approx([math.exp(m + var / 2 - half), math.exp(m + var / 2 + half)])
    # with so little spread it is close to the symmetric t interval (12 +- 1.96)
    t_half = 2.776 * math.sqrt(2.5) / math.sqrt(5)
    assert s["ci95"] == pytest.approx([12 - t_half, 12 + t_half], rel=0.02)


def test_rate_interval_never_goes_below_zero():
    # a tiny tg64 on a busy machine (issue 26): the t interval was [-920, 1521] tok/s
    s = summarize([868.0, 19.5, 13.7])
    assert s is not None
    lo, hi = s["ci95"]
    assert 0 < lo < 13.7 and hi > s["mean"]
    t_half = 4.303 * s["stddev"] / math.sqrt(3)
    assert s["mean"] - t_half < 0          # what the symmetric interval would have said


def test_interval_is_skewed_towards_the_long_tail():
    s = summarize([10.0, 10.5, 11.0, 30.0])
    assert s is not None
    lo, hi = s["ci95"]
    assert hi - s["mean"] > s["mean"] - lo > 0


def test_samples_with_zero_keep_the_t_interval():
    s = summarize([0.0, 1.0, 2.0])
    assert s is not None
    half = 4.303 * 1.0 / math.sqrt(3)
    assert s["ci95"] == pytest.approx([1 - half, 1 + half])


def test_percentile_interpolates_like_numpy():
    vals = sorted([1.0, 2.0, 3.0, 4.0])
    assert percentile(vals, 50) == 2.5
    assert percentile(vals, 99) == pytest.approx(3.97)


def test_missing_is_none_not_zero():
    assert summarize([]) is None
    assert summarize([None, float("nan")]) is None
    one = summarize([5.0])
    assert one is not None
    assert one["stddev"] is None and one["ci95"] is None and one["mean"] == 5.0


def test_large_sample_uses_normal_critical_value():
    vals = [float(i % 7) for i in range(100)]
    s = summarize(vals)
    assert s is not None
    half = 1.96 * statistics.stdev(vals) / 10
    assert s["ci95"][1] - s["mean"] == pytest.approx(half)
