"""Workload profiles (data): input/output length distributions of the requests a service sees.

A profile draws each request's lengths from a normal distribution clipped to mean ± 3 stddev,
seeded by (seed, profile, request index): request i is the same at every load level, so levels
differ only in load. Users add their own profiles in a TOML or JSON file (`--workloads FILE`):

    [my-chat]                                  # JSON: {"my-chat": {"input": ..., "output": ...}}
    input = {mean = 700, stddev = 100}         # or simply: input = 700
    output = {mean = 200, stddev = 50, min = 16, max = 400}
    description = "what it stands for"
    shared = {prefix = 1024, documents = 8, document_tokens = 256, per_request = 2}   # optional

A profile may share part of its prompts (`Shared`): every request starts with the same prefix
(a system prompt, an agent's tool preamble), then `per_request` documents drawn from a fixed pool,
then tokens of its own. Shared parts are the same token blocks in every request
(scenarios.shared_prompts), so an engine's prefix cache can reuse them; `input` is the whole
prompt, shared parts included.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from contract.errors import ScenarioError
from scenarios.prompts import random_prompt
from scenarios.shared_prompts import block


@dataclass(frozen=True)
class Lengths:
    mean: int
    stddev: int = 0
    min: int | None = None       # default mean - 3 stddev (at least `floor`)
    max: int | None = None       # default mean + 3 stddev

    def bounds(self, floor: int) -> tuple[int, int]:
        lo = max(floor, self.min if self.min is not None else self.mean - 3 * self.stddev)
        hi = max(lo, self.max if self.max is not None else self.mean + 3 * self.stddev)
        return lo, hi

    def draw(self, rng: random.Random, floor: int) -> int:
        lo, hi = self.bounds(floor)
        value = round(rng.gauss(self.mean, self.stddev)) if self.stddev else self.mean
        return min(hi, max(lo, value))


@dataclass(frozen=True)
class Shared:
    """What every request of a profile shares, ahead of its own tokens: a `prefix` of tokens
    (system prompt, tool preamble), then `per_request` documents of `document_tokens` each,
    drawn without repeats from a pool of `documents`, in the order drawn (retrieval order, not
    sorted: only a request whose first documents match an earlier one's can reuse them)."""
    prefix: int
    documents: int = 0
    document_tokens: int = 0
    per_request: int = 0

    @property
    def tokens(self) -> int:
        return self.prefix + self.per_request * self.document_tokens


@dataclass(frozen=True)
class Profile:
    name: str
    input: Lengths
    output: Lengths
    description: str = ""
    shared: Shared | None = None     # None: every prompt is fresh random tokens

    # Outputs have at least two tokens, so that tpot (needs two token events) is defined.
    MIN_OUTPUT = 2

    def __post_init__(self) -> None:
        s = self.shared
        if s is not None and (s.per_request > s.documents or self.input.bounds(1)[0] <= s.tokens):
            raise ValueError(f"profile {self.name}: its shared part ({s.tokens} tokens, {s.per_request} of "
                             f"{s.documents} documents) must leave each request tokens of its own")

    def to_dict(self) -> dict:
        # profiles that share nothing keep the keys results have always had
        shared = {"shared": asdict(self.shared)} if self.shared is not None else {}
        return {"name": self.name, "description": self.description,
                "input": asdict(self.input), "output": asdict(self.output), **shared}

    @property
    def max_request_tokens(self) -> int:
        return self.input.bounds(1)[1] + self.output.bounds(self.MIN_OUTPUT)[1]


@dataclass(frozen=True)
class PlannedRequest:
    index: int
    prompt_token_ids: list[int]
    max_tokens: int


# Lengths follow the anchors: chat and rag are guidellm's scenarios (scenarios/chat.json, rag.json);
# the ticket profiles stand for a support desk (a ticket of a few hundred words in, either a short
# JSON of class and fields or a reply draft out); summarise and code are fixed-length points.
BUILTIN = {p.name: p for p in (
    Profile("chat", Lengths(512, 128), Lengths(256, 64), "conversational turn"),
    Profile("rag", Lengths(4096, 512), Lengths(512, 128), "question over retrieved passages"),
    Profile("ticket-triage", Lengths(800, 200), Lengths(64, 16),
            "support ticket classified, its fields extracted as JSON"),
    Profile("ticket-draft", Lengths(800, 200), Lengths(300, 75), "support ticket answered with a reply draft"),
    Profile("summarise", Lengths(2048), Lengths(256), "document summarised"),
    Profile("code", Lengths(1024), Lengths(512), "code completion with file context"),
    # the fixed input/output pairs of the most-read published per-accelerator curves (SemiAnalysis
    # InferenceMAX: throughput per GPU against tokens/s per user at 1k/1k, 1k/8k and 8k/1k)
    Profile("fixed-1k1k", Lengths(1024), Lengths(1024), "1,024 tokens in, 1,024 out, as published curves run"),
    Profile("fixed-1k8k", Lengths(1024), Lengths(8192), "1,024 tokens in, 8,192 out, as published curves run"),
    Profile("fixed-8k1k", Lengths(8192), Lengths(1024), "8,192 tokens in, 1,024 out, as published curves run"),
    # Shared prefixes, after SGLang's generated-shared-prefix benchmark (bench_serving
    # --dataset-name generated-shared-prefix: system prompt 2,048, question 128, output 256 tokens
    # by default). rag-shared: a 512-token system prompt, then 4 of 16 documents of 512 tokens
    # (a retriever's top k over a small corpus), then a 64-token question; agent: SGLang's
    # 2,048-token shared prefix as an agent's tool preamble, then a 128-token task.
    Profile("rag-shared", Lengths(512 + 4 * 512 + 64, 16), Lengths(256, 64),
            "question over 4 of 16 shared documents behind a shared system prompt",
            Shared(prefix=512, documents=16, document_tokens=512, per_request=4)),
    Profile("agent", Lengths(2048 + 128, 32), Lengths(256, 64), "short task behind a long shared tool preamble",
            Shared(prefix=2048)),
)}


def plan_request(profile: Profile, index: int, seed: int, vocab_size: int, avoid: set[int]) -> PlannedRequest:
    """Request `index` of a profile: lengths and prompt token ids, the same on every call."""
    rng = random.Random(f"{seed}:{profile.name}:{index}")
    n_in = profile.input.draw(rng, 1)
    n_out = profile.output.draw(rng, Profile.MIN_OUTPUT)
    shared = profile.shared
    head: list[int] = []
    if shared is not None:
        docs = rng.sample(range(shared.documents), shared.per_request)
        head = block(seed, f"{profile.name}:prefix", shared.prefix, vocab_size, avoid)
        for d in docs:
            head += block(seed, f"{profile.name}:document:{d}", shared.document_tokens, vocab_size, avoid)
    prompt = head + random_prompt(n_in - len(head), vocab_size, seed=rng.randrange(1 << 30), avoid=avoid)
    return PlannedRequest(index, prompt, n_out)


def _lengths(name: str, key: str, raw) -> Lengths:
    where = f"workload {name!r} {key}"
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"mean": raw}
    if not isinstance(raw, dict) or "mean" not in raw:
        raise ScenarioError(f"{where} must be a token count or a table with a mean",
                            f"for example {key} = {{mean = 512, stddev = 128}}")
    unknown = set(raw) - {"mean", "stddev", "min", "max"}
    if unknown:
        raise ScenarioError(f"{where} has unknown keys {sorted(unknown)}", "use mean, stddev, min, max")
    for k, v in raw.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (k == "mean" and v < 1):
            raise ScenarioError(f"{where} {k} must be a whole number of tokens, got {v!r}",
                                f"for example {k} = {128 if k != 'min' else 1}")
    lengths = Lengths(**raw)
    if lengths.max is not None and lengths.max < (lengths.min or 0):
        raise ScenarioError(f"{where} max is below its min", "make max >= min")
    return lengths


