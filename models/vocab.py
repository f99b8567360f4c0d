"""A made-up SentencePiece ("llama") vocabulary of any size that llama.cpp loads and tokenizes with.

Token ids 0-2 are <unk>/<s>/</s>, 3-258 the byte-fallback tokens <0x00>..<0xFF> (llama.cpp needs
<0x0A> for its newline token, and they make any text tokenizable), then unique letter pieces.
The text a synthetic model produces is meaningless; only the vocabulary's size matters for speed.

A synthetic model never emits the ids below FIRST_TEXT_ID (specials and byte pieces): their rows
of the output head are zero (models/synthetic.py, synthetic_hf.py). A special renders as no text,
a control byte as invisible text and a lone byte above 0x7F as no valid UTF-8, so a server
streaming them would show no token or hold text back; every letter piece is complete text.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator

import numpy as np

UNK, BOS, EOS = 0, 1, 2
# llama.cpp token types
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6
_SPECIALS = ["<unk>", "<s>", "</s>"]
_N_FIXED = len(_SPECIALS) + 256
FIRST_TEXT_ID = _N_FIXED


def _pieces() -> Iterator[str]:
    for length in itertools.count(1):
        for letters in itertools.product(string.ascii_lowercase, repeat=length):
            word = "".join(letters)
            yield "\u2581" + word  # SentencePiece's word-start marker
            yield word


def spm_vocab(size: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(tokens, scores float32, token types int32) for a vocabulary of exactly `size` tokens."""
    if size < _N_FIXED + 1:
        raise ValueError(f"a synthetic vocabulary needs at least {_N_FIXED + 1} tokens, got {size}")
    tokens = _SPECIALS + [f"<0x{b:02X}>" for b in range(256)]
    tokens += itertools.islice(_pieces(), size - _N_FIXED)
    types = np.full(size, _NORMAL, dtype=np.int32)
    types[UNK] = _UNKNOWN
    types[BOS] = types[EOS] = _CONTROL
    types[len(_SPECIALS) : _N_FIXED] = _BYTE
    scores = -np.arange(size, dtype=np.float32)  # earlier pieces are preferred, as in real SPM models
    scores[:_N_FIXED] = 0.0
    return tokens, scores, types
