"""Text prompts of an exact token count, for servers that take no token ids and for chat endpoints.

A planned request is token ids (scenarios.prompts); a server that will not take ids gets text:
one lowercase letter per id ("q f k ..."). A space and a letter is usually one token (" a".." z"
in byte-level BPE vocabularies, "▁a".."▁z" in SentencePiece ones, and always in the suite's
synthetic vocabulary), so the first guess is usually exact. The count is then checked, and the
text lengthened or shortened (or padded with "a") until it is exact, with the best counter at
hand:

1. the server's tokenize endpoint: vLLM's and SGLang's /tokenize, llama.cpp's /tokenize,
   llama-cpp-python's /extras/tokenize;
2. the model's tokenizer on this machine, for a server we launched: llama.cpp's own vocabulary
   load of the GGUF, or the checkpoint's tokenizer.json through the `tokenizers` library;
3. else usage.prompt_tokens of probe requests: the tokens per letter are scaled until a probe
   lands within 1% of the target, and each request's own usage gives its count;
4. else nothing: the count stays unknown (scenarios.stream_checks makes such a level INVALID).

What the server counts beyond the text (a chat template's tokens, a BOS the tokenize endpoint
leaves out) is measured once from a probe's usage and added to every count.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

LETTERS = "abcdefghijklmnopqrstuvwxyz"
MAX_FIT_TRIES = 8            # counts per prompt; one when every letter is one token
CALIBRATION_TOLERANCE = 0.01
MAX_CALIBRATION_PROBES = 6


@dataclass(frozen=True)
class Prompt:
    """What goes out as the prompt, and how many tokens the server will see where that is known."""
    payload: list[int] | str
    tokens: int | None       # None: only the response's usage can tell
    source: str | None       # "token_ids", "tokenize <endpoint>", "local <tokenizer>"; None when unknown


class CountFailed(Exception):
    """A counter did not answer: the request that needed the count is a counted error."""


Count = Callable[[object, str], Awaitable[int]]      # (httpx.AsyncClient, text) -> tokens


def letters(token_ids, n: int) -> str:
    """n one-letter words chosen by the planned ids, so request i has the same text at every
    level; past the ids (a tokenizer that merges letters needs more words) they repeat, shifted."""
    m = len(token_ids)
    return " ".join(LETTERS[(token_ids[i % m] + i // m) % len(LETTERS)] for i in range(n))


def prompt_key(token_ids) -> bytes:
    """A short key for a planned prompt (its text is cached under it, not under the ids)."""
    return hashlib.blake2b(array("q", token_ids).tobytes(), digest_size=16).digest()


# -- counters ------------------------------------------------------------------------------------
class ServerTokenizer:
    """A server's tokenize endpoint, asked to count as its completions do (special tokens added)."""

    # (path, dialect): the request body and answer differ by server, not only the path.
    DIALECTS = (("/tokenize", "vLLM/SGLang"), ("/tokenize", "llama.cpp"), ("/extras/tokenize", "llama-cpp-python"))

    def __init__(self, path: str, dialect: str, model: str):
        self.path, self.dialect, self.model = path, dialect, model

    @property
    def name(self) -> str:
        return f"tokenize {self.path} ({self.dialect})"

    def _body(self, text: str) -> dict:
        if self.dialect == "llama.cpp":
            return {"content": text, "add_special": True}
        if self.dialect == "llama-cpp-python":       # it adds BOS as a completion does
            return {"model": self.model, "input": text}
        return {"model": self.model, "prompt": text, "add_special_tokens": True}

    async def count(self, client, text: str) -> int:
        import httpx

        try:
            r = await client.post(self.path, json=self._body(text), timeout=60.0)
            doc = r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            raise CountFailed(f"{self.path}: {type(exc).__name__}: {exc}") from None
        n = _token_count(doc)
        if n is None:
            raise CountFailed(f"{self.path} answered HTTP {r.status_code} without a token count")
        return n


def _token_count(doc) -> int | None:
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("count"), int):
        return doc["count"]
    tokens = doc.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None


async def find_server_tokenizer(client, model: str, probe: str) -> ServerTokenizer | None:
    """The first tokenize dialect the server answers with a plausible count for `probe`.
    (llama.cpp answers a body without "content" with no tokens: zero is not an answer.)"""
    for path, dialect in ServerTokenizer.DIALECTS:
        counter = ServerTokenizer(path, dialect, model)
        try:
            if await counter.count(client, probe) > 0:
                return counter
        except CountFailed:
            continue
    return None