def load_profiles(path: Path) -> dict[str, Profile]:
    """User profiles from a TOML or JSON file; one clear ScenarioError for anything wrong in it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read workloads file {path}: {exc.strerror or exc}",
                            "pass --workloads with a readable .toml or .json file") from None
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            import tomllib  # Python 3.11+
            doc = tomllib.loads(text)
    except ImportError:
        raise ScenarioError(f"reading {path} as TOML needs Python 3.11 or newer",
                            "write the workloads file as JSON instead") from None
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError both are
        raise ScenarioError(f"workloads file {path} is not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {exc}",
                            "fix the file") from None
    if not isinstance(doc, dict) or not doc:
        raise ScenarioError(f"workloads file {path} defines no profiles", "add a table per profile, e.g. [my-chat]")
    out = {}
    for name, body in doc.items():
        key = name.strip().lower()
        if key in BUILTIN:
            raise ScenarioError(f"workload {name!r} in {path} has the name of a built-in profile",
                                "give yours another name, so results named like a built-in mean the built-in")
        if not isinstance(body, dict) or not {"input", "output"} <= set(body):
            raise ScenarioError(f"workload {name!r} in {path} needs input and output lengths",
                                "for example input = 512 and output = 128")
        unknown = set(body) - {"input", "output", "description", "shared"}
        if unknown:
            raise ScenarioError(f"workload {name!r} in {path} has unknown keys {sorted(unknown)}",
                                "use input, output, description, shared")
        try:
            out[key] = Profile(key, _lengths(name, "input", body["input"]), _lengths(name, "output", body["output"]),
                               str(body.get("description", "")), _shared(name, body.get("shared")))
        except ValueError as exc:
            raise ScenarioError(f"workload {name!r} in {path}: {exc}",
                                "make input's minimum longer than the shared part, per_request at most documents") from None
    return out


def _shared(name: str, raw) -> Shared | None:
    if raw is None:
        return None
    keys = {"prefix", "documents", "document_tokens", "per_request"}
    example = "shared = {prefix = 1024, documents = 8, document_tokens = 256, per_request = 2}"
    if not isinstance(raw, dict) or "prefix" not in raw or set(raw) - keys:
        raise ScenarioError(f"workload {name!r} shared must be a table of {', '.join(sorted(keys))} (prefix required)",
                            f"for example {example}")
    for k, v in raw.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ScenarioError(f"workload {name!r} shared {k} must be a whole number, got {v!r}", f"for example {example}")
    return Shared(**raw)
