import pytest

from bench.quality.windows import windows
from contract.errors import BenchError


def test_windows_as_llama_perplexity_cuts_them():
    tokens = list(range(100, 100 + 41))      # 41 tokens, windows of 16: two whole ones, the rest dropped
    ws = windows(tokens, 16, bos=1)
    assert len(ws) == 2
    assert ws[1].tokens[0] == 1 and ws[1].tokens[1:] == tokens[17:32]      # first token replaced by BOS
    assert ws[0].first == 8
    # positions 8..14 predict tokens 9..15: n_ctx - 1 - first of them
    assert ws[1].targets.tolist() == tokens[16 + 9:32]
    assert len(windows(tokens, 16, bos=None, chunks=1)) == 1


def test_too_short_a_text_is_one_line():
    with pytest.raises(BenchError, match="at least 32 are needed"):
        windows(list(range(31)), 16, bos=1)