class LocalTokenizer:
    """The served model's own tokenizer, run here."""

    def __init__(self, encode: Callable[[str], int], name: str):
        self._encode, self.name = encode, name

    async def count(self, client, text: str) -> int:
        return self._encode(text)


def gguf_tokenizer(path: Path) -> LocalTokenizer | None:
    """llama.cpp's vocabulary of a GGUF (loaded without weights), counting as llama-cpp-python's
    completions do: BOS added where the model asks for it, special tokens parsed."""
    try:
        import llama_cpp
    except ImportError:
        return None
    vocab = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    return LocalTokenizer(lambda text: len(vocab.tokenize(text.encode(), add_bos=True, special=True)),
                          f"local llama.cpp vocabulary of {Path(path).name}")


def tokenizer_json(path: Path) -> LocalTokenizer | None:
    """A checkpoint's tokenizer.json through the `tokenizers` library (vLLM's own dependency)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return None
    if not Path(path).is_file():
        return None
    tok = Tokenizer.from_file(str(path))
    return LocalTokenizer(lambda text: len(tok.encode(text, add_special_tokens=True).ids),
                          f"local tokenizer.json of {Path(path).parent.name}")


# -- fitting ---------------------------------------------------------------------------------------
class ExactFit:
    """Prompts checked with a counter and lengthened or shortened until the count is the target."""

    def __init__(self, count: Count, source: str, offset: int = 0):
        self._count, self.source, self.offset = count, source, offset
        self._base: int | None = None     # tokens a prompt has beyond its letters (BOS, template)

    async def count(self, client, text: str) -> int:
        return await self._count(client, text) + self.offset

    async def prompt(self, client, token_ids) -> Prompt:
        target = len(token_ids)
        if self._base is None:
            self._base = await self.count(client, "a") - 1
        tried: dict[str, int] = {}
        k = max(1, target - self._base)
        for _ in range(MAX_FIT_TRIES):
            text = letters(token_ids, k)
            n = tried[text] = await self.count(client, text)
            if n == target:
                return Prompt(text, n, self.source)
            # at least one token per letter: moving by the difference cannot overshoot by much
            k2 = max(1, k + target - n)
            if letters(token_ids, k2) in tried:
                break
            k = k2
        # Letters of two tokens can step over the target: pad the longest text still short of it
        # with "a", one token in the vocabularies we target.
        short = [t for t, n in tried.items() if n < target]
        if short:
            text = max(short, key=len)
            padded = text + " a" * (target - tried[text])
            tried[padded] = await self.count(client, padded)
        text = min(tried, key=lambda t: (abs(tried[t] - target), len(t)))
        return Prompt(text, tried[text], self.source)


class UsageCalibration:
    """No counter: tokens per letter from the usage of probe requests, scaled until a probe lands
    within 1% of the target. A request's count is then its own usage, not a prediction."""

    def __init__(self, usage_of: Callable[[object, str], Awaitable[int | None]]):
        self._usage_of = usage_of
        self.points: list[tuple[int, int]] = []     # (letters, prompt tokens) of each probe

    async def _calibrate(self, client, token_ids) -> None:
        target = len(token_ids)
        k = max(1, target - 1)
        for _ in range(MAX_CALIBRATION_PROBES):
            n = await self._usage_of(client, letters(token_ids, k))
            if n is None:
                raise CountFailed("a calibration probe's response had no usage")
            self.points.append((k, n))
            if abs(n - target) <= CALIBRATION_TOLERANCE * target:
                return
            slope, _ = self._line()
            k = max(1, round(k + (target - n) / slope))

    def _line(self) -> tuple[float, float]:
        """(tokens per letter, fixed tokens) through the last two probes (one: one per letter)."""
        (k1, n1) = self.points[-1]
        earlier = [(k, n) for k, n in self.points if k != k1]
        if not earlier:
            return 1.0, float(n1 - k1)
        k0, n0 = earlier[-1]
        slope = max(1e-3, (n1 - n0) / (k1 - k0))
        return slope, n1 - slope * k1

    async def prompt(self, client, token_ids) -> Prompt:
        if not self.points:
            await self._calibrate(client, token_ids)
        slope, fixed = self._line()
        k = max(1, round((len(token_ids) - fixed) / slope))
        return Prompt(letters(token_ids, k), None, None)
