"""llama-perplexity's --kl-divergence statistics (bench/quality/kld.py) against values worked out
by hand on small fixed distributions."""

import math
import statistics

import numpy as np
import pytest

from bench.quality import kld

LN = math.log


def _logits(probs):
    return np.log(np.asarray(probs, dtype=np.float64)).astype(np.float32)


# (base probabilities, quant probabilities, the token that came next)
CASES = [
    ([0.5, 0.25, 0.25], [0.25, 0.5, 0.25], 0),     # top-1 flips
    ([0.5, 0.25, 0.25], [0.5, 0.25, 0.25], 1),     # identical
    ([0.7, 0.2, 0.1], [0.6, 0.3, 0.1], 2),        # top-1 kept
]


def _by_hand(p, q, tok):
    kl = sum(pi * LN(pi / qi) for pi, qi in zip(p, q, strict=True))
    same = max(range(3), key=lambda i: (p[i], -i)) == max(range(3), key=lambda i: (q[i], -i))
    return kl, -LN(q[tok]), -LN(p[tok]), same, q[tok] - p[tok]


def test_per_token_values_match_the_definitions():
    base = kld.encode_base(np.stack([_logits(p) for p, _, _ in CASES]))
    got = kld.token_stats(np.stack([_logits(q) for _, q, _ in CASES]), base, np.array([t for *_, t in CASES]))
    for i, (p, q, tok) in enumerate(CASES):
        kl, nll, nll_base, same, p_diff = _by_hand(p, q, tok)
        # the base is stored at llama.cpp's precision: steps of 16/65535 nat in log p
        assert got.kld[i] == pytest.approx(kl, abs=2e-4)
        assert got.nll[i] == pytest.approx(nll, abs=1e-5)
        assert got.nll_base[i] == pytest.approx(nll_base, abs=2e-4)
        assert bool(got.same_top[i]) is same
        assert got.p_diff[i] == pytest.approx(p_diff, abs=2e-4)
    assert got.kld[0] == pytest.approx(0.25 * LN(2), abs=2e-4)      # 0.5 ln 2 - 0.25 ln 2
    assert got.kld[1] == pytest.approx(0.0, abs=2e-4)


def test_base_is_stored_as_llama_cpp_stores_it():
    # max - min = ln 2 < 16 nats: the smallest logit is the window's floor (code 0), the top one 65535
    enc = kld.encode_base(_logits([[0.5, 0.25, 0.25]]))
    assert enc.codes.tolist() == [[65535, 0, 0]]
    assert enc.scale[0] == pytest.approx(LN(2) / 65535)
    assert enc.log_probs()[0] == pytest.approx([LN(0.5), LN(0.25), LN(0.25)], abs=1e-6)


def test_tokens_below_the_16_nat_window_leave_the_kld_sum():
    # base: one token at log p ~ -20 (outside the window); the quant moves mass onto it
    base_logits = np.array([[0.0, 0.0, -20.0]], dtype=np.float32)
    q_logits = np.array([[0.0, 0.0, 0.0]], dtype=np.float32)
    enc = kld.encode_base(base_logits)
    got = kld.token_stats(q_logits, enc, np.array([0]))
    # kept: the two tokens at p_base ~ 1/2 each, against p_q = 1/3: 2 * 0.5 * ln(0.5 / (1/3))
    assert got.kld[0] == pytest.approx(LN(1.5), abs=2e-4)


def test_summary_uses_llama_cpp_uncertainties():
    rng = np.random.default_rng(1)
    n, vocab = 40, 6
    base_logits = rng.normal(size=(n, vocab)).astype(np.float32)
    q_logits = (base_logits + 0.3 * rng.normal(size=(n, vocab))).astype(np.float32)
    targets = rng.integers(0, vocab, size=n)
    s = kld.token_stats(q_logits, kld.encode_base(base_logits), targets)
    out = kld.summarize(s)

    def se(values):      # sqrt((E[x^2] - E[x]^2) / (n - 1)), llama.cpp's mean_and_uncertainty
        return math.sqrt(statistics.pvariance(values) / (len(values) - 1))

    kl = list(s.kld)
    assert out.count == n
    assert out.kld["value"] == pytest.approx(statistics.fmean(kl))
    assert out.kld["uncertainty"] == pytest.approx(se(kl))
    assert out.kld["ci95"] == pytest.approx([statistics.fmean(kl) - 1.959964 * se(kl),
                                             statistics.fmean(kl) + 1.959964 * se(kl)])
    assert out.kld["median"] == pytest.approx(statistics.median(kl))
    assert out.kld["p99"] == pytest.approx(float(np.percentile(kl, 99)))
    nll, nll_b = list(s.nll), list(s.nll_base)
    assert out.ppl["value"] == pytest.approx(math.exp(statistics.fmean(nll)))
    assert out.ppl_base["value"] == pytest.approx(math.exp(statistics.fmean(nll_b)))
    cov = (statistics.fmean([a * b for a, b in zip(nll, nll_b, strict=True)]) - statistics.fmean(nll) * statistics.fmean(nll_b)) / (n - 1)
    ratio_se = math.sqrt(se(nll) ** 2 + se(nll_b) ** 2 - 2 * cov)
    assert out.ln_ppl_ratio["value"] == pytest.approx(statistics.fmean(nll) - statistics.fmean(nll_b))
    assert out.ln_ppl_ratio["uncertainty"] == pytest.approx(ratio_se)
    assert out.ppl_ratio["value"] == pytest.approx(math.exp(statistics.fmean(nll) - statistics.fmean(nll_b)))
    agree = int(np.count_nonzero(s.same_top))
    p = agree / n
    assert out.same_top["value"] == pytest.approx(p)
    assert out.same_top["uncertainty"] == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))
    assert out.p_diff["rms"]["value"] == pytest.approx(math.sqrt(statistics.fmean([d * d for d in s.p_diff])))


def test_ten_values_or_fewer_have_no_uncertainty():
    assert kld.mean_and_uncertainty(np.array([1.0, 2.0, 4.0])) == (pytest.approx(7 / 3), 0.0)


def test_percentile_interpolates_as_llama_cpp():
    v = np.array([0.0, 1.0, 2.0, 10.0])
    assert kld.percentile(v, 0.5) == pytest.approx(1.5)
    assert kld.percentile(v, 0.99) == pytest.approx(2.0 + 0.97 * 8.0)
    assert kld.percentile(v, 1.0) == 10.0
