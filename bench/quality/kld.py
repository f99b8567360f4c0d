"""The statistics of llama.cpp's `llama-perplexity --kl-divergence`, with its definitions.

Read from tools/perplexity/perplexity.cpp (llama.cpp as vendored in llama-cpp-python 0.3.36):

- The reference (base) model's next-token distribution is kept as llama.cpp keeps it in its
  --kl-divergence-base file: per scored position, log-probabilities quantized to uint16 over a
  window of 16 nats below the top logit (a step of 16/65535 nat), with the scale and the smallest
  log-probability beside them (`encode_base`). KL divergence and top-1 use those stored values,
  so a model compared with itself shows llama.cpp's own floor (about 5e-4 nat on Llama 3 8B).
- Per token: KLD(base || Q) = sum over the vocabulary of p_base * (log p_base - log p_Q), over the
  tokens whose log p_base > -16; top-1 agrees when both argmaxes (the first index of the maximum)
  are the same token; Δp = p_Q(correct) - p_base(correct); NLL = -log p(correct).
- Summaries: a mean's uncertainty is sqrt((mean of squares - mean^2) / (n - 1)), 0 for n <= 10
  (mean_and_uncertainty); PPL = exp(mean NLL); ln(PPL(Q)/PPL(base)) has the uncertainty of a
  difference of correlated means (their covariance subtracted); same-top p has the binomial
  sqrt(p (1 - p) / (n - 1)); percentiles interpolate linearly between sorted values.

We add a 95% interval as mean ± 1.96 x that uncertainty (the normal approximation llama.cpp's
Gaussian error model implies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

LOG_PROB_WINDOW = 16.0      # nats kept below the top logit; lower log-probs are dropped from the KLD sum
_LEVELS = 65535.0
Z95 = 1.959964


@dataclass
class EncodedBase:
    """The base model's log-probabilities at n positions, as llama.cpp stores them."""
    codes: np.ndarray        # (n, vocab) uint16
    scale: np.ndarray        # (n,) float32
    min_log_prob: np.ndarray  # (n,) float32

    def log_probs(self) -> np.ndarray:
        return self.scale[:, None] * self.codes.astype(np.float32) + self.min_log_prob[:, None]


def _log_sum_exp(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max logit, log sum exp(logit - max)) per row, float32 as llama.cpp computes them."""
    top = logits.max(axis=1)
    lse = np.log(np.exp(logits - top[:, None]).sum(axis=1, dtype=np.float64)).astype(np.float32)
    return top, lse


def encode_base(logits: np.ndarray) -> EncodedBase:
    """llama.cpp's log_softmax(n_vocab, logits, uint16 *log_prob, tok) for each row of `logits`."""
    logits = np.asarray(logits, dtype=np.float32)
    top, lse = _log_sum_exp(logits)
    low = np.maximum(logits.min(axis=1), top - np.float32(LOG_PROB_WINDOW))
    scale = ((top - low) / np.float32(_LEVELS)).astype(np.float32)
    min_log_prob = (low - top - lse).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(scale > 0, np.float32(1.0) / scale, np.float32(0.0)).astype(np.float32)
    # nearest_int rounds to nearest, ties to even, as np.rint does
    codes = np.rint(inv[:, None] * (logits - low[:, None]))
    codes = np.where(logits > low[:, None], codes, 0).clip(0, _LEVELS).astype(np.uint16)
    return EncodedBase(codes, scale, min_log_prob)


@dataclass
class TokenStats:
    """Per scored position: the values llama.cpp accumulates (kl_divergence_result)."""
    kld: np.ndarray
    nll: np.ndarray
    nll_base: np.ndarray
    same_top: np.ndarray     # bool
    p_diff: np.ndarray

    @staticmethod
    def concat(parts: list[TokenStats]) -> TokenStats:
        return TokenStats(*(np.concatenate([getattr(p, f) for p in parts])
                            for f in ("kld", "nll", "nll_base", "same_top", "p_diff")))


def token_stats(logits: np.ndarray, base: EncodedBase, targets: np.ndarray) -> TokenStats:
    """llama.cpp's log_softmax(n_vocab, logits, base_log_prob, tok, kld) for each row: `logits` are
    the quantized model's at the scored positions, `targets` the tokens that came next."""
    logits = np.asarray(logits, dtype=np.float32)
    rows = np.arange(len(targets))
    top, lse = _log_sum_exp(logits)
    nll = top + lse - logits[rows, targets]
    log_p_base = base.log_probs()
    nll_base = -log_p_base[rows, targets]
    log_p_q = logits - (top + lse)[:, None]
    kept = log_p_base > -np.float32(LOG_PROB_WINDOW)
    kld = np.where(kept, np.exp(log_p_base) * (log_p_base - log_p_q), 0.0).sum(axis=1, dtype=np.float64)
    same_top = logits.argmax(axis=1) == log_p_base.argmax(axis=1)     # argmax: first index of the max
    p_diff = np.exp(-nll) - np.exp(-nll_base)
    return TokenStats(kld, nll.astype(np.float64), nll_base.astype(np.float64), same_top, p_diff.astype(np.float64))


def mean_and_uncertainty(values: np.ndarray) -> tuple[float, float]:
    """llama.cpp's mean_and_uncertainty: the mean and its standard error (0 for 10 values or fewer)."""
    n = len(values)
    if n < 1:
        return 0.0, 0.0
    mean = float(np.sum(values) / n)
    var = float(np.sum(np.square(values)) / n) - mean * mean
    return mean, math.sqrt(var / (n - 1)) if var > 0 and n > 10 else 0.0


def _covariance(a: np.ndarray, b: np.ndarray) -> float:
    n = len(a)
    if n < 10:
        return 0.0
    return (float(np.sum(a * b)) / n - (float(np.sum(a)) / n) * (float(np.sum(b)) / n)) / (n - 1)


def percentile(sorted_values: np.ndarray, fraction: float) -> float:
    """llama.cpp's percentile lambda: linear between the two nearest sorted values."""
    if fraction <= 0:
        return float(sorted_values[0])
    if fraction >= 1:
        return float(sorted_values[-1])
    p = fraction * (len(sorted_values) - 1)
    i = int(p)
    p -= i
    return float((1 - p) * sorted_values[i] + p * sorted_values[min(i + 1, len(sorted_values) - 1)])


def _with_ci(mean: float, se: float) -> dict:
    return {"value": mean, "uncertainty": se, "ci95": [mean - Z95 * se, mean + Z95 * se]}


@dataclass
class Summary:
    """What `bench quality` reports per quant: llama-perplexity's KL-divergence statistics."""
    count: int
    kld: dict = field(default_factory=dict)
    same_top: dict = field(default_factory=dict)
    ppl: dict = field(default_factory=dict)
    ppl_base: dict = field(default_factory=dict)
    ln_ppl_ratio: dict = field(default_factory=dict)
    ppl_ratio: dict = field(default_factory=dict)
    ppl_correlation: float | None = None
    p_diff: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("count", "kld", "same_top", "ppl", "ppl_base", "ln_ppl_ratio",
                                              "ppl_ratio", "ppl_correlation", "p_diff")}


def summarize(s: TokenStats) -> Summary:
    """The figures llama.cpp prints at the end of a --kl-divergence run, from the per-token values."""
    n = len(s.kld)
    out = Summary(count=n)
    if n == 0:
        return out
    log_ppl, log_ppl_se = mean_and_uncertainty(s.nll)
    log_base, log_base_se = mean_and_uncertainty(s.nll_base)
    cov = _covariance(s.nll, s.nll_base)
    ppl, ppl_base = math.exp(log_ppl), math.exp(log_base)
    out.ppl = _with_ci(ppl, ppl * log_ppl_se)
    out.ppl_base = _with_ci(ppl_base, ppl_base * log_base_se)
    ratio = log_ppl - log_base
    ratio_se = math.sqrt(max(0.0, log_ppl_se ** 2 + log_base_se ** 2 - 2.0 * cov))
    out.ln_ppl_ratio = _with_ci(ratio, ratio_se)
    out.ppl_ratio = _with_ci(math.exp(ratio), math.exp(ratio) * ratio_se)
    out.ppl_correlation = cov / (log_ppl_se * log_base_se) if log_ppl_se and log_base_se else None
    kld_sorted = np.sort(s.kld)
    mean, se = mean_and_uncertainty(s.kld)
    out.kld = {**_with_ci(mean, se), "median": percentile(kld_sorted, 0.5), "p90": percentile(kld_sorted, 0.9),
               "p95": percentile(kld_sorted, 0.95), "p99": percentile(kld_sorted, 0.99),
               "p99_9": percentile(kld_sorted, 0.999), "max": float(kld_sorted[-1]), "min": float(kld_sorted[0])}
    p = float(np.count_nonzero(s.same_top)) / n
    p_se = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else 0.0
    out.same_top = {**_with_ci(p, p_se), "agree": int(np.count_nonzero(s.same_top)), "of": n}
    dp_mean, dp_se = mean_and_uncertainty(s.p_diff)
    mse, mse_se = mean_and_uncertainty(np.square(s.p_diff))
    rms = math.sqrt(mse)
    out.p_diff = {"mean": _with_ci(dp_mean, dp_se),
                  "rms": _with_ci(rms, 0.5 / rms * mse_se if rms else 0.0)}
    return out
